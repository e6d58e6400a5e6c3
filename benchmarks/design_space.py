"""Train every spatio-temporal focal-modulation design with the same budget on the synthetic dataset and compare.

The synthetic classes come in time-reversal pairs (moving left / right, growing / shrinking, ...) whose members share
every per-frame statistic, so ``pair accuracy`` (does the true class beat its reversed partner?) sits at 50 % for a
model that cannot see frame order, whatever its top-1. That makes it the number that separates the designs:

    python benchmarks/design_space.py                     # all five variants, default budget (<= 25 min on 2 cores)
    python benchmarks/design_space.py --epochs 2 --variants spatial parallel --json out.json
    python benchmarks/design_space.py --dataset squares    # the same comparison on moving squares (~2 min)

``--variants cnn3d-bn cnn3d-ln cnn3d-none`` adds yardsticks that are not Video-FocalNets: one small 3-D CNN (four
3x3x3 conv layers, 0.24 M parameters) with BatchNorm, with per-position LayerNorm over channels (the normalisation
every Video-FocalNet block applies to each token) or with none. They say how learnable a dataset is from scratch at
this budget, and whether LayerNorm alone is what stops a model learning it.

The demo's recipe (600 small videos per class, class-balanced batches with every clip also played backwards; see
the README) is one command. It keeps tubelet 1, so that `spatial` sees every frame on its own, and 4 frames per clip
(with 8, `parallel`, `joint` and `divided` had not left the class prior after these 2,100 steps). The five variants
take about 30 minutes on 2 cores, two one-thread jobs at a time (measured: 499 to 869 s each):

    python benchmarks/design_space.py --videos-per-class 600 --val-per-class 20 --video-size 64 --video-frames 16 \
        --embed-dim 24 --batch-size 22 --epochs 7 --sampler class_balanced_both_ways --reverse-prob 0.5 --frames 4 \
        --jobs 2

``--dataset squares`` swaps the photographic videos for 4x4 squares moving left / right / up / down (left and up are
right and down played backwards), which isolates the use of time from appearance nuisances.

Every variant gets the same data, the same sample order and augmentation draws, the same initial seed, the same
optimiser and schedule. Clips are decoded once (through ``videofocalnet.data.decode``) and kept in memory as uint8,
so the budget is spent on the models, not on re-decoding 32-frame videos every epoch; sampling (TSN) and
augmentation are the library's, drawn per (seed, epoch, index) like ``VideoDataset``. No horizontal flip: it would
turn "moving left" into "moving right" without changing the label.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset

from videofocalnet.data.dataset import VideoDataset, sample_seed
from videofocalnet.data.decode import read_all_frames
from videofocalnet.data.loader import SAMPLERS, ClassBalancedSampler
from videofocalnet.data.sampling import tsn_indices
from videofocalnet.data.synthetic import (
    SQUARE_CLASS_NAMES,
    SQUARE_PAIRS,
    generate_dataset,
    moving_squares,
)
from videofocalnet.data.transforms import EvalTransform, TrainTransform, reversal_label_map, time_reverse
from videofocalnet.engine.metrics import pair_accuracy
from videofocalnet.models.design_space import VARIANTS, build_variant
from videofocalnet.models.flops import count_flops
from videofocalnet.models.layers import INIT_SCHEMES


class ClipBank(Dataset):
    """Decoded videos of one annotation list held in memory: uint8 (T_video, 3, H, W) per video.

    ``__getitem__`` mirrors ``VideoDataset``: TSN frame indices and the transform draw from a generator seeded by
    (seed, epoch, index), so every variant sees identical clips in every epoch; an ``(index, reverse)`` key from a
    ``ClassBalancedSampler`` plays the clip backwards under the label ``reverse_label_map`` gives.
    """

    def __init__(
        self,
        list_file: Path,
        root: Path,
        *,
        num_frames: int,
        train: bool,
        transform,
        seed: int,
        desc: str,
        progress: bool = True,
        reverse_label_map: list[int] | None = None,
    ) -> None:
        from tqdm.auto import tqdm

        listing = VideoDataset(list_file=list_file, root=root, num_frames=num_frames, mode="val")  # parses the list
        self.labels = [entry.label for entry in listing.entries]
        self.videos = [
            read_all_frames(listing.video_path(i)).permute(0, 3, 1, 2).contiguous()  # (T, H, W, 3) -> (T, 3, H, W)
            for i in tqdm(range(len(listing)), desc=desc, unit="video", leave=False, disable=not progress)
        ]
        self.num_frames = num_frames
        self.train = train
        self.transform = transform
        self.reverse_label_map = reverse_label_map
        self.seed = seed
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.videos)

    def __getitem__(self, key: int | tuple[int, bool]) -> tuple[torch.Tensor, int]:
        index, reverse = key if isinstance(key, tuple) else (key, False)
        g = torch.Generator()
        g.manual_seed(sample_seed(self.seed, self.epoch, index))
        video = self.videos[index]
        idx = tsn_indices(video.shape[0], self.num_frames, train=self.train, generator=g)
        clip = self.transform(video[idx], g)  # (T, 3, h, w) float, or (1, T, 3, h, w) for EvalTransform
        if reverse:
            return time_reverse(clip, self.labels[index], self.reverse_label_map)
        return (clip if self.train else clip[0]), self.labels[index]


class ChannelLayerNorm(nn.Module):
    """LayerNorm over channels at every (t, h, w) of a (B, C, T, H, W) tensor: per token, as in Video-FocalNet."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(x.movedim(1, -1)).movedim(-1, 1)  # (B, C, T, H, W) -> (B, T, H, W, C) -> back


