"""Clip transforms: pure functions on uint8 clips laid out (T, C, H, W), plus the composed train/eval recipes.

Every random function draws its parameters once per clip from the ``generator`` it is given and applies them
to every frame, so the clip stays temporally consistent and a sample's augmentation is reproducible from its
seed alone (no global RNG). Resizing uses ``torch.nn.functional.interpolate(bilinear, antialias=True)``, which
matches PIL/torchvision-v2 antialiased resizing.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

__all__ = [
    "ERASING_MODES",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "EvalTransform",
    "TrainTransform",
    "center_crop",
    "color_jitter",
    "grayscale",
    "hflip",
    "normalize",
    "parse_rand_augment",
    "rand_augment",
    "random_erasing",
    "random_resized_crop_params",
    "resize",
    "resized_crop",
    "reversal_label_map",
    "short_side_resize",
    "three_crop",
    "time_reverse",
]

# Official recipe, 0-255 scale.
IMAGENET_MEAN = (123.675, 116.28, 103.53)
IMAGENET_STD = (58.395, 57.12, 57.375)


def _uniform(low: float, high: float, generator: torch.Generator | None) -> float:
    return float(torch.empty(()).uniform_(low, high, generator=generator)) if high > low else float(low)


def _rand(generator: torch.Generator | None) -> float:
    return float(torch.rand((), generator=generator))


def _check_clip(clip: torch.Tensor) -> None:
    if clip.dim() != 4 or clip.shape[1] not in (1, 3):
        raise ValueError(f"expected a clip laid out (T, C, H, W) with C in (1, 3), got shape {tuple(clip.shape)}")


def _to_uint8(x: torch.Tensor) -> torch.Tensor:
    return x.round_().clamp_(0, 255).to(torch.uint8)


# ---------------------------------------------------------------------------------------------------------------
# Geometry
# ---------------------------------------------------------------------------------------------------------------


def resize(clip: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """(T, C, H, W) -> (T, C, size[0], size[1]); uint8 stays uint8, floats stay floats.

    uint8 is interpolated as uint8, as torchvision's v2 ``Resize`` does: its fixed-point kernel is 2.7-3x faster than
    converting to float, interpolating and rounding back (8 x 3 x 56 x 56 upscaled 0.13 against 0.35 ms, 340 x 256
    -> 298 x 224 2.2 against 6.5 ms, 2 threads), and differs from it by at most one level.
    """
    _check_clip(clip)
    h, w = int(size[0]), int(size[1])
    if (h, w) == tuple(clip.shape[-2:]):
        return clip
    # frames act as the batch dimension of interpolate: (T, C, H, W) -> (T, C, h, w)
    if clip.dtype == torch.uint8:
        return F.interpolate(clip, size=(h, w), mode="bilinear", align_corners=False, antialias=True)
    out = F.interpolate(clip.float(), size=(h, w), mode="bilinear", align_corners=False, antialias=True)
    return out.to(clip.dtype)


def _short_side_size(h: int, w: int, size: int) -> tuple[int, int]:
    if h <= w:
        return size, max(1, int(round(w * size / h)))
    return max(1, int(round(h * size / w))), size


def short_side_resize(clip: torch.Tensor, size: int) -> torch.Tensor:
    """Scale so that the shorter side equals ``size``, keeping the aspect ratio."""
    _check_clip(clip)
    return resize(clip, _short_side_size(clip.shape[-2], clip.shape[-1], size))


def random_resized_crop_params(
    h: int,
    w: int,
    scale: tuple[float, float] = (0.08, 1.0),
    ratio: tuple[float, float] = (3 / 4, 4 / 3),
    generator: torch.Generator | None = None,
) -> tuple[int, int, int, int]:
    """(top, left, height, width) of a crop covering a random area fraction in ``scale`` with a log-uniform
    aspect ratio in ``ratio``; torchvision's algorithm (10 tries, then a centre crop clamped to ``ratio``)."""
    area = h * w
    log_lo, log_hi = math.log(ratio[0]), math.log(ratio[1])
    for _ in range(10):
        target_area = area * _uniform(scale[0], scale[1], generator)
        aspect = math.exp(_uniform(log_lo, log_hi, generator))
        cw = int(round(math.sqrt(target_area * aspect)))
        ch = int(round(math.sqrt(target_area / aspect)))
        if 0 < cw <= w and 0 < ch <= h:
            top = int(torch.randint(0, h - ch + 1, (1,), generator=generator))
            left = int(torch.randint(0, w - cw + 1, (1,), generator=generator))
            return top, left, ch, cw
    in_ratio = w / h
    if in_ratio < min(ratio):
        cw, ch = w, int(round(w / min(ratio)))
    elif in_ratio > max(ratio):
        ch, cw = h, int(round(h * max(ratio)))
    else:
        cw, ch = w, h
    return (h - ch) // 2, (w - cw) // 2, ch, cw


