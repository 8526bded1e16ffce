"""Ward round: recent scans to over-read, and the two-minute over-read with its flags."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from qa_meeting.domain.discordance import StudyCategory
from qa_meeting.domain.nominations import NominationReason
from qa_meeting.domain.reads import Confidence, StructuredRead
from qa_meeting.errors import NotFoundError, PermissionDeniedError, QaMeetingError, ValidationError
from qa_meeting.services import review, ward_round
from qa_meeting.services.context import Actor, AppContext
from qa_meeting.services.protocols import load_protocols
from qa_meeting.store import repository
from qa_meeting.store.db import transaction
from qa_meeting.store.models import AuditEvent, ReadKind, Study
from tests.conftest import actor_named, add_actor

PROTOCOLS = load_protocols()
ALL_NO = {
    "lv_dilated": "no",
    "lv_impaired": "no",
    "rv_dilated": "no",
    "rv_impaired": "no",
    "low_preload": "no",
    "pericardial_effusion": "no",
    "tamponade": "no",
    "pleural_effusion": "none",
}
LINE = "Normal LV and RV, no effusion; well documented."


@pytest.fixture
def people(any_ctx: AppContext) -> dict[str, Actor]:
    ctx = any_ctx
    return {
        "trainee": add_actor(ctx, "trainee1", "trainee"),
        "expert": add_actor(ctx, "expert1", "expert"),
        "chair": add_actor(ctx, "chair1", "chair"),
    }


def _scan(
    ctx: AppContext,
    operator: Actor,
    uid: str,
    *,
    days_ago: int = 1,
    trainee_read: bool = True,
) -> int:
    with transaction(ctx.engine) as session:
        study = repository.add_study(
            session=session,
            study=Study(
                study_instance_uid=uid,
                operator_id=operator.user_id,
                protocol_id="fusic_heart",
                scanned_on=date.today() - timedelta(days=days_ago),
                age_band="60-74",
            ),
        )
        assert study.id is not None
        study_id = study.id
    if trainee_read:
        read = StructuredRead(
            protocol_id="fusic_heart",
            answers=ALL_NO,
            views_obtained=frozenset({"plax", "psax", "a4c", "sc4c"}),
            image_quality=4,
            confidence=Confidence.HIGH,
            reasoning="Normal study.",
        )
        review.save_read(ctx, operator, study_id, ReadKind.TRAINEE, read, PROTOCOLS)
    return study_id


def _record(
    ctx: AppContext,
    actor: Actor,
    study_id: int,
    answers: dict[str, str] | None = None,
    reasoning: str = LINE,
    *,
    for_meeting: bool = False,
    good_spot: bool = False,
) -> ward_round.WardRoundResult:
    return ward_round.record_ward_round(
        ctx,
        actor,
        study_id,
        ALL_NO if answers is None else answers,
        reasoning,
        for_meeting=for_meeting,
        good_spot=good_spot,
        protocols=PROTOCOLS,
    )


def _snapshot(ctx: AppContext, study_id: int) -> tuple[object, ...]:
    """Everything a ward round may change about a scan."""
    with transaction(ctx.engine) as session:
        study = repository.get_study(session=session, study_id=study_id)
        expert = repository.get_read(session=session, study_id=study_id, kind=ReadKind.EXPERT)
        nomination = repository.get_nomination(session=session, study_id=study_id)
        assert study is not None
        return (
            study.status,
            study.discordance,
            study.flagged_interesting,
            study.flagged_good_spot,
            expert.model_dump() if expert else None,
            nomination.model_dump() if nomination else None,
        )


def _ok_events(ctx: AppContext) -> list[AuditEvent]:
    with transaction(ctx.engine) as session:
        events = repository.list_audit_events(session=session)
        return [e for e in events if e.action == "read.expert" and e.outcome == "ok"]


def test_an_expert_ward_round_stores_the_over_read_with_the_trainees_views_and_quality(
    any_ctx: AppContext, people: dict[str, Actor]
) -> None:
    ctx = any_ctx
    study_id = _scan(ctx, people["trainee"], "1.1")

    result = _record(ctx, people["expert"], study_id)

    assert result.category is StudyCategory.CONCORDANT and not result.queued
    assert result.queue_text == "not queued for the QA meeting"
    with transaction(ctx.engine) as session:
        expert = repository.get_read(session=session, study_id=study_id, kind=ReadKind.EXPERT)
        study = repository.get_study(session=session, study_id=study_id)
        assert repository.get_nomination(session=session, study_id=study_id) is None
    assert expert is not None and expert.reasoning == LINE
    assert expert.reader_id == people["expert"].user_id
    assert dict(expert.answers) == ALL_NO
    assert expert.views_obtained == ["a4c", "plax", "psax", "sc4c"]
    assert expert.image_quality == 4
    assert study is not None and study.status == "reviewed" and study.discordance == "concordant"
    [event] = _ok_events(ctx)
    assert event.detail == "ward round" and event.target == f"study:{study_id}"


def test_a_discordant_answer_is_classified_and_queued_with_its_reason(
    any_ctx: AppContext, people: dict[str, Actor]
) -> None:
    ctx = any_ctx
    study_id = _scan(ctx, people["trainee"], "1.2")

    result = _record(
        ctx,
        people["chair"],
        study_id,
        {**ALL_NO, "pericardial_effusion": "yes", "tamponade": "yes"},
    )

    assert result.category is StudyCategory.DISCORDANT_MAJOR
    assert result.queued and result.queue_reason is NominationReason.DISCORDANT_MAJOR
    assert "Discordant (major)" in result.category_text
    assert result.queue_text == "queued for the QA meeting: discordant (major)"


def test_for_the_meeting_queues_a_concordant_scan_as_interesting(
    any_ctx: AppContext, people: dict[str, Actor]
) -> None:
    ctx = any_ctx
    study_id = _scan(ctx, people["trainee"], "1.3")

    result = _record(ctx, people["expert"], study_id, for_meeting=True)

    assert result.queued and result.queue_reason is NominationReason.INTERESTING
    with transaction(ctx.engine) as session:
        study = repository.get_study(session=session, study_id=study_id)
        nomination = repository.get_nomination(session=session, study_id=study_id)
    assert study is not None and study.flagged_interesting and not study.flagged_good_spot
    assert nomination is not None and nomination.reason == "interesting"


def test_good_spot_is_one_tick_and_queues_the_scan_as_a_good_spot(
    any_ctx: AppContext, people: dict[str, Actor]
) -> None:
    ctx = any_ctx
    study_id = _scan(ctx, people["trainee"], "1.4")

    result = _record(ctx, people["expert"], study_id, good_spot=True)

    assert result.queued and result.queue_reason is NominationReason.GOOD_SPOT
    assert result.queue_text == "queued for the QA meeting: good spot"
    with transaction(ctx.engine) as session:
        nomination = repository.get_nomination(session=session, study_id=study_id)
    assert nomination is not None and nomination.reason == "good_spot"


def test_a_scan_without_the_trainees_read_is_stored_but_not_classified(
    any_ctx: AppContext, people: dict[str, Actor]
) -> None:
    ctx = any_ctx
    study_id = _scan(ctx, people["trainee"], "1.5", trainee_read=False)

    result = _record(ctx, people["expert"], study_id)

    assert result.category is None and "not classified" in result.category_text
    with transaction(ctx.engine) as session:
        expert = repository.get_read(session=session, study_id=study_id, kind=ReadKind.EXPERT)
    assert expert is not None and expert.views_obtained == [] and expert.image_quality is None


NOT_ALL = {k: v for k, v in ALL_NO.items() if k != "tamponade"}
REFUSED = [
    # (answers, reasoning, error type, words the message must contain)
    (NOT_ALL, LINE, ValidationError, "tamponade"),
    ({**ALL_NO, "tamponade": "maybe"}, LINE, ValidationError, "'maybe'"),
    ({**ALL_NO, "lv_thrombus": "yes"}, LINE, ValidationError, "'lv_thrombus'"),
    ({**ALL_NO, "tamponade": " "}, LINE, ValidationError, "not answered"),
    (ALL_NO, "   ", ValidationError, "empty"),
    (ALL_NO, "First line.\nSecond line.", ValidationError, "one line"),
    (ALL_NO, "x" * 201, ValidationError, "201 characters"),
]


@pytest.mark.parametrize(("answers", "reasoning", "error", "words"), REFUSED)
def test_invalid_answers_or_reasoning_are_refused_and_nothing_is_written(
    any_ctx: AppContext,
    people: dict[str, Actor],
    answers: dict[str, str],
    reasoning: str,
    error: type[QaMeetingError],
    words: str,
) -> None:
    ctx = any_ctx
    study_id = _scan(ctx, people["trainee"], "2.1")
    before = _snapshot(ctx, study_id)

    with pytest.raises(error) as raised:
        _record(ctx, people["expert"], study_id, answers, reasoning, good_spot=True)

    assert words in raised.value.message and raised.value.remedy
    assert _snapshot(ctx, study_id) == before
    assert _ok_events(ctx) == []


def test_a_trainee_is_refused_and_nothing_is_written(
    any_ctx: AppContext, people: dict[str, Actor]
) -> None:
    ctx = any_ctx
    other = add_actor(ctx, "trainee2", "trainee")
    study_id = _scan(ctx, other, "3.1")
    before = _snapshot(ctx, study_id)

    with pytest.raises(PermissionDeniedError, match="Only an expert"):
        _record(ctx, people["trainee"], study_id, good_spot=True)
    with pytest.raises(PermissionDeniedError):
        ward_round.recent_scans(ctx, people["trainee"], PROTOCOLS)

    assert _snapshot(ctx, study_id) == before


def test_an_expert_cannot_over_read_their_own_scan_and_the_refusal_is_audited(
    any_ctx: AppContext, people: dict[str, Actor]
) -> None:
    ctx = any_ctx
    study_id = _scan(ctx, people["expert"], "3.2", trainee_read=False)
    before = _snapshot(ctx, study_id)

    with pytest.raises(PermissionDeniedError, match="You performed this scan"):
        _record(ctx, people["expert"], study_id, good_spot=True)

    assert _snapshot(ctx, study_id) == before
    with transaction(ctx.engine) as session:
        events = repository.list_audit_events(session=session)
        assert [(e.action, e.outcome) for e in events if e.action == "read.expert"] == [
            ("read.expert", "refused")
        ]


def test_an_unknown_scan_is_not_found(any_ctx: AppContext, people: dict[str, Actor]) -> None:
    ctx = any_ctx
    with pytest.raises(NotFoundError, match="Scan 999"):
        _record(ctx, people["expert"], 999)
    assert _ok_events(ctx) == []


def test_recent_scans_lists_others_scans_awaiting_first_then_newest(
    any_ctx: AppContext, people: dict[str, Actor]
) -> None:
    ctx = any_ctx
    trainee, expert = people["trainee"], people["expert"]
    reviewed = _scan(ctx, trainee, "4.1", days_ago=0)
    _record(ctx, people["chair"], reviewed)
    older = _scan(ctx, trainee, "4.2", days_ago=5)
    newer = _scan(ctx, trainee, "4.3", days_ago=2)
    _scan(ctx, trainee, "4.4", days_ago=20)  # too old
    _scan(ctx, expert, "4.5", days_ago=1)  # the expert's own

    scans = ward_round.recent_scans(ctx, expert, PROTOCOLS)

    assert [s.study_id for s in scans] == [newer, older, reviewed]
    first = scans[0]
    assert first.awaiting_overread and not scans[2].awaiting_overread
    assert first.protocol_title == "FUSIC Heart" and first.age_band == "60-74"
    assert first.trainee_label == f"Trainee {trainee.pseudonym}"
    assert "trainee1" not in first.trainee_label
    assert first.views[0].startswith("Apical four-chamber")
    assert first.days_ago(date.today()) == 2
    assert scans[2].expert_answers == ALL_NO
    assert len(ward_round.recent_scans(ctx, expert, PROTOCOLS, limit=1)) == 1
    assert ward_round.recent_scans(ctx, expert, PROTOCOLS, days=30)[-1].study_id != newer


def test_the_demo_has_scans_awaiting_an_over_read_by_expert1(demo_ctx: AppContext) -> None:
    expert = actor_named(demo_ctx, "expert1")
    scans = ward_round.recent_scans(demo_ctx, expert, PROTOCOLS)

    assert scans and scans[0].awaiting_overread and scans[0].clip_ids
    assert all(s.trainee_label.startswith("Trainee OP-") for s in scans)
