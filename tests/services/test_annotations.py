"""Annotations: validation against the clip, roles, lengths in mm, audit."""

from __future__ import annotations

import pytest

from qa_meeting.domain.annotations import (
    AnnotationDraft,
    AnnotationKind,
    line_length_mm,
    validate_annotation,
)
from qa_meeting.domain.cine import UltrasoundRegion
from qa_meeting.errors import NotFoundError, PermissionDeniedError, ValidationError
from qa_meeting.services import frame_annotations
from qa_meeting.services.context import Actor, AppContext
from qa_meeting.store import repository
from qa_meeting.store.db import transaction
from qa_meeting.store.models import Clip, Study
from tests.conftest import add_actor

LINE = AnnotationDraft(AnnotationKind.LINE, 2, ((10.0, 10.0), (40.0, 50.0)))


def _clip(ctx: AppContext, operator: Actor) -> int:
    with transaction(ctx.engine) as session:
        study = repository.add_study(
            session=session, study=Study(study_instance_uid="9.1", operator_id=operator.user_id)
        )
        assert study.id is not None
        clip = repository.add_clip(
            session=session,
            clip=Clip(
                study_id=study.id,
                sop_instance_uid="9.1.1",
                sha256="b" * 64,
                size_bytes=1,
                rows=100,
                columns=120,
                number_of_frames=5,
            ),
        )
        assert clip.id is not None
        return clip.id


@pytest.mark.parametrize(
    ("draft", "message"),
    [
        (AnnotationDraft(AnnotationKind.LINE, 5, ((1, 1), (2, 2))), "Frame 6"),
        (AnnotationDraft(AnnotationKind.ARROW, 0, ((1, 1),)), "needs 2"),
        (AnnotationDraft(AnnotationKind.ELLIPSE, 0, ((1, 1), (500, 2))), "outside"),
        (AnnotationDraft(AnnotationKind.TEXT, 0, ((1, 1),), "  "), "needs some text"),
        (AnnotationDraft(AnnotationKind.LINE, 0, ((3, 3), (3, 3))), "same point"),
        (AnnotationDraft(AnnotationKind.TEXT, 0, ((1, 1),), "x" * 201), "characters"),
    ],
)
def test_invalid_annotations_name_the_problem(draft: AnnotationDraft, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        validate_annotation(draft, rows=100, columns=120, number_of_frames=5)


def test_line_length_uses_the_region_spacing() -> None:
    region = UltrasoundRegion(0, 0, 119, 99, 0.05, 0.05, 3, 3, 1, 1)
    assert line_length_mm(LINE, [region]) == pytest.approx(25.0)  # 50 px * 0.5 mm
    assert line_length_mm(LINE, []) is None
    arrow = AnnotationDraft(AnnotationKind.ARROW, 0, LINE.points)
    assert line_length_mm(arrow, [region]) is None


def test_experts_annotate_and_everyone_who_sees_the_scan_reads(ctx: AppContext) -> None:
    trainee = add_actor(ctx, "trainee1", "trainee")
    other = add_actor(ctx, "trainee2", "trainee")
    expert = add_actor(ctx, "expert1", "expert")
    chair = add_actor(ctx, "chair1", "chair")
    clip_id = _clip(ctx, trainee)
    stored = frame_annotations.add_annotation(ctx, expert, clip_id, LINE)
    assert stored.draft.points == LINE.points
    assert [a.id for a in frame_annotations.list_annotations(ctx, trainee, clip_id)] == [stored.id]
    with pytest.raises(PermissionDeniedError):
        frame_annotations.add_annotation(ctx, trainee, clip_id, LINE)
    with pytest.raises(NotFoundError):
        frame_annotations.list_annotations(ctx, other, clip_id)
    with pytest.raises(PermissionDeniedError):
        frame_annotations.delete_annotation(ctx, trainee, stored.id)
    frame_annotations.delete_annotation(ctx, chair, stored.id)
    assert frame_annotations.list_annotations(ctx, expert, clip_id) == []
    with transaction(ctx.engine) as session:
        actions = [e.action for e in repository.list_audit_events(session=session)]
    assert "annotation.add" in actions and "annotation.delete" in actions
