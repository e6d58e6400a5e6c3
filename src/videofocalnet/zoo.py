"""The model zoo as data: every published checkpoint by name, with where it lives and how it was evaluated.

A user should be able to say ``video_focalnet_base.k400`` instead of hunting for a Google Drive link, the way timm's
pretrained configs and torchvision's ``Weights`` enums let them. The table holds facts only (links from the official
READMEs, published top-1, the evaluation recipe of ``../shared/spec/recipe.md``); fetching lives in
``videofocalnet.download`` so this module stays pure and importable anywhere.

Names are ``<architecture>.<tag>``: the architecture is the registered model name (for video entries) or the 2-D
FocalNet the weights were trained as (for ImageNet entries, which initialise the video models).
"""

from __future__ import annotations

import difflib
import fnmatch
from dataclasses import dataclass

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "LABEL_SETS",
    "PretrainedWeights",
    "UnknownWeightsError",
    "get_weights",
    "list_weights",
    "weights_for",
]

# The label-set names another module ships class names under; an entry's ``label_set`` is one of these (or None
# for ImageNet entries, whose 1000-class head is dropped when they initialise a video model).
LABEL_SETS = ("kinetics400", "kinetics600", "ssv2", "diving48", "activitynet")

# Normalisation of every released model, on the 0-255 pixel scale (recipe.md).
IMAGENET_MEAN = (123.675, 116.28, 103.53)
IMAGENET_STD = (58.395, 57.12, 57.375)


@dataclass(frozen=True)
class PretrainedWeights:
    """One published checkpoint: its source, its published accuracy and the preprocessing it expects.

    ``sha256`` is None where no digest was published (the official releases publish none); a download is then
    checked for length only. ``views`` is ``"<temporal clips>x<spatial crops>"`` as the top-1 was measured.
    """

    name: str
    url: str
    file_name: str
    top1: float
    views: str
    label_set: str | None
    num_classes: int
    kind: str = "video"  # "video": a Video-FocalNet; "imagenet": 2-D FocalNet weights to initialise one
    video_model: str = ""  # the registered Video-FocalNet these weights are for (or initialise)
    num_frames: int = 8
    input_size: int = 224
    sampling: str = "tsn"  # "tsn": one frame per equal segment (recipe.md); "image" for ImageNet entries
    frame_interval: int = 4  # configured FRAME_INTERVAL; no effect under TSN sampling (recipe.md)
    short_side: int = 224  # evaluation resizes the short side to this, then crops input_size
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    sha256: str | None = None
    alt_urls: tuple[str, ...] = ()
    source: str = ""  # where the link and the figure were read

    @property
    def architecture(self) -> str:
        return self.name.partition(".")[0]

    @property
    def tag(self) -> str:
        return self.name.partition(".")[2]


class UnknownWeightsError(KeyError):
    """A weights name not in the zoo; the message names the closest entries so a typo is fixed in one go."""

    def __str__(self) -> str:  # KeyError would print the repr of its argument, quotes and all
        return str(self.args[0]) if self.args else ""


_VIDEO_README = "https://github.com/TalalWasim/Video-FocalNets#model-zoo"
_FOCALNET_README = "https://github.com/microsoft/FocalNet#imagenet-1k-pretrained"
_GDRIVE = "https://drive.google.com/file/d/{}/view?usp=sharing"
_MS_RELEASE = "https://github.com/microsoft/FocalNet/releases/download/v1.0.0/{}.pth"
_MS_BLOB = "https://projects4jw.blob.core.windows.net/focalnet/release/classification/{}.pth"

# (size, tag, Google Drive id, top-1, label set, classes) as the official README's model-zoo tables give them.
_VIDEO_RELEASES = (
    ("tiny", "k400", "1wsUjJbPVQd7pf-OocD9mVU8pak0gdBTP", 79.8, "kinetics400", 400),
    ("small", "k400", "1gO4_tluuoR4mn2bSQRNyy9_wFCnUSiQ0", 81.4, "kinetics400", 400),
    ("base", "k400", "1tc1AKKmvHN7Hzxpd53QsBIMQZmLH8ozX", 83.6, "kinetics400", 400),
    ("base", "k600", "16u1dij3dde0KmaajiB5lAFy8FaRvQDmS", 86.7, "kinetics600", 600),
    ("base", "ssv2", "1MIPLjMVDmYEY5jmJs8pRRIj4gKNVqETg", 71.1, "ssv2", 174),
    ("base", "diving48", "1MMZeDucN1cfC5MiTGIft8xNfo5358dA2", 90.8, "diving48", 48),
    ("base", "activitynet", "1Zku86i9Ol1gabqBqf0h1vtL-_H5gglA3", 89.8, "activitynet", 200),
)

