"""The steps of an image-bank export: gather the case, scan its text, clean its loops, build it.

``services.export`` runs them with the role checks, transactions and audit. Files live under
``<data_dir>/exports/<export id>/``: ``staging/clip-<n>.dcm`` (the cleaned loops),
``review/clip-<n>.png`` (their contact sheets, for the person who confirms them) and, while it
is written, ``package/``, then moved to ``<data_dir>/bank/<package id>``. The export row's
``report`` holds redacted text warnings and per-loop states, never an identifier.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlmodel import Session

from qa_meeting.domain.bank import (
    CLEANED,
    NEEDS_MASK,
    case_title,
    expert_findings,
    header_names,
    question_records,
    redacted_excerpts,
    unsearchable,
)
from qa_meeting.domain.deid import NeedsMaskError, Rect
from qa_meeting.domain.identifiers import find_identifiers, name_variants
from qa_meeting.domain.package import (
    ClinicalContext,
    Level,
    TeachingCase,
    TeachingPointRecord,
    clip_name,
)
from qa_meeting.domain.protocols import Protocol
from qa_meeting.errors import (
    ConflictError,
    NotFoundError,
    PermissionDeniedError,
    QaMeetingError,
    ValidationError,
)
from qa_meeting.services.context import Actor, AppContext
from qa_meeting.services.deidentify import deidentify_file, identifying_strings
from qa_meeting.services.package import ClipSource, WrittenPackage, bank_row, write_package
from qa_meeting.services.package_verify import expand_forbidden, sha256_file
from qa_meeting.services.scans import is_staff
from qa_meeting.store import repository
from qa_meeting.store.db import transaction
from qa_meeting.store.models import (
    Annotation,
    AuditEvent,
    Clip,
    Export,
    ExportStatus,
    Read,
    Study,
    TeachingPoint,
)


@dataclass(frozen=True)
class CaseMaterial:
    """Everything of one approved case that may go into its package."""

    study: Study
    meeting_id: int  # the meeting that approved it
    consensus: str | None
    trainee: Read | None
    expert: Read | None
    points: tuple[TeachingPoint, ...]
    clips: tuple[Clip, ...]  # DICOM loops, numbered in this order
    annotations: tuple[Annotation, ...]
    staff_names: tuple[str, ...]
    videos_left_out: int


def require_staff(actor: Actor, what: str) -> None:
    if not is_staff(actor):
        raise PermissionDeniedError(f"Only experts and chairs can {what}.")


def audit(
    session: Session, actor: Actor, action: str, target: str, outcome: str = "ok", detail: str = ""
) -> None:
    """An audit event; the command line's actor has no user row, so it is named only."""
    event = AuditEvent(user_id=actor.user_id or None, username=actor.username, action=action)
    event.target, event.outcome, event.detail = target, outcome, detail
    repository.add_audit_event(session=session, event=event)


def record(
    ctx: AppContext, actor: Actor, action: str, target: str, outcome: str, detail: str
) -> None:
    """An audit event in a transaction of its own, so that it outlives a refusal or a failure."""
    with transaction(ctx.engine) as session:
        audit(session, actor, action, target, outcome, detail)


def approved_material(
    session: Session, protocols: Mapping[str, Protocol], study_id: int, meeting_id: int | None
) -> tuple[CaseMaterial, Protocol]:
    """The case as a meeting approved it for the bank; refusals say what is missing."""
    study = repository.get_study(session=session, study_id=study_id)
    if study is None:
        raise NotFoundError(f"Scan {study_id} was not found.")
    items = repository.bank_approved_items(
        session=session, study_id=study_id, meeting_id=meeting_id
    )
    if not items:
        raise ValidationError(
            f"Scan {study_id} was not approved for the image bank in "
            + (f"meeting {meeting_id}." if meeting_id else "a meeting."),
            "Only a case a meeting approved for the bank can be exported: the chair approves it "
            "when recording the consensus.",
        )
    protocol = protocols.get(study.protocol_id or "")
    if protocol is None:
        raise ValidationError(
            f"Scan {study_id} has no loaded protocol ({study.protocol_id or 'none set'}).",
            "Set the scan's protocol on the Review page, then export again.",
        )
    expert = repository.get_read(session=session, study_id=study_id, kind="expert")
    if expert is None:
        raise ValidationError(
            f"Scan {study_id} has no expert over-read: a teaching case needs one.",
            "An expert enters the over-read on the Review page, then export again.",
        )
    clips = repository.list_clips(session=session, study_id=study_id)
    loops = tuple(sorted((c for c in clips if c.container == "dicom"), key=lambda c: c.id or 0))
    if not loops:
        raise ValidationError(f"Scan {study_id} has no DICOM loop to export.")
    annotations = [repository.list_annotations(session=session, clip_id=c.id or 0) for c in loops]
    material = CaseMaterial(
        study=study,
        meeting_id=items[0].meeting_id,
        consensus=items[0].consensus_category,
        trainee=repository.get_read(session=session, study_id=study_id, kind="trainee"),
        expert=expert,
        points=tuple(repository.list_teaching_points(session=session, study_id=study_id)),
        clips=loops,
        annotations=tuple(a for group in annotations for a in group),
        staff_names=tuple(u.display_name for u in repository.list_users(session=session)),
        videos_left_out=len(clips) - len(loops),
    )
    return material, protocol


