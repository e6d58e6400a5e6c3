"""Train then evaluate from the CLI on real generated videos; run-directory contents; eval protocol details."""

from __future__ import annotations

import csv
import json

import pytest
import torch

from videofocalnet.engine.config import load_config
from videofocalnet.engine.run_log import read_jsonl


def test_train_then_eval_cli(write_tiny_config, tmp_path, cli):
    cfg_path = write_tiny_config(
        MODEL={"DROP_PATH_RATE": 0.1},
        TRAIN={"EVAL_FREQ": 1, "FINAL_EVAL": True, "EMA": {"ENABLED": True, "DECAY": 0.5, "EVAL": False}},
        AUG={"MIXUP": 0.8, "CUTMIX": 1.0, "MIXUP_PROB": 1.0},
        SAVE_FREQ=1,
    )
    run_dir = tmp_path / "run"
    proc = cli("train", "--cfg", str(cfg_path), "--output", str(run_dir), "--opts", "TRAIN.WEIGHT_DECAY", "0.01")
    assert proc.returncode == 0, proc.stderr[-3000:]
    for name in (
        "config.yaml",
        "run_info.json",
        "metrics.jsonl",
        "curves.png",
        "last.pt",
        "best.safetensors",
        "best.json",
        "epoch_0001.safetensors",
        "epoch_0002.safetensors",
        "result.json",
    ):
        assert (run_dir / name).is_file(), name
    saved = load_config(run_dir / "config.yaml")  # the resolved config, --opts included
    assert saved.TRAIN.WEIGHT_DECAY == 0.01 and saved.MODEL.FOCAL.EMBED_DIM == 8
    info = json.loads((run_dir / "run_info.json").read_text())
    assert info["total_batch"] == 2 and info["scaled_lr"]["base"] == pytest.approx(0.5 * 2 / 512)
    records = read_jsonl(run_dir / "metrics.jsonl")
    kinds = [r["kind"] for r in records]
    assert kinds.count("train_step") == 12 and kinds.count("train_epoch") == 2 and kinds.count("val") == 2
    assert kinds.count("final_eval") == 1
    steps = [r for r in records if r["kind"] == "train_step"]
    assert [r["step"] for r in steps] == list(range(1, 13))
    assert all(r["loss"] > 0 and r["clips_per_s"] > 0 and "lr" in r for r in steps)
    assert steps[0]["lr"] < steps[6]["lr"]  # linear warm-up over the first epoch
    final = next(r for r in records if r["kind"] == "final_eval")
    assert final["num_videos"] == 9 and final["views"] == "2x3"
    state = torch.load(run_dir / "last.pt", weights_only=True)
    assert state["progress"]["global_step"] == 12 and state["ema"] is not None

    # eval of the last epoch's weights from the CLI reproduces the end-of-training 2x3 evaluation exactly
    out = tmp_path / "eval"
    proc = cli(
        "eval",
        "--cfg",
        str(cfg_path),
        "--checkpoint",
        str(run_dir / "epoch_0002.safetensors"),
        "--views",
        "2x3",
        "--output",
        str(out),
        "--predictions",
        "preds.json",
        "--batch-size",
        "4",
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["num_videos"] == 9 and metrics["views"] == "2x3"
    assert metrics["top1"] == pytest.approx(final["top1"]) and metrics["loss"] == pytest.approx(final["loss"], rel=1e-5)
    preds = json.loads((out / "preds.json").read_text())["predictions"]
    assert sorted(p["index"] for p in preds) == list(range(9))
    assert 100.0 * sum(p["correct"] for p in preds) / 9 == pytest.approx(metrics["top1"])
    with open(out / "confusion.csv") as fh:
        rows = list(csv.reader(fh))
    assert rows[0][1:] == ["moving_left", "moving_right", "static"]
    assert sum(int(v) for row in rows[1:] for v in row[1:]) == 9
    assert (out / "confusion.png").stat().st_size > 1000


def test_grad_checkpointing_reaches_the_model(write_tiny_config):
    """TRAIN.USE_CHECKPOINT really checkpoints (the official flag never reached the model): the forward pass keeps
    far fewer activation bytes for backward, and the gradients are unchanged."""
    from videofocalnet.engine.build import build_model

    torch.manual_seed(0)
    x = torch.randn(2, 4, 3, 32, 32)
    grads, saved_bytes = [], []
    for flag in (False, True):
        cfg = load_config(write_tiny_config(), ["TRAIN.USE_CHECKPOINT", str(flag)])
        torch.manual_seed(1)
        model = build_model(cfg).train()
        total = [0]

        def pack(t, total=total):
            total[0] += t.numel() * t.element_size()
            return t

        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            loss = model(x).sum()
        loss.backward()
        saved_bytes.append(total[0])
        grads.append(torch.cat([p.grad.flatten() for p in model.parameters()]))
    assert saved_bytes[1] < 0.5 * saved_bytes[0], saved_bytes
    assert torch.allclose(grads[0], grads[1], atol=1e-6)


def test_bf16_training_on_cpu_in_process(write_tiny_config, tmp_path):
    from videofocalnet.engine.train import train

    cfg = load_config(
        write_tiny_config(),
        [
            "TRAIN.PRECISION",
            "bf16",
            "TRAIN.EPOCHS",
            "1",
            "TRAIN.WARMUP_EPOCHS",
            "0",
            "TRAIN.ACCUMULATION_STEPS",
            "2",
            "TRAIN.OPTIMIZER.NAME",
            "adamw",
            "DATA.BATCH_SIZE",
            "3",
        ],
    )
    result = train(cfg, output=tmp_path / "bf16", progress=False)
    assert result["global_step"] == 2  # 12 videos / batch 3 = 4 micro-batches / 2 accumulation steps
    steps = [r for r in read_jsonl(tmp_path / "bf16" / "metrics.jsonl") if r["kind"] == "train_step"]
    assert len(steps) == 2 and all(torch.isfinite(torch.tensor(r["loss"])) for r in steps)
    info = json.loads((tmp_path / "bf16" / "run_info.json").read_text())
    assert info["precision"] == "bf16" and info["total_batch"] == 6


def test_fp16_on_cpu_is_a_clear_error(write_tiny_config, tmp_path):
    from videofocalnet.engine.train import train

    cfg = load_config(write_tiny_config(), ["TRAIN.PRECISION", "fp16"])
    with pytest.raises(ValueError, match="fp16 needs a CUDA device"):
        train(cfg, output=tmp_path / "fp16", progress=False)


class _MeanFrameLinear(torch.nn.Module):
    """Not a registered architecture: (B, T, 3, H, W) -> mean over time and space -> (B, 3) logits."""

    def __init__(self) -> None:
        super().__init__()
        self.head = torch.nn.Linear(3, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(x.mean(dim=(1, 3, 4)))  # (B, T, 3, H, W) -> (B, 3)


def test_train_takes_an_injected_model_and_trains_it_in_place(write_tiny_config, tmp_path):
    from videofocalnet.engine import build
    from videofocalnet.engine.distributed import init_distributed
    from videofocalnet.engine.evaluate import evaluate_dataset
    from videofocalnet.engine.train import train

    cfg = load_config(write_tiny_config(), ["TRAIN.EPOCHS", "1", "TRAIN.FINAL_EVAL", "true"])
    model = _MeanFrameLinear()
    before = model.head.weight.detach().clone()
    result = train(cfg, output=tmp_path / "injected", progress=False, model=model)
    assert result["global_step"] == 6  # 12 videos / batch 2; the injected module was trained, not a built one
    assert not torch.equal(model.head.weight, before)
    assert result["final"]["num_videos"] == 9  # the final evaluation scores the injected model too
    info = json.loads((tmp_path / "injected" / "run_info.json").read_text())
    assert info["model_name"] == "_MeanFrameLinear" and info["model_kwargs"] is None
    assert info["parameters"] == 12
    assert not list((tmp_path / "injected").glob("*.safetensors"))
    scored = evaluate_dataset(
        model,
        build.build_eval_dataset(cfg, cfg.DATA.VAL_FILE, num_clips=1, num_crops=1),
        cfg=cfg,
        info=init_distributed(device="cpu"),
        progress=False,
    )
    assert scored.scores.shape == (9, 3)


@pytest.mark.parametrize("opts", [["SAVE_FREQ", "1"], ["TRAIN.EVAL_FREQ", "1"]])
def test_an_injected_model_refuses_weight_exports(write_tiny_config, tmp_path, opts):
    from videofocalnet.engine.train import train

    cfg = load_config(write_tiny_config(), opts)
    with pytest.raises(ValueError, match="cannot be exported"):
        train(cfg, output=tmp_path / "refused", progress=False, model=_MeanFrameLinear())
    assert not (tmp_path / "refused").exists()


def test_eval_two_ranks_scores_every_video_once(write_tiny_config, tmp_path, cli):
    """9 videos, batch 2 x 2 ranks: nothing dropped, nothing padded, same scores as one process."""
    from safetensors.torch import save_file

    from videofocalnet.engine.build import build_model

    cfg_path = write_tiny_config()
    model = build_model(load_config(cfg_path))
    ckpt = tmp_path / "w.safetensors"
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(ckpt))
    (tmp_path / "w.json").write_text(json.dumps({"config": None}))
    outs = {}
    for nproc in (0, 2):
        out = tmp_path / f"eval{nproc}"
        proc = cli(
            "eval",
            "--cfg",
            str(cfg_path),
            "--checkpoint",
            str(ckpt),
            "--views",
            "1x3",
            "--output",
            str(out),
            "--batch-size",
            "2",
            "--no-progress",
            torchrun=nproc,
        )
        assert proc.returncode == 0, proc.stderr[-3000:]
        with open(out / "predictions.csv") as fh:
            outs[nproc] = list(csv.DictReader(fh))
    assert [int(r["index"]) for r in outs[2]] == list(range(9))
    for a, b in zip(outs[0], outs[2]):
        assert a["pred"] == b["pred"] and float(a["score"]) == pytest.approx(float(b["score"]), abs=1e-6)


def test_pretrained_path_initialises_the_model(write_tiny_config, tmp_path):
    """TRAIN.PRETRAINED_PATH goes through the weight loaders; with every learning rate 0 the trained weights are
    exactly the pretrained ones (and differ from the seed's own init)."""
    from videofocalnet.engine.build import build_model, model_kwargs
    from videofocalnet.engine.train import train
    from videofocalnet.weights import save_weights

    cfg = load_config(
        write_tiny_config(),
        [
            "TRAIN.EPOCHS",
            "1",
            "TRAIN.WARMUP_EPOCHS",
            "0",
            "TRAIN.BASE_LR",
            "0",
            "TRAIN.WARMUP_LR",
            "0",
            "TRAIN.MIN_LR",
            "0",
            "DATA.BATCH_SIZE",
            "6",
        ],
    )
    torch.manual_seed(123)
    source = build_model(cfg)
    path = save_weights(
        tmp_path / "pre.safetensors", source, model_name="video_focalnet_tiny", model_kwargs=model_kwargs(cfg)
    )
    cfg.TRAIN.PRETRAINED_PATH = str(path)
    train(cfg, output=tmp_path / "run", progress=False)
    trained = torch.load(tmp_path / "run" / "last.pt", weights_only=True)["model"]
    for name, value in source.state_dict().items():
        assert torch.equal(trained[name], value), name
    torch.manual_seed(0)  # the run's own seed (SEED + rank) would have built different weights
    own = build_model(cfg).state_dict()
    assert not torch.equal(own["head.weight"], trained["head.weight"])


def test_auto_resume_and_explicit_resume(write_tiny_config, tmp_path):
    """A finished 1-epoch run is continued by auto-resume when EPOCHS grows; an explicit resume from another
    directory wins over (absent) auto-resume there; --no-auto-resume starts fresh."""
    from videofocalnet.engine.train import train

    path = write_tiny_config()
    one = load_config(path, ["TRAIN.EPOCHS", "1", "TRAIN.WARMUP_EPOCHS", "0"])
    two = load_config(path, ["TRAIN.EPOCHS", "2", "TRAIN.WARMUP_EPOCHS", "0"])
    assert train(one, output=tmp_path / "a", progress=False)["global_step"] == 6
    import shutil

    shutil.copy(tmp_path / "a" / "last.pt", tmp_path / "one.pt")
    after_one = torch.load(tmp_path / "one.pt", weights_only=True)["model"]
    with pytest.warns(UserWarning, match="different learning-rate schedule"):
        assert train(two, output=tmp_path / "a", progress=False)["global_step"] == 12  # auto-resumed at 6
    steps = [r["step"] for r in read_jsonl(tmp_path / "a" / "metrics.jsonl") if r["kind"] == "train_step"]
    assert steps == list(range(1, 13))  # one record per step across both invocations
    with pytest.warns(UserWarning, match="different learning-rate schedule"):
        assert train(two, output=tmp_path / "b", resume=tmp_path / "one.pt", progress=False)["global_step"] == 12
    steps = [r["step"] for r in read_jsonl(tmp_path / "b" / "metrics.jsonl") if r["kind"] == "train_step"]
    assert steps == list(range(7, 13))  # continued from the explicit checkpoint
    assert train(one, output=tmp_path / "a", auto_resume=False, progress=False)["global_step"] == 6
    fresh = torch.load(tmp_path / "a" / "last.pt", weights_only=True)["model"]
    assert all(torch.equal(fresh[k], after_one[k]) for k in fresh)  # same seed, fresh start = the first run


def test_cli_errors_are_one_clear_line(write_tiny_config, tmp_path, cli):
    typo = cli(
        "train", "--cfg", str(write_tiny_config()), "--output", str(tmp_path / "r"), "--opts", "TRAIN.EPOCH", "3"
    )
    assert typo.returncode != 0 and "unknown config key 'TRAIN.EPOCH'; did you mean 'TRAIN.EPOCHS'?" in typo.stderr
    assert "Traceback" not in typo.stderr
    missing = cli(
        "train",
        "--cfg",
        str(write_tiny_config(DATA={"TRAIN_FILE": str(tmp_path / "nope.csv")})),
        "--output",
        str(tmp_path / "r"),
    )
    assert missing.returncode != 0 and "DATA.TRAIN_FILE: list file not found" in missing.stderr
    assert "nope.csv" in missing.stderr and "Traceback" not in missing.stderr


def _train_losses(cfg_path, out, opts):
    from videofocalnet.engine.train import train

    cfg = load_config(cfg_path, ["TRAIN.EPOCHS", "1", "TRAIN.WARMUP_EPOCHS", "0", *opts])
    train(cfg, output=out, progress=False)
    records = read_jsonl(out / "metrics.jsonl")
    losses = [r["loss"] for r in records if r["kind"] == "train_step"]
    state = torch.load(out / "last.pt", weights_only=True, map_location="cpu")["model"]
    return losses, state, records


def test_fast_kernels_train_like_the_plain_path(write_tiny_config, tmp_path):
    """TRAIN.FAST_KERNELS (cropped conv taps, split depthwise weight gradient, glibc keeping freed memory) changes
    summation order only: the same losses and weights as the plain path after an epoch."""
    cfg_path = write_tiny_config()
    fast, w_fast, _ = _train_losses(cfg_path, tmp_path / "fast", ["TRAIN.FAST_KERNELS", "true"])
    plain, w_plain, _ = _train_losses(cfg_path, tmp_path / "plain", ["TRAIN.FAST_KERNELS", "false"])
    assert len(fast) == len(plain) == 6
    torch.testing.assert_close(torch.tensor(fast), torch.tensor(plain), rtol=1e-5, atol=1e-6)
    for key, value in w_plain.items():
        torch.testing.assert_close(w_fast[key], value, rtol=1e-4, atol=1e-5, msg=key)


@pytest.mark.slow
def test_compile_option_trains_and_reports_its_compile_time(write_tiny_config, tmp_path):
    """TRAIN.COMPILE: torch.compile'd training (inductor, C++ on CPU) gives the eager losses; the first step's time
    is logged as a "compile" record."""
    cfg_path = write_tiny_config()
    eager, _, _ = _train_losses(cfg_path, tmp_path / "eager", [])
    compiled, _, records = _train_losses(cfg_path, tmp_path / "compiled", ["TRAIN.COMPILE", "true"])
    torch.testing.assert_close(torch.tensor(compiled), torch.tensor(eager), rtol=1e-4, atol=1e-5)
    (compile_record,) = [r for r in records if r["kind"] == "compile"]
    assert compile_record["seconds"] > 0 and compile_record["step"] == 1
