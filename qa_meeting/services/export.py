"""Export a case approved in a meeting to the image bank, with the human check before it leaves.

``start_export`` (chair) scans every piece of free text that would leave for identifiers and
de-identifies every loop into a staging folder with a contact sheet per loop. The export is
BLOCKED while text warnings stand (a chair may override them, with a reason) or a loop needs a
mask (an expert draws one: ``set_mask``), else AWAITING_CONFIRMATION. ``confirm_and_publish``
is the human check: someone who looked at every contact sheet confirms; the package is written
from exactly those cleaned loops, verified against the originals' identifiers and added to the
bank in one step. ``push_export`` sends it on to a DICOMweb image bank. Every step is audited.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import date, datetime
from pathlib import Path
from typing import Any

from sqlmodel import Session

from qa_meeting.domain.bank import (
    CLEANED,
    case_title,
    expert_findings,
    export_blocked,
    export_message,
    header_names,
)
from qa_meeting.domain.deid import Rect
from qa_meeting.domain.identifiers import find_identifiers
from qa_meeting.domain.package import KOS_PATH, Level
from qa_meeting.domain.protocols import Protocol
from qa_meeting.errors import ConflictError, NotFoundError, QaMeetingError, ValidationError
from qa_meeting.services import export_steps as steps
from qa_meeting.services.context import Actor, AppContext
from qa_meeting.services.dicomweb import PushReport, PushStatus, push_files
from qa_meeting.services.export_steps import audit, record, require_staff
from qa_meeting.services.meeting_queue import require_chair
from qa_meeting.services.package import PackageRejectedError
from qa_meeting.services.protocols import load_protocols
from qa_meeting.store import repository
from qa_meeting.store.db import transaction
from qa_meeting.store.models import Export, ExportStatus, Study


@dataclass(frozen=True)
class TextHit:
    """An identifier-like span in text that would leave; ``excerpt`` is already redacted."""

    field: str  # "indication", "expert reasoning", "teaching point 2", "annotation 1"...
    kind: str  # an ``identifiers.IdentifierKind`` value
    excerpt: str


@dataclass(frozen=True)
class ClipState:
    """One loop of the export: cleaned (its contact sheet to check) or waiting for a mask."""

    clip_id: int
    status: str  # "cleaned" | "needs_mask"
    method: str  # "regions", "rule", "mask"; "" while it needs a mask
    contact_sheet: Path | None
    mask: tuple[int, int, int, int] | None  # the keep-rectangle X0, Y0, X1, Y1 (inclusive)
    number: int = 0  # clip-<number> in the package
    view: str | None = None
    rows: int = 0
    columns: int = 0
    frames: int = 0
    distinct_frames: int = 0  # thumbnails on the contact sheet
    reason: str = ""  # why it needs a mask


@dataclass(frozen=True)
class ExportView:
    id: int
    study_id: int
    status: ExportStatus
    text_hits: tuple[TextHit, ...]
    text_override: bool
    clips: tuple[ClipState, ...]
    package_path: Path | None
    package_id: str
    published_at: datetime | None
    message: str
    meeting_id: int | None = None
    override_reason: str = ""
    level: str = Level.INTERMEDIATE.value
    review_folder: Path | None = None  # the contact sheets


@dataclass(frozen=True)
class ApprovedCase:
    study_id: int
    meeting_id: int
    held_on: date | None
    protocol_id: str | None
    protocol_name: str
    title: str
    consensus: str | None
    export_id: int | None
    export_status: ExportStatus | None


def approved_cases(
    ctx: AppContext, actor: Actor, *, meeting_id: int | None = None
) -> list[ApprovedCase]:
    """Scans approved for the bank in a meeting (or in ``meeting_id``), latest meeting first,
    each with its latest export."""
    require_staff(actor, "see the cases approved for the image bank")
    protocols = load_protocols(ctx.settings.protocols_dir)
    rows: dict[int, ApprovedCase] = {}
    with transaction(ctx.engine) as session:
        for item in repository.bank_approved_items(session=session, meeting_id=meeting_id):
            study = repository.get_study(session=session, study_id=item.study_id)
            if item.study_id in rows or study is None:
                continue
            meeting = repository.get_meeting(session=session, meeting_id=item.meeting_id)
            exports = repository.list_export_rows(session=session, study_id=item.study_id)
            protocol = protocols.get(study.protocol_id or "")
            rows[item.study_id] = ApprovedCase(
                study_id=item.study_id,
                meeting_id=item.meeting_id,
                held_on=meeting.held_on if meeting else None,
                protocol_id=study.protocol_id,
                protocol_name=protocol.name if protocol else study.protocol_id or "no protocol",
                title=_title(session, study, protocol),
                consensus=item.consensus_category,
                export_id=exports[0].id if exports else None,
                export_status=ExportStatus(exports[0].status) if exports else None,
            )
    return list(rows.values())


def start_export(
    ctx: AppContext,
    actor: Actor,
    study_id: int,
    *,
    meeting_id: int | None = None,
    level: Level = Level.INTERMEDIATE,
) -> ExportView:
    """Scan the case's text and clean its loops into staging; again on the same case to redo
    it (masks drawn are kept; an override stays only if the warnings are the same)."""
    _as_chair(ctx, actor, "export a case to the image bank", f"study:{study_id}")
    protocols = load_protocols(ctx.settings.protocols_dir)
    with transaction(ctx.engine) as session:
        material, _ = steps.approved_material(session, protocols, study_id, meeting_id)
        exports = repository.list_export_rows(session=session, study_id=study_id)
        if published := [e for e in exports if e.status == ExportStatus.PUBLISHED]:
            raise ConflictError(
                f"Scan {study_id} is in the image bank already (package {published[0].package_id})."
            )
        row = exports[0] if exports else Export(study_id=study_id)
        previous = dict(row.report)
        row.meeting_id, row.status = material.meeting_id, ExportStatus.BLOCKED.value
        row.requested_by, row.report = actor.user_id or None, {}
        export_id = _id(repository.save_export(session=session, export=row))
        audit(session, actor, "export.start", f"study:{study_id}", detail=f"export:{export_id}")
    masks = {c["clip_id"]: c.get("mask") for c in previous.get("clips", [])}
    try:
        hits, clips = steps.stage(ctx, export_id, material, masks)
    except QaMeetingError as exc:
        _fail(ctx, actor, export_id, exc.message)
        raise
    same = previous.get("text_hits") == hits
    report = {
        "level": level.value,
        "text_hits": hits,
        "override_reason": previous.get("override_reason", "") if same else "",
        "clips": clips,
        "videos_left_out": material.videos_left_out,
    }
    with transaction(ctx.engine) as session:
        row = _row(session, export_id)
        row.report, row.status = report, _status(report).value
        row.text_override_by = row.text_override_by if report["override_reason"] else None
        repository.save_export(session=session, export=row)
        kinds = ",".join(sorted({h["kind"] for h in hits}))
        detail = f"text_hits={len(hits)} kinds={kinds} status={row.status}"
        audit(session, actor, "export.scan", f"export:{export_id}", detail=detail)
        for c in clips:
            detail = f"clip:{c['clip_id']} {c['status']} {c['method']}".strip()
            audit(session, actor, "export.clean", f"export:{export_id}", detail=detail)
        return _view(ctx, row)


def export_view(ctx: AppContext, actor: Actor, export_id: int) -> ExportView:
    require_staff(actor, "see image-bank exports")
    with transaction(ctx.engine) as session:
        return _view(ctx, _row(session, export_id))


def list_exports(ctx: AppContext, actor: Actor) -> list[ExportView]:
    """Every export, newest first."""
    require_staff(actor, "see image-bank exports")
    with transaction(ctx.engine) as session:
        return [_view(ctx, row) for row in repository.list_export_rows(session=session)]


def set_mask(ctx: AppContext, actor: Actor, export_id: int, clip_id: int, rect: Rect) -> ExportView:
    """Keep only ``rect`` of a loop (the expert's keep-rectangle) and clean it again."""
    require_staff(actor, "draw the keep-rectangle of a loop")
    with transaction(ctx.engine) as session:
        report = dict(_open_row(session, export_id).report)
        states = [c for c in report["clips"] if c["clip_id"] == clip_id]
        clip = repository.get_clip(session=session, clip_id=clip_id)
        if not states or clip is None:
            raise NotFoundError(f"Loop {clip_id} is not part of export {export_id}.")
    mask = steps.checked_mask(rect, states[0])
    state = steps.clean_clip(ctx, export_id, states[0]["number"], clip, mask=mask)
    with transaction(ctx.engine) as session:
        row = _open_row(session, export_id)
        clips = [state if c["clip_id"] == clip_id else c for c in row.report["clips"]]
        row.report = {**row.report, "clips": clips}
        row.status = _status(row.report).value
        repository.save_export(session=session, export=row)
        detail = f"clip:{clip_id} keep:{rect} {state['status']}"
        audit(session, actor, "export.mask", f"export:{export_id}", detail=detail)
        return _view(ctx, row)


def override_text(ctx: AppContext, actor: Actor, export_id: int, *, reason: str) -> ExportView:
    """The chair judges the text warnings harmless; they stay listed, with the reason."""
    _as_chair(ctx, actor, "override the identifier warnings", f"export:{export_id}")
    reason = " ".join(reason.split())
    if not reason:
        raise ValidationError("Give the reason for overriding the warnings.")
    with transaction(ctx.engine) as session:
        clips = repository.list_clips(session=session, study_id=_row(session, export_id).study_id)
    if find_identifiers(reason, header_names(steps.original_identifiers(ctx, clips))):
        raise ValidationError(
            "The reason itself looks like it holds an identifier.",
            "Say why the warnings are harmless without repeating the flagged text.",
        )
    with transaction(ctx.engine) as session:
        row = _open_row(session, export_id)
        if not row.report.get("text_hits"):
            raise ValidationError(f"Export {export_id} has no text warning to override.")
        row.report = {**row.report, "override_reason": reason}
        row.text_override_by, row.status = actor.user_id or None, _status(row.report).value
        repository.save_export(session=session, export=row)
        audit(session, actor, "export.override", f"export:{export_id}", detail=f"reason: {reason}")
        return _view(ctx, row)


def confirm_and_publish(
    ctx: AppContext, actor: Actor, export_id: int, *, looked_at_every_frame: bool
) -> ExportView:
    """The actor confirms they looked at every contact sheet: write, verify, add to the bank.

    ``looked_at_every_frame`` is the human check of PRODUCT.md section 6: without it nothing
    leaves, whoever calls (the page's checkbox, the CLI's --confirm-reviewed).
    """
    require_staff(actor, "confirm and publish an export")
    if not looked_at_every_frame:
        raise ValidationError(
            "Nothing is published before a person has looked at every cleaned frame.",
            "Look at each loop's contact sheet, then confirm that no identifier is visible.",
        )
    protocols = load_protocols(ctx.settings.protocols_dir)
    with transaction(ctx.engine) as session:
        row = _row(session, export_id)
        if row.status != ExportStatus.AWAITING_CONFIRMATION:
            raise ConflictError(
                f"Export {export_id} is {row.status.replace('_', ' ')}: only an export awaiting "
                "confirmation can be published.",
                "Clear what blocks it, look at every contact sheet, then confirm.",
            )
        material, protocol = steps.approved_material(
            session, protocols, row.study_id, row.meeting_id
        )
        report = dict(row.report)
        audit(session, actor, "export.confirm", f"export:{export_id}")
    originals = steps.original_identifiers(ctx, material.clips)
    new_text = any(h not in report["text_hits"] for h in steps.scan_texts(material, originals))
    new_loops = [c.id for c in material.clips] != [c["clip_id"] for c in report["clips"]]
    if new_text or new_loops:
        what = "text" if new_text else "loops"
        _fail(ctx, actor, export_id, f"The case's {what} changed after it was checked.", "blocked")
        raise ConflictError(
            f"The case's {what} changed after the export was checked.",
            "Start the export again so that the change is checked.",
        )
    case = steps.teaching_case(material, protocol, Level(report["level"]))
    try:
        written, unsearched = steps.build_package(ctx, export_id, case, material, report, originals)
    except PackageRejectedError as exc:
        _fail(ctx, actor, export_id, exc.message)
        raise
    except BaseException as exc:
        record(ctx, actor, "export.publish", f"export:{export_id}", "failed", type(exc).__name__)
        raise
    row = steps.publish(ctx, actor, export_id, written, {**report, "unsearched": unsearched})
    return _view(ctx, row)


def push_export(ctx: AppContext, actor: Actor, export_id: int) -> PushReport:
    """Send the published package's DICOM loops and its TCE manifest to the DICOMweb bank."""
    _as_chair(ctx, actor, "send a case to the DICOMweb image bank", f"export:{export_id}")
    with transaction(ctx.engine) as session:
        row = _row(session, export_id)
    if row.status != ExportStatus.PUBLISHED:
        raise ConflictError(f"Export {export_id} is not published yet.", "Publish it first.")
    package = Path(row.package_path)
    try:
        pushed = push_files(ctx, [*sorted((package / "dicom").glob("*.dcm")), package / KOS_PATH])
    except QaMeetingError as exc:
        record(ctx, actor, "export.push", f"export:{export_id}", "refused", type(exc).__name__)
        raise
    counts = " ".join(f"{s.value}={pushed.count(s)}" for s in PushStatus)
    record(ctx, actor, "export.push", f"export:{export_id}", "ok", counts)
    return pushed


def _as_chair(ctx: AppContext, actor: Actor, what: str, target: str) -> None:
    try:
        require_chair(actor, what)
    except QaMeetingError:
        record(ctx, actor, "export.refused", target, "refused", what)
        raise


def _fail(
    ctx: AppContext, actor: Actor, export_id: int, message: str, status: str = "failed"
) -> None:
    """Stop the export with ``message`` (shown until it is started again)."""
    with transaction(ctx.engine) as session:
        row = _row(session, export_id)
        row.status, row.report = status, {**row.report, "message": message}
        repository.save_export(session=session, export=row)
        audit(session, actor, "export.stopped", f"export:{export_id}", "failed", status)


def _id(row: Export) -> int:
    assert row.id is not None
    return row.id


def _row(session: Session, export_id: int) -> Export:
    row = repository.get_export(session=session, export_id=export_id)
    if row is None:
        raise NotFoundError(f"Export {export_id} was not found.")
    return row


def _open_row(session: Session, export_id: int) -> Export:
    """An export that may still change: prepared, neither published nor failed."""
    row = _row(session, export_id)
    if row.status in (ExportStatus.PUBLISHED, ExportStatus.FAILED) or "clips" not in row.report:
        raise ConflictError(
            f"Export {export_id} is {row.status.replace('_', ' ')}.",
            "Start the export again to change it.",
        )
    if "message" in row.report:
        raise ConflictError(row.report["message"], "Start the export again.")
    return row


def _title(session: Session, study: Study, protocol: Protocol | None) -> str:
    expert = repository.get_read(session=session, study_id=study.id or 0, kind="expert")
    findings = expert_findings(protocol, expert.answers) if protocol and expert else ()
    return f"{case_title(protocol.name if protocol else 'Scan', findings)} (scan {study.id})"


def _status(report: dict[str, Any]) -> ExportStatus:
    if export_blocked(report):
        return ExportStatus.BLOCKED
    return ExportStatus.AWAITING_CONFIRMATION


def _clip_state(folder: Path, data: dict[str, Any]) -> ClipState:
    names = {f.name for f in fields(ClipState)} - {"contact_sheet", "mask"}
    sheet = steps.staged_paths(folder, data["number"])[1] if data["status"] == CLEANED else None
    mask = (m[0], m[1], m[2], m[3]) if (m := data.get("mask")) else None
    return ClipState(**{k: data[k] for k in names if k in data}, contact_sheet=sheet, mask=mask)


def _view(ctx: AppContext, row: Export) -> ExportView:
    report, status, folder = row.report, ExportStatus(row.status), steps.export_dir(ctx, _id(row))
    published = status is ExportStatus.PUBLISHED
    return ExportView(
        id=_id(row),
        study_id=row.study_id,
        status=status,
        text_hits=tuple(TextHit(**h) for h in report.get("text_hits", [])),
        text_override=bool(report.get("override_reason")),
        clips=tuple(_clip_state(folder, c) for c in report.get("clips", [])),
        package_path=Path(row.package_path) if row.package_path else None,
        package_id=row.package_id,
        published_at=row.published_at,
        message=export_message(report, row.package_id if published else ""),
        meeting_id=row.meeting_id,
        override_reason=str(report.get("override_reason", "")),
        level=str(report.get("level", Level.INTERMEDIATE.value)),
        review_folder=folder / "review",
    )
