"""Embedded synthetic action dataset: real photographs moving through time, where only the time order gives the label.

A new user has no Kinetics, yet must see the whole pipeline (encode -> decode -> sample -> train -> evaluate) work and
reach a high accuracy in minutes on a laptop CPU. The classes are therefore built like Something-Something: five
*reversal pairs* (moving left / right, up / down, rotating clockwise / counter-clockwise, growing / shrinking,
appearing / disappearing) plus ``static``. One member of each pair is rendered by running the other member's generative
process and reversing the frame order, so the two members share every per-frame statistic (appearance, size,
position, brightness) and a model can only separate them by looking at the order of frames. ``pair_accuracy``
measures exactly that.

Textures come from the colour photographs that ship with scikit-image (no download), objects are photo patches with
a soft random-shape alpha mask and outline, and nuisance factors (camera jitter, distractors, flicker, pixel noise,
motion start/stop times) are all drawn from time-reversible distributions so reversing a video never produces an
out-of-distribution sample. Videos are written as real H.264/yuv420p mp4 through PyAV's libx264 encoder with one
encoder thread, which makes the files byte-identical for a seed.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from videofocalnet.atomic import atomic_write_text

if TYPE_CHECKING:
    import torch

GENERATOR_VERSION = 3  # 2: nuisance factors in SyntheticStyle; 3: larger, egg-shaped objects, rotation in the style

CLASS_NAMES: tuple[str, ...] = (
    "moving_left",
    "moving_right",
    "moving_up",
    "moving_down",
    "rotating_clockwise",
    "rotating_counterclockwise",
    "growing",
    "shrinking",
    "appearing",
    "disappearing",
    "static",
)

# Class ids (into CLASS_NAMES) whose videos are time reverses of each other.
REVERSAL_PAIRS: tuple[tuple[int, int], ...] = ((0, 1), (2, 3), (4, 5), (6, 7), (8, 9))

# class name -> (generative process, whether the rendered frames are reversed in time).
# "rotate" increases the angle in image coordinates (y down), which is clockwise on screen.
_PROCESS: dict[str, tuple[str, bool]] = {
    "moving_right": ("translate_x", False),
    "moving_left": ("translate_x", True),
    "moving_down": ("translate_y", False),
    "moving_up": ("translate_y", True),
    "rotating_clockwise": ("rotate", False),
    "rotating_counterclockwise": ("rotate", True),
    "growing": ("scale", False),
    "shrinking": ("scale", True),
    "appearing": ("fade", False),
    "disappearing": ("fade", True),
    "static": ("static", False),
}

_SPLITS = {"train": 0, "val": 1}
_CRF = 20  # low enough that a 1-2 px/frame motion of a 10 px object survives yuv420p compression
# One thread; macroblock-tree and adaptive quantisation off: with them on, libx264 gave different bytes for the same
# 96x96 input in different processes (5 variants in 8 runs here), with them off every run was identical.
_X264_OPTIONS = {"crf": str(_CRF), "preset": "veryfast", "threads": "1", "x264-params": "mbtree=0:aq-mode=0"}
_SHAPE_EXTENT = 1.45  # max radius of a random shape, in units of the object radius (bounding-box margin)


@dataclasses.dataclass(frozen=True)
class SyntheticStyle:
    """How hard the nuisance factors make a clip; lengths are fractions of the frame side, ranges are (low, high).

    Every factor is drawn from a time-reversible distribution whatever the values, so a style only changes how much
    a model must look past, never whether time order decides the label.
    """

    main_radius: tuple[float, float] = (0.2, 0.26)
    turn: tuple[float, float] = (0.48, 0.8)  # total rotation of the rotating classes, in half-turns
    # Outline harmonics, in units of the radius: cos(phi) makes an egg (one end blunt, one pointed), cos(2 phi) an
    # ellipse. An ellipse looks the same after half a turn, so only a lopsided outline pins orientation down over
    # the full circle.
    lopsided: tuple[float, float] = (0.3, 0.45)
    elongation: tuple[float, float] = (0.0, 0.1)
    travel: tuple[float, float] = (0.35, 0.55)  # translation distance
    motion_duration: tuple[float, float] = (0.7, 1.0)  # fraction of the clip the motion takes
    distractors: tuple[int, int] = (1, 2)  # inclusive count range
    distractor_radius: tuple[float, float] = (0.05, 0.09)
    distractor_drift: tuple[float, float] = (0.03, 0.1)
    jitter: float = 0.4  # camera shake sigma, in units of the 3 %-of-side margin
    noise: tuple[float, float] = (1.5, 5.0)  # pixel noise sigma, in 8-bit levels
    background_contrast: tuple[float, float] = (0.3, 0.6)

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if isinstance(value, tuple):
                if len(value) != 2 or not 0 <= value[0] <= value[1]:
                    raise ValueError(f"SyntheticStyle.{field.name} must be a (low, high) range with 0 <= low <= high, "
                                     f"got {value!r}")
            elif value < 0:
                raise ValueError(f"SyntheticStyle.{field.name} must be >= 0, got {value!r}")
        if not all(isinstance(n, int) for n in self.distractors):
            raise ValueError(f"SyntheticStyle.distractors must be integer counts, got {self.distractors!r}")
        if self.main_radius[0] <= 0 or self.motion_duration[1] > 1:
            raise ValueError(f"SyntheticStyle needs main_radius > 0 and motion_duration <= 1, got {self}")
        if self.lopsided[1] + self.elongation[1] + 0.15 >= 1:  # the third harmonic adds up to 0.15
            raise ValueError(f"SyntheticStyle needs lopsided + elongation < 0.85 at their highs (outlines must stay "
                             f"star-shaped around the centre), got {self.lopsided} and {self.elongation}")

    def to_dict(self) -> dict[str, Any]:
        out = {}
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            out[field.name] = list(value) if isinstance(value, tuple) else value
        return out


DEFAULT_STYLE = SyntheticStyle()


# --------------------------------------------------------------------------------------------------------- photos


@functools.lru_cache(maxsize=1)
def _photo_bank() -> tuple[tuple[np.ndarray, ...], tuple[np.ndarray, ...]]:
    """(object sources, background sources), float32 (H, W, 3) in [0, 1], shrunk so the short side is <= 200 px.

    Loaded once per process; every photo here ships inside the scikit-image wheel (no pooch download).
    """
    try:
        import skimage.data as skdata
        from skimage.transform import resize
    except ImportError as exc:  # pragma: no cover - depends on the installation
        raise ImportError(
            "the synthetic dataset needs scikit-image for its photographs: pip install 'videofocalnet[synthetic]'"
        ) from exc

    def prep(image: np.ndarray) -> np.ndarray:
        image = np.asarray(image)
        if image.ndim == 2:  # grey texture: tinted later, replicate channels now
            image = np.repeat(image[..., None], 3, axis=-1)
        if image.shape[-1] == 4:  # RGBA logo: composite over white
            alpha = image[..., 3:4].astype(np.float32) / 255.0
            image = image[..., :3].astype(np.float32) * alpha + 255.0 * (1.0 - alpha)
        image = image.astype(np.float32) / 255.0
        short = min(image.shape[:2])
        if short > 200:
            scale = 200 / short
            shape = (round(image.shape[0] * scale), round(image.shape[1] * scale), 3)
            image = resize(image, shape, order=1, anti_aliasing=True).astype(np.float32)
        return np.ascontiguousarray(image)

    colour = {
        name: prep(getattr(skdata, name)())
        for name in ("astronaut", "coffee", "chelsea", "rocket", "immunohistochemistry", "retina", "hubble_deep_field")
    }
    colour["motorcycle"] = prep(skdata.stereo_motorcycle()[0])
    grey = {name: prep(getattr(skdata, name)()) for name in ("grass", "gravel", "brick")}
    objects = tuple(colour[n] for n in ("astronaut", "coffee", "chelsea", "rocket", "immunohistochemistry", "motorcycle"))
    backgrounds = tuple(colour.values()) + tuple(grey.values())
    return objects, backgrounds


def _resize_bilinear(image: np.ndarray, out_h: int, out_w: int) -> np.ndarray:
    """(H, W, C) -> (out_h, out_w, C), bilinear with pixel-centre alignment; only used for mild scale changes."""
    in_h, in_w = image.shape[:2]
    ys = np.clip((np.arange(out_h, dtype=np.float32) + 0.5) * (in_h / out_h) - 0.5, 0, in_h - 1)
    xs = np.clip((np.arange(out_w, dtype=np.float32) + 0.5) * (in_w / out_w) - 0.5, 0, in_w - 1)
    return _bilinear(image, ys[:, None], xs[None, :])


def _bilinear(image: np.ndarray, ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
    """Sample (H, W, C) at broadcastable float coordinates (already inside the image) -> (*coords, C)."""
    h, w = image.shape[:2]
    ys, xs = np.broadcast_arrays(ys, xs)
    y0 = np.clip(np.floor(ys).astype(np.int64), 0, h - 2)
    x0 = np.clip(np.floor(xs).astype(np.int64), 0, w - 2)
    fy = (ys - y0)[..., None].astype(np.float32)
    fx = (xs - x0)[..., None].astype(np.float32)
    top = image[y0, x0] * (1 - fx) + image[y0, x0 + 1] * fx
    bottom = image[y0 + 1, x0] * (1 - fx) + image[y0 + 1, x0 + 1] * fx
    return top * (1 - fy) + bottom * fy


# -------------------------------------------------------------------------------------------------------- objects


@dataclasses.dataclass
class _Sprite:
    """A photo patch with a random star-convex soft mask, drawn at any centre / radius / angle / opacity."""

    texture: np.ndarray  # (n, n, 3) float32, covers canonical coords [-EXT, EXT]^2
    harmonics: np.ndarray  # (3, 2): amplitude and phase of cos(k*phi + p), k = 1..3
    outline: np.ndarray  # (3,) colour of the 1-2 px rim that keeps the sprite visible on any background


def _make_sprite(rng: np.random.Generator, max_radius_px: float, style: SyntheticStyle) -> _Sprite:
    from skimage.transform import resize

    objects, _ = _photo_bank()
    source = objects[rng.integers(len(objects))]
    h, w = source.shape[:2]
    # Reject flat patches (sky, black borders): a sprite must carry texture so that rotation is visible.
    for _ in range(20):
        side = int(rng.integers(int(0.25 * min(h, w)), int(0.6 * min(h, w)) + 1))
        y, x = int(rng.integers(0, h - side + 1)), int(rng.integers(0, w - side + 1))
        patch = source[y : y + side, x : x + side]
        if patch.std() > 0.08 and 0.15 < patch.mean() < 0.9:
            break
    n = max(8, int(math.ceil(2 * _SHAPE_EXTENT * max_radius_px)) + 2)
    texture = resize(patch, (n, n, 3), order=1, anti_aliasing=side > n).astype(np.float32)
    texture = np.clip((texture - texture.mean()) * rng.uniform(1.1, 1.5) + texture.mean(), 0, 1)  # pop out
    harmonics = np.stack(
        [
            np.array([rng.uniform(*style.lopsided), rng.uniform(*style.elongation), rng.uniform(0.0, 0.15)]),
            rng.uniform(0, 2 * math.pi, size=3),
        ],
        axis=1,
    )  # (3, 2)
    outline = np.full(3, 0.05 if rng.random() < 0.5 else 0.95, dtype=np.float32)
    return _Sprite(texture=texture, harmonics=harmonics.astype(np.float32), outline=outline)


def _draw_sprite(
    canvas: np.ndarray, sprite: _Sprite, *, cx: float, cy: float, radius: float, angle: float, opacity: float
) -> None:
    """Alpha-composite ``sprite`` into ``canvas`` (H, W, 3) float32 in place.

    ``angle`` rotates the sprite's canonical +u axis towards +y (down the image), i.e. clockwise on screen.
    """
    if opacity <= 0.0 or radius <= 0.0:
        return
    h, w = canvas.shape[:2]
    reach = _SHAPE_EXTENT * radius + 2
    x_lo, x_hi = max(0, int(math.floor(cx - reach))), min(w, int(math.ceil(cx + reach)) + 1)
    y_lo, y_hi = max(0, int(math.floor(cy - reach))), min(h, int(math.ceil(cy + reach)) + 1)
    if x_lo >= x_hi or y_lo >= y_hi:
        return
    dx = np.arange(x_lo, x_hi, dtype=np.float32)[None, :] - cx  # (1, bw)
    dy = np.arange(y_lo, y_hi, dtype=np.float32)[:, None] - cy  # (bh, 1)
    cos, sin = math.cos(angle), math.sin(angle)
    # Inverse rotation screen -> canonical sprite coordinates, in units of the radius. (bh, bw) each.
    u = (cos * dx + sin * dy) / radius
    v = (-sin * dx + cos * dy) / radius
    rho = np.hypot(u, v)
    phi = np.arctan2(v, u)
    boundary = np.ones_like(phi)
    for k in range(3):
        amplitude, phase = sprite.harmonics[k]
        boundary += amplitude * np.cos((k + 1) * phi + phase)
    boundary /= 1.0 + sprite.harmonics[:, 0].sum() / 1.6  # keep the extent below _SHAPE_EXTENT
    inside_px = (boundary - rho) * radius  # signed distance-ish to the rim, in pixels; (bh, bw)
    alpha = np.clip(inside_px + 0.5, 0.0, 1.0) * opacity  # ~1 px soft edge
    covered = alpha > 0  # the texture is sampled only where it shows: a third of the box is outside the outline
    if not covered.any():
        return
    # Below, every array is over the N covered pixels, in row-major order of the box.
    inside_px, u, v, a = inside_px[covered], u[covered], v[covered], alpha[covered][:, None]
    rim = np.clip(inside_px - 1.0, 0.0, 1.0)[:, None]  # 0 on the ~1.5 px outline, 1 inside; (N, 1)
    n = sprite.texture.shape[0]
    tex_y = np.clip((v / _SHAPE_EXTENT + 1) * 0.5 * (n - 1), 0, n - 1)
    tex_x = np.clip((u / _SHAPE_EXTENT + 1) * 0.5 * (n - 1), 0, n - 1)
    colour = _bilinear(sprite.texture, tex_y, tex_x) * rim + sprite.outline * (1 - rim)  # (N, 3)
    region = canvas[y_lo:y_hi, x_lo:x_hi]
    pixels = region[covered]  # (N, 3) copy
    pixels *= 1 - a
    pixels += colour * a
    region[covered] = pixels


# -------------------------------------------------------------------------------------------------------- render


@dataclasses.dataclass
class ObjectTrack:
    """Per-frame state of the class-defining object, in the order of the returned frames (after any reversal)."""

    x: np.ndarray  # (T,) centre column, pixels (camera jitter excluded)
    y: np.ndarray  # (T,) centre row, pixels
    radius: np.ndarray  # (T,) pixels
    angle: np.ndarray  # (T,) radians, increasing = clockwise on screen
    opacity: np.ndarray  # (T,) in [0, 1]


def _motion_progress(rng: np.random.Generator, num_frames: int, duration_range: tuple[float, float]) -> np.ndarray:
    """0 -> 1 ramp over a random window covering ``duration_range`` of the clip (e.g. 70-100 %); (T,) float.

    The window start is uniform over the admissible range, so the reversed ramp 1 - p(T-1-t) has the same law:
    reversal never creates a start/stop timing that the forward class cannot produce.
    """
    span = num_frames - 1
    duration = max(1, int(round(rng.uniform(*duration_range) * span)))
    start = int(rng.integers(0, span - duration + 1))
    t = np.arange(num_frames, dtype=np.float64)
    return np.clip((t - start) / duration, 0.0, 1.0)


def _stationary_jitter(rng: np.random.Generator, num_frames: int, sigma: float, limit: int) -> np.ndarray:
    """Stationary Gaussian AR(1) camera shake, rounded to pixels; (T, 2) int. AR(1) is reversible in law."""
    rho = 0.8
    out = np.empty((num_frames, 2))
    out[0] = rng.normal(0, sigma, size=2)
    for t in range(1, num_frames):
        out[t] = rho * out[t - 1] + math.sqrt(1 - rho**2) * rng.normal(0, sigma, size=2)
    return np.clip(np.rint(out), -limit, limit).astype(np.int64)


def _main_track(process: str, rng: np.random.Generator, size: int, num_frames: int,
                style: SyntheticStyle) -> ObjectTrack:
    """Forward-time state of the class-defining object for one generative process."""
    t_count = num_frames
    ones = np.ones(t_count)
    r_lo, r_hi = style.main_radius
    radius = rng.uniform(r_lo, r_hi) * size * ones
    angle = rng.uniform(0, 2 * math.pi) * ones
    opacity = ones.copy()
    x = rng.uniform(0.2, 0.8) * size * ones
    y = rng.uniform(0.2, 0.8) * size * ones
    if process in ("translate_x", "translate_y"):
        p = _motion_progress(rng, t_count, style.motion_duration)
        travel = rng.uniform(*style.travel) * size
        start = rng.uniform(0.15 * size, 0.85 * size - travel)
        along = start + travel * p
        across = rng.uniform(0.2, 0.8) * size + rng.uniform(-0.15, 0.15) * travel * p  # slight slant
        x, y = (along, across) if process == "translate_x" else (across, along)
    elif process == "rotate":
        p = _motion_progress(rng, t_count, style.motion_duration)
        angle = angle + rng.uniform(*style.turn) * math.pi * p
        radius = rng.uniform(r_lo + 0.02, r_hi + 0.02) * size * ones  # a little larger: rotation needs texture
    elif process == "scale":
        p = _motion_progress(rng, t_count, style.motion_duration)
        r0 = rng.uniform(0.57 * r_lo, 0.58 * r_hi) * size  # (0.08, 0.11) for the default radius
        radius = r0 * rng.uniform(1.8, 2.3) ** p
        x = rng.uniform(0.3, 0.7) * size * ones
        y = rng.uniform(0.3, 0.7) * size * ones
    elif process == "fade":
        # Visible in 30-70 % of the frames: pops in (ramp 0) or fades over up to 25 % of the clip.
        centre = rng.uniform(0.3, 0.7) * (t_count - 1)
        ramp = rng.uniform(0.0, 0.25) * t_count if rng.random() < 0.7 else 0.0
        t = np.arange(t_count, dtype=np.float64)
        opacity = np.clip((t - centre) / max(ramp, 1e-6) + 0.5, 0.0, 1.0)
    elif process != "static":
        raise ValueError(f"unknown generative process {process!r}")
    return ObjectTrack(x=x, y=y, radius=radius, angle=angle, opacity=opacity)


def render_video_with_track(
    class_name: str, rng: np.random.Generator, *, size: int = 96, num_frames: int = 32,
    style: SyntheticStyle = DEFAULT_STYLE,
) -> tuple[np.ndarray, ObjectTrack]:
    """Like :func:`render_video`, also returning the class-defining object's per-frame state (for tests and plots)."""
    if class_name not in _PROCESS:
        raise ValueError(f"unknown synthetic class {class_name!r}; choose from {', '.join(CLASS_NAMES)}")
    if size < 16 or num_frames < 4:
        raise ValueError(f"size must be >= 16 and num_frames >= 4, got size={size}, num_frames={num_frames}")
    process, reverse = _PROCESS[class_name]
    t_count = num_frames

    # Background: a random crop of a photo, a margin larger than the frame so camera shake never shows a border.
    _, backgrounds = _photo_bank()
    margin = max(2, int(round(0.03 * size)))
    source = backgrounds[rng.integers(len(backgrounds))]
    h, w = source.shape[:2]
    side = int(rng.integers(int(0.4 * min(h, w)), min(h, w) + 1))
    top, left = int(rng.integers(0, h - side + 1)), int(rng.integers(0, w - side + 1))
    world = _resize_bilinear(source[top : top + side, left : left + side], size + 2 * margin, size + 2 * margin)
    tint = rng.uniform(0.75, 1.25, size=3).astype(np.float32)
    world = world.mean() + (world - world.mean()) * rng.uniform(*style.background_contrast)  # calmer than objects
    world = np.clip(world * tint, 0, 1).astype(np.float32)  # (size + 2m, size + 2m, 3)

    track = _main_track(process, rng, size, t_count, style)
    main_sprite = _make_sprite(rng, float(track.radius.max()), style)

    # Distractors: smaller, static or drifting slowly in an isotropic random direction (no class-consistent motion).
    distractors = []
    for _ in range(int(rng.integers(style.distractors[0], style.distractors[1] + 1))):
        r = rng.uniform(*style.distractor_radius) * size
        sprite = _make_sprite(rng, r, style)
        x0, y0 = rng.uniform(0.1, 0.9, size=2) * size
        drift = 0.0 if rng.random() < 0.4 else rng.uniform(*style.distractor_drift) * size
        heading = rng.uniform(0, 2 * math.pi)
        p = np.linspace(-0.5, 0.5, t_count)
        xs, ys = x0 + drift * math.cos(heading) * p, y0 + drift * math.sin(heading) * p
        distractors.append((sprite, r, rng.uniform(0, 2 * math.pi), xs, ys))

    jitter = _stationary_jitter(rng, t_count, sigma=style.jitter * margin, limit=margin)  # (T, 2) as (dy, dx)
    gain = rng.uniform(0.85, 1.15)
    flicker = 1.0 + rng.normal(0, 0.015, size=t_count)  # iid per frame: reversible
    noise_sigma = rng.uniform(*style.noise) / 255.0

    frames = np.empty((t_count, size, size, 3), dtype=np.uint8)
    for t in range(t_count):
        dy, dx = int(jitter[t, 0]), int(jitter[t, 1])
        # The camera moves, the world does not: crop the world at the shaken offset and shift objects with it.
        canvas = world[margin + dy : margin + dy + size, margin + dx : margin + dx + size].copy()  # (H, W, 3)
        for sprite, r, angle, xs, ys in distractors:
            _draw_sprite(canvas, sprite, cx=xs[t] - dx, cy=ys[t] - dy, radius=r, angle=angle, opacity=1.0)
        _draw_sprite(
            canvas,
            main_sprite,
            cx=float(track.x[t]) - dx,
            cy=float(track.y[t]) - dy,
            radius=float(track.radius[t]),
            angle=float(track.angle[t]),
            opacity=float(track.opacity[t]),
        )
        canvas *= gain * flicker[t]
        canvas += rng.standard_normal(canvas.shape, dtype=np.float32) * np.float32(noise_sigma)
        frames[t] = np.clip(canvas * 255.0 + 0.5, 0, 255).astype(np.uint8)

    if reverse:
        # (T, H, W, 3): literally the time reverse of the partner class's process.
        frames = np.ascontiguousarray(frames[::-1])
        track = ObjectTrack(*(np.ascontiguousarray(getattr(track, f.name)[::-1]) for f in dataclasses.fields(track)))
    return frames, track