def resized_crop(
    clip: torch.Tensor, top: int, left: int, height: int, width: int, size: tuple[int, int]
) -> torch.Tensor:
    """Crop the same box from every frame, then resize it to ``size`` (H, W)."""
    _check_clip(clip)
    # (T, C, H, W) -> (T, C, height, width) view, then one resize
    return resize(clip[..., top : top + height, left : left + width], size)


def hflip(clip: torch.Tensor) -> torch.Tensor:
    return clip.flip(-1)


def reversal_label_map(pairs: Sequence[Sequence[int]], num_classes: int) -> list[int]:
    """Label of each class's time-reversed video: the partner for classes in ``pairs``, the class itself otherwise.

    Only valid where the unpaired classes look the same played backwards (e.g. "static"); ``pairs`` are the
    dataset's time-reversal pairs, such as "moving left" / "moving right" in the synthetic dataset.
    """
    if num_classes < 1:
        raise ValueError(f"num_classes must be >= 1, got {num_classes}")
    out = list(range(num_classes))
    seen: set[int] = set()
    for pair in pairs:
        if len(pair) != 2:
            raise ValueError(f"a reversal pair has two class ids, got {list(pair)!r}")
        a, b = (int(c) for c in pair)
        for c in (a, b):
            if not 0 <= c < num_classes:
                raise ValueError(f"reversal pair {[a, b]} names class {c}, outside [0, {num_classes})")
            if c in seen or a == b:
                raise ValueError(f"class {c} is in more than one reversal pair, or paired with itself: {[a, b]}")
            seen.add(c)
        out[a], out[b] = b, a
    return out


def time_reverse(clip: torch.Tensor, label: int, label_map: Sequence[int]) -> tuple[torch.Tensor, int]:
    """(T, ...) clip played backwards, with its label swapped to the pair partner.

    The augmentation of reversal-pair datasets (Something-Something style): every training video is shown under
    both labels of its pair, so the pair can only be fitted through frame order, never by remembering what a video
    looks like.
    """
    if not 0 <= label < len(label_map):
        raise ValueError(f"label {label} outside the reversal label map of {len(label_map)} classes")
    return clip.flip(0), int(label_map[label])


def center_crop(clip: torch.Tensor, size: int | tuple[int, int]) -> torch.Tensor:
    _check_clip(clip)
    ch, cw = (size, size) if isinstance(size, int) else size
    h, w = clip.shape[-2:]
    if ch > h or cw > w:
        raise ValueError(f"crop {ch}x{cw} larger than clip {h}x{w}")
    top, left = (h - ch) // 2, (w - cw) // 2
    return clip[..., top : top + ch, left : left + cw]