_NORMS = {"bn": nn.BatchNorm3d, "ln": ChannelLayerNorm, "none": lambda channels: nn.Identity()}


class ReferenceCNN3d(nn.Module):
    """A yardstick, not a Video-FocalNet: (B, T, 3, H, W) -> logits through four conv3d-norm-ReLU layers (time is
    downsampled in the last two), global average pooling and a linear head."""

    def __init__(self, *, num_classes: int, norm: str) -> None:
        super().__init__()
        layers, c_in = [], 3
        for c_out, stride in ((16, (1, 2, 2)), (32, (1, 2, 2)), (64, (2, 2, 2)), (96, (2, 2, 2))):
            layers += [nn.Conv3d(c_in, c_out, 3, stride, 1, bias=norm == "none"), _NORMS[norm](c_out), nn.ReLU()]
            c_in = c_out
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(c_in, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x.transpose(1, 2))  # (B, T, 3, H, W) -> (B, 3, T, H, W) -> (B, 96, T/4, H/16, W/16)
        return self.head(x.mean(dim=(2, 3, 4)))


REFERENCE_CNNS = {"cnn3d-bn": "bn", "cnn3d-ln": "ln", "cnn3d-none": "none"}


def cosine_lr(step: int, total: int, warmup: int, base: float) -> float:
    if step < warmup:
        return base * (step + 1) / warmup
    return 0.5 * base * (1 + math.cos(math.pi * (step - warmup) / max(1, total - warmup)))


@torch.no_grad()
def evaluate(model: torch.nn.Module, loader: DataLoader) -> tuple[torch.Tensor, torch.Tensor]:
    model.eval()
    scores, labels = [], []
    for clips, y in loader:
        scores.append(model(clips).float())
        labels.append(y)
    return torch.cat(scores), torch.cat(labels)


