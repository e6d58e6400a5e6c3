"""``videofocalnet convert-weights IN OUT``: any checkpoint -> our safetensors file, in one step.

IN is a released Video-FocalNet ``.pth`` (read with the allowlist unpickler: no yacs needed, nothing executed), a
``last.pt``, one of our safetensors files, an ImageNet FocalNet checkpoint (Microsoft or timm layout; the video model
is built around it with the temporal branch and head initialised), a URL, an ``hf-hub:`` id or a zoo name. OUT keeps
everything IN said: model config, preprocessing, class names, the run's config and where it came from.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("input", help="checkpoint file, URL, hf-hub: id or zoo name (videofocalnet weights list)")
    parser.add_argument("output", help="output .safetensors path (a .json sidecar is written beside it)")
    parser.add_argument("--ema", action="store_true", help="take the EMA weights of a last.pt")
    imagenet = parser.add_argument_group("ImageNet FocalNet inputs (ignored for video checkpoints, which say all this)")
    imagenet.add_argument("--model", default=None, help="registered model name (default: inferred from the shapes)")
    imagenet.add_argument("--num-classes", type=int, default=None, help="classifier outputs (default 400)")
    imagenet.add_argument("--frames", type=int, default=8, help="clip length stored in the config (default 8)")
    imagenet.add_argument("--tubelet", type=int, default=None, help="tubelet size (>1 inflates the 2-D stem)")


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve() or (b.exists() and a.samefile(b))
    except OSError:
        return False


def _video_from_imagenet(ckpt, args: argparse.Namespace):
    """A video model around ImageNet weights: (model, name, kwargs, report)."""
    import warnings

    from videofocalnet.models import create_model
    from videofocalnet.models.registry import infer_model_config
    from videofocalnet.weights import load_pretrained

    name, kwargs = infer_model_config(
        ckpt.state_dict, num_classes=args.num_classes, num_frames=args.frames, tubelet_size=args.tubelet
    )
    if args.model is not None:  # an explicit name wins; keep only the non-architectural inferred settings
        name = args.model
        kwargs = {k: v for k, v in kwargs.items() if k in ("num_classes", "num_frames", "tubelet_size")}
    model = create_model(name, **kwargs)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        report = load_pretrained(model, ckpt.state_dict)
    for w in caught:
        print(f"warning: {w.message}", file=sys.stderr)
    report.source = str(ckpt.path)
    return model, name, kwargs, report


def run(args: argparse.Namespace) -> int:
    from videofocalnet.hub import read_checkpoint
    from videofocalnet.models import is_model, list_models
    from videofocalnet.weights import save_weights

    dst = Path(args.output)
    if dst.suffix != ".safetensors":
        print(f"error: output {dst} must end in .safetensors; choose another name", file=sys.stderr)
        return 2
    if args.model is not None and not is_model(args.model):
        print(f"error: unknown model {args.model!r}; registered: {', '.join(list_models())}", file=sys.stderr)
        return 2
    src = Path(args.input)
    if src.exists() and (_same_file(src, dst) or _same_file(src, dst.with_suffix(".json"))):
        print(f"error: output {dst} would overwrite the input {src}; choose another output path", file=sys.stderr)
        return 2
    ckpt = read_checkpoint(args.input)
    if ckpt.is_imagenet:
        model, name, kwargs, report = _video_from_imagenet(ckpt, args)
        save_weights(dst, model, model_name=name, model_kwargs=kwargs, extra={"source": ckpt.config["source"]})
        print(report)
    else:
        ckpt.build_model(use_ema=args.ema)  # refuse now, not at the first predict, weights that do not fit
        ckpt.save(dst, use_ema=args.ema)
        name, kwargs = ckpt.model_name, ckpt.model_kwargs
    config = read_checkpoint(dst).config
    labels = config.get("labels")
    print(f"model: {name} {kwargs}")
    print(f"source: {ckpt.format} {ckpt.path}")
    print(f"preprocess: {config.get('preprocess') or 'none stored (the official test recipe will be assumed)'}")
    print(f"labels: {f'{len(labels)} class names' if labels else 'none stored (pass --labels to predict)'}")
    print(f"wrote {dst} and {dst.with_suffix('.json')}")
    return 0
