"""Expert annotations on a still frame: arrows, ellipses, lines and text labels.

Points are image pixel coordinates (x to the right, y down) of the frame they belong to. A
line's length is given in millimetres when the Sequence of Ultrasound Regions gives physical
spacing for the region both ends lie in.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from qa_meeting.domain.cine import UltrasoundRegion, distance_mm
from qa_meeting.errors import ValidationError

MAX_LABEL_LENGTH = 200


class AnnotationKind(StrEnum):
    ARROW = "arrow"
    ELLIPSE = "ellipse"
    LINE = "line"
    TEXT = "text"


# How many points each kind takes: arrow and line from a start to an end point, an ellipse by
# two opposite corners of its bounding box, a text label at one point.
POINTS_NEEDED = {
    AnnotationKind.ARROW: 2,
    AnnotationKind.ELLIPSE: 2,
    AnnotationKind.LINE: 2,
    AnnotationKind.TEXT: 1,
}

Point = tuple[float, float]


@dataclass(frozen=True)
class AnnotationDraft:
    kind: AnnotationKind
    frame_index: int
    points: tuple[Point, ...]
    label: str = ""


def validate_annotation(
    draft: AnnotationDraft, *, rows: int, columns: int, number_of_frames: int
) -> AnnotationDraft:
    """Check the kind, frame, points (inside the image) and label; return a clean copy."""
    if not 0 <= draft.frame_index < number_of_frames:
        raise ValidationError(
            f"Frame {draft.frame_index + 1} does not exist in this {number_of_frames}-frame clip.",
            "Step to an existing frame and draw again.",
        )
    needed = POINTS_NEEDED[draft.kind]
    if len(draft.points) != needed:
        raise ValidationError(
            f"A {draft.kind.value} needs {needed} point(s), not {len(draft.points)}.",
            f"Click {needed} point(s) on the frame.",
        )
    for x, y in draft.points:
        if not (0 <= x <= columns - 1 and 0 <= y <= rows - 1):
            raise ValidationError(
                f"Point ({x:.0f}, {y:.0f}) lies outside the {columns}x{rows} image.",
                "Click inside the image.",
            )
    label = draft.label.strip()
    if draft.kind is AnnotationKind.TEXT and not label:
        raise ValidationError("A text label needs some text.", "Type the label, then save it.")
    if len(label) > MAX_LABEL_LENGTH:
        raise ValidationError(
            f"The label is {len(label)} characters long.",
            f"Keep it under {MAX_LABEL_LENGTH} characters.",
        )
    if draft.kind in (AnnotationKind.ARROW, AnnotationKind.LINE) and (
        draft.points[0] == draft.points[1]
    ):
        raise ValidationError("The two ends are the same point.", "Click two different points.")
    points = tuple((round(float(x), 1), round(float(y), 1)) for x, y in draft.points)
    return AnnotationDraft(draft.kind, draft.frame_index, points, label)


def line_length_mm(draft: AnnotationDraft, regions: Sequence[UltrasoundRegion]) -> float | None:
    """The length of a line in millimetres, when the regions give physical spacing."""
    if draft.kind is not AnnotationKind.LINE:
        return None
    return distance_mm(regions, draft.points[0], draft.points[1])