# (size, receptive field, ImageNet-1K top-1) from the FocalNet README; SRF initialises the released video models.
_IMAGENET_RELEASES = (
    ("tiny", "srf", 82.1),
    ("tiny", "lrf", 82.3),
    ("small", "srf", 83.4),
    ("small", "lrf", 83.5),
    ("base", "srf", 83.7),
    ("base", "lrf", 83.9),
)


def _video_entry(size: str, tag: str, drive_id: str, top1: float, label_set: str, classes: int) -> PretrainedWeights:
    return PretrainedWeights(
        name=f"video_focalnet_{size}.{tag}",
        url=_GDRIVE.format(drive_id),
        # the official eval command names the K400 base file video-focalnet_base_k400.pth; the rest follow suit
        file_name=f"video-focalnet_{size}_{tag}.pth",
        top1=top1,
        views="4x3",
        label_set=label_set,
        num_classes=classes,
        video_model=f"video_focalnet_{size}",
        source=_VIDEO_README,
    )


def _imagenet_entry(size: str, field: str, top1: float) -> PretrainedWeights:
    stem = f"focalnet_{size}_{field}"
    # GitHub hosts the SRF files the Video-FocalNets README links; the LRF ones only on the FocalNet README's blob
    alt = _MS_RELEASE.format(stem) if field == "srf" else _MS_BLOB.format(stem)
    return PretrainedWeights(
        name=f"{stem}.in1k",
        url=f"hf-hub:timm/{stem}.ms_in1k",
        file_name=f"{stem}.pth",
        top1=top1,
        views="1x1",
        label_set=None,
        num_classes=1000,
        kind="imagenet",
        video_model=f"video_focalnet_{size}",
        num_frames=1,
        sampling="image",
        frame_interval=1,
        short_side=256,  # FocalNet's TEST.CROP: resize to 256/224 of the crop, centre-crop 224
        alt_urls=(alt,),
        source=_FOCALNET_README,
    )


_TABLE: dict[str, PretrainedWeights] = {
    w.name: w
    for w in [*(_video_entry(*r) for r in _VIDEO_RELEASES), *(_imagenet_entry(*r) for r in _IMAGENET_RELEASES)]
}


def list_weights(pattern: str | None = None) -> list[PretrainedWeights]:
    """The zoo in table order; ``pattern`` is a glob (``*k400``) or, without wildcards, a substring (``base``)."""
    entries = list(_TABLE.values())
    if not pattern:
        return entries
    if any(c in pattern for c in "*?["):
        return [w for w in entries if fnmatch.fnmatchcase(w.name, pattern)]
    return [w for w in entries if pattern in w.name]


def _unknown(name: str) -> UnknownWeightsError:
    tags = [w.name for w in _TABLE.values() if w.architecture == name]
    if tags:
        return UnknownWeightsError(f"{name!r} needs a tag: one of {', '.join(tags)}")
    close = difflib.get_close_matches(name, list(_TABLE), n=3, cutoff=0.6)
    hint = f"; did you mean {' or '.join(close)}?" if close else ""
    return UnknownWeightsError(f"unknown weights {name!r}{hint} (see `videofocalnet weights list`)")


def get_weights(name: str, tag: str | None = None) -> PretrainedWeights:
    """Look an entry up by full name (``video_focalnet_base.k400``) or ``create_model``-style ``(model, tag)``."""
    key = f"{name}.{tag}" if tag is not None else name
    try:
        return _TABLE[key]
    except KeyError:
        raise _unknown(key) from None


def weights_for(model_name: str, tag: str | None = None) -> PretrainedWeights:
    """The weights ``create_model(model_name, pretrained=tag)`` means; ``tag=None`` (``pretrained=True``) picks the
    architecture's first published entry (Kinetics-400 for the video models), as timm's default tag does."""
    if tag is not None:
        return get_weights(model_name, tag)
    for entry in _TABLE.values():
        if entry.architecture == model_name:
            return entry
    close = difflib.get_close_matches(model_name, sorted({w.architecture for w in _TABLE.values()}), n=3)
    hint = f"; did you mean {' or '.join(close)}?" if close else ""
    raise UnknownWeightsError(f"no published weights for model {model_name!r}{hint} (see `videofocalnet weights list`)")