def scan_texts(material: CaseMaterial, originals: Iterable[str]) -> list[dict[str, str]]:
    """Identifier warnings (field, kind, redacted excerpt) in every free text that would leave:
    staff names, the loops' patient names and IDs, NHS numbers, dates, phone numbers..."""
    texts = [("indication", material.study.indication)]
    texts += [
        (f"{r.kind} reasoning", r.reasoning) for r in (material.trainee, material.expert) if r
    ]
    for n, point in enumerate(material.points, start=1):
        texts += [
            (f"teaching point {n}", point.text),
            (f"teaching point {n} tags", " ".join(point.tags)),
        ]
    texts += [(f"annotation {n}", a.label) for n, a in enumerate(material.annotations, start=1)]
    names = [*material.staff_names, *header_names(originals)]
    found = []
    for field, text in texts:
        hits = find_identifiers(text, names)
        for hit, excerpt in zip(hits, redacted_excerpts(text, hits), strict=True):
            found.append({"field": field, "kind": hit.kind.value, "excerpt": excerpt})
    return found


def original_identifiers(ctx: AppContext, clips: Iterable[Clip]) -> set[str]:
    """Every DICOM loop's original identifiers (kept in memory only)."""
    loops = [c for c in clips if c.container == "dicom"]
    return {v for c in loops for v in identifying_strings(ctx.media.path_for(c.sha256))}


def stage(
    ctx: AppContext, export_id: int, material: CaseMaterial, masks: Mapping[int, Any]
) -> tuple[list[dict[str, str]], list[dict[str, Any]]]:
    """Scan the text, and clean every loop (with its mask, if one was drawn) into staging."""
    for folder in ("package", "staging", "review"):  # what an earlier run left
        shutil.rmtree(export_dir(ctx, export_id) / folder, ignore_errors=True)
    hits = scan_texts(material, original_identifiers(ctx, material.clips))
    clips = [
        clean_clip(ctx, export_id, n, clip, mask=masks.get(clip.id or 0))
        for n, clip in enumerate(material.clips, start=1)
    ]
    return hits, clips


def export_dir(ctx: AppContext, export_id: int) -> Path:
    return ctx.settings.data_dir / "exports" / str(export_id)


def staged_paths(folder: Path, number: int) -> tuple[Path, Path]:
    """The cleaned loop and its contact sheet."""
    name = clip_name(number)
    return folder / "staging" / f"{name}.dcm", folder / "review" / f"{name}.png"


def clean_clip(
    ctx: AppContext, export_id: int, number: int, clip: Clip, *, mask: Sequence[int] | None
) -> dict[str, Any]:
    """De-identify one loop into staging/, its contact sheet into review/; its state."""
    staged, sheet = staged_paths(export_dir(ctx, export_id), number)
    staged.unlink(missing_ok=True)
    sheet.unlink(missing_ok=True)
    keep = (mask[0], mask[1], mask[2], mask[3]) if mask else None
    state: dict[str, Any] = {"clip_id": clip.id, "number": number, "view": clip.view}
    state |= {"rows": clip.rows, "columns": clip.columns, "frames": clip.number_of_frames}
    state["mask"] = list(keep) if keep else None
    try:
        report = deidentify_file(
            ctx,
            ctx.media.path_for(clip.sha256),
            staged,
            pseudonym=f"TEACHING^CASE {export_id}",
            mask=[keep] if keep else None,
            contact_sheet=sheet,
        )
    except NeedsMaskError as exc:
        return state | {"status": NEEDS_MASK, "method": "", "reason": exc.message}
    method, distinct = report.pixel_method.value, report.distinct_frames
    return (
        state
        | {"status": CLEANED, "method": method, "distinct_frames": distinct}
        | {"sha256": sha256_file(staged)}
    )


def checked_mask(rect: Rect, clip: Mapping[str, Any]) -> tuple[int, int, int, int]:
    rows, columns = int(clip["rows"]), int(clip["columns"])
    if not rect.fits(rows, columns):
        raise ValidationError(
            f"The rectangle {rect} reaches outside this {columns} x {rows} loop.",
            f"Draw it within 0,0,{columns - 1},{rows - 1}.",
        )
    return (rect.x0, rect.y0, rect.x1, rect.y1)


