"""Exports are reloaded by their own runtimes and compared with eager at several batch sizes."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import torch

from videofocalnet.hub import load_model_checkpoint
from videofocalnet.inference.export import (
    ExportVerificationError,
    export_checkpoint,
    export_model,
    load_exported,
    read_export_metadata,
    verify_export,
)
from videofocalnet.inference.preprocess import preprocess_from_config


@pytest.fixture(scope="module")
def onnx_export(checkpoint: Path, tmp_path_factory):
    pytest.importorskip("onnxruntime")
    out = tmp_path_factory.mktemp("onnx") / "tiny.onnx"
    return export_checkpoint(checkpoint, out, format="onnx")


def test_onnx_has_dynamic_batch_and_matches_eager(onnx_export, checkpoint: Path) -> None:
    import onnx

    assert onnx_export.input_shape == (1, 4, 3, 64, 64)  # frames and size from the checkpoint's metadata
    assert set(onnx_export.max_abs_diff) == {1, 2}
    assert all(d <= 1e-4 for d in onnx_export.max_abs_diff.values())
    graph = onnx.load(str(onnx_export.path)).graph
    dims = graph.input[0].type.tensor_type.shape.dim
    assert [d.dim_param or d.dim_value for d in dims] == ["batch", 4, 3, 64, 64]
    assert graph.output[0].type.tensor_type.shape.dim[0].dim_param == "batch"
    model, config = load_model_checkpoint(checkpoint)
    meta = read_export_metadata(onnx_export.path, "onnx")  # the preprocessing travels with the graph
    assert meta["preprocess"] == preprocess_from_config(config).to_dict() and meta["labels"] == config["labels"]
    run = load_exported(onnx_export.path, "onnx")
    x = torch.randn(3, 4, 3, 64, 64)  # a batch size never seen during export or verification
    with torch.no_grad():
        torch.testing.assert_close(run(x), model.eval()(x), atol=1e-4, rtol=0)


def test_verification_catches_a_different_model(onnx_export, checkpoint: Path) -> None:
    model, _ = load_model_checkpoint(checkpoint)
    changed = copy.deepcopy(model).eval()
    with torch.no_grad():
        changed.head.bias += 0.01
    with pytest.raises(ExportVerificationError, match="differs from eager"):
        verify_export(changed, onnx_export.path, "onnx", (4, 3, 64, 64))


@pytest.mark.slow  # ~2 s idle, 20+ s on a loaded 2-core machine
def test_torchscript_export(checkpoint: Path, tmp_path: Path) -> None:
    model, _ = load_model_checkpoint(checkpoint)
    result = export_model(model, tmp_path / "m.torchscript.pt", format="torchscript", num_frames=4, input_size=64)
    assert result.path.is_file() and all(d <= 1e-4 for d in result.max_abs_diff.values())
    module = load_exported(result.path, "torchscript")
    x = torch.randn(2, 4, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(module(x), model.eval()(x), atol=1e-5, rtol=0)


@pytest.mark.slow  # torch.export tracing: ~15 s idle, 30 s loaded
def test_exported_program_export(checkpoint: Path, tmp_path: Path) -> None:
    model, _ = load_model_checkpoint(checkpoint)
    # a file name without .pt2 must still save and load
    result = export_checkpoint(checkpoint, tmp_path / "m.ep", format="exported-program", num_frames=8)
    meta = read_export_metadata(result.path, "exported-program")
    assert meta["labels"] == load_model_checkpoint(checkpoint)[1]["labels"] and meta["model_name"]
    assert result.input_shape == (1, 8, 3, 64, 64) and set(result.max_abs_diff) == {1, 2}
    program = torch.export.load(result.path.open("rb"))
    x = torch.randn(3, 8, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(program.module()(x), model.eval()(x), atol=1e-5, rtol=0)


def test_export_rejects_bad_requests(checkpoint: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown export format 'tflite'"):
        export_checkpoint(checkpoint, tmp_path / "m", format="tflite")
    with pytest.raises(ValueError, match="at least 32x32"):
        export_checkpoint(checkpoint, tmp_path / "m.onnx", format="onnx", input_size=16)
    with pytest.raises(ValueError, match="opset"):
        export_checkpoint(checkpoint, tmp_path / "m.onnx", format="onnx", opset=13)
    assert not list(tmp_path.iterdir())  # nothing half-written