def render_video(class_name: str, rng: np.random.Generator, *, size: int = 96, num_frames: int = 32,
                 style: SyntheticStyle = DEFAULT_STYLE) -> np.ndarray:
    """One clip of ``class_name`` as (T, H, W, 3) uint8 RGB; pure function of ``rng`` (no I/O)."""
    return render_video_with_track(class_name, rng, size=size, num_frames=num_frames, style=style)[0]


def video_rng(seed: int, split: str, class_id: int, index: int) -> np.random.Generator:
    """Independent stream per video, so any video can be regenerated alone and workers need no shared state."""
    if split not in _SPLITS:
        raise ValueError(f"split must be one of {sorted(_SPLITS)}, got {split!r}")
    return np.random.default_rng(np.random.SeedSequence([int(seed), _SPLITS[split], int(class_id), int(index)]))


# ------------------------------------------------------------------------------------------------- moving squares

SQUARE_CLASS_NAMES: tuple[str, ...] = ("moving_right", "moving_left", "moving_down", "moving_up")
SQUARE_PAIRS: tuple[tuple[int, int], ...] = ((0, 1), (2, 3))


def moving_squares(
    num_videos: int, *, generator: torch.Generator, size: int = 32, num_frames: int = 8, speed: int = 2
) -> tuple[torch.Tensor, torch.Tensor]:
    """A minimal motion task as tensors, no files: a 4x4 bright square on a dark field moving ``speed`` px per frame.

    Returns clips (N, T, 3, size, size) in [-1, 1] and labels (N,) indexing ``SQUARE_CLASS_NAMES``. Left and up are
    the right and down clips played backwards, so within a pair every frame statistic is shared and only frame order
    separates them (a per-frame model sits at 50 % pair accuracy). It isolates the model's ability to use time from
    the appearance nuisances of the photographic dataset: seconds to train, for tests and the design-space benchmark.
    """
    import torch  # lazily: the spawned video-rendering workers never need it

    travel = speed * (num_frames - 1)
    if size < travel + 6 or num_frames < 2 or speed < 1:
        raise ValueError(f"need size >= speed * (num_frames - 1) + 6 and num_frames >= 2, got size={size}, "
                         f"num_frames={num_frames}, speed={speed}")
    clips = torch.full((num_videos, num_frames, 3, size, size), -1.0)
    labels = torch.randint(0, 4, (num_videos,), generator=generator)
    for i in range(num_videos):
        across = int(torch.randint(0, size - 4 + 1, (1,), generator=generator))
        start = int(torch.randint(0, size - 4 - travel + 1, (1,), generator=generator))
        for t in range(num_frames):
            along = start + speed * t
            if labels[i] < 2:  # horizontal: (T, 3, H, W) rows `across`, columns `along`
                clips[i, t, :, across : across + 4, along : along + 4] = 1.0
            else:
                clips[i, t, :, along : along + 4, across : across + 4] = 1.0
        if labels[i] % 2:
            clips[i] = clips[i].flip(0)
    return clips, labels


