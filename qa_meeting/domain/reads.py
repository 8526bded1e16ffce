"""Structured reads: a reader's answers to a protocol's questions, views and image quality.

A read is the trainee's interpretation or the expert over-read of one study. ``validate_read``
refuses values the protocol does not allow, naming the field; unanswered questions and core
views missing without a reason are allowed (they are incomplete documentation, reported by
``documentation_gaps``, not errors: a FICE audit found 69% of scans had fewer than 4 views and
87% of those gave no reason, and the point is to show that, not to block the log).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from types import MappingProxyType

from qa_meeting.domain.protocols import Protocol
from qa_meeting.errors import ValidationError

# ACEP five-point image quality scale (ACEP Emergency Ultrasound Standard Reporting
# Guidelines, 2018). Check the wording against the guideline before it is shown to users.
IMAGE_QUALITY_SCALE: Mapping[int, str] = MappingProxyType(
    {
        1: "No recognisable structures; no objective data can be gathered.",
        2: "Minimally recognisable structures, insufficient for diagnosis.",
        3: "Minimal criteria met for diagnosis; recognisable structures but with some "
        "technical or other flaws.",
        4: "Minimal criteria met for diagnosis; all structures imaged well and diagnosis "
        "easily supported.",
        5: "Minimal criteria met for diagnosis; all structures imaged with excellent image "
        "quality and diagnosis completely supported.",
    }
)
MIN_IMAGE_QUALITY = min(IMAGE_QUALITY_SCALE)
MAX_IMAGE_QUALITY = max(IMAGE_QUALITY_SCALE)
DIAGNOSTIC_IMAGE_QUALITY = 3
"""Image quality at or above this grade is diagnostic."""


class Confidence(StrEnum):
    """How sure the reader is of the read as a whole."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


def _frozen(mapping: Mapping[str, str]) -> Mapping[str, str]:
    return MappingProxyType(dict(mapping))


@dataclass(frozen=True)
class StructuredRead:
    """One reader's structured interpretation of a study against a protocol.

    ``answers`` maps question id to answer value; a question absent from it is unanswered.
    ``missing_view_reasons`` maps the id of a view that was not obtained to the reason why.
    """

    protocol_id: str
    answers: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    views_obtained: frozenset[str] = frozenset()
    missing_view_reasons: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    image_quality: int | None = None
    confidence: Confidence | None = None
    reasoning: str = ""


def is_diagnostic(image_quality: int | None) -> bool:
    """True when the image quality grade reaches the diagnostic threshold (3)."""
    return image_quality is not None and image_quality >= DIAGNOSTIC_IMAGE_QUALITY


def image_quality_label(image_quality: int) -> str:
    """Return "3 - Minimal criteria met ..." for display; ``KeyError`` outside 1-5."""
    return f"{image_quality} - {IMAGE_QUALITY_SCALE[image_quality]}"


def _check_answers(answers: Mapping[str, str], protocol: Protocol) -> dict[str, str]:
    checked: dict[str, str] = {}
    question_ids = [q.id for q in protocol.questions]
    for question_id, raw_value in answers.items():
        if question_id not in question_ids:
            raise ValidationError(
                f"answers: {question_id!r} is not a question of {protocol.name}; "
                f"its questions are {', '.join(question_ids)}."
            )
        value = raw_value.strip() if isinstance(raw_value, str) else raw_value
        if value == "" or value is None:
            continue  # a blank form field: the question is unanswered
        question = protocol.question(question_id)
        if value not in question.allowed_values:
            raise ValidationError(
                f"answers.{question_id}: {value!r} is not an allowed answer to "
                f'"{question.text}"; allowed: {", ".join(question.allowed_values)}.'
            )
        checked[question_id] = value
    return checked


def _check_views(read: StructuredRead, protocol: Protocol) -> dict[str, str]:
    view_ids = [v.id for v in protocol.views]
    for view_id in sorted(read.views_obtained):
        if view_id not in view_ids:
            raise ValidationError(
                f"views_obtained: {view_id!r} is not a view of {protocol.name}; "
                f"its views are {', '.join(view_ids)}."
            )
    reasons: dict[str, str] = {}
    for view_id, raw_reason in read.missing_view_reasons.items():
        if view_id not in view_ids:
            raise ValidationError(
                f"missing_view_reasons: {view_id!r} is not a view of {protocol.name}; "
                f"its views are {', '.join(view_ids)}."
            )
        reason = raw_reason.strip()
        if not reason:
            continue  # a blank reason is no reason
        if view_id in read.views_obtained:
            raise ValidationError(
                f"missing_view_reasons.{view_id}: a reason is given for "
                f"{protocol.view(view_id).label}, but that view was obtained; "
                "remove the reason or untick the view."
            )
        reasons[view_id] = reason
    return reasons


def _check_quality(image_quality: object) -> int | None:
    if image_quality is None:
        return None
    if (
        isinstance(image_quality, bool)
        or not isinstance(image_quality, int)
        or not MIN_IMAGE_QUALITY <= image_quality <= MAX_IMAGE_QUALITY
    ):
        raise ValidationError(
            f"image_quality must be a whole number from {MIN_IMAGE_QUALITY} to "
            f"{MAX_IMAGE_QUALITY} (ACEP scale), not {image_quality!r}."
        )
    return image_quality


def _check_confidence(confidence: object) -> Confidence | None:
    if confidence is None or confidence == "":
        return None
    try:
        return Confidence(str(confidence))
    except ValueError:
        allowed = ", ".join(c.value for c in Confidence)
        raise ValidationError(f"confidence must be one of {allowed}, not {confidence!r}.") from None


def validate_read(raw: StructuredRead, protocol: Protocol) -> StructuredRead:
    """Check a read against its protocol and return a cleaned, immutable copy.

    Blank answers and blank missing-view reasons are dropped (they mean "not given"); text is
    stripped. Raises ``ValidationError`` naming the field for a read of another protocol, an
    unknown question or view, an answer the question does not allow (listing the allowed
    ones), an image quality outside 1-5, an unknown confidence, or a reason given for a view
    that was obtained. Unanswered questions are allowed.
    """
    if raw.protocol_id != protocol.id:
        raise ValidationError(
            f"protocol_id: the read is for {raw.protocol_id!r} but was checked against "
            f"{protocol.id!r}."
        )
    return replace(
        raw,
        answers=_frozen(_check_answers(raw.answers, protocol)),
        views_obtained=frozenset(raw.views_obtained),
        missing_view_reasons=_frozen(_check_views(raw, protocol)),
        image_quality=_check_quality(raw.image_quality),
        confidence=_check_confidence(raw.confidence),
        reasoning=raw.reasoning.strip(),
    )


def core_views_obtained(read: StructuredRead, protocol: Protocol) -> tuple[int, int]:
    """Return (core views obtained, core views in the protocol), e.g. (3, 4)."""
    core_ids = {view.id for view in protocol.core_views}
    return len(core_ids & read.views_obtained), len(core_ids)


def documentation_gaps(read: StructuredRead, protocol: Protocol) -> list[str]:
    """List what the read leaves undocumented, as sentences, in protocol order.

    A gap is a question without an answer, or a core view neither obtained nor explained by a
    reason. An empty list means the read is completely documented.
    """
    gaps = [
        f'Question not answered: "{question.text}"'
        for question in protocol.questions
        if not read.answers.get(question.id)
    ]
    gaps.extend(
        f"Core view {view.label} not obtained and no reason given."
        for view in protocol.core_views
        if view.id not in read.views_obtained
        and not read.missing_view_reasons.get(view.id, "").strip()
    )
    return gaps
