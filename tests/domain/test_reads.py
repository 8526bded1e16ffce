"""Structured reads: validation against the protocol, and documentation gaps."""

from __future__ import annotations

from dataclasses import replace
from types import MappingProxyType
from typing import Any

import pytest

from qa_meeting.domain.reads import (
    DIAGNOSTIC_IMAGE_QUALITY,
    IMAGE_QUALITY_SCALE,
    Confidence,
    StructuredRead,
    core_views_obtained,
    documentation_gaps,
    image_quality_label,
    is_diagnostic,
    validate_read,
)
from qa_meeting.errors import ValidationError
from qa_meeting.services.protocols import load_protocols

PROTOCOLS = load_protocols()
FUSIC = PROTOCOLS["fusic_heart"]

COMPLETE_ANSWERS = {
    "lv_dilated": "no",
    "lv_impaired": "yes",
    "rv_dilated": "no",
    "rv_impaired": "no",
    "low_preload": "no",
    "pericardial_effusion": "no",
    "tamponade": "no",
    "pleural_effusion": "both",
}


def fusic_read(**changes: Any) -> StructuredRead:
    """A complete FUSIC Heart read with all four core views; ``changes`` replace fields."""
    read = StructuredRead(
        protocol_id="fusic_heart",
        answers=COMPLETE_ANSWERS,
        views_obtained=frozenset({"plax", "psax", "a4c", "sc4c", "sc_ivc"}),
        missing_view_reasons={},
        image_quality=4,
        confidence=Confidence.HIGH,
        reasoning="Poor LV function in every view.",
    )
    return replace(read, **changes)


VALID: list[tuple[str, StructuredRead]] = [
    ("complete", fusic_read()),
    ("nothing answered", StructuredRead(protocol_id="fusic_heart")),
    ("one answer", fusic_read(answers={"tamponade": "unable_to_assess"})),
    (
        "three views with a reason",
        fusic_read(
            views_obtained=frozenset({"plax", "psax", "sc4c"}),
            missing_view_reasons={"a4c": "Patient prone"},
        ),
    ),
    ("lowest quality", fusic_read(image_quality=1)),
    ("ungraded", fusic_read(image_quality=None, confidence=None)),
    (
        "other protocol",
        StructuredRead(protocol_id="dvt", answers={"left_cfv_compression": "not_seen"}),
    ),
]


@pytest.mark.parametrize("read", [r for _, r in VALID], ids=[n for n, _ in VALID])
def test_a_valid_read_is_accepted_unchanged(read: StructuredRead) -> None:
    checked = validate_read(read, PROTOCOLS[read.protocol_id])
    assert dict(checked.answers) == dict(read.answers)
    assert checked.views_obtained == read.views_obtained
    assert dict(checked.missing_view_reasons) == dict(read.missing_view_reasons)
    assert checked.image_quality == read.image_quality
    assert checked.confidence == read.confidence


INVALID: list[tuple[str, StructuredRead, list[str]]] = [
    (
        "unknown question",
        fusic_read(answers={"lv_enormous": "yes"}),
        ["answers: 'lv_enormous' is not a question of FUSIC Heart", "lv_dilated"],
    ),
    (
        "answer not allowed",
        fusic_read(answers={"pleural_effusion": "yes"}),
        [
            "answers.pleural_effusion: 'yes' is not an allowed answer",
            "allowed: none, left, right, both, unable_to_assess",
        ],
    ),
    (
        "answer from another question",
        fusic_read(answers={"lv_dilated": "left"}),
        ["answers.lv_dilated: 'left'", "allowed: yes, no, unable_to_assess"],
    ),
    (
        "unknown view",
        fusic_read(views_obtained=frozenset({"plax", "a5c"})),
        ["views_obtained: 'a5c' is not a view of FUSIC Heart"],
    ),
    (
        "reason for an unknown view",
        fusic_read(missing_view_reasons={"a5c": "No window"}),
        ["missing_view_reasons: 'a5c' is not a view"],
    ),
    (
        "reason for an obtained view",
        fusic_read(missing_view_reasons={"a4c": "No window"}),
        ["missing_view_reasons.a4c", "was obtained"],
    ),
    ("quality 0", fusic_read(image_quality=0), ["image_quality", "from 1 to 5", "not 0"]),
    ("quality 6", fusic_read(image_quality=6), ["image_quality", "not 6"]),
    ("quality true", fusic_read(image_quality=True), ["image_quality", "not True"]),
    ("quality text", fusic_read(image_quality="3"), ["image_quality", "not '3'"]),
    ("confidence", fusic_read(confidence="certain"), ["confidence must be one of low, medium"]),
    ("protocol", fusic_read(protocol_id="efast"), ["protocol_id", "'efast'", "'fusic_heart'"]),
]


