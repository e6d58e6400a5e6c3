"""Rendering one synthetic clip: the photo bank, sprites, object tracks, nuisance factors and per-video RNG streams.

Textures come from the colour photographs that ship with scikit-image (no download), objects are photo patches with
a soft random-shape alpha mask and outline, and nuisance factors (camera jitter, distractors, flicker, pixel noise,
motion start/stop times) are all drawn from time-reversible distributions so reversing a video never produces an
out-of-distribution sample. Everything here is a pure function of a numpy ``Generator``: the order of its draws is
the dataset's definition, so any change to it needs a new ``GENERATOR_VERSION`` (``dataset.py``).
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Sequence

import numpy as np

from videofocalnet.data.synthetic.classes import CLASS_NAMES, CLASS_PROCESS, DEFAULT_STYLE, SyntheticStyle

_SPLITS = {"train": 0, "val": 1}
_SHAPE_EXTENT = 1.45  # max radius of a random shape, in units of the object radius (bounding-box margin)

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
    object_names = ("astronaut", "coffee", "chelsea", "rocket", "immunohistochemistry", "motorcycle")
    objects = tuple(colour[n] for n in object_names)
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
    frames: np.ndarray,
    sprite: _Sprite,
    *,
    cx: np.ndarray,
    cy: np.ndarray,
    radius: np.ndarray,
    angle: np.ndarray,
    opacity: np.ndarray,
    dtype: type[np.floating] = np.float32,
) -> None:
    """Alpha-composite ``sprite`` into every frame of ``frames`` (T, H, W, 3) float32 in place; frame t shows it at
    ``cx[t], cy[t]`` with ``radius[t]``, ``angle[t]`` and ``opacity[t]`` (each (T,)).

    ``angle`` rotates the sprite's canonical +u axis towards +y (down the image), i.e. clockwise on screen. All frames
    are drawn at once over one box that holds the sprite in each of them (numpy's per-call cost, not arithmetic, was
    the rendering time when this ran frame by frame). A pixel of a frame outside that frame's own box lies at least
    3 px beyond ``_SHAPE_EXTENT`` radii, which no outline reaches, so its alpha is 0 and every pixel gets exactly the
    value the frame-by-frame version gave it.
    ``dtype`` is the geometry's precision: generators 1-4 computed the distractors' geometry in float64 (their
    positions were numpy float64 scalars) and the main object's in float32 (Python floats, which numpy casts to the
    array's float32), so the per-frame scalars enter in that dtype and the dataset stays bit-identical.
    """
    t_count, h, w = frames.shape[:3]
    reach = _SHAPE_EXTENT * np.asarray(radius, dtype=np.float64) + 2
    boxes = []  # (t, y_lo, y_hi, x_lo, x_hi) of the frames where the sprite shows
    for t in range(t_count):
        if opacity[t] <= 0.0 or radius[t] <= 0.0:
            continue
        x_lo, x_hi = max(0, math.floor(cx[t] - reach[t])), min(w, math.ceil(cx[t] + reach[t]) + 1)
        y_lo, y_hi = max(0, math.floor(cy[t] - reach[t])), min(h, math.ceil(cy[t] + reach[t]) + 1)
        if x_lo < x_hi and y_lo < y_hi:
            boxes.append((t, y_lo, y_hi, x_lo, x_hi))
    if not boxes:
        return
    shown = [b[0] for b in boxes]
    y_lo, y_hi = min(b[1] for b in boxes), max(b[2] for b in boxes)
    x_lo, x_hi = min(b[3] for b in boxes), max(b[4] for b in boxes)

    def per_frame(values: Sequence[float] | np.ndarray) -> np.ndarray:  # (T,) -> (T', 1, 1), shown frames only
        return np.asarray([values[t] for t in shown], dtype=dtype)[:, None, None]

    cos = per_frame([math.cos(a) for a in angle])  # math's, not numpy's: the Python floats generators 1-4 used
    sin = per_frame([math.sin(a) for a in angle])
    r = per_frame(radius)
    dx = np.arange(x_lo, x_hi, dtype=np.float32)[None, None, :] - per_frame(cx)  # (T', 1, bw)
    dy = np.arange(y_lo, y_hi, dtype=np.float32)[None, :, None] - per_frame(cy)  # (T', bh, 1)
    # Inverse rotation screen -> canonical sprite coordinates, in units of the radius. (T', bh, bw) each.
    u = (cos * dx + sin * dy) / r
    v = (-sin * dx + cos * dy) / r
    rho = np.hypot(u, v)
    phi = np.arctan2(v, u)
    boundary = np.ones_like(phi)
    for k in range(3):
        amplitude, phase = sprite.harmonics[k]
        boundary += amplitude * np.cos((k + 1) * phi + phase)
    boundary /= 1.0 + sprite.harmonics[:, 0].sum() / 1.6  # keep the extent below _SHAPE_EXTENT
    inside_px = (boundary - rho) * r  # signed distance-ish to the rim, in pixels; (T', bh, bw)
    alpha = np.clip(inside_px + 0.5, 0.0, 1.0) * per_frame(opacity)  # ~1 px soft edge
    covered = alpha > 0  # the texture is sampled only where it shows: a third of the box is outside the outline
    if not covered.any():
        return
    # Below, every array is over the N covered pixels, in row-major order of (frame, box row, box column).
    inside_px, u, v, a = inside_px[covered], u[covered], v[covered], alpha[covered][:, None]
    rim = np.clip(inside_px - 1.0, 0.0, 1.0)[:, None]  # 0 on the ~1.5 px outline, 1 inside; (N, 1)
    n = sprite.texture.shape[0]
    tex_y = np.clip((v / _SHAPE_EXTENT + 1) * 0.5 * (n - 1), 0, n - 1)
    tex_x = np.clip((u / _SHAPE_EXTENT + 1) * 0.5 * (n - 1), 0, n - 1)
    colour = _bilinear(sprite.texture, tex_y, tex_x) * rim + sprite.outline * (1 - rim)  # (N, 3)
    every = len(shown) == t_count
    # (T', bh, bw, 3): a view when the sprite shows in every frame, else a copy written back below
    region = frames[:, y_lo:y_hi, x_lo:x_hi] if every else frames[shown, y_lo:y_hi, x_lo:x_hi]
    pixels = region[covered]  # (N, 3) copy
    pixels *= 1 - a
    pixels += colour * a
    region[covered] = pixels
    if not every:
        frames[shown, y_lo:y_hi, x_lo:x_hi] = region


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


def _main_track(
    process: str, rng: np.random.Generator, size: int, num_frames: int, style: SyntheticStyle
) -> ObjectTrack:
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
    class_name: str,
    rng: np.random.Generator,
    *,
    size: int = 96,
    num_frames: int = 32,
    style: SyntheticStyle = DEFAULT_STYLE,
) -> tuple[np.ndarray, ObjectTrack]:
    """Like :func:`render_video`, also returning the class-defining object's per-frame state (for tests and plots)."""
    if class_name not in CLASS_PROCESS:
        raise ValueError(f"unknown synthetic class {class_name!r}; choose from {', '.join(CLASS_NAMES)}")
    if size < 16 or num_frames < 4:
        raise ValueError(f"size must be >= 16 and num_frames >= 4, got size={size}, num_frames={num_frames}")
    process, reverse = CLASS_PROCESS[class_name]
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

    # The camera moves, the world does not: crop the world at the shaken offsets and shift objects with them.
    canvas = np.stack([world[margin + dy : margin + dy + size, margin + dx : margin + dx + size] for dy, dx in jitter])
    # canvas: (T, H, W, 3) float32; jitter[:, 0] is each frame's dy, jitter[:, 1] its dx
    ones = np.ones(t_count)
    for sprite, r, angle, xs, ys in distractors:
        # the distractors' (T,) float64 positions: their geometry is float64, as in generators 1-4 (see _draw_sprite)
        cx, cy = xs - jitter[:, 1], ys - jitter[:, 0]
        _draw_sprite(canvas, sprite, cx=cx, cy=cy, radius=r * ones, angle=angle * ones, opacity=ones, dtype=np.float64)
    _draw_sprite(
        canvas,
        main_sprite,
        cx=track.x - jitter[:, 1],
        cy=track.y - jitter[:, 0],
        radius=track.radius,
        angle=track.angle,
        opacity=track.opacity,
    )
    canvas *= (gain * flicker)[:, None, None, None]  # float64 products rounded to float32, as frame by frame
    canvas += rng.standard_normal(canvas.shape, dtype=np.float32) * np.float32(noise_sigma)  # the per-frame stream
    frames = np.clip(canvas * 255.0 + 0.5, 0, 255).astype(np.uint8)  # (T, H, W, 3)

    if reverse:
        # (T, H, W, 3): literally the time reverse of the partner class's process.
        frames = np.ascontiguousarray(frames[::-1])
        track = ObjectTrack(*(np.ascontiguousarray(getattr(track, f.name)[::-1]) for f in dataclasses.fields(track)))
    return frames, track


def render_video(
    class_name: str,
    rng: np.random.Generator,
    *,
    size: int = 96,
    num_frames: int = 32,
    style: SyntheticStyle = DEFAULT_STYLE,
) -> np.ndarray:
    """One clip of ``class_name`` as (T, H, W, 3) uint8 RGB; pure function of ``rng`` (no I/O)."""
    return render_video_with_track(class_name, rng, size=size, num_frames=num_frames, style=style)[0]


def video_rng(seed: int, split: str, class_id: int, index: int) -> np.random.Generator:
    """Independent stream per video, so any video can be regenerated alone and workers need no shared state."""
    if split not in _SPLITS:
        raise ValueError(f"split must be one of {sorted(_SPLITS)}, got {split!r}")
    return np.random.default_rng(np.random.SeedSequence([int(seed), _SPLITS[split], int(class_id), int(index)]))
