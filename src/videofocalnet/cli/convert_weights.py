"""``videofocalnet convert-weights IN OUT``: a released Video-FocalNet ``.pth`` or an ImageNet FocalNet checkpoint
(Microsoft or timm layout) -> our safetensors file with its config embedded (+ a JSON sidecar)."""

from __future__ import annotations

import argparse
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("input", help="released .pth / .bin / .safetensors checkpoint (read with weights_only)")
    parser.add_argument("output", help="output .safetensors path (a .json sidecar is written beside it)")
    parser.add_argument(
        "--model", default=None, help="registered model name (default: inferred from the weights' shapes)"
    )
    parser.add_argument(
        "--num-classes",
        type=int,
        default=None,
        help="classifier outputs (default: the checkpoint's head, or 400 for ImageNet weights)",
    )
    parser.add_argument("--frames", type=int, default=8, help="default clip length stored in the config (default 8)")
    parser.add_argument(
        "--tubelet",
        type=int,
        default=None,
        help="tubelet size (default: from the stem weight; >1 inflates a 2-D stem over time)",
    )


def run(args: argparse.Namespace) -> int:
    import warnings
    from pathlib import Path

    from videofocalnet.models import create_model, is_model, list_models
    from videofocalnet.models.convert import CheckpointMismatchError, detect_format
    from videofocalnet.models.registry import infer_model_config
    from videofocalnet.weights import UnsafeCheckpointError, load_pretrained, load_state_dict_file, save_weights

    src, dst = Path(args.input), Path(args.output)
    if dst.suffix != ".safetensors":
        print(f"error: output {dst} must end in .safetensors", file=sys.stderr)
        return 2
    if args.model is not None and not is_model(args.model):
        print(f"error: unknown model {args.model!r}; registered: {', '.join(list_models())}", file=sys.stderr)
        return 2
    try:
        state = load_state_dict_file(src)
        fmt = detect_format(state)
        name, kwargs = infer_model_config(
            state, num_classes=args.num_classes, num_frames=args.frames, tubelet_size=args.tubelet
        )
        if args.model is not None:
            # An explicit name wins; keep only the non-architectural inferred settings.
            name = args.model
            kwargs = {
                k: kwargs[k]
                for k in ("num_classes", "num_frames", "tubelet_size", "use_layerscale", "use_postln_in_modulation")
                if k in kwargs
            }
        model = create_model(name, **kwargs)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            report = load_pretrained(model, state)
        for w in caught:
            print(f"warning: {w.message}", file=sys.stderr)
    except (UnsafeCheckpointError, CheckpointMismatchError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    report.source = str(src)
    save_weights(dst, model, model_name=name, model_kwargs=kwargs, extra={"source": {"path": str(src), "format": fmt}})
    print(report)
    print(f"model: {name} {kwargs}")
    print(f"wrote {dst} and {dst.with_suffix('.json')}")
    return 0
