"""Export a Video-FocalNet to ONNX, TorchScript or a ``torch.export`` ExportedProgram, and prove each file.

The model accepts any frame count at run time, but an exported graph fixes T and the frame size (the input is
(B, T, 3, S, S) with only B dynamic). Every export is reloaded and compared with the eager model on random clips
at batch 1 and 2, so a file that is written is a file that works.

ONNX uses the TorchScript-based exporter (``dynamo=False``): on torch 2.13 it produces a graph with a dynamic batch
that onnxruntime runs within 1e-7 of eager, without the extra ``onnxscript`` dependency of the dynamo exporter.
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn

from videofocalnet.atomic import atomic_write

__all__ = [
    "read_export_metadata",
    "FORMATS",
    "SUFFIXES",
    "ExportResult",
    "ExportVerificationError",
    "export_model",
    "export_checkpoint",
    "load_exported",
]

FORMATS = ("onnx", "torchscript", "exported-program")
SUFFIXES = {"onnx": ".onnx", "torchscript": ".torchscript.pt", "exported-program": ".pt2"}
INPUT_NAME = "video"
OUTPUT_NAME = "logits"


class ExportVerificationError(RuntimeError):
    """The exported file does not reproduce the eager model."""


@dataclass
class ExportResult:
    path: Path
    format: str
    input_shape: tuple[int, ...]  # (B, T, 3, S, S) with B dynamic (shown as the export batch)
    max_abs_diff: dict[int, float] = field(default_factory=dict)  # batch size -> max |exported - eager|

    def to_dict(self) -> dict:
        return {
            "path": str(self.path),
            "format": self.format,
            "input_shape": list(self.input_shape),
            "dynamic_axes": {"batch": 0},
            "max_abs_diff": {str(k): v for k, v in self.max_abs_diff.items()},
        }


def _onnxruntime():
    try:
        import onnxruntime
    except ImportError as exc:
        raise ImportError(
            "ONNX export needs onnx and onnxruntime: pip install -c constraints.txt 'videofocalnet[export]'"
        ) from exc
    return onnxruntime


METADATA_KEY = "videofocalnet"  # ONNX metadata_props key / TorchScript and ExportedProgram extra file (.json)


def _export_onnx(model: nn.Module, example: torch.Tensor, path: Path, opset: int, metadata: str) -> None:
    try:
        import onnx  # noqa: F401  (the exporter needs it; fail with our message, not a deep traceback)
    except ImportError as exc:
        raise ImportError("ONNX export needs onnx: pip install -c constraints.txt 'videofocalnet[export]'") from exc

    def write(tmp: str) -> None:
        with warnings.catch_warnings():
            # the legacy exporter's deprecation notice and the (constant, by design) shape checks of the model
            warnings.simplefilter("ignore")
            torch.onnx.export(
                model,
                (example,),
                tmp,
                dynamo=False,
                opset_version=opset,
                input_names=[INPUT_NAME],
                output_names=[OUTPUT_NAME],
                dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}},
                do_constant_folding=True,
            )
        if metadata:
            proto = onnx.load(tmp)
            entry = proto.metadata_props.add()
            entry.key, entry.value = METADATA_KEY, metadata
            onnx.save(proto, tmp)

    atomic_write(path, write)
    import onnx

    onnx.checker.check_model(str(path))


def _export_torchscript(model: nn.Module, example: torch.Tensor, path: Path, metadata: str) -> None:
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # TracerWarnings from the model's input checks: T, H, W are fixed here
        traced = torch.jit.trace(model, (example,), check_trace=False)

    def write(tmp: str) -> None:
        with open(tmp, "wb") as handle:
            torch.jit.save(traced, handle, _extra_files={f"{METADATA_KEY}.json": metadata} if metadata else None)

    atomic_write(path, write)


def _export_program(model: nn.Module, example: torch.Tensor, path: Path, metadata: str) -> None:
    batch = torch.export.Dim("batch", min=1, max=4096)
    # the example batch is 2: torch.export specialises a dimension of size 1 to the constant 1
    program = torch.export.export(
        model, (example.expand(2, *example.shape[1:]).contiguous(),), dynamic_shapes={"x": {0: batch}}
    )

    def write(tmp: str) -> None:
        with open(tmp, "wb") as handle:  # a buffer: torch.export.save warns about paths not ending in .pt2
            torch.export.save(program, handle, extra_files={f"{METADATA_KEY}.json": metadata} if metadata else None)

    atomic_write(path, write)


def load_exported(path: str | os.PathLike[str], format: str) -> Callable[[torch.Tensor], torch.Tensor]:
    """A callable (B, T, 3, S, S) float tensor -> logits tensor for an exported file."""
    path = Path(path)
    if format == "onnx":
        ort = _onnxruntime()
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])

        def run(x: torch.Tensor) -> torch.Tensor:
            return torch.from_numpy(session.run([OUTPUT_NAME], {INPUT_NAME: x.detach().cpu().numpy()})[0])

        return run
    if format == "torchscript":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # torch 2.13 deprecates TorchScript, still supported
            module = torch.jit.load(str(path), map_location="cpu")
        module.eval()
        return lambda x: module(x)
    if format == "exported-program":
        with open(path, "rb") as handle:  # a buffer, so any file name loads (a path must end in .pt2)
            module = torch.export.load(handle).module()
        return lambda x: module(x)
    raise ValueError(f"unknown export format {format!r}; choose from {', '.join(FORMATS)}")


def read_export_metadata(path: str | os.PathLike[str], format: str) -> dict[str, Any] | None:
    """The JSON that :func:`export_model` embedded (preprocessing, class names, model config), or None."""
    name = f"{METADATA_KEY}.json"
    if format == "onnx":
        import onnx

        props = {p.key: p.value for p in onnx.load(str(path), load_external_data=False).metadata_props}
        text = props.get(METADATA_KEY)
    elif format == "torchscript":
        files = {name: ""}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            torch.jit.load(str(path), map_location="cpu", _extra_files=files)
        text = files[name] or None
    else:
        files = {name: ""}
        with open(path, "rb") as handle:
            torch.export.load(handle, extra_files=files)
        text = files[name] or None
    if isinstance(text, bytes):
        text = text.decode("utf-8")
    return json.loads(text) if text else None


def export_model(
    model: nn.Module,
    path: str | os.PathLike[str],
    *,
    format: str,
    num_frames: int,
    input_size: int,
    opset: int = 17,
    verify: bool = True,
    atol: float = 1e-4,
    verify_batches: tuple[int, ...] = (1, 2),
    metadata: Mapping[str, Any] | None = None,
) -> ExportResult:
    """Write ``model`` (eval mode, CPU, fp32) for input (B, num_frames, 3, input_size, input_size) and, unless
    ``verify=False``, check it against eager on random clips at each of ``verify_batches``. ``metadata`` (the
    checkpoint's preprocessing and class names) travels inside the file as JSON: see :func:`read_export_metadata`."""
    if format not in FORMATS:
        raise ValueError(f"unknown export format {format!r}; choose from {', '.join(FORMATS)}")
    if opset < 17:
        raise ValueError(f"opset must be >= 17 (LayerNormalization), got {opset}")
    model = model.eval().to("cpu", torch.float32)
    in_chans = int(getattr(model, "in_chans", 3))
    example = torch.randn(1, num_frames, in_chans, input_size, input_size)
    with torch.no_grad():
        model(example)  # fail early, with the model's own message, on an unsupported T or size
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(dict(metadata)) if metadata else ""
    if format == "onnx":
        _export_onnx(model, example, path, opset, text)
    elif format == "torchscript":
        _export_torchscript(model, example, path, text)
    else:
        _export_program(model, example, path, text)
    result = ExportResult(path=path, format=format, input_shape=tuple(example.shape))
    if verify:
        result.max_abs_diff = verify_export(model, path, format, example.shape[1:], atol=atol, batches=verify_batches)
    return result


def verify_export(
    model: nn.Module,
    path: str | os.PathLike[str],
    format: str,
    clip_shape: tuple[int, ...],
    *,
    atol: float = 1e-4,
    batches: tuple[int, ...] = (1, 2),
    seed: int = 0,
) -> dict[int, float]:
    """Max |exported - eager| per batch size; raises :class:`ExportVerificationError` above ``atol``."""
    run = load_exported(path, format)
    generator = torch.Generator().manual_seed(seed)
    diffs: dict[int, float] = {}
    for b in batches:
        x = torch.randn(b, *clip_shape, generator=generator)
        with torch.no_grad():
            expected = model(x)
            got = run(x)
        if tuple(got.shape) != tuple(expected.shape):
            raise ExportVerificationError(
                f"{path}: {format} output shape {tuple(got.shape)} != eager {tuple(expected.shape)} at batch {b}"
            )
        diffs[b] = float((got.float() - expected).abs().max())
        if not diffs[b] <= atol:
            raise ExportVerificationError(
                f"{path}: {format} differs from eager by {diffs[b]:.3g} (> {atol:g}) at batch {b}"
            )
    return diffs


def export_checkpoint(
    checkpoint: str | os.PathLike[str],
    out: str | os.PathLike[str] | None = None,
    *,
    format: str,
    num_frames: int | None = None,
    input_size: int | None = None,
    opset: int = 17,
    verify: bool = True,
    atol: float = 1e-4,
) -> ExportResult:
    """Export a weights checkpoint; frames and size default to the checkpoint's preprocessing metadata and the
    output path to the checkpoint's with the format's suffix."""
    from videofocalnet.hub import load_model_checkpoint, local_path
    from videofocalnet.inference.preprocess import preprocess_from_config

    if format not in FORMATS:
        raise ValueError(f"unknown export format {format!r}; choose from {', '.join(FORMATS)}")
    checkpoint = local_path(checkpoint)  # a zoo name or URL: the cached file, beside which the export goes
    model, config = load_model_checkpoint(checkpoint)
    preprocess = preprocess_from_config(config, source=str(checkpoint))
    num_frames = preprocess.num_frames if num_frames is None else num_frames
    input_size = preprocess.input_size if input_size is None else input_size
    if out is None:
        ckpt = Path(checkpoint)
        out = ckpt.with_name(ckpt.name.removesuffix(ckpt.suffix) + SUFFIXES[format])
    metadata = {k: config.get(k) for k in ("model_name", "model_kwargs", "labels")}
    metadata["preprocess"] = preprocess.to_dict()
    return export_model(
        model,
        out,
        format=format,
        num_frames=num_frames,
        input_size=input_size,
        opset=opset,
        verify=verify,
        atol=atol,
        metadata=metadata,
    )
