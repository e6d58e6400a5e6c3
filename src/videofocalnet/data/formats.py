"""File names the data pipeline recognises as videos or as frame images (one list each, for every folder scan)."""

from __future__ import annotations

# Containers PyAV/FFmpeg decodes that video datasets ship in; folder scans (``prepare-data``'s video index,
# ``predict``/``eval`` folder inputs) match these suffixes case-insensitively.
VIDEO_EXTENSIONS: tuple[str, ...] = (
    ".mp4",
    ".avi",
    ".mkv",
    ".webm",
    ".mov",
    ".m4v",
    ".mpg",
    ".mpeg",
    ".wmv",
    ".flv",
    ".gif",
)
# A folder of these is one video in the official raw-frame layout (frames in file-name order).
IMAGE_EXTENSIONS: tuple[str, ...] = (".jpg", ".jpeg", ".png")
