"""Modulator pictures from real videos: shapes, sizes, non-empty heat maps, and first/last blocks that differ."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from videofocalnet.data.decode import probe_video, read_all_frames
from videofocalnet.inference.visualize import block_names, modulator_heatmaps, parse_layers, visualize_video


def test_parse_layers() -> None:
    assert parse_layers("first,last", 4) == [0, 3]
    assert parse_layers("all", 3) == [0, 1, 2]
    assert parse_layers("1,-1,first", 4) == [0, 1, 3]
    with pytest.raises(ValueError, match="block 4 out of range"):
        parse_layers("4", 4)
    with pytest.raises(ValueError, match="'middle' is not"):
        parse_layers("middle", 4)


def test_heatmaps_are_channel_norms_upsampled(classifier) -> None:
    model = classifier.model
    assert block_names(model) == [f"stage {s} block 1" for s in range(1, 5)]
    clip = torch.randn(4, 3, 64, 64)
    logits, maps = modulator_heatmaps(model, clip, [0, 3])
    torch.testing.assert_close(logits, model(clip[None])[0].detach())
    _, modulators = model.forward_with_modulators(clip[None])
    for b in (0, 3):
        for kind in ("spatial", "temporal"):
            assert maps[b][kind].shape == (4, 64, 64)  # (T', S, S)
            native = modulators[b][kind][0].norm(dim=-1)  # (T', h, w)
            # bilinear upsampling keeps the mean of each native cell's neighbourhood: compare the global means
            assert maps[b][kind].mean() == pytest.approx(float(native.mean()), rel=0.05)
    assert modulators[0]["spatial"].shape[2:4] == (16, 16) and modulators[3]["spatial"].shape[2:4] == (2, 2)
    assert not torch.allclose(maps[0]["spatial"], maps[3]["spatial"])


@pytest.mark.parametrize("animation", ["gif", "mp4"])
def test_visualize_writes_grid_and_animation(classifier, videos, tmp_path: Path, animation: str) -> None:
    from PIL import Image

    result = visualize_video(classifier, videos["shapes"], out_dir=tmp_path, animation=animation)
    assert result.blocks == [0, 3] and result.frame_indices == [6, 18, 30, 42]
    with Image.open(result.png) as png:
        # 4 frame columns x 5 rows (frames, spatial first/last, temporal first/last) at 1.3 in, 100 dpi
        assert png.size == (int((1.3 * 4 + 1.2) * 100), int((1.3 * 5 + 0.4) * 100))
        assert np.asarray(png.convert("L")).std() > 20
    if animation == "gif":
        with Image.open(result.animation) as gif:
            assert gif.n_frames == 4
            gif.seek(1)
            tiles = np.asarray(gif.convert("RGB"))[14:]  # (64, 5 * 64, 3) under the label strip
    else:
        info = probe_video(result.animation)
        assert info.num_frames == 4
        tiles = read_all_frames(result.animation)[1].numpy()[14:]
    assert tiles.shape[:2] == (64, 5 * 64)
    frame, s_first, s_last, t_first, t_last = (tiles[:, k * 64 : (k + 1) * 64].astype(float) for k in range(5))
    for heat in (s_first, s_last, t_first, t_last):
        assert np.abs(heat - frame).mean() > 10  # an overlay was drawn
    assert np.abs(s_first - s_last).mean() > 5  # first and last blocks differ
    assert np.abs(t_first - t_last).mean() > 5
