"""Draw the spatial and temporal modulators of chosen blocks over the frames the model saw (paper Figs. 1/5).

Each block's modulators are (T', h, w, C) tensors; their strength at a position is the L2 norm over channels,
giving (T', h, w) maps that are upsampled to the crop size and overlaid on the frames as heat maps. Each row (one
kind of modulator of one block) is min-max scaled over all its frames together, so changes over time stay visible.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

import numpy as np
import torch
import torch.nn.functional as F

from videofocalnet.inference.classifier import VideoClassifier, clip_indices
from videofocalnet.models.video_focalnet import FocalNetStage, VideoFocalNet

__all__ = [
    "KINDS",
    "VisualizationResult",
    "parse_layers",
    "block_names",
    "modulator_heatmaps",
    "overlay",
    "render_grid",
    "render_animation",
    "visualize_video",
]

KINDS = ("spatial", "temporal")
ALPHA = 0.5


@dataclass
class VisualizationResult:
    png: Path
    animation: Path
    blocks: list[int]
    frame_indices: list[int]
    topk: list[tuple[str, float]] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {
            "png": str(self.png),
            "animation": str(self.animation),
            "blocks": self.blocks,
            "frame_indices": self.frame_indices,
            "topk": [{"label": n, "prob": p} for n, p in self.topk],
        }


def block_names(model: VideoFocalNet) -> list[str]:
    """``stage s, block b`` (1-based, as the paper counts) for every block, in forward order."""
    names: list[str] = []
    for s, stage in enumerate(model.layers, start=1):
        names.extend(f"stage {s} block {b}" for b in range(1, len(cast(FocalNetStage, stage).blocks) + 1))
    return names


def parse_layers(spec: str | Sequence[int], num_blocks: int) -> list[int]:
    """``"first,last"``, ``"all"``, or block indices (0-based, negatives count from the end) -> sorted unique
    indices in [0, num_blocks)."""
    if isinstance(spec, str):
        if spec.strip() == "all":
            return list(range(num_blocks))
        items: list[int] = []
        for token in (t.strip() for t in spec.split(",")):
            if token == "first":
                items.append(0)
            elif token == "last":
                items.append(num_blocks - 1)
            else:
                try:
                    items.append(int(token))
                except ValueError:
                    raise ValueError(f"layers: {token!r} is not 'first', 'last', 'all' or a block index") from None
    else:
        items = [int(i) for i in spec]
    out = []
    for i in items:
        j = i + num_blocks if i < 0 else i
        if not 0 <= j < num_blocks:
            raise ValueError(f"layers: block {i} out of range for a model with {num_blocks} blocks")
        out.append(j)
    if not out:
        raise ValueError("layers: no block chosen")
    return sorted(set(out))


@torch.inference_mode()
def modulator_heatmaps(
    model: VideoFocalNet, clip: torch.Tensor, blocks: Sequence[int]
) -> tuple[torch.Tensor, dict[int, dict[str, torch.Tensor]]]:
    """Normalised clip (T, 3, S, S) -> (logits (num_classes,), {block: {kind: (T', S, S) channel L2 norms}})."""
    logits, modulators = model.forward_with_modulators(clip.unsqueeze(0))  # (1, T, 3, S, S) in
    size = clip.shape[-2:]
    maps: dict[int, dict[str, torch.Tensor]] = {}
    for b in blocks:
        maps[b] = {}
        for kind in KINDS:
            strength = modulators[b][kind][0].float().norm(dim=-1)  # (T', h, w, C) -> (T', h, w)
            up = F.interpolate(strength.unsqueeze(1), size=size, mode="bilinear", align_corners=False)
            maps[b][kind] = up[:, 0]  # (T', 1, S, S) -> (T', S, S)
    return logits[0], maps


def _scale01(x: torch.Tensor) -> torch.Tensor:
    lo, hi = x.min(), x.max()
    return (x - lo) / (hi - lo) if hi > lo else torch.zeros_like(x)


def overlay(frame: np.ndarray, heat: np.ndarray, alpha: float = ALPHA) -> np.ndarray:
    """uint8 frame (S, S, 3) + heat in [0, 1] (S, S) -> uint8 (S, S, 3) with the 'jet' colour map blended in."""
    from matplotlib import colormaps

    colour = colormaps["jet"](heat)[..., :3] * 255.0  # (S, S, 4) RGBA in [0, 1] -> RGB 0-255
    return np.clip((1 - alpha) * frame + alpha * colour, 0, 255).astype(np.uint8)


def _rows(
    frames: np.ndarray, maps: dict[int, dict[str, torch.Tensor]], names: list[str], tubelet: int
) -> list[tuple[str, list[np.ndarray]]]:
    """Grid rows: the frames, then spatial rows of every block, then temporal rows; each row T images."""
    rows: list[tuple[str, list[np.ndarray]]] = [("frames", list(frames))]
    for kind in KINDS:
        for b, per_kind in maps.items():
            heat = _scale01(per_kind[kind]).numpy()  # (T', S, S), one scale for the whole row
            images = [overlay(frames[t], heat[t // tubelet]) for t in range(frames.shape[0])]
            rows.append((f"{kind}\n{names[b]}", images))
    return rows


def render_grid(
    rows: list[tuple[str, list[np.ndarray]]], path: Path, *, title: str = "", cell_inches: float = 1.3, dpi: int = 100
) -> Path:
    """PNG grid: one row per (label, images), one column per frame."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n_rows, n_cols = len(rows), len(rows[0][1])
    fig, axes = plt.subplots(
        n_rows, n_cols, figsize=(cell_inches * n_cols + 1.2, cell_inches * n_rows + 0.4), dpi=dpi, squeeze=False
    )
    for r, (label, images) in enumerate(rows):
        for c, image in enumerate(images):
            ax = axes[r][c]
            ax.imshow(image)
            ax.set_xticks([])
            ax.set_yticks([])
            if c == 0:
                ax.set_ylabel(label, fontsize=7)
    if title:
        fig.suptitle(title, fontsize=8)
    fig.subplots_adjust(
        left=1.0 / (cell_inches * n_cols + 1.2),
        right=0.99,
        bottom=0.01,
        top=1 - 0.4 / (cell_inches * n_rows + 0.4),
        wspace=0.03,
        hspace=0.03,
    )
    fig.savefig(path)
    plt.close(fig)
    return path


def _animation_frames(rows: list[tuple[str, list[np.ndarray]]]) -> list[np.ndarray]:
    """One picture per time step: the row images of that step side by side, with a label strip on top."""
    from PIL import Image, ImageDraw

    strip = 14
    out = []
    for t in range(len(rows[0][1])):
        tiles = [images[t] for _label, images in rows]
        h, w = tiles[0].shape[:2]
        canvas = Image.new("RGB", (w * len(tiles), h + strip), (255, 255, 255))
        draw = ImageDraw.Draw(canvas)
        for k, ((label, _images), tile) in enumerate(zip(rows, tiles)):
            canvas.paste(Image.fromarray(tile), (k * w, strip))
            draw.text(
                (k * w + 2, 1),
                label.replace("\n", " ").replace("stage ", "s").replace(" block ", "b")[:24],
                fill=(0, 0, 0),
            )
        out.append(np.asarray(canvas))
    return out


def render_animation(rows: list[tuple[str, list[np.ndarray]]], path: Path, *, fps: float = 4.0) -> Path:
    """Animated GIF (Pillow) or MP4 (PyAV, H.264) depending on the suffix of ``path``."""
    pictures = _animation_frames(rows)
    suffix = path.suffix.lower()
    if suffix == ".gif":
        from PIL import Image

        images = [Image.fromarray(p) for p in pictures]
        images[0].save(path, save_all=True, append_images=images[1:], duration=int(round(1000 / fps)), loop=0)
    elif suffix == ".mp4":
        import av

        h, w = pictures[0].shape[:2]
        with av.open(str(path), mode="w") as container:
            stream = container.add_stream("libx264", rate=int(round(fps)))
            stream.width, stream.height, stream.pix_fmt = w - w % 2, h - h % 2, "yuv420p"  # 4:2:0 needs even sizes
            for p in pictures:
                frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(p[: h - h % 2, : w - w % 2]), format="rgb24")
                for packet in stream.encode(frame):
                    container.mux(packet)
            for packet in stream.encode():
                container.mux(packet)
    else:
        raise ValueError(f"{path}: animation must be .gif or .mp4")
    return path


def visualize_video(
    classifier: VideoClassifier,
    video: str | os.PathLike[str],
    *,
    layers: str | Sequence[int] = "first,last",
    out_dir: str | os.PathLike[str] = "modulators",
    animation: str = "gif",
    cell_inches: float = 1.3,
    dpi: int = 100,
) -> VisualizationResult:
    """Write ``<stem>_modulators.png`` and ``<stem>_modulators.<gif|mp4>`` for the centre view of ``video``."""
    from videofocalnet.data.decode import open_video
    from videofocalnet.data.transforms import center_crop, normalize, short_side_resize

    if animation not in ("gif", "mp4"):
        raise ValueError(f"animation must be 'gif' or 'mp4', got {animation!r}")
    model, p = classifier.model, classifier.preprocess
    if not isinstance(model, VideoFocalNet):  # the modulators are read through VideoFocalNet.forward_with_modulators
        raise TypeError(f"modulator visualization needs a VideoFocalNet, got {type(model).__name__}")
    names = block_names(model)
    blocks = parse_layers(layers, len(names))
    with open_video(video) as reader:
        indices = clip_indices(reader.num_frames, p, 1)[0]
        frames = reader.read(indices)  # (T, H, W, 3) uint8
    side = p.short_side_for(1)  # one centre crop, as single-view validation
    clip = center_crop(short_side_resize(frames.permute(0, 3, 1, 2), side), p.input_size)  # (T, 3, S, S)
    x = normalize(clip.float(), p.mean, p.std).to(classifier.device)
    logits, maps = modulator_heatmaps(model, x, blocks)
    maps = {b: {k: v.cpu() for k, v in m.items()} for b, m in maps.items()}
    display = clip.permute(0, 2, 3, 1).numpy()  # (T, 3, S, S) -> (T, S, S, 3)
    rows = _rows(display, maps, names, p.tubelet_size)
    topk = classifier.topk(logits.float().softmax(-1).cpu(), 1)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    stem = Path(video).name.split(".")[0] or "video"
    title = f"{Path(video).name}: frames {indices} -> {topk[0][0]} ({topk[0][1]:.2f})"
    png = render_grid(rows, out / f"{stem}_modulators.png", title=title, cell_inches=cell_inches, dpi=dpi)
    anim = render_animation(rows, out / f"{stem}_modulators.{animation}")
    return VisualizationResult(png=png, animation=anim, blocks=blocks, frame_indices=list(indices), topk=topk)