def run_variant(
    variant: str, args: argparse.Namespace, model_kwargs: dict, train_set: ClipBank, val_loader: DataLoader, pairs
) -> dict:
    torch.manual_seed(args.seed)  # identical initial draws wherever two variants share a module
    if variant in REFERENCE_CNNS:
        model = ReferenceCNN3d(num_classes=model_kwargs["num_classes"], norm=REFERENCE_CNNS[variant])
    else:
        model = build_variant(variant, **model_kwargs)
        if args.init == "fan_in":  # from scratch; at the official init frame order is learned very slowly
            model.apply(INIT_SCHEMES["fan_in"])
    report = count_flops(model, num_frames=args.frames, img_size=args.size)
    decay = [p for p in model.parameters() if p.ndim > 1]
    no_decay = [p for p in model.parameters() if p.ndim <= 1]
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": args.weight_decay}, {"params": no_decay, "weight_decay": 0.0}], lr=args.lr
    )
    order = torch.Generator().manual_seed(args.seed)  # same batch order for every variant
    sampler = None
    if args.sampler != "random":
        sampler = ClassBalancedSampler(
            train_set.labels,
            num_classes=model_kwargs["num_classes"],
            reverse_label_map=reversal_label_map(pairs, model_kwargs["num_classes"]),
            reverse_prob=args.reverse_prob,
            both_ways=args.sampler.endswith("both_ways"),
            seed=args.seed,
        )
    loader = DataLoader(
        train_set,
        batch_size=args.batch_size,
        sampler=sampler,
        shuffle=sampler is None,
        generator=order,
        drop_last=True,
        num_workers=0,
    )
    steps_per_epoch = len(loader)
    total = args.epochs * steps_per_epoch
    from tqdm.auto import tqdm

    bar = tqdm(total=total, desc=f"{variant:>10}", unit="step", disable=args.quiet)
    start, cpu_start = time.perf_counter(), time.process_time()
    step = 0
    model.train()
    for epoch in range(args.epochs):
        train_set.epoch = epoch
        if sampler is not None:
            sampler.set_epoch(epoch)
        epoch_loss = 0.0
        for clips, labels in loader:
            for group in opt.param_groups:
                group["lr"] = cosine_lr(step, total, steps_per_epoch, args.lr)
            loss = F.cross_entropy(model(clips), labels, label_smoothing=args.label_smoothing)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            opt.step()
            epoch_loss += loss.item() / steps_per_epoch
            step += 1
            bar.update(1)
            bar.set_postfix(epoch=epoch, loss=f"{loss.item():.3f}")
        if args.log:
            with open(args.log, "a") as f:
                f.write(
                    json.dumps(
                        dict(variant=variant, epoch=epoch, mean_loss=epoch_loss, elapsed_s=time.perf_counter() - start)
                    )
                    + "\n"
                )
    train_s = time.perf_counter() - start
    bar.close()
    scores, labels = evaluate(model, val_loader)
    wall_s = time.perf_counter() - start
    cpu_s = time.process_time() - cpu_start  # all threads; what wall time would be on an idle single core
    return dict(
        variant=variant,
        params=report.params,
        gmacs=report.gmacs,
        top1=float((scores.argmax(1) == labels).float().mean()),
        pair_acc=pair_accuracy(scores, labels, pairs),
        final_loss=epoch_loss,
        train_s=train_s,
        wall_s=wall_s,
        cpu_s=cpu_s,
        threads=torch.get_num_threads(),
        epochs=args.epochs,
        steps=total,
    )


def run_variants(
    args: argparse.Namespace, model_kwargs: dict, train_set: Dataset, val_loader: DataLoader, pairs
) -> list[dict]:
    """``run_variant`` for each of ``args.variants`` in this process, one JSON line per finished variant."""
    rows = []
    for variant in args.variants:
        rows.append(run_variant(variant, args, model_kwargs, train_set, val_loader, pairs))
        print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    return rows


