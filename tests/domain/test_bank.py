"""The image bank's pure rules: filters, self-test scores, coverage, and the export rules."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pytest

from qa_meeting.domain.bank import (
    CLEANED,
    NEEDS_MASK,
    BankFilter,
    coverage_matrix,
    expert_findings,
    export_blocked,
    export_message,
    finding_label,
    header_names,
    matches,
    redacted_excerpts,
    score,
    unsearchable,
)
from qa_meeting.domain.identifiers import find_identifiers
from qa_meeting.services.protocols import load_protocols


@dataclass(frozen=True)
class Case:
    protocol_id: str = "fusic_heart"
    protocol_name: str = "FUSIC Heart"
    title: str = "FUSIC Heart: RV dilated"
    views: Sequence[str] = ("psax", "a4c")
    findings: Sequence[str] = ("RV dilated",)
    tags: Sequence[str] = ("pulmonary embolism",)
    image_quality: int | None = 4
    level: str = "intermediate"


PE = Case()
NORMAL_DVT = Case(
    "dvt", "DVT compression", "DVT: normal study", ("left_cfv",), (), (), 3, "primary"
)


@pytest.mark.parametrize(
    ("wanted", "pe", "dvt"),
    [
        (BankFilter(), True, True),
        (BankFilter(protocol_id="dvt"), False, True),
        (BankFilter(view="PSAX"), True, False),
        (BankFilter(finding="rv dilated"), True, False),
        (BankFilter(finding="normal"), False, True),
        (BankFilter(min_quality=4), True, False),
        (BankFilter(level="primary"), False, True),
        (BankFilter(text="embolism fusic"), True, False),
        (BankFilter(text="normal compression"), False, True),
        (BankFilter(text="effusion"), False, False),
    ],
)
def test_a_filter_keeps_the_cases_that_pass_every_part(
    wanted: BankFilter, pe: bool, dvt: bool
) -> None:
    assert (matches(PE, wanted), matches(NORMAL_DVT, wanted)) == (pe, dvt)


def test_a_self_test_is_scored_over_the_questions_the_expert_answered() -> None:
    expert = {"rv_dilated": "yes", "lv_impaired": "no", "tamponade": None, "effusion": "no"}
    mine = {"rv_dilated": "yes", "lv_impaired": "yes", "tamponade": "no", "unknown": "x"}
    result = score(expert, mine)
    assert (result.correct, result.total, result.percent) == (1, 3, 33)
    assert result.per_question == {
        "rv_dilated": ("yes", "yes", True),
        "lv_impaired": ("yes", "no", False),
        "effusion": (None, "no", False),
    }
    assert score({}, {}).percent == 0


def test_coverage_counts_each_protocol_and_finding_with_normal_cases_as_normal() -> None:
    two = Case(findings=("RV dilated", "RV impaired"))
    assert coverage_matrix([PE, two, NORMAL_DVT, Case("dvt", findings=())]) == {
        ("dvt", "normal"): 2,
        ("fusic_heart", "RV dilated"): 2,
        ("fusic_heart", "RV impaired"): 1,
    }


def test_findings_are_the_expert_positive_answers_in_plain_words() -> None:
    fusic = load_protocols()["fusic_heart"]
    answers = {"rv_dilated": "yes", "lv_impaired": "no", "pleural_effusion": "left", "x": "y"}
    assert expert_findings(fusic, answers) == ("RV dilated", "Pleural effusion: Left")
    assert expert_findings(fusic, {"lv_dilated": "unable_to_assess"}) == ()
    assert finding_label("left_cfv_compression", "not_compressible", "Not compressible") == (
        "Left CFV compression: Not compressible"
    )


def test_header_names_keep_person_names_and_codes_only() -> None:
    originals = {
        "DOE^JANE", "MRN0012345", "DA14101316", "Demo General Hospital", "19580619",
        "19/06/1958", "1.2.826.0.1.3680043.8.498.1", "Heart PSAX mid-papillary", "ABC",
    }  # fmt: skip
    assert header_names(originals) == {"DOE^JANE", "MRN0012345", "DA14101316"}


def test_an_excerpt_shows_the_context_never_the_identifier() -> None:
    text = (
        "Seen on the ward by the team; NHS 943 476 5919, patient Jane Doe, "
        "who was breathless. " + "Long clinical narrative follows. " * 5
    )
    hits = find_identifiers(text, ["DOE^JANE"])
    excerpts = redacted_excerpts(text, hits)
    assert len(excerpts) == len(hits) == 2
    for excerpt in excerpts:
        assert "5919" not in excerpt and "Doe" not in excerpt and "Jane" not in excerpt
    assert "[nhs number]" in excerpts[0] and "[name]" in excerpts[0]
    assert excerpts[0].endswith("…") and not excerpts[0].startswith("…")


def _report(hits: int, override: str, *states: str) -> dict[str, Any]:
    warnings = [{"field": "indication", "kind": "date", "excerpt": "on [date]"}] * hits
    clips = [{"status": state} for state in states]
    return {"text_hits": warnings, "override_reason": override, "clips": clips}


def test_an_export_is_blocked_by_standing_warnings_or_a_loop_without_a_mask() -> None:
    assert not export_blocked(_report(0, "", CLEANED, CLEANED))
    assert export_blocked(_report(1, "", CLEANED))
    assert not export_blocked(_report(1, "made up", CLEANED))
    assert export_blocked(_report(0, "", CLEANED, NEEDS_MASK))
    both = export_message(_report(2, "", NEEDS_MASK))
    assert "2 passage(s)" in both and "draws the rectangle" in both
    assert "overridden" in export_message(_report(2, "made up", CLEANED))
    assert export_message({}) == "Being prepared."
    assert "package abc" in export_message(_report(0, "", CLEANED), "abc")
    failed = {**_report(0, "", CLEANED), "message": "It broke.", "videos_left_out": 1}
    assert export_message(failed) == "It broke. 1 video file(s) are not exported (not DICOM)."


def test_package_words_are_not_searched_alone_but_names_are() -> None:
    values = {"TRAINEE", "PRIYA", "DEMO", "CASE009", "PRIYA TRAINEE", "Expert"}
    assert unsearchable(values, ["QA Meeting Demo", "Synthetic Probe 1"]) == {
        "TRAINEE",
        "DEMO",
        "Expert",
    }