@pytest.mark.parametrize(
    ("read", "expected"), [(r, e) for _, r, e in INVALID], ids=[n for n, _, _ in INVALID]
)
def test_an_invalid_read_is_refused_naming_the_field(
    read: StructuredRead, expected: list[str]
) -> None:
    with pytest.raises(ValidationError) as caught:
        validate_read(read, FUSIC)
    for fragment in expected:
        assert fragment in caught.value.message


def test_validation_cleans_blanks_and_freezes_the_mappings() -> None:
    raw = fusic_read(
        answers={"lv_dilated": " yes ", "tamponade": ""},
        views_obtained=frozenset({"plax"}),
        missing_view_reasons={"a4c": "  ", "psax": " Dressing over the chest "},
        confidence="medium",
        reasoning="  Dilated LV.  ",
    )
    checked = validate_read(raw, FUSIC)
    assert dict(checked.answers) == {"lv_dilated": "yes"}
    assert dict(checked.missing_view_reasons) == {"psax": "Dressing over the chest"}
    assert checked.confidence is Confidence.MEDIUM
    assert checked.reasoning == "Dilated LV."
    assert isinstance(checked.answers, MappingProxyType)
    with pytest.raises(TypeError):
        checked.answers["lv_dilated"] = "no"  # type: ignore[index]


def test_a_complete_read_has_no_documentation_gaps() -> None:
    assert documentation_gaps(fusic_read(), FUSIC) == []


def test_gaps_name_unanswered_questions_and_unexplained_missing_core_views() -> None:
    answers = {k: v for k, v in COMPLETE_ANSWERS.items() if k != "tamponade"}
    read = fusic_read(
        answers=answers,
        views_obtained=frozenset({"plax", "psax"}),
        missing_view_reasons={"sc4c": "Laparotomy wound"},
    )
    assert documentation_gaps(read, FUSIC) == [
        'Question not answered: "Are there features of cardiac tamponade?"',
        "Core view Apical four-chamber (A4C) not obtained and no reason given.",
    ]


def test_missing_non_core_views_are_not_gaps() -> None:
    read = fusic_read(views_obtained=frozenset({"plax", "psax", "a4c", "sc4c"}))
    assert documentation_gaps(read, FUSIC) == []


def test_an_empty_read_lists_every_question_and_core_view() -> None:
    gaps = documentation_gaps(StructuredRead(protocol_id="fusic_heart"), FUSIC)
    assert len(gaps) == len(FUSIC.questions) + len(FUSIC.core_views) == 12


@pytest.mark.parametrize(
    ("views", "expected"),
    [(set(), (0, 4)), ({"plax", "sc_ivc"}, (1, 4)), ({"plax", "psax", "a4c", "sc4c"}, (4, 4))],
)
def test_core_views_obtained_counts_out_of_four(views: set[str], expected: tuple[int, int]) -> None:
    assert core_views_obtained(fusic_read(views_obtained=frozenset(views)), FUSIC) == expected


@pytest.mark.parametrize(
    ("quality", "diagnostic"), [(None, False), (1, False), (2, False), (3, True), (5, True)]
)
def test_quality_three_and_above_is_diagnostic(quality: int | None, diagnostic: bool) -> None:
    assert is_diagnostic(quality) is diagnostic


def test_the_acep_scale_runs_from_one_to_five() -> None:
    assert sorted(IMAGE_QUALITY_SCALE) == [1, 2, 3, 4, 5]
    assert DIAGNOSTIC_IMAGE_QUALITY == 3
    assert image_quality_label(1).startswith("1 - No recognisable structures")
    assert "insufficient for diagnosis" in IMAGE_QUALITY_SCALE[2]
    with pytest.raises(KeyError):
        image_quality_label(6)
