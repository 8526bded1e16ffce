"""The digest's pure rules: cleaning free text, figures, frame choice, the final leak guard."""

from __future__ import annotations

from datetime import date

import pytest

from qa_meeting.domain.digest import (
    REDACTED,
    Digest,
    DigestCase,
    DigestLeakError,
    PointEntry,
    answer_rows,
    check_no_leaks,
    chosen_frames,
    classification_label,
    clean_text,
    forbidden_terms,
    is_good_spot,
    leaks,
    meeting_figures,
    patient_line,
)
from qa_meeting.services.protocols import load_protocols

NHS_NUMBER = "943 476 5919"  # a valid check digit


@pytest.mark.parametrize(
    ("text", "removed"),
    [
        (f"NHS {NHS_NUMBER}", NHS_NUMBER),
        ("Seen by Dr Jane Smith", "Jane Smith"),
        ("Patient DOE, John", "DOE, John"),
        ("Call 07700 900123", "07700 900123"),
        ("mail j.doe@example.org now", "j.doe@example.org"),
        ("Scanned 03/04/2025", "03/04/2025"),
        ("MRN HX1234567", "HX1234567"),
    ],
)
def test_clean_text_replaces_identifiers(text: str, removed: str) -> None:
    cleaned, count = clean_text(text, ["Dr Jane Smith", "DOE^JOHN"])
    assert count >= 1 and removed not in cleaned and REDACTED in cleaned


@pytest.mark.parametrize("text", ["LV 45%, RR 24, BP 120/80", "frames 5-30, IVC 2.2 cm", ""])
def test_clinical_shorthand_is_kept(text: str) -> None:
    assert clean_text(text, ["Dr Jane Smith"]) == (text, 0)


def test_figures_count_outcomes_roles_classes_and_variety() -> None:
    figures = meeting_figures(
        outcomes=["presented", "presented", "deferred", "presented"],
        attendance_by_role={"trainee": 3, "expert": 1, "chair": 1, "admin": 0},
        classifications=["Concordant", "Discordant (major)", "Concordant"],
        protocol_findings=[
            ("fusic_heart", ["RV dilated"]),
            ("fusic_heart", ["RV dilated", "LV impaired"]),
            ("efast", []),
        ],
    )
    assert (figures.presented, figures.deferred, figures.attended) == (3, 1, 5)
    assert figures.attendance == (("Chair", 1), ("Expert", 1), ("Trainee", 3))
    assert figures.discordance == (("Concordant", 2), ("Discordant (major)", 1))
    assert (figures.protocols, figures.cells) == (2, 3)  # efast counts as "normal"


def test_linked_frames_come_first_then_the_middle_of_the_first_loop() -> None:
    assert chosen_frames([(7, 3), (7, 3), (8, 1), (7, 9)], (7, 40)) == ((7, 3), (8, 1))
    assert chosen_frames([], (7, 41)) == ((7, 20),)
    assert chosen_frames([], None) == ()


def test_labels_and_good_spots() -> None:
    assert classification_label("discordant_major") == "Discordant (major)"
    assert classification_label(None) == classification_label("bogus") == "Not classified"
    assert patient_line("female", "40-59") == "Female, age 40-59"
    assert patient_line("", "") == "Not recorded"
    assert is_good_spot(True, []) and is_good_spot(False, ["acquisition", "good_practice"])
    assert not is_good_spot(False, ["acquisition"])
    case = DigestCase(
        2, "FUSIC Heart", "Concordant", "Trainee A", "Male", "q",
        points=(PointEntry("well done", "Good practice"), PointEntry("x", "Acquisition")),
    )  # fmt: skip
    assert case.title == "Case 2: FUSIC Heart"
    assert [p.text for p in case.good_points] == ["well done"]


def test_answer_rows_keep_answered_questions_with_labels() -> None:
    protocol = load_protocols()["fusic_heart"]
    rows = answer_rows(protocol, {"lv_impaired": "yes"}, {"lv_impaired": "no", "rv_dilated": "yes"})
    assert [(r.trainee, r.expert, r.differs) for r in rows] == [
        ("Yes", "No", True),
        ("", "Yes", False),
    ]
    assert answer_rows(None, {}, {}) == ()


def test_forbidden_terms_hold_whole_names_codes_and_pseudonyms_not_single_words() -> None:
    terms = forbidden_terms(
        ["Dr Jane Smith"],
        ["DOE^JOHN", "MRN0012345", "Heart A4C", "20250101"],
        pseudonyms=["OP-K3Q3"],
        usernames=["jsmith1"],
    )
    assert {"Jane Smith", "Smith, Jane", "DOE^JOHN", "JOHN DOE", "MRN0012345"} <= set(terms)
    assert {"OP-K3Q3", "jsmith1"} <= set(terms)
    assert not {"Smith", "Jane", "DOE", "JOHN", "Heart A4C", "20250101"} & set(terms)


def test_the_guard_finds_whole_words_in_any_case_and_does_not_name_them() -> None:
    assert leaks("Seen by jane  SMITH today", ["Jane Smith"]) == 1
    assert leaks("Trainee A and Trainee B", ["Trainee Alex", "OP-K3Q3"]) == 0
    with pytest.raises(DigestLeakError) as refused:
        check_no_leaks("for John Doe", ["John Doe"], "PDF digest")
    assert "John" not in str(refused.value) and "1 name(s)" in refused.value.message


def test_a_digest_keeps_its_forbidden_terms_out_of_its_repr() -> None:
    digest = Digest("t", "s", date(2026, 1, 1), forbidden=("Jane Smith",))
    assert "Jane Smith" not in repr(digest) and digest.good_spots == ()
