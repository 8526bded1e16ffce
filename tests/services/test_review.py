"""Review: role rules, discordance on save, status and queue, audit."""

from __future__ import annotations

import pytest

from qa_meeting.domain.reads import Confidence, StructuredRead
from qa_meeting.errors import NotFoundError, PermissionDeniedError, ValidationError
from qa_meeting.services import review, scans
from qa_meeting.services.context import Actor, AppContext
from qa_meeting.services.protocols import load_protocols
from qa_meeting.store import repository
from qa_meeting.store.db import transaction
from qa_meeting.store.models import ReadKind, Study
from tests.conftest import add_actor

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
CORE = frozenset({"plax", "psax", "a4c", "sc4c"})


def _read(**changes: str) -> StructuredRead:
    return StructuredRead(
        protocol_id="fusic_heart",
        answers={**ALL_NO, **changes},
        views_obtained=CORE,
        image_quality=4,
        confidence=Confidence.HIGH,
        reasoning="Normal biventricular size and function.",
    )


@pytest.fixture
def people(ctx: AppContext) -> dict[str, Actor]:
    return {
        "trainee": add_actor(ctx, "trainee1", "trainee"),
        "other": add_actor(ctx, "trainee2", "trainee"),
        "expert": add_actor(ctx, "expert1", "expert"),
        "chair": add_actor(ctx, "chair1", "chair"),
    }


def _study_of(ctx: AppContext, operator: Actor, uid: str = "1.2.826.0.1") -> int:
    with transaction(ctx.engine) as session:
        study = repository.add_study(
            session=session, study=Study(study_instance_uid=uid, operator_id=operator.user_id)
        )
        assert study.id is not None
        return study.id


def _save(ctx: AppContext, actor: Actor, study_id: int, kind: ReadKind, read: StructuredRead):
    return review.save_read(ctx, actor, study_id, kind, read, PROTOCOLS)


@pytest.mark.parametrize(
    ("expert_changes", "category", "queued_reason"),
    [
        ({}, "concordant", None),
        ({"lv_dilated": "yes"}, "discordant_minor", "discordant_minor"),
        (
            {"tamponade": "yes", "pericardial_effusion": "yes"},
            "discordant_major",
            "discordant_major",
        ),
    ],
)
def test_discordance_status_and_queue_follow_the_reads(
    ctx: AppContext,
    people: dict[str, Actor],
    expert_changes: dict[str, str],
    category: str,
    queued_reason: str | None,
) -> None:
    study_id = _study_of(ctx, people["trainee"])
    view = _save(ctx, people["trainee"], study_id, ReadKind.TRAINEE, _read())
    assert view.status == "awaiting_overread" and view.discordance is None
    view = _save(ctx, people["expert"], study_id, ReadKind.EXPERT, _read(**expert_changes))
    assert view.status == "reviewed"
    assert view.discordance is not None and view.discordance.category.value == category
    with transaction(ctx.engine) as session:
        nomination = repository.get_nomination(session=session, study_id=study_id)
        study = repository.get_study(session=session, study_id=study_id)
    assert study is not None and study.discordance == category
    assert (nomination.reason if nomination else None) == queued_reason


def test_correcting_the_over_read_drops_the_automatic_nomination(
    ctx: AppContext, people: dict[str, Actor]
) -> None:
    study_id = _study_of(ctx, people["trainee"])
    _save(ctx, people["trainee"], study_id, ReadKind.TRAINEE, _read())
    _save(ctx, people["expert"], study_id, ReadKind.EXPERT, _read(lv_impaired="yes"))
    _save(ctx, people["expert"], study_id, ReadKind.EXPERT, _read())
    with transaction(ctx.engine) as session:
        assert repository.get_nomination(session=session, study_id=study_id) is None


def test_flags_queue_a_concordant_scan(ctx: AppContext, people: dict[str, Actor]) -> None:
    study_id = _study_of(ctx, people["trainee"])
    _save(ctx, people["trainee"], study_id, ReadKind.TRAINEE, _read())
    _save(ctx, people["expert"], study_id, ReadKind.EXPERT, _read())
    review.set_flags(
        ctx, people["expert"], study_id, interesting=False, good_spot=True, protocols=PROTOCOLS
    )
    with transaction(ctx.engine) as session:
        nomination = repository.get_nomination(session=session, study_id=study_id)
    assert nomination is not None and nomination.reason == "good_spot"
    with pytest.raises(PermissionDeniedError):
        review.set_flags(
            ctx, people["trainee"], study_id, interesting=True, good_spot=False, protocols=PROTOCOLS
        )