# ------------------------------------------------------------------------------------------------------------ I/O


def rgb_to_yuv420p(image: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 RGB -> (3H/2, W) uint8 planar I420 (BT.601, limited range), the layout PyAV expects.

    Done in numpy so that the encoder input is exactly defined by the frames (no dependence on swscale's build,
    flags or SIMD path), one of the two conditions for byte-identical files per seed (see ``_X264_OPTIONS``).
    """
    x = image.astype(np.float32)
    r, g, b = x[..., 0], x[..., 1], x[..., 2]
    y = 16.0 + (65.481 * r + 128.553 * g + 24.966 * b) / 255.0
    cb = 128.0 + (-37.797 * r - 74.203 * g + 112.0 * b) / 255.0
    cr = 128.0 + (112.0 * r - 93.786 * g - 18.214 * b) / 255.0
    h, w = y.shape
    # (H, W) -> (H/2, 2, W/2, 2) -> mean over each 2x2 block: 4:2:0 chroma at (H/2, W/2).
    cb = cb.reshape(h // 2, 2, w // 2, 2).mean(axis=(1, 3))
    cr = cr.reshape(h // 2, 2, w // 2, 2).mean(axis=(1, 3))
    planes = [np.clip(np.rint(p), 0, 255).astype(np.uint8) for p in (y, cb, cr)]
    # I420 in one array: Y rows, then the U plane and the V plane each folded into H/4 rows of width W.
    return np.concatenate([planes[0], planes[1].reshape(-1, w), planes[2].reshape(-1, w)], axis=0)


def write_video(path: str | os.PathLike[str], frames: np.ndarray, fps: int = 16) -> None:
    """Encode (T, H, W, 3) uint8 RGB frames as H.264 (libx264, yuv420p, CRF 20) mp4, atomically.

    An exact numpy colour conversion and deterministic x264 settings (``_X264_OPTIONS``): the bytes then depend only
    on the frames, so a seed gives byte-identical files.
    """
    import av

    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"{path}: frames must be (T, H, W, 3) uint8, got {frames.shape} {frames.dtype}")
    t_count, height, width, _ = frames.shape
    if t_count == 0 or height % 2 or width % 2:
        raise ValueError(f"{path}: need >= 1 frame and even height/width for yuv420p, got {frames.shape}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with av.open(str(tmp), mode="w", format="mp4") as container:
            stream = container.add_stream("libx264", rate=int(fps))
            stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
            stream.codec_context.thread_count = 1
            stream.options = dict(_X264_OPTIONS)
            for index, image in enumerate(frames):
                frame = av.VideoFrame.from_ndarray(rgb_to_yuv420p(image), format="yuv420p")
                frame.pts = index
                for packet in stream.encode(frame):
                    container.mux(packet)
            for packet in stream.encode():
                container.mux(packet)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


# --------------------------------------------------------------------------------------------------------- metric


def pair_accuracy(scores: Any, labels: Any, pairs: Iterable[Sequence[int]] = REVERSAL_PAIRS) -> float:
    """Fraction of samples from paired classes whose true class scores strictly above its time-reversed partner.

    This is the number that says whether a model uses time order: a frame-bag model is at 50 % here no matter how
    good its top-1 is on the other classes. Returns nan when no sample belongs to a pair.
    """
    if hasattr(scores, "detach"):
        scores = scores.detach().float().cpu().numpy()
    if hasattr(labels, "detach"):
        labels = labels.detach().cpu().numpy()
    scores = np.asarray(scores, dtype=np.float64)
    labels = np.asarray(labels).astype(np.int64).reshape(-1)
    if scores.ndim != 2 or scores.shape[0] != labels.shape[0]:
        raise ValueError(f"scores must be (N, C) with N = len(labels); got {scores.shape} and {labels.shape}")
    from videofocalnet.data.transforms import reversal_label_map  # lazily: rendering workers never import torch

    num_classes = scores.shape[1]
    partner = reversal_label_map(pairs, num_classes)  # validates the pairs; unpaired classes map to themselves
    keep = np.array([0 <= label < num_classes and partner[label] != label for label in labels], dtype=bool)
    if not keep.any():
        return float("nan")
    rows = np.nonzero(keep)[0]
    own = scores[rows, labels[rows]]
    other = scores[rows, [partner[label] for label in labels[rows]]]
    return float(np.mean(own > other))


# -------------------------------------------------------------------------------------------------------- dataset


@dataclasses.dataclass(frozen=True)
class SyntheticDatasetInfo:
    """Where a generated dataset lives and what its labels mean; ``pairs`` index into ``class_names``."""

    root: Path
    train_list: Path
    val_list: Path
    label_list: Path
    class_names: tuple[str, ...]
    pairs: tuple[tuple[int, int], ...]
    num_train: int
    num_val: int
    seed: int
    size: int
    num_frames: int
    fps: int

    @property
    def num_classes(self) -> int:
        return len(self.class_names)


def resolve_classes(classes: str | Sequence[str] | None) -> tuple[str, ...]:
    """``None`` / ``"all"`` / comma list / sequence -> class names in canonical (CLASS_NAMES) order."""
    if classes is None or classes == "all":
        return CLASS_NAMES
    names = [c.strip() for c in classes.split(",")] if isinstance(classes, str) else [str(c).strip() for c in classes]
    names = [n for n in names if n]
    unknown = [n for n in names if n not in CLASS_NAMES]
    if unknown or not names:
        raise ValueError(f"unknown synthetic class(es) {unknown or names!r}; choose from all, {', '.join(CLASS_NAMES)}")
    return tuple(n for n in CLASS_NAMES if n in set(names))


def _subset_pairs(class_names: Sequence[str]) -> tuple[tuple[int, int], ...]:
    index = {name: i for i, name in enumerate(class_names)}
    out = []
    for a, b in REVERSAL_PAIRS:
        if CLASS_NAMES[a] in index and CLASS_NAMES[b] in index:
            out.append((index[CLASS_NAMES[a]], index[CLASS_NAMES[b]]))
    return tuple(out)


# (output path, class name, id in CLASS_NAMES, split, index, seed, size, num_frames, fps, style)
_Job = tuple[str, str, int, str, int, int, int, int, int, SyntheticStyle]


def _render_and_write(job: _Job) -> str:
    path, class_name, canonical_id, split, index, seed, size, num_frames, fps, style = job
    frames = render_video(class_name, video_rng(seed, split, canonical_id, index), size=size, num_frames=num_frames,
                          style=style)
    write_video(path, frames, fps)
    return path


def _params(class_names: Sequence[str], videos_per_class: int, val_per_class: int, seed: int, size: int,
            num_frames: int, fps: int, style: SyntheticStyle) -> dict[str, Any]:
    return {
        "generator_version": GENERATOR_VERSION,
        "classes": list(class_names),
        "pairs": [list(p) for p in _subset_pairs(class_names)],
        "videos_per_class": videos_per_class,
        "val_per_class": val_per_class,
        "seed": seed,
        "size": size,
        "num_frames": num_frames,
        "fps": fps,
        "style": style.to_dict(),
        "codec": {"name": "libx264", "pix_fmt": "yuv420p", "options": dict(_X264_OPTIONS)},
        "train_list": "train.csv",
        "val_list": "val.csv",
        "label_list": "labels.csv",
    }


def load_dataset_info(out_dir: str | os.PathLike[str]) -> SyntheticDatasetInfo:
    """Read ``OUT/dataset.json`` written by :func:`generate_dataset`."""
    root = Path(out_dir)
    meta_path = root / "dataset.json"
    try:
        meta = json.loads(meta_path.read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"{meta_path}: no synthetic dataset here (run `videofocalnet make-synthetic {root}`)")
    except json.JSONDecodeError as exc:
        raise ValueError(f"{meta_path}: line {exc.lineno}: not valid JSON ({exc.msg})") from exc
    missing = [k for k in ("classes", "pairs", "seed", "size", "num_frames", "fps") if k not in meta]
    if missing:
        raise ValueError(f"{meta_path}: missing keys {missing}")
    return SyntheticDatasetInfo(
        root=root,
        train_list=root / meta.get("train_list", "train.csv"),
        val_list=root / meta.get("val_list", "val.csv"),
        label_list=root / meta.get("label_list", "labels.csv"),
        class_names=tuple(meta["classes"]),
        pairs=tuple((int(a), int(b)) for a, b in meta["pairs"]),
        num_train=int(meta.get("num_train", meta.get("videos_per_class", 0) * len(meta["classes"]))),
        num_val=int(meta.get("num_val", meta.get("val_per_class", 0) * len(meta["classes"]))),
        seed=int(meta["seed"]),
        size=int(meta["size"]),
        num_frames=int(meta["num_frames"]),
        fps=int(meta["fps"]),
    )


def _is_complete(root: Path, params: dict[str, Any]) -> bool:
    meta_path = root / "dataset.json"
    if not meta_path.is_file():
        return False
    try:
        meta = json.loads(meta_path.read_text())
    except (OSError, json.JSONDecodeError):
        return False
    if any(meta.get(k) != v for k, v in params.items()):
        return False
    for name in (params["train_list"], params["val_list"], params["label_list"]):
        if not (root / name).is_file():
            return False
    for name in (params["train_list"], params["val_list"]):
        for line in (root / name).read_text().splitlines():
            if line.strip() and not (root / line.rsplit(",", 1)[0]).is_file():
                return False
    return True


def generate_dataset(
    out_dir: str | os.PathLike[str],
    *,
    classes: str | Sequence[str] | None = None,
    videos_per_class: int = 40,
    val_per_class: int = 10,
    seed: int = 0,
    size: int = 96,
    num_frames: int = 32,
    fps: int = 16,
    workers: int = 2,
    progress: bool = True,
    style: SyntheticStyle = DEFAULT_STYLE,
) -> SyntheticDatasetInfo:
    """Render and encode the dataset under ``out_dir``; a no-op when a complete identical one is already there.

    Layout: ``videos/<class>/<split>_<index>.mp4``, ``train.csv`` / ``val.csv`` (``path,label``, no header, paths
    relative to ``out_dir``), ``labels.csv`` (``id,name``) and ``dataset.json``, written last so that an interrupted
    run is never mistaken for a finished one.
    """
    class_names = resolve_classes(classes)
    for name, value, low in (("videos_per_class", videos_per_class, 1), ("val_per_class", val_per_class, 0),
                             ("size", size, 16), ("num_frames", num_frames, 4), ("fps", fps, 1)):
        if int(value) != value or value < low:
            raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    if size % 2:
        raise ValueError(f"size must be even (yuv420p), got {size}")
    root = Path(out_dir)
    params = _params(class_names, videos_per_class, val_per_class, seed, size, num_frames, fps, style)
    if _is_complete(root, params):
        return load_dataset_info(root)
    root.mkdir(parents=True, exist_ok=True)
    (root / "dataset.json").unlink(missing_ok=True)  # stale or different: invalid until this run finishes

    jobs: list[_Job] = []
    lists: dict[str, list[str]] = {"train": [], "val": []}
    for label, name in enumerate(class_names):
        canonical_id = CLASS_NAMES.index(name)
        for split, count in (("train", videos_per_class), ("val", val_per_class)):
            for index in range(count):
                rel = f"videos/{name}/{split}_{index:05d}.mp4"
                lists[split].append(f"{rel},{label}")
                jobs.append((str(root / rel), name, canonical_id, split, index, int(seed), int(size),
                             int(num_frames), int(fps), style))

    from tqdm.auto import tqdm

    bar = tqdm(total=len(jobs), desc=f"synthetic videos -> {root}", unit="video", disable=not progress)
    try:
        if workers <= 1:
            for job in jobs:
                _render_and_write(job)
                bar.update(1)
        else:
            import multiprocessing

            # spawn: the caller may already hold torch/OpenMP threads, which fork would copy in a broken state.
            with multiprocessing.get_context("spawn").Pool(processes=int(workers)) as pool:
                for _ in pool.imap_unordered(_render_and_write, jobs, chunksize=4):
                    bar.update(1)
    finally:
        bar.close()

    atomic_write_text(root / "train.csv", "".join(line + "\n" for line in lists["train"]))
    atomic_write_text(root / "val.csv", "".join(line + "\n" for line in lists["val"]))
    atomic_write_text(root / "labels.csv", "id,name\n" + "".join(f"{i},{n}\n" for i, n in enumerate(class_names)))
    meta = dict(params, num_train=len(lists["train"]), num_val=len(lists["val"]))
    atomic_write_text(root / "dataset.json", json.dumps(meta, indent=2) + "\n")
    return load_dataset_info(root)