def three_crop(clip: torch.Tensor, size: int) -> torch.Tensor:
    """Three ``size`` x ``size`` crops spread along the long side (left/centre/right for landscape,
    top/centre/bottom for portrait), centred on the short side. Returns (3, T, C, size, size)."""
    _check_clip(clip)
    h, w = clip.shape[-2:]
    if size > h or size > w:
        raise ValueError(f"crop {size} larger than clip {h}x{w}")
    crops = []
    if w >= h:
        top = (h - size) // 2
        for left in (0, (w - size) // 2, w - size):
            crops.append(clip[..., top : top + size, left : left + size])
    else:
        left = (w - size) // 2
        for top in (0, (h - size) // 2, h - size):
            crops.append(clip[..., top : top + size, left : left + size])
    return torch.stack(crops)  # 3 x (T, C, size, size) -> (3, T, C, size, size)


# ---------------------------------------------------------------------------------------------------------------
# Photometric (uint8 in, uint8 out; computed in float 0-255)
# ---------------------------------------------------------------------------------------------------------------


def _gray(x: torch.Tensor) -> torch.Tensor:
    """ITU-R 601 luma of a float (T, 3, H, W) clip -> (T, 1, H, W)."""
    r, g, b = x.unbind(dim=-3)
    return (0.299 * r + 0.587 * g + 0.114 * b).unsqueeze(-3)


def grayscale(clip: torch.Tensor) -> torch.Tensor:
    """Luma replicated to 3 channels, so the model input keeps its shape."""
    _check_clip(clip)
    if clip.shape[1] == 1:
        return clip
    out = _gray(clip.float()).expand(-1, 3, -1, -1)
    return _to_uint8(out.contiguous()) if clip.dtype == torch.uint8 else out.contiguous().to(clip.dtype)


def _blend(a: torch.Tensor, b: torch.Tensor | float, factor: float) -> torch.Tensor:
    return (factor * a + (1.0 - factor) * b).clamp_(0, 255)


def _adjust_brightness(x: torch.Tensor, f: float) -> torch.Tensor:
    return (x * f).clamp_(0, 255)


def _adjust_contrast(x: torch.Tensor, f: float) -> torch.Tensor:
    # mean luma per frame (torchvision applies it per image; frames share the factor)
    mean = _gray(x).mean(dim=(-3, -2, -1), keepdim=True)
    return _blend(x, mean, f)


def _adjust_saturation(x: torch.Tensor, f: float) -> torch.Tensor:
    return _blend(x, _gray(x), f)


def _rgb_to_hsv(x: torch.Tensor) -> torch.Tensor:
    r, g, b = x.unbind(dim=-3)
    maxc, _ = x.max(dim=-3)
    minc, _ = x.min(dim=-3)
    eqc = maxc == minc
    cr = maxc - minc
    ones = torch.ones_like(maxc)
    s = cr / torch.where(eqc, ones, maxc)
    cr_div = torch.where(eqc, ones, cr)
    rc, gc, bc = (maxc - r) / cr_div, (maxc - g) / cr_div, (maxc - b) / cr_div
    hr = (maxc == r) * (bc - gc)
    hg = ((maxc == g) & (maxc != r)) * (2.0 + rc - bc)
    hb = ((maxc != g) & (maxc != r)) * (4.0 + gc - rc)
    h = torch.fmod((hr + hg + hb) / 6.0 + 1.0, 1.0)
    return torch.stack((h, s, maxc), dim=-3)


def _hsv_to_rgb(x: torch.Tensor) -> torch.Tensor:
    # Closed form per channel (n = 5, 3, 1 for R, G, B): v - v*s*clamp(min(k, 4 - k), 0, 1), k = (n + 6h) mod 6.
    # Equal to the sector-table form (torchvision) but several times cheaper on CPU.
    h, s, v = x.unbind(dim=-3)
    h6 = h * 6.0
    vs = v * s
    channels = []
    for n in (5.0, 3.0, 1.0):
        k = torch.remainder(h6 + n, 6.0)
        channels.append(v - vs * torch.minimum(k, 4.0 - k).clamp_(0.0, 1.0))
    return torch.stack(channels, dim=-3)


def _adjust_hue(x: torch.Tensor, shift: float) -> torch.Tensor:
    hsv = _rgb_to_hsv(x / 255.0)
    h, s, v = hsv.unbind(dim=-3)
    h = torch.remainder(h + shift, 1.0)
    return _hsv_to_rgb(torch.stack((h, s, v), dim=-3)) * 255.0


def color_jitter(
    clip: torch.Tensor,
    brightness: float,
    contrast: float,
    saturation: float,
    hue: float,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """torchvision ColorJitter semantics (factors drawn from [max(0, 1-b), 1+b], hue shift from [-h, h], the four
    adjustments in random order), with one draw per clip."""
    _check_clip(clip)
    if clip.shape[1] != 3:
        raise ValueError(f"color_jitter needs RGB clips, got {clip.shape[1]} channels")
    order = torch.randperm(4, generator=generator).tolist()
    factors = [
        _uniform(max(0.0, 1 - brightness), 1 + brightness, generator) if brightness > 0 else None,
        _uniform(max(0.0, 1 - contrast), 1 + contrast, generator) if contrast > 0 else None,
        _uniform(max(0.0, 1 - saturation), 1 + saturation, generator) if saturation > 0 else None,
        _uniform(-hue, hue, generator) if hue > 0 else None,
    ]
    x = clip.float()
    ops: list[Callable[[torch.Tensor, float], torch.Tensor]] = [
        _adjust_brightness,
        _adjust_contrast,
        _adjust_saturation,
        _adjust_hue,
    ]
    for i in order:
        if factors[i] is not None:
            x = ops[i](x, factors[i])
    return _to_uint8(x) if clip.dtype == torch.uint8 else x.to(clip.dtype)


def normalize(
    clip_float: torch.Tensor, mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD
) -> torch.Tensor:
    """(x - mean) / std over the channel axis of a (..., C, H, W) clip on the 0-255 scale."""
    x = clip_float.float()
    m = torch.as_tensor(mean, dtype=x.dtype).view(-1, 1, 1)  # (C, 1, 1) broadcasts over (..., C, H, W)
    s = torch.as_tensor(std, dtype=x.dtype).view(-1, 1, 1)
    return (x - m) / s


# ---------------------------------------------------------------------------------------------------------------
# RandAugment and random erasing
# ---------------------------------------------------------------------------------------------------------------


def _affine(x: torch.Tensor, matrix: list[list[float]]) -> torch.Tensor:
    """Apply a 2x3 affine map (normalised coordinates, output -> input) to every frame; zero fill outside."""
    t = x.shape[0]
    theta = torch.tensor(matrix, dtype=x.dtype).unsqueeze(0).expand(t, 2, 3)  # (T, 2, 3), same map per frame
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)  # (T, H, W, 2)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def _autocontrast(x: torch.Tensor) -> torch.Tensor:
    lo = x.amin(dim=(0, -2, -1), keepdim=True)  # per channel over the whole clip
    hi = x.amax(dim=(0, -2, -1), keepdim=True)
    scale = torch.where(hi > lo, 255.0 / (hi - lo), torch.ones_like(hi))
    return torch.where(hi > lo, (x - lo) * scale, x).clamp_(0, 255)


def _equalize(x: torch.Tensor) -> torch.Tensor:
    """Histogram equalisation per channel with one histogram for the whole clip (same mapping on every frame)."""
    xi = x.round().clamp(0, 255).to(torch.int64)
    out = torch.empty_like(x)
    for c in range(x.shape[1]):
        ch = xi[:, c]
        hist = torch.bincount(ch.flatten(), minlength=256).double()
        cdf = hist.cumsum(0)
        nonzero = hist[hist > 0]
        step = (cdf[-1] - nonzero[-1]) / 255.0 if nonzero.numel() else 0.0
        if float(step) == 0:
            out[:, c] = x[:, c]
            continue
        lut = ((cdf - hist + step / 2) / step).floor().clamp(0, 255)  # PIL's equalize LUT
        out[:, c] = lut[ch].to(x.dtype)
    return out


def _sharpness(x: torch.Tensor, f: float) -> torch.Tensor:
    kernel = torch.tensor([[1, 1, 1], [1, 5, 1], [1, 1, 1]], dtype=x.dtype) / 13.0
    c = x.shape[1]
    blurred = F.conv2d(x, kernel.expand(c, 1, 3, 3), padding=1, groups=c)
    blurred[..., 0, :], blurred[..., -1, :] = x[..., 0, :], x[..., -1, :]
    blurred[..., :, 0], blurred[..., :, -1] = x[..., :, 0], x[..., :, -1]
    return _blend(x, blurred, f)


def _signed(m: float, generator: torch.Generator | None) -> float:
    return -m if _rand(generator) < 0.5 else m


# name -> (op(x, level in [0, 1], generator)); levels map like timm's rand-m{M} (magnitude / 10).
_RAND_AUGMENT_OPS: dict[str, Callable[[torch.Tensor, float, torch.Generator | None], torch.Tensor]] = {
    "Identity": lambda x, m, g: x,
    "AutoContrast": lambda x, m, g: _autocontrast(x),
    "Equalize": lambda x, m, g: _equalize(x),
    "Rotate": lambda x, m, g: _affine(x, _rotation(_signed(30.0 * m, g))),
    "Solarize": lambda x, m, g: torch.where(x >= 256.0 - 256.0 * m, 255.0 - x, x),
    "Posterize": lambda x, m, g: _posterize(x, max(1, 8 - int(round(4 * m)))),
    "Color": lambda x, m, g: _adjust_saturation(x, 1.0 + _signed(0.9 * m, g)),
    "Contrast": lambda x, m, g: _adjust_contrast(x, 1.0 + _signed(0.9 * m, g)),
    "Brightness": lambda x, m, g: _adjust_brightness(x, 1.0 + _signed(0.9 * m, g)),
    "Sharpness": lambda x, m, g: _sharpness(x, 1.0 + _signed(0.9 * m, g)),
    "ShearX": lambda x, m, g: _affine(x, [[1.0, _signed(0.3 * m, g), 0.0], [0.0, 1.0, 0.0]]),
    "ShearY": lambda x, m, g: _affine(x, [[1.0, 0.0, 0.0], [_signed(0.3 * m, g), 1.0, 0.0]]),
    "TranslateX": lambda x, m, g: _affine(x, [[1.0, 0.0, 2 * _signed(0.45 * m, g)], [0.0, 1.0, 0.0]]),
    "TranslateY": lambda x, m, g: _affine(x, [[1.0, 0.0, 0.0], [0.0, 1.0, 2 * _signed(0.45 * m, g)]]),
}
RAND_AUGMENT_OPS = tuple(_RAND_AUGMENT_OPS)


def _rotation(degrees: float) -> list[list[float]]:
    a = math.radians(degrees)
    return [[math.cos(a), -math.sin(a), 0.0], [math.sin(a), math.cos(a), 0.0]]


def _posterize(x: torch.Tensor, bits: int) -> torch.Tensor:
    shift = 8 - bits
    return ((x.round().to(torch.int64) >> shift) << shift).to(x.dtype)


def rand_augment(
    clip: torch.Tensor,
    num_ops: int,
    magnitude: float,
    generator: torch.Generator | None = None,
    *,
    magnitude_std: float = 0.0,
) -> torch.Tensor:
    """RandAugment (Cubuk et al.): ``num_ops`` operations drawn uniformly from :data:`RAND_AUGMENT_OPS` at
    ``magnitude`` in [0, 10] (timm's ``rand-m{magnitude}-n{num_ops}``), one draw per clip. ``magnitude_std`` > 0
    (timm's ``mstd``) draws each operation's magnitude from N(magnitude, std) clipped to [0, 10]; ``inf`` draws it
    uniformly from [0, magnitude]. The released code configures RandAugment but never applies it; here it really
    runs when asked for."""
    _check_clip(clip)
    if not 0 <= magnitude <= 10:
        raise ValueError(f"RandAugment magnitude must be in [0, 10], got {magnitude}")
    if not magnitude_std >= 0:
        raise ValueError(f"RandAugment magnitude std must be >= 0, got {magnitude_std}")
    x = clip.float()
    names = list(_RAND_AUGMENT_OPS)
    for _ in range(num_ops):
        name = names[int(torch.randint(0, len(names), (1,), generator=generator))]
        m = magnitude
        if math.isinf(magnitude_std):
            m = _uniform(0.0, magnitude, generator)
        elif magnitude_std > 0:
            m = min(10.0, max(0.0, magnitude + magnitude_std * float(torch.randn((), generator=generator))))
        x = _RAND_AUGMENT_OPS[name](x, m / 10.0, generator)
    return _to_uint8(x) if clip.dtype == torch.uint8 else x.to(clip.dtype)


def parse_rand_augment(spec: str) -> tuple[int, float, float] | None:
    """timm-style ``rand-m9-n2-mstd0.5-inc1`` -> (num_ops, magnitude, magnitude_std); ``none``/empty -> None.

    ``inc1`` is accepted because the operations here already are timm's increasing-severity set (a larger magnitude
    always means a stronger Solarize/Posterize); any other part (``inc0``, ``w``, ``p``, typos) is an error rather
    than silently ignored."""
    text = spec.strip().lower()
    if text in ("", "none", "false", "off"):
        return None
    parts = text.split("-")
    if parts[0] != "rand":
        raise ValueError(f"AUG.AUTO_AUGMENT {spec!r}: only RandAugment ('rand-m9-n2...') or 'none' is supported")
    num_ops, magnitude, std = 2, 9.0, 0.0
    for part in parts[1:]:
        try:
            if part.startswith("mstd"):
                std = float(part[4:])
            elif part.startswith("m"):
                magnitude = float(part[1:])
            elif part.startswith("n"):
                num_ops = int(part[1:])
            elif part != "inc1":
                raise ValueError(part)
        except ValueError:
            raise ValueError(
                f"AUG.AUTO_AUGMENT {spec!r}: cannot read {part!r} (supported parts: m<magnitude 0-10>, n<ops>, "
                "mstd<std>, inc1)"
            ) from None
    if not (0 <= magnitude <= 10 and num_ops >= 0 and std >= 0):
        raise ValueError(f"AUG.AUTO_AUGMENT {spec!r}: needs magnitude in [0, 10], n >= 0 and mstd >= 0")
    return num_ops, magnitude, std


# AUG.REMODE (timm RandomErasing): what fills an erased box of the normalised clip
ERASING_MODES: tuple[str, ...] = ("const", "rand", "pixel")


def _erasing_fill(mode: str, shape: tuple[int, int, int], dtype: torch.dtype, generator) -> torch.Tensor:
    """'const' zeros (the dataset mean after normalisation), 'rand' one standard-normal colour per channel,
    'pixel' standard-normal noise per pixel; (C, h, w) or (C, 1, 1), broadcast over the box and every frame."""
    c, h, w = shape
    if mode == "pixel":
        return torch.randn((c, h, w), generator=generator, dtype=dtype)
    if mode == "rand":
        return torch.randn((c, 1, 1), generator=generator, dtype=dtype)
    return torch.zeros((c, 1, 1), dtype=dtype)


def random_erasing(
    clip: torch.Tensor,
    prob: float,
    generator: torch.Generator | None = None,
    *,
    mode: str = "pixel",
    count: int = 1,
    area: tuple[float, float] = (0.02, 1 / 3),
    log_ratio: tuple[float, float] = (math.log(0.3), math.log(1 / 0.3)),
) -> torch.Tensor:
    """timm RandomErasing on a *normalised* float clip: with probability ``prob``, between 1 and ``count`` boxes
    (uniformly; each box's area range divided by that number, as timm does), each the same on every frame, are
    filled as ``mode`` says (:data:`ERASING_MODES`). Returns a new tensor."""
    _check_clip(clip)
    if not clip.is_floating_point():
        raise ValueError("random_erasing works on normalised float clips (apply it after normalize)")
    if mode not in ERASING_MODES:
        raise ValueError(f"random erasing mode must be one of {', '.join(ERASING_MODES)}, got {mode!r}")
    if count < 1:
        raise ValueError(f"random erasing count must be >= 1, got {count}")
    out = clip.clone()
    if prob <= 0 or _rand(generator) >= prob:
        return out
    t, c, h, w = clip.shape
    boxes = int(torch.randint(1, count + 1, (1,), generator=generator)) if count > 1 else 1
    for _ in range(boxes):
        for _attempt in range(10):
            target = h * w * _uniform(area[0], area[1], generator) / boxes
            aspect = math.exp(_uniform(log_ratio[0], log_ratio[1], generator))
            eh, ew = int(round(math.sqrt(target * aspect))), int(round(math.sqrt(target / aspect)))
            if 0 < eh < h and 0 < ew < w:
                top = int(torch.randint(0, h - eh + 1, (1,), generator=generator))
                left = int(torch.randint(0, w - ew + 1, (1,), generator=generator))
                # (C, eh, ew) or (C, 1, 1) broadcast over the box on every one of the T frames
                out[..., top : top + eh, left : left + ew] = _erasing_fill(mode, (c, eh, ew), clip.dtype, generator)
                break
    return out


# ---------------------------------------------------------------------------------------------------------------
# Composed recipes
# ---------------------------------------------------------------------------------------------------------------


@dataclass
class TrainTransform:
    """The official training augmentation (recipe.md), applied with one parameter draw per clip.

    Short-side resize and RandomResizedCrop are fused: the crop box is drawn in the short-side-resized frame,
    mapped back to source pixels, and the source box is resized straight to ``size`` — one interpolation instead
    of two, which is both faster and sharper than resizing twice.
    """

    short_side: int = 256
    scale: tuple[float, float] = (0.08, 1.0)
    ratio: tuple[float, float] = (3 / 4, 4 / 3)
    size: int = 224
    flip_prob: float = 0.5
    color_jitter_prob: float = 0.8
    color_jitter: tuple[float, float, float, float] = (0.4, 0.4, 0.2, 0.1)
    grayscale_prob: float = 0.2
    # (num_ops, magnitude[, magnitude_std]), e.g. (2, 9) for rand-m9-n2; see parse_rand_augment
    randaugment: tuple[int, float] | tuple[int, float, float] | None = None
    erasing_prob: float = 0.0
    erasing_mode: str = "pixel"  # ERASING_MODES
    erasing_count: int = 1  # at most this many boxes per clip
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD

    def __call__(self, clip: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """uint8 (T, C, H, W) -> normalised float32 (T, C, size, size)."""
        _check_clip(clip)
        h, w = clip.shape[-2:]
        rh, rw = _short_side_size(h, w, self.short_side)
        top, left, ch, cw = random_resized_crop_params(rh, rw, self.scale, self.ratio, generator)
        sy, sx = h / rh, w / rw  # resized -> source pixel scale
        y0, x0 = int(round(top * sy)), int(round(left * sx))
        y1, x1 = min(h, max(y0 + 1, int(round((top + ch) * sy)))), min(w, max(x0 + 1, int(round((left + cw) * sx))))
        x = resized_crop(clip, y0, x0, y1 - y0, x1 - x0, (self.size, self.size))
        if self.flip_prob > 0 and _rand(generator) < self.flip_prob:
            x = hflip(x)
        if self.color_jitter_prob > 0 and _rand(generator) < self.color_jitter_prob:
            x = color_jitter(x, *self.color_jitter, generator=generator)
        if self.grayscale_prob > 0 and _rand(generator) < self.grayscale_prob:
            x = grayscale(x)
        if self.randaugment is not None:
            std = self.randaugment[2] if len(self.randaugment) == 3 else 0.0
            x = rand_augment(x, self.randaugment[0], self.randaugment[1], generator, magnitude_std=std)
        # decoded frames arrive channels-last; (T, C, H, W) contiguous from here (normalize broadcasts faster)
        out = normalize(x.to(torch.float32, memory_format=torch.contiguous_format), self.mean, self.std)
        if self.erasing_prob > 0:
            out = random_erasing(out, self.erasing_prob, generator, mode=self.erasing_mode, count=self.erasing_count)
        return out


@dataclass
class EvalTransform:
    """Test-time views: short side to ``short_side``, then one centre crop or three crops along the long side.
    ``__call__`` maps uint8 (T, C, H, W) to normalised float (num_crops, T, C, crop, crop)."""

    short_side: int = 224
    crop: int = 224
    num_crops: int = 1
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD

    def __post_init__(self) -> None:
        if self.num_crops not in (1, 3):
            raise ValueError(f"num_crops must be 1 or 3, got {self.num_crops}")
        if self.crop > self.short_side:
            raise ValueError(f"crop {self.crop} larger than short side {self.short_side}")

    def __call__(self, clip: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        x = short_side_resize(clip, self.short_side)
        if self.num_crops == 1:
            views = center_crop(x, self.crop).unsqueeze(0)  # (T, C, h, w) -> (1, T, C, h, w)
        else:
            views = three_crop(x, self.crop)  # (3, T, C, h, w)
        return normalize(views.float(), self.mean, self.std)
