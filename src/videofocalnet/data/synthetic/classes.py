"""The synthetic classes (names, reversal pairs, generative process of each) and the nuisance style they are drawn with.

The classes are built like Something-Something: five *reversal pairs* plus ``static``. One member of each pair is
rendered by running the other member's generative process and reversing the frame order (``CLASS_PROCESS``), so the
two members share every per-frame statistic and only the order of frames tells them apart.
"""

from __future__ import annotations

import dataclasses
from typing import Any

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
CLASS_PROCESS: dict[str, tuple[str, bool]] = {
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


@dataclasses.dataclass(frozen=True)
class SyntheticStyle:
    """How hard the nuisance factors make a clip; lengths are fractions of the frame side, ranges are (low, high).

    Every factor is drawn from a time-reversible distribution whatever the values, so a style only changes how much
    a model must look past, never whether time order decides the label.
    """

    main_radius: tuple[float, float] = (0.2, 0.26)
    turn: tuple[float, float] = (0.48, 0.8)  # total rotation of the rotating classes, in half-turns
    # Outline harmonics, in units of the radius. cos(phi) alone, at these amplitudes, mostly moves a circle off the
    # centre (1 + a cos(phi) is nearly a circle shifted by a), so such objects turned as a ~4 px wobble of a round
    # outline; cos(2 phi) elongates (an ellipse looks the same after half a turn). Both together make a bean or pear
    # whose turn is plain to see and which matches no turned copy of itself.
    lopsided: tuple[float, float] = (0.3, 0.45)
    elongation: tuple[float, float] = (0.25, 0.35)
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
                    raise ValueError(
                        f"SyntheticStyle.{field.name} must be a (low, high) range with 0 <= low <= high, got {value!r}"
                    )
            elif value < 0:
                raise ValueError(f"SyntheticStyle.{field.name} must be >= 0, got {value!r}")
        if not all(isinstance(n, int) for n in self.distractors):
            raise ValueError(f"SyntheticStyle.distractors must be integer counts, got {self.distractors!r}")
        if self.main_radius[0] <= 0 or self.motion_duration[1] > 1:
            raise ValueError(f"SyntheticStyle needs main_radius > 0 and motion_duration <= 1, got {self}")
        if self.lopsided[1] + self.elongation[1] + 0.15 >= 1:  # the third harmonic adds up to 0.15
            raise ValueError(
                f"SyntheticStyle needs lopsided + elongation < 0.85 at their highs (outlines must stay "
                f"star-shaped around the centre), got {self.lopsided} and {self.elongation}"
            )

    def to_dict(self) -> dict[str, Any]:
        out = {}
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            out[field.name] = list(value) if isinstance(value, tuple) else value
        return out


DEFAULT_STYLE = SyntheticStyle()