def teaching_case(material: CaseMaterial, protocol: Protocol, level: Level) -> TeachingCase:
    """The case's teaching content as the package carries it."""
    study, expert = material.study, material.expert
    answers = expert.answers if expert else {}
    findings = expert_findings(protocol, answers)
    obtained = set(expert.views_obtained if expert else ()) | {c.view for c in material.clips}
    clip_of = {c.id: clip_name(n) for n, c in enumerate(material.clips, start=1)}
    annotated = {a.id: clip_of.get(a.clip_id) for a in material.annotations}
    points = tuple(
        TeachingPointRecord(
            p.text,
            p.category,
            tuple(p.tags),
            p.frame_index,
            annotated.get(p.annotation_id) if p.annotation_id else clip_name(1),
        )
        for p in material.points
    )
    trainee = material.trainee.answers if material.trainee else {}
    return TeachingCase(
        protocol_id=protocol.id,
        protocol_name=protocol.name,
        title=case_title(protocol.name, findings),
        level=level,
        views=tuple(v.id for v in protocol.views if v.id in obtained),
        questions=question_records(protocol, trainee, answers),
        expert_reasoning=expert.reasoning if expert else "",
        teaching_points=points,
        tags=tuple(sorted({t for p in material.points for t in p.tags})),
        findings=findings,
        image_quality=expert.image_quality if expert else None,
        discordance=material.consensus or study.discordance,
        diagnostic_confidence=(expert.confidence or None) if expert else None,
        clinical_context=ClinicalContext(study.age_band, study.sex, study.indication),
    )


def build_package(
    ctx: AppContext,
    export_id: int,
    case: TeachingCase,
    material: CaseMaterial,
    report: Mapping[str, Any],
    originals: Iterable[str],
) -> tuple[WrittenPackage, int]:
    """Write and verify the package in ``package/`` from exactly the loops confirmed; the
    package and how many single name parts the verifier could not look for.

    Forbidden: the originals' identifiers (names in parts and orders, dates in every format)
    and the staff's whole names; a name part that is a word the package holds anyway (its
    format's, the machine maker's) would match every package, so is left to the text scan.
    """
    folder = export_dir(ctx, export_id)
    staff = {v for n in material.staff_names for v in name_variants(n) if re.search(r"[\s,]", v)}
    expanded = {f.value for f in expand_forbidden([*originals, *staff, *material.staff_names])}
    common = unsearchable(expanded, [material.study.manufacturer, material.study.model_name])
    checksums = {staged_paths(folder, c["number"])[0]: c.get("sha256") for c in report["clips"]}

    def confirmed_copy(src: Path, dst: Path) -> None:
        if not src.is_file() or sha256_file(src) != checksums.get(src):
            raise QaMeetingError(
                f"The cleaned loop {src.name} changed after it was checked.",
                "Start the export again and look at the contact sheets once more.",
            )
        shutil.copyfile(src, dst)

    sources = []
    for n, clip in enumerate(material.clips, start=1):
        frames: set[int | None] = {
            a.frame_index for a in material.annotations if a.clip_id == clip.id
        }
        if n == 1:  # a teaching point's frame without an annotation is the first loop's
            frames |= {p.frame_index for p in material.points if p.annotation_id is None}
        keys = tuple(sorted(f for f in frames if f is not None))
        sources.append(ClipSource(staged_paths(folder, n)[0], clip.view, keys))
    target = folder / "package"
    shutil.rmtree(target, ignore_errors=True)  # left by a publication that failed
    written = write_package(
        target, case, sources, deidentify=confirmed_copy, forbidden=sorted(expanded - common)
    )
    return written, len(common)


def publish(
    ctx: AppContext, actor: Actor, export_id: int, written: WrittenPackage, report: dict[str, Any]
) -> Export:
    """Move the verified package into ``<data_dir>/bank/<package id>``, add it to the bank and
    mark the export published, all in one transaction; on any failure nothing stays."""
    final = ctx.settings.data_dir / "bank" / written.manifest.package_id
    try:
        with transaction(ctx.engine) as session:
            row = repository.get_export(session=session, export_id=export_id)
            if row is None or row.status != ExportStatus.AWAITING_CONFIRMATION or final.exists():
                raise ConflictError(f"Export {export_id} changed while it was being written.")
            final.parent.mkdir(parents=True, exist_ok=True)
            written.path.rename(final)
            repository.add_bank_case(
                session=session, case=bank_row(written.manifest, "local", final)
            )
            row.status, row.package_id = ExportStatus.PUBLISHED.value, written.manifest.package_id
            row.package_path, row.published_at = str(final), datetime.now(UTC)
            row.confirmed_by, row.report = actor.user_id or None, report
            repository.save_export(session=session, export=row)
            audit(session, actor, "export.publish", f"export:{export_id}", detail=row.package_id)
    except BaseException as exc:
        if final.exists() and not written.path.exists():  # moved, then the commit failed
            shutil.rmtree(final, ignore_errors=True)
        shutil.rmtree(written.path, ignore_errors=True)
        record(ctx, actor, "export.publish", f"export:{export_id}", "failed", type(exc).__name__)
        raise
    return row