def format_table(rows: list[dict]) -> str:
    head = (
        f"| {'variant':<10} | {'params (M)':>10} | {'GMACs':>7} | {'top-1 %':>7} | {'pair acc %':>10} "
        f"| {'wall (s)':>8} | {'CPU (s)':>7} |"
    )
    sep = "|" + "|".join("-" * (len(c)) for c in head.split("|")[1:-1]) + "|"
    lines = [head, sep]
    for r in rows:
        lines.append(
            f"| {r['variant']:<10} | {r['params'] / 1e6:>10.3f} | {r['gmacs']:>7.3f} | {100 * r['top1']:>7.1f} "
            f"| {100 * r['pair_acc']:>10.1f} | {r['wall_s']:>8.0f} | {r['cpu_s']:>7.0f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--data",
        default=os.path.join(os.environ.get("TMPDIR", "/tmp"), "videofocalnet_synthetic"),
        help="dataset directory (generated there if missing or different)",
    )
    p.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=[*VARIANTS, *REFERENCE_CNNS])
    p.add_argument("--epochs", type=int, default=18)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--dataset", choices=("synthetic", "squares"), default="synthetic")
    p.add_argument("--init", choices=("fan_in", "official"), default="fan_in")
    p.add_argument("--lr", type=float, default=3e-4, help="from scratch, lr >= 1e-3 collapses to the class prior")
    p.add_argument("--weight-decay", type=float, default=0.05)
    p.add_argument("--label-smoothing", type=float, default=0.1)
    p.add_argument("--embed-dim", type=int, default=24)
    p.add_argument("--depths", type=int, nargs=4, default=[1, 1, 2, 1])
    p.add_argument("--frames", type=int, default=8)
    p.add_argument("--size", type=int, default=None, help="frame side (default 64; 32 for squares)")
    p.add_argument("--videos-per-class", type=int, default=40)
    p.add_argument("--video-size", type=int, default=96, help="side of the generated videos")
    p.add_argument("--video-frames", type=int, default=32, help="frames of the generated videos")
    p.add_argument("--tubelet", type=int, default=1, help="MODEL.TUBELET_SIZE; > 1 lets even `spatial` see time")
    p.add_argument("--sampler", choices=SAMPLERS, default="random", help="as DATA.SAMPLER (synthetic dataset only)")
    p.add_argument(
        "--reverse-prob",
        type=float,
        default=0.0,
        help="as AUG.REVERSE_PROB, with the class-balanced samplers (a reversed clip takes its partner's label)",
    )
    p.add_argument("--val-per-class", type=int, default=10)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's choice)")
    p.add_argument("--json", default=None, help="also write the rows (and settings) to this JSON file")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument(
        "--jobs",
        type=int,
        default=1,
        help="train this many variants at once, each in its own process with --threads (default 1) "
        "threads; the table then comes from their --json files",
    )
    p.add_argument("--log", default=None, help="append one JSON line per finished epoch to this file")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.size is None:
        args.size = 32 if args.dataset == "squares" else 64
    if args.sampler != "random" and args.dataset == "squares":
        p.error("--sampler applies to the synthetic dataset only")
    if args.dataset == "squares":
        return run_squares(args)

    info = generate_dataset(
        args.data,
        videos_per_class=args.videos_per_class,
        val_per_class=args.val_per_class,
        seed=args.seed,
        size=args.video_size,
        num_frames=args.video_frames,
        progress=not args.quiet,
    )
    if args.jobs > 1 and len(args.variants) > 1:
        rows = run_in_processes(args)
        print_table(args, rows, num_train=info.num_train, num_val=info.num_val, num_classes=info.num_classes)
        return 0
    # Random-resized crop from the 96 px source straight to the model size; colour jitter is off because it costs
    # more CPU than the model at this size and the classes are defined by motion, not colour.
    train_tf = TrainTransform(
        short_side=args.size, size=args.size, scale=(0.5, 1.0), flip_prob=0.0, color_jitter_prob=0.0, grayscale_prob=0.0
    )
    eval_tf = EvalTransform(short_side=args.size, crop=args.size)
    t0 = time.perf_counter()
    train_set = ClipBank(
        info.train_list,
        info.root,
        num_frames=args.frames,
        train=True,
        transform=train_tf,
        seed=args.seed,
        desc="decode train",
        progress=not args.quiet,
        reverse_label_map=reversal_label_map(info.pairs, info.num_classes),
    )
    val_set = ClipBank(
        info.val_list,
        info.root,
        num_frames=args.frames,
        train=False,
        transform=eval_tf,
        seed=args.seed,
        desc="decode val",
        progress=not args.quiet,
    )
    print(
        f"decoded {len(train_set)} train / {len(val_set)} val videos in {time.perf_counter() - t0:.0f} s",
        file=sys.stderr,
    )
    val_loader = DataLoader(val_set, batch_size=32, shuffle=False, num_workers=0)
    model_kwargs = dict(
        num_classes=info.num_classes,
        img_size=args.size,
        embed_dim=args.embed_dim,
        depths=tuple(args.depths),
        num_frames=args.frames,
        drop_path_rate=0.0,
        tubelet_size=args.tubelet,
    )

    rows = run_variants(args, model_kwargs, train_set, val_loader, info.pairs)
    print_table(args, rows, num_train=len(train_set), num_val=len(val_set), num_classes=info.num_classes)
    return 0


class TensorClips(Dataset):
    """Ready-made clips (N, T, 3, H, W) with labels; ``epoch`` is accepted and ignored (no per-epoch draws)."""

    def __init__(self, clips: torch.Tensor, labels: torch.Tensor) -> None:
        self.clips, self.labels, self.epoch = clips, labels, 0

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        return self.clips[index], int(self.labels[index])


