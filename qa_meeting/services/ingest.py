"""Ingest: DICOM files, folders, zip archives and browser uploads become stored scans.

Per file: vet the header (``imaging.dicom_io``), hash the bytes, then one of
- the same instance (SOP Instance UID) with the same bytes is already stored: ``already_stored``;
- the same instance with different bytes is stored: ``conflict`` (the stored copy is kept);
- otherwise the original goes into the media store and the Study (found or created by its
  Study Instance UID) and Clip rows are written in one transaction: ``stored``.
A refused file leaves no row and no file, only an audit event. A bad file never raises; only
internal failures (database, disk) do, after removing any original this call had just written.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import zipfile
import zlib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import BinaryIO

from sqlalchemy.exc import IntegrityError

from qa_meeting.domain.scans import (
    VIDEO_SUFFIXES,
    DicomHeader,
    IngestResult,
    IngestStatus,
    RejectionCode,
    video_clip_header,
)
from qa_meeting.errors import ConflictError, RejectedFileError
from qa_meeting.imaging.dicom_io import DicomRejectedError, is_probably_dicom, read_header
from qa_meeting.imaging.video import VideoError, probe_video
from qa_meeting.services import audit
from qa_meeting.services.archives import (
    ARCHIVE_SIZE_FACTOR,
    ArchiveRefusedError,
    extract_entry,
    is_hidden,
    vet_archive,
)
from qa_meeting.services.context import Actor, AppContext
from qa_meeting.store import repository
from qa_meeting.store.db import transaction
from qa_meeting.store.media import CHUNK_SIZE, sha256_file
from qa_meeting.store.models import Clip, Role, Study, StudyStatus

ACTION = "ingest"


def ingest_paths(
    ctx: AppContext, paths: Sequence[Path], *, actor: Actor | None, source: str = "folder"
) -> list[IngestResult]:
    """Ingest files, folders (recursively, in name order) and .zip archives; one result each."""
    results: list[IngestResult] = []
    for given in paths:
        files = _walk(given) if given.is_dir() else iter([given])
        for path in files:
            if _is_archive(path, path.name):
                results.extend(_ingest_archive(ctx, path, str(path), actor=actor, source=source))
            else:
                results.append(_ingest_file(ctx, path, str(path), path.name, actor, source))
    return results


def ingest_upload(
    ctx: AppContext, name: str, data: bytes | BinaryIO, *, actor: Actor | None
) -> list[IngestResult]:
    """Ingest one browser upload: a DICOM file or a zip archive, reported under its name."""
    label = Path(name.replace("\\", "/")).name or "upload"
    with tempfile.TemporaryDirectory(prefix="qa-meeting-upload-") as folder:
        path = Path(folder) / "upload"
        with path.open("wb") as target:
            if isinstance(data, bytes):
                target.write(data)
            else:
                if data.seekable():
                    data.seek(0)  # the whole upload, even if a widget has read it already
                while chunk := data.read(CHUNK_SIZE):
                    target.write(chunk)
        if _is_archive(path, label):
            return _ingest_archive(ctx, path, label, actor=actor, source="upload")
        return [_ingest_file(ctx, path, label, label, actor, "upload")]


def _walk(folder: Path) -> Iterator[Path]:
    """Files under ``folder`` in name order, skipping hidden ones and symlinked folders."""
    try:
        with os.scandir(folder) as scan:
            entries = sorted(scan, key=lambda entry: entry.name)
    except OSError:
        yield folder  # reported as a file that cannot be opened
        return
    for entry in entries:
        if is_hidden(entry.name):
            continue
        if entry.is_dir(follow_symlinks=False):
            yield from _walk(Path(entry.path))
        elif entry.is_file():
            yield Path(entry.path)


def _is_archive(path: Path, name: str) -> bool:
    if name.lower().endswith(".zip"):
        return True
    return not is_probably_dicom(path) and zipfile.is_zipfile(path)


def _ingest_file(
    ctx: AppContext, path: Path, label: str, name: str, actor: Actor | None, source: str
) -> IngestResult:
    """Ingest one file; ``label`` is how the user knows it, ``name`` what the Clip row keeps."""
    settings = ctx.settings
    try:
        if _is_video(path, name):
            sha, size = sha256_file(path), path.stat().st_size
            header = _video_header(path, name, sha, settings.max_frames)
        else:
            header = read_header(
                path,
                max_frames=settings.max_frames,
                max_decoded_bytes=settings.max_decoded_mb * 2**20,
            )
            sha, size = sha256_file(path), path.stat().st_size
    except DicomRejectedError as refusal:
        return _refused(ctx, actor, label, str(refusal), refusal.code)
    except VideoError as refusal:
        return _refused(ctx, actor, label, str(refusal), RejectionCode.UNREADABLE_VIDEO)
    except OSError:
        return _refused(
            ctx, actor, label, "This file could not be read.", RejectionCode.CANNOT_OPEN
        )
    known = _known_outcome(ctx, actor, label, header, sha, path)
    if known is not None:
        return known
    try:
        _, newly_written = ctx.media.put_file(path, known_sha256=sha)
    except RejectedFileError as refusal:
        return _refused(ctx, actor, label, str(refusal), RejectionCode.CANNOT_OPEN)
    try:
        return _store_rows(ctx, actor, label, name, source, header, sha, size)
    except BaseException as failure:
        _discard_unreferenced(ctx, sha, newly_written)
        if isinstance(failure, IntegrityError):
            # Stored by someone else in the meantime: report it as they left it.
            known = _known_outcome(ctx, actor, label, header, sha, path)
            if known is not None:
                return known
        raise


def _is_video(path: Path, name: str) -> bool:
    return Path(name).suffix.lower() in VIDEO_SUFFIXES and not is_probably_dicom(path)


def _video_header(path: Path, name: str, sha: str, max_frames: int) -> DicomHeader:
    """Vet a non-DICOM clip with the video reader (it decodes no frame to do so)."""
    info = probe_video(path)
    if info.frames > max_frames:
        raise VideoError(
            f"This video has {info.frames} frames, more than the {max_frames} allowed.",
            "Trim it to the loop you want discussed and upload it again.",
        )
    return video_clip_header(
        sha256=sha,
        container=VIDEO_SUFFIXES[Path(name).suffix.lower()],
        width=info.width,
        height=info.height,
        frames=info.frames,
        fps=info.frames_per_second,
    )


def _known_outcome(
    ctx: AppContext, actor: Actor | None, label: str, header: DicomHeader, sha: str, path: Path
) -> IngestResult | None:
    """The outcome when this instance is already stored, else None."""
    uid = header.sop_instance_uid
    with transaction(ctx.engine) as session:
        clip = repository.get_clip_by_sop_uid(session=session, sop_instance_uid=uid)
        if clip is None:
            return None
        if clip.sha256 == sha:
            reason = "Already stored (an identical file); nothing was changed."
            if not ctx.media.exists(sha):  # the original was lost: these are its bytes
                with contextlib.suppress(RejectedFileError):
                    ctx.media.put_file(path, known_sha256=sha)
                if ctx.media.exists(sha):
                    reason = (
                        "Already stored; its missing original file was restored from this copy."
                    )
            status = IngestStatus.ALREADY_STORED
        else:
            reason = str(
                ConflictError(
                    "A different file with the same image identifier (SOP Instance UID) is "
                    "already stored; the stored copy was kept and this file was not ingested."
                )
            )
            status = IngestStatus.CONFLICT
        result = IngestResult(label, status, reason, uid, clip.study_id)
        audit.record(session, actor, ACTION, target=uid, outcome=status.value, detail=reason)
        return result


def _refused(
    ctx: AppContext, actor: Actor | None, label: str, reason: str, code: RejectionCode
) -> IngestResult:
    result = IngestResult(label, IngestStatus.REJECTED, reason, code=code)
    with transaction(ctx.engine) as session:
        audit.record(
            session,
            actor,
            ACTION,
            target=Path(label).name,
            outcome=result.status.value,
            detail=f"{code.value}: {reason}",
        )
    return result


def _store_rows(
    ctx: AppContext,
    actor: Actor | None,
    label: str,
    name: str,
    source: str,
    header: DicomHeader,
    sha: str,
    size: int,
) -> IngestResult:
    """Find or create the Study and add the Clip and the audit event, all in one transaction."""
    uid = header.sop_instance_uid
    with transaction(ctx.engine) as session:
        study = repository.get_study_by_uid(
            session=session, study_instance_uid=header.study_instance_uid
        )
        new_study = study is None
        if study is None:
            is_trainee = actor is not None and actor.role == Role.TRAINEE.value
            study = repository.add_study(
                session=session,
                study=Study(
                    study_instance_uid=header.study_instance_uid,
                    operator_id=actor.user_id if actor is not None and is_trainee else None,
                    scanned_on=header.study_date,
                    manufacturer=header.manufacturer,
                    model_name=header.model_name,
                    status=StudyStatus.AWAITING_READ.value,
                ),
            )
        assert study.id is not None
        repository.add_clip(
            session=session, clip=_clip(study.id, header, sha, size, name, source, actor)
        )
        where = "as a new scan" if new_study else "in an existing scan"
        reason = f"Stored {where}: {_describe(header)}."
        audit.record(
            session, actor, ACTION, target=uid, outcome="stored", detail=f"{source}: {reason}"
        )
    return IngestResult(label, IngestStatus.STORED, reason, uid, study.id)


def _clip(
    study_id: int,
    header: DicomHeader,
    sha: str,
    size: int,
    name: str,
    source: str,
    actor: Actor | None,
) -> Clip:
    return Clip(
        study_id=study_id,
        sop_instance_uid=header.sop_instance_uid,
        series_instance_uid=header.series_instance_uid,
        sop_class_uid=header.sop_class_uid,
        sha256=sha,
        size_bytes=size,
        rows=header.rows,
        columns=header.columns,
        number_of_frames=header.number_of_frames,
        samples_per_pixel=header.samples_per_pixel,
        bits_allocated=header.bits_allocated,
        photometric_interpretation=header.photometric_interpretation,
        transfer_syntax_uid=header.transfer_syntax_uid,
        frame_time_ms=header.frame_time_ms,
        has_ultrasound_regions=header.has_ultrasound_regions,
        container=header.container,
        source=source[:20],
        original_name=name[-255:],
        ingested_by=actor.user_id if actor is not None else None,
    )


def _describe(header: DicomHeader) -> str:
    size = f"{header.columns} x {header.rows} pixels"
    if header.number_of_frames == 1:
        return f"a still image, {size}"
    return f"a cine loop of {header.number_of_frames} frames, {size}"


def _discard_unreferenced(ctx: AppContext, sha: str, newly_written: bool) -> None:
    """Remove an original this call wrote, unless a row (committed meanwhile) refers to it."""
    if not newly_written:
        return
    try:
        with transaction(ctx.engine) as session:
            referenced = repository.get_clip_by_sha256(session=session, sha256=sha) is not None
    except Exception:  # the database is what failed; nobody can have committed a reference
        referenced = False
    if not referenced:
        ctx.media.remove(sha)


def _ingest_archive(
    ctx: AppContext, path: Path, label: str, *, actor: Actor | None, source: str
) -> list[IngestResult]:
    """Ingest each file of a zip, one entry at a time through a temporary folder."""
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError):
        reason = "This zip archive is damaged or cannot be opened; create the zip again."
        return [_refused(ctx, actor, label, reason, RejectionCode.UNREADABLE_ARCHIVE)]
    limit = ARCHIVE_SIZE_FACTOR * ctx.settings.max_decoded_mb * 2**20
    results: list[IngestResult] = []
    with archive, tempfile.TemporaryDirectory(prefix="qa-meeting-zip-") as folder:
        try:
            entries = vet_archive(archive, limit)
        except ArchiveRefusedError as refusal:
            return [_refused(ctx, actor, label, refusal.reason, refusal.code)]
        for index, entry in enumerate(entries):
            entry_label = f"{label}:{entry.filename}"
            if entry.filename.lower().endswith(".zip"):
                reason = "This is a zip inside the zip; unzip it and ingest its folder."
                code = RejectionCode.UNREADABLE_ARCHIVE
                results.append(_refused(ctx, actor, entry_label, reason, code))
                continue
            extracted = Path(folder) / f"entry-{index}"
            try:
                extract_entry(archive, entry, extracted)
            except (zipfile.BadZipFile, zlib.error, NotImplementedError, EOFError):
                reason = "This entry of the zip is damaged or compressed in an unknown way."
                code = RejectionCode.UNREADABLE_ARCHIVE
                results.append(_refused(ctx, actor, entry_label, reason, code))
                continue
            name = f"{Path(label).name}:{entry.filename}"
            results.append(_ingest_file(ctx, extracted, entry_label, name, actor, source))
            extracted.unlink()
    return results
