"""Annotations on clip frames: experts draw, everyone who may see the scan reads them."""

from __future__ import annotations

from dataclasses import dataclass

from qa_meeting.domain.annotations import AnnotationDraft, AnnotationKind, validate_annotation
from qa_meeting.errors import NotFoundError, PermissionDeniedError
from qa_meeting.services import audit
from qa_meeting.services.context import Actor, AppContext
from qa_meeting.services.scans import is_staff, visible_clip
from qa_meeting.store import repository
from qa_meeting.store.db import transaction
from qa_meeting.store.models import Annotation, Role


@dataclass(frozen=True)
class StoredAnnotation:
    id: int
    clip_id: int
    draft: AnnotationDraft
    author_id: int | None


def _stored(row: Annotation) -> StoredAnnotation:
    assert row.id is not None
    draft = AnnotationDraft(
        kind=AnnotationKind(row.kind),
        frame_index=row.frame_index,
        points=tuple((float(x), float(y)) for x, y in row.points),
        label=row.label,
    )
    return StoredAnnotation(row.id, row.clip_id, draft, row.author_id)


def list_annotations(ctx: AppContext, actor: Actor, clip_id: int) -> list[StoredAnnotation]:
    with transaction(ctx.engine) as session:
        visible_clip(session, actor, clip_id)
        return [_stored(a) for a in repository.list_annotations(session=session, clip_id=clip_id)]


def add_annotation(
    ctx: AppContext, actor: Actor, clip_id: int, draft: AnnotationDraft
) -> StoredAnnotation:
    """Store an expert's annotation after checking it fits the clip."""
    if not is_staff(actor):
        raise PermissionDeniedError("Only experts, chairs and admins annotate frames.")
    with transaction(ctx.engine) as session:
        clip = visible_clip(session, actor, clip_id)
        checked = validate_annotation(
            draft, rows=clip.rows, columns=clip.columns, number_of_frames=clip.number_of_frames
        )
        row = repository.add_annotation(
            session=session,
            annotation=Annotation(
                clip_id=clip_id,
                frame_index=checked.frame_index,
                kind=checked.kind.value,
                points=[[x, y] for x, y in checked.points],
                label=checked.label,
                author_id=actor.user_id,
            ),
        )
        audit.record(session, actor, "annotation.add", target=f"clip:{clip_id}")
        return _stored(row)


def delete_annotation(ctx: AppContext, actor: Actor, annotation_id: int) -> None:
    """Remove an annotation: its author, a chair or an admin may."""
    with transaction(ctx.engine) as session:
        row = repository.get_annotation(session=session, annotation_id=annotation_id)
        if row is None:
            raise NotFoundError(f"Annotation {annotation_id} was not found.")
        visible_clip(session, actor, row.clip_id)
        if row.author_id != actor.user_id and actor.role not in (Role.CHAIR, Role.ADMIN):
            raise PermissionDeniedError("Only the author, a chair or an admin can remove it.")
        repository.delete_annotation(session=session, annotation=row)
        audit.record(session, actor, "annotation.delete", target=f"clip:{row.clip_id}")
