"""Fine-tuning controls on real training steps: a new head from every kind of checkpoint, layer-wise lr decay (the
update of each layer is its decay power times the undecayed one), freezing (frozen tensors do not move and are not
in the optimizer), frozen norms in eval mode (BatchNorm keeps its running statistics)."""

from __future__ import annotations

import contextlib
import io
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from conftest import tiny_config_dict  # noqa: E402
from videofocalnet.engine.config import ConfigError, config_from_dict, config_to_dict  # noqa: E402
from videofocalnet.engine.distributed import init_distributed  # noqa: E402
from videofocalnet.engine.finetune import apply_freeze, frozen_norms_eval, parse_freeze  # noqa: E402
from videofocalnet.engine.train import TrainRecipe  # noqa: E402

ARCH = dict(embed_dim=8, depths=[1, 1, 1, 1], img_size=32, num_frames=4)
# one optimizer step per epoch (12 training videos), no warm-up, no scaling or clipping: the first update of every
# parameter is exactly lr_group * (1 + momentum) * (grad + wd * param)
ONE_STEP = {
    "DATA": {"BATCH_SIZE": 12},
    "TRAIN": {"EPOCHS": 1, "WARMUP_EPOCHS": 0, "SCALE_LR": False, "CLIP_GRAD": 0.0, "BASE_LR": 0.5},
}


def _recipe(data, tmp_path: Path, name: str, model: nn.Module | None = None, **train) -> TrainRecipe:
    d = tiny_config_dict(data, DATA=ONE_STEP["DATA"], TRAIN={**ONE_STEP["TRAIN"], **train})
    recipe = TrainRecipe(
        config_from_dict(d), init_distributed(device="cpu"), run_dir=tmp_path / name, progress=False, model=model
    )
    recipe.setup(resume_path=None)
    return recipe


def _step(recipe: TrainRecipe) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    before = {k: v.clone() for k, v in recipe.model.state_dict().items()}
    recipe.train_epoch(0)
    return before, recipe.model.state_dict()


