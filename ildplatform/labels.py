"""The label table: the values stored in every label map, their names and colours (no Django here).

One table for the server and the browser: the viewer reads it from `GET /api/v1/labels/` and draws
with these colours. Colours are Okabe-Ito (told apart with the common colour-vision deficiencies).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

BACKGROUND = 0
RETICULATION = 1
GGO = 2
MAX_PATTERN_LABEL = GGO

# Disagreement map values (agreement job): what the two readers said at each pixel, told apart.
ONLY_READER_1 = 1
ONLY_READER_2 = 2
DIFFERENT_PATTERN = 3  # both marked it, one reticulation and the other GGO
AGREE_RETICULATION = 4
AGREE_GGO = 5

# Lung mask values: the patient's right and left lung.
RIGHT_LUNG = 1
LEFT_LUNG = 2


@dataclass(frozen=True)
class Label:
    value: int
    key: str
    name: str
    colour: str  # "#rrggbb"


PATTERN_LABELS = (
    Label(RETICULATION, "reticulation", "Reticulation", "#E69F00"),
    Label(GGO, "ggo", "Ground-glass opacity", "#56B4E9"),
)
DISAGREEMENT_LABELS = (
    Label(ONLY_READER_1, "only_reader_1", "Only reader 1", "#D55E00"),
    Label(ONLY_READER_2, "only_reader_2", "Only reader 2", "#0072B2"),
    Label(DIFFERENT_PATTERN, "different_pattern", "Both, different pattern", "#F0E442"),
    Label(AGREE_RETICULATION, "agree_reticulation", "Both, reticulation", "#E69F00"),
    Label(AGREE_GGO, "agree_ggo", "Both, ground-glass opacity", "#56B4E9"),
)
LUNG_LABELS = (
    Label(RIGHT_LUNG, "right_lung", "Right lung", "#009E73"),
    Label(LEFT_LUNG, "left_lung", "Left lung", "#CC79A7"),
)


def label_table() -> dict[str, list[dict]]:
    """What the viewer draws with, keyed by the kind of label map."""
    return {
        "patterns": [asdict(label) for label in PATTERN_LABELS],
        "disagreement": [asdict(label) for label in DISAGREEMENT_LABELS],
        "lung": [asdict(label) for label in LUNG_LABELS],
    }