def run_squares(args: argparse.Namespace) -> int:
    if args.jobs > 1 and len(args.variants) > 1:
        rows = run_in_processes(args)
    else:
        g = torch.Generator().manual_seed(args.seed)
        n_train, n_val = args.videos_per_class * 4, args.val_per_class * 4
        train_set = TensorClips(*moving_squares(n_train, generator=g, size=args.size, num_frames=args.frames))
        val_set = TensorClips(*moving_squares(n_val, generator=g, size=args.size, num_frames=args.frames))
        val_loader = DataLoader(val_set, batch_size=64, shuffle=False, num_workers=0)
        model_kwargs = dict(
            num_classes=len(SQUARE_CLASS_NAMES),
            img_size=args.size,
            embed_dim=args.embed_dim,
            depths=tuple(args.depths),
            num_frames=args.frames,
            drop_path_rate=0.0,
        )
        rows = run_variants(args, model_kwargs, train_set, val_loader, SQUARE_PAIRS)
    print_table(
        args,
        rows,
        num_train=args.videos_per_class * 4,
        num_val=args.val_per_class * 4,
        num_classes=len(SQUARE_CLASS_NAMES),
    )
    return 0


def print_table(args: argparse.Namespace, rows: list[dict], *, num_train: int, num_val: int, num_classes: int) -> None:
    threads = sorted({r["threads"] for r in rows})
    print(
        f"\n{num_train} train / {num_val} val clips, {args.frames}x{args.size}x{args.size}, {args.epochs} epochs, "
        f"batch {args.batch_size}, sampler {args.sampler}, tubelet {args.tubelet}, torch threads {threads}, "
        f"{args.jobs} job(s) at once; "
        f"chance: top-1 {100 / num_classes:.1f} %, pair accuracy 50 %"
    )
    print(format_table(rows))
    if args.json:
        settings = {k: v for k, v in vars(args).items() if k != "json"}
        Path(args.json).write_text(json.dumps(dict(settings=settings, rows=rows), indent=2) + "\n")


def run_in_processes(args: argparse.Namespace) -> list[dict]:
    """One child process per variant (``args.jobs`` at a time): on a shared machine several single-threaded
    trainings finish sooner than one two-threaded run after another. Rows come back in ``args.variants`` order."""
    import subprocess
    import tempfile

    forwarded = [
        "--data",
        args.data,
        "--dataset",
        args.dataset,
        "--init",
        args.init,
        "--epochs",
        args.epochs,
        "--batch-size",
        args.batch_size,
        "--lr",
        args.lr,
        "--weight-decay",
        args.weight_decay,
        "--label-smoothing",
        args.label_smoothing,
        "--embed-dim",
        args.embed_dim,
        "--depths",
        *args.depths,
        "--frames",
        args.frames,
        "--size",
        args.size,
        "--videos-per-class",
        args.videos_per_class,
        "--val-per-class",
        args.val_per_class,
        "--video-size",
        args.video_size,
        "--video-frames",
        args.video_frames,
        "--tubelet",
        args.tubelet,
        "--sampler",
        args.sampler,
        "--reverse-prob",
        args.reverse_prob,
        "--seed",
        args.seed,
        "--threads",
        args.threads or 1,
        "--quiet",
    ]
    if args.log:
        forwarded += ["--log", args.log]
    with tempfile.TemporaryDirectory() as tmp:
        pending, running, rows = list(args.variants), [], {}
        while pending or running:
            while pending and len(running) < args.jobs:
                variant = pending.pop(0)
                out = Path(tmp) / f"{variant}.json"
                cmd = [sys.executable, __file__, "--variants", variant, "--json", str(out), *map(str, forwarded)]
                running.append((variant, out, subprocess.Popen(cmd, stdout=subprocess.DEVNULL)))
            time.sleep(1)
            for item in [r for r in running if r[2].poll() is not None]:
                variant, out, proc = item
                running.remove(item)
                if proc.returncode != 0:
                    raise RuntimeError(f"training variant {variant!r} failed (exit {proc.returncode})")
                rows[variant] = json.loads(out.read_text())["rows"][0]
                print(json.dumps(rows[variant]), file=sys.stderr, flush=True)
    return [rows[v] for v in args.variants]


if __name__ == "__main__":
    raise SystemExit(main())