# ------------------------------------------------------------------------------------------------ new head
def _write_sources(tmp_path: Path, cache: Path) -> tuple[dict[str, str], dict[str, torch.Tensor]]:
    """One 5-class model as our safetensors, a last.pt, a released .pth and the cached file of a zoo name."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from official_checkpoint import official_config, save_released
    from videofocalnet.download import cache_path
    from videofocalnet.engine.checkpoint import save_training_state
    from videofocalnet.models import create_model
    from videofocalnet.weights import save_weights
    from videofocalnet.zoo import get_weights

    torch.manual_seed(11)
    source = create_model("video_focalnet_tiny", num_classes=5, **ARCH)
    sd = source.state_dict()
    kwargs = dict(ARCH, num_classes=5)
    paths = {
        "safetensors": str(
            save_weights(tmp_path / "src.safetensors", source, model_name="video_focalnet_tiny", model_kwargs=kwargs)
        )
    }
    cfg = config_from_dict({"DATA": {"NUM_CLASSES": 5}, "MODEL": {"TYPE": "video_focalnet_tiny"}})
    save_training_state(tmp_path / "last.pt", {"model": sd, "config": config_to_dict(cfg), "progress": {"epoch": 1}})
    paths["last.pt"] = str(tmp_path / "last.pt")
    official = official_config(opts=["MODEL.TYPE", "videofocalnet_tiny", "MODEL.NUM_CLASSES", "5"])
    paths["released"] = str(save_released(tmp_path / "released.pth", source, official))
    entry = get_weights("video_focalnet_tiny.k400")
    cached = cache_path(entry.url, entry.file_name)
    cached.parent.mkdir(parents=True, exist_ok=True)
    save_released(cached, source, official)
    paths["zoo"] = entry.name
    return paths, sd


def test_new_head_from_every_kind_of_checkpoint(tiny_videos, tmp_path, monkeypatch, capsys):
    pytest.importorskip("yacs", reason="yacs (test extra) writes the official config object")
    monkeypatch.setenv("VIDEOFOCALNET_HOME", str(tmp_path / "home"))
    paths, sd = _write_sources(tmp_path, tmp_path / "home")
    for kind, spec in paths.items():
        with pytest.warns(UserWarning, match="head has 5 classes, the model 3; the head is re-initialised"):
            recipe = _recipe(tiny_videos, tmp_path, f"run_{kind}", PRETRAINED_PATH=spec)
        state = recipe.model.state_dict()
        assert state["head.weight"].shape == (3, 64), kind  # sized from the data's 3 classes
        assert all(torch.equal(state[k], v) for k, v in sd.items() if not k.startswith("head.")), kind
        log = capsys.readouterr().out
        assert f"loaded pretrained weights from {spec}" in log and "re-initialised (2): head" in log, (kind, log)


def test_head_size_from_the_label_list_when_no_count_is_set(tiny_videos, tmp_path):
    d = tiny_config_dict(tiny_videos, DATA={"NUM_CLASSES": 0}, MODEL={"NUM_CLASSES": 0})
    cfg = config_from_dict(d)
    recipe = TrainRecipe(cfg, init_distributed(device="cpu"), run_dir=tmp_path / "r", progress=False)
    recipe.setup(resume_path=None)
    assert recipe.model.head.out_features == 3 and cfg.DATA.NUM_CLASSES == cfg.MODEL.NUM_CLASSES == 3


# ------------------------------------------------------------------------------------------------ layer decay
def test_layer_decay_scales_each_layers_update_by_its_power(tiny_videos, tmp_path):
    decay = 0.5
    plain, decayed = _recipe(tiny_videos, tmp_path, "plain"), _recipe(tiny_videos, tmp_path, "ld", LAYER_DECAY=decay)
    ids = decayed.model.param_layer_ids()
    top = max(ids.values())
    assert top == 5 and ids["patch_embed.proj.weight"] == 0 and ids["layers.0.blocks.0.mlp.fc1.weight"] == 1
    assert ids["layers.0.downsample.proj.weight"] == 2 and ids["head.weight"] == ids["norm.weight"] == 5
    # every group's rate is the schedule's times its scale, and the weight-decay split survives the layer split
    for group in decayed.optimizer.param_groups:
        assert group["lr"] == pytest.approx(decayed.schedule.lr * decay ** (top - int(group["name"][5])))
        assert group["weight_decay"] == (0.0 if group["name"].endswith("no_decay") else 0.05)
    assert len(decayed.optimizer.param_groups) == 12 and len(plain.optimizer.param_groups) == 2
    (b0, a0), (b1, a1) = _step(plain), _step(decayed)
    assert all(torch.equal(b0[k], b1[k]) for k in b0)  # the same start
    ratios, measured = {}, set()
    for name, layer in ids.items():
        ref, got = a0[name] - b0[name], a1[name] - b1[name]
        # elements whose update is large against float32 rounding of the weight itself (~6e-8 |w|); at the official
        # init some tensors (the blocks' norms behind the ~1e-4 modulation) barely move at all
        big = got.abs() > 1e-4 * b0[name].abs().clamp_min(1e-2)
        if not big.any():
            continue
        measured.add(layer)
        ratios[name] = (got[big] / ref[big]).median().item()
        expected = torch.full_like(ref[big], decay ** (top - layer))
        torch.testing.assert_close(got[big] / ref[big], expected, rtol=1e-3, atol=0, msg=name)
    assert measured == set(range(top + 1)) and len(ratios) > 0.8 * len(ids)
    assert ratios["patch_embed.proj.weight"] == pytest.approx(decay**5, rel=1e-3)
    assert ratios["head.weight"] == pytest.approx(1.0, rel=1e-3)


def test_layer_decay_with_the_official_weight_decay_bug_keeps_one_no_decay_group_per_layer(tiny_videos, tmp_path):
    recipe = _recipe(tiny_videos, tmp_path, "bug", LAYER_DECAY=0.8, OFFICIAL_NO_WEIGHT_DECAY_BUG=True)
    names = [g["name"] for g in recipe.optimizer.param_groups]
    assert names == [f"layer{i}_no_decay" for i in range(6)]


def test_layer_decay_needs_a_model_that_numbers_its_layers(tiny_videos, tmp_path):
    d = tiny_config_dict(tiny_videos, TRAIN={"LAYER_DECAY": 0.7}, SAVE_FREQ=0)
    model = nn.Sequential(nn.Flatten(), nn.LazyLinear(3))
    recipe = TrainRecipe(config_from_dict(d), init_distributed(device="cpu"), run_dir=tmp_path / "x", model=model)
    with pytest.raises(ValueError, match="TRAIN.LAYER_DECAY: Sequential has no param_layer_ids"):
        recipe.setup(resume_path=None)


# ------------------------------------------------------------------------------------------------ freezing
@pytest.mark.parametrize(
    "spec, frozen_prefixes",
    [
        ("stem", ("patch_embed.",)),
        ("stages:2", ("patch_embed.", "layers.0.", "layers.1.")),
        ("all_but_head", ("patch_embed.", "layers.", "norm.")),
    ],
)
def test_freeze_keeps_frozen_tensors_still_and_out_of_the_optimizer(tiny_videos, tmp_path, spec, frozen_prefixes):
    recipe = _recipe(tiny_videos, tmp_path, spec.replace(":", "_"), FREEZE=spec)
    params = dict(recipe.model.named_parameters())
    in_optimizer = {id(p) for g in recipe.optimizer.param_groups for p in g["params"]}
    before, after = _step(recipe)
    for name, param in params.items():
        frozen = name.startswith(frozen_prefixes)
        assert param.requires_grad is not frozen and (id(param) in in_optimizer) is not frozen, name
        assert torch.equal(before[name], after[name]) is frozen, name


def test_bad_freeze_values_are_one_line_config_errors(tiny_videos):
    for bad in ("stages", "stages:-1", "head", "stages:two"):
        with pytest.raises(ConfigError, match="TRAIN.FREEZE must be"):
            config_from_dict(tiny_config_dict(tiny_videos, TRAIN={"FREEZE": bad}))
    with pytest.raises(ConfigError, match="TRAIN.FREEZE_NORM_EVAL true needs TRAIN.FREEZE"):
        config_from_dict(tiny_config_dict(tiny_videos, TRAIN={"FREEZE_NORM_EVAL": True}))
    with pytest.raises(ConfigError, match=r"TRAIN.LAYER_DECAY must be in \(0, 1\]"):
        config_from_dict(tiny_config_dict(tiny_videos, TRAIN={"LAYER_DECAY": 1.5}))
    assert parse_freeze(" stages:3 ") == ("stages", 3)


def test_freeze_beyond_the_model_is_an_error_naming_the_stage_count():
    from videofocalnet.models import create_model

    with pytest.raises(ValueError, match="'stages:5': the model has 4 stages"):
        apply_freeze(create_model("video_focalnet_tiny", num_classes=3, **ARCH), "stages:5")


class _BatchNormNet(nn.Module):
    """A 3-D CNN with the official module names (patch_embed / layers / head) and BatchNorm, like the design-space
    benchmark's yardsticks: (B, T, C, H, W) -> (B, 3)."""

    def __init__(self) -> None:
        super().__init__()
        self.patch_embed = nn.Sequential(nn.Conv3d(3, 8, 3, padding=1), nn.BatchNorm3d(8), nn.ReLU())
        self.layers = nn.ModuleList([nn.Sequential(nn.Conv3d(8, 8, 3, padding=1), nn.BatchNorm3d(8), nn.ReLU())])
        self.head = nn.Linear(8, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.layers[0](self.patch_embed(x.transpose(1, 2)))  # (B, T, C, H, W) -> (B, C, T, H, W)
        return self.head(x.mean(dim=(2, 3, 4)))


@pytest.mark.parametrize("norm_eval", [False, True])
def test_freeze_norm_eval_keeps_batchnorm_statistics(tiny_videos, tmp_path, norm_eval):
    torch.manual_seed(0)
    model = _BatchNormNet()
    recipe = _recipe(
        tiny_videos, tmp_path, f"bn{norm_eval}", model, FREEZE="stem", FREEZE_NORM_EVAL=norm_eval, EVAL_FREQ=0
    )
    recipe.cfg.SAVE_FREQ = 0
    with contextlib.redirect_stdout(io.StringIO()):
        before, after = _step(recipe)
    stem_stats = ("patch_embed.1.running_mean", "patch_embed.1.running_var", "patch_embed.1.num_batches_tracked")
    assert all(torch.equal(before[k], after[k]) for k in stem_stats) is norm_eval
    assert not torch.equal(before["layers.0.1.running_mean"], after["layers.0.1.running_mean"])  # trained: updates
    assert torch.equal(before["patch_embed.1.weight"], after["patch_embed.1.weight"])  # frozen either way


def test_frozen_layernorms_go_to_eval_mode_and_compute_the_same():
    from videofocalnet.models import create_model

    model = create_model("video_focalnet_tiny", num_classes=3, drop_path_rate=0.0, **ARCH)
    apply_freeze(model, "stages:1")
    x = torch.randn(2, 4, 3, 32, 32)
    model.train()
    train_out = model(x)
    names = frozen_norms_eval(model)
    assert names == [
        "patch_embed.norm",
        "layers.0.blocks.0.norm1",
        "layers.0.blocks.0.norm2",
        "layers.0.downsample.norm",
    ]
    assert not model.patch_embed.norm.training and model.layers[1].blocks[0].norm1.training
    torch.testing.assert_close(model(x), train_out, rtol=0, atol=0)  # LayerNorm has no running statistics