def test_a_trainee_cannot_over_read_or_see_another_trainees_scan(
    ctx: AppContext, people: dict[str, Actor]
) -> None:
    study_id = _study_of(ctx, people["trainee"])
    with pytest.raises(PermissionDeniedError, match="expert"):
        _save(ctx, people["trainee"], study_id, ReadKind.EXPERT, _read())
    with pytest.raises(NotFoundError):
        review.get_review(ctx, people["other"], study_id, PROTOCOLS)
    with pytest.raises(NotFoundError):
        _save(ctx, people["other"], study_id, ReadKind.TRAINEE, _read())
    assert scans.list_scans(ctx, people["other"]) == []
    assert [r.study_id for r in scans.list_scans(ctx, people["trainee"])] == [study_id]
    assert len(scans.list_scans(ctx, people["expert"])) == 1


def test_nobody_over_reads_their_own_scan(ctx: AppContext, people: dict[str, Actor]) -> None:
    study_id = _study_of(ctx, people["expert"])
    with pytest.raises(PermissionDeniedError):
        _save(ctx, people["expert"], study_id, ReadKind.EXPERT, _read())


def test_the_trainee_sees_the_over_read_only_after_committing_their_own(
    ctx: AppContext, people: dict[str, Actor]
) -> None:
    study_id = _study_of(ctx, people["trainee"])
    review.update_details(
        ctx,
        people["expert"],
        study_id,
        review.StudyDetails("fusic_heart", people["trainee"].user_id, "60-74", "female", "Shock"),
        PROTOCOLS,
    )
    _save(ctx, people["expert"], study_id, ReadKind.EXPERT, _read(lv_impaired="yes"))
    assert review.get_review(ctx, people["trainee"], study_id, PROTOCOLS).expert_read is None
    _save(ctx, people["trainee"], study_id, ReadKind.TRAINEE, _read())
    view = review.get_review(ctx, people["trainee"], study_id, PROTOCOLS)
    assert view.expert_read is not None
    assert view.discordance is not None and view.discordance.category.value == "discordant_major"


def test_invalid_reads_and_details_are_refused_and_nothing_is_stored(
    ctx: AppContext, people: dict[str, Actor]
) -> None:
    study_id = _study_of(ctx, people["trainee"])
    with pytest.raises(ValidationError, match="lv_dilated"):
        _save(ctx, people["trainee"], study_id, ReadKind.TRAINEE, _read(lv_dilated="maybe"))
    with pytest.raises(ValidationError, match="Age band"):
        review.update_details(
            ctx,
            people["trainee"],
            study_id,
            review.StudyDetails("fusic_heart", people["trainee"].user_id, "37", "", ""),
            PROTOCOLS,
        )
    with pytest.raises(PermissionDeniedError):
        review.update_details(
            ctx,
            people["trainee"],
            study_id,
            review.StudyDetails("fusic_heart", people["other"].user_id, "", "", ""),
            PROTOCOLS,
        )
    with transaction(ctx.engine) as session:
        assert repository.get_read(session=session, study_id=study_id, kind="trainee") is None
        study = repository.get_study(session=session, study_id=study_id)
        assert study is not None and study.protocol_id is None


def test_views_and_changes_are_audited(ctx: AppContext, people: dict[str, Actor]) -> None:
    study_id = _study_of(ctx, people["trainee"])
    review.get_review(ctx, people["expert"], study_id, PROTOCOLS)
    _save(ctx, people["trainee"], study_id, ReadKind.TRAINEE, _read())
    with pytest.raises(PermissionDeniedError):
        _save(ctx, people["trainee"], study_id, ReadKind.EXPERT, _read())
    with transaction(ctx.engine) as session:
        events = [
            (e.username, e.action, e.outcome) for e in repository.list_audit_events(session=session)
        ]
    assert ("expert1", "study.view", "ok") in events
    assert ("trainee1", "read.trainee", "ok") in events
    assert ("trainee1", "read.expert", "refused") in events
