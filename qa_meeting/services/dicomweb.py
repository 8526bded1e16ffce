"""DICOMweb: push scans to a PACS or image bank (STOW-RS), find studies (QIDO-RS), pull them in.

Every request goes through a ``DicomwebGateway``: HTTP basic auth when a user name is set,
timeouts, and retries with exponential backoff on connection errors, timeouts, 429 and 5xx.
Retrying is safe because every exchange is idempotent: QIDO and WADO only read; a repeated STOW
of the same instance is accepted again (Orthanc answers 200, lists it as stored and keeps one
copy); pulls deduplicate through ingest's SOP Instance UID check. Messages and logs name the
server, counts and UIDs, never a patient.
"""

from __future__ import annotations

import logging
import re
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path

from qa_meeting.domain.scans import IngestResult, IngestStatus, RejectionCode
from qa_meeting.errors import ValidationError
from qa_meeting.imaging.dicomweb_io import (
    DicomwebAuthError,
    DicomwebError,
    DicomwebFormatError,
    DicomwebNotFoundError,
    DicomwebServerError,
    DicomwebUnreachableError,
    NotDicomError,
    RemoteStudy,
    identify,
    is_uid,
    json_text,
    remote_study,
)
from qa_meeting.services import audit
from qa_meeting.services.context import Actor, AppContext
from qa_meeting.services.dicomweb_gateway import (
    MAX_STUDIES,
    DicomwebGateway,
    PushStatus,
    RetryPolicy,
    client_for,
)
from qa_meeting.services.ingest import ingest_paths

__all__ = [
    "DicomwebAuthError",
    "DicomwebError",
    "DicomwebFormatError",
    "DicomwebGateway",
    "DicomwebNotFoundError",
    "DicomwebServerError",
    "DicomwebUnreachableError",
    "PushReport",
    "PushStatus",
    "PushedInstance",
    "RemoteStudy",
    "RetryPolicy",
    "client_for",
    "find_studies",
    "pull_studies",
    "push_files",
]

log = logging.getLogger(__name__)


@contextmanager
def _opened(ctx: AppContext, gateway: DicomwebGateway | None) -> Iterator[DicomwebGateway]:
    if gateway is not None:
        yield gateway
        return
    made = client_for(ctx.settings)
    try:
        yield made
    finally:
        made.close()


@dataclass(frozen=True)
class PushedInstance:
    """How sending one file ended; ``reason`` is a sentence (the server's reason, if given)."""

    path: str
    status: PushStatus
    reason: str
    sop_instance_uid: str | None = None


@dataclass(frozen=True)
class PushReport:
    server: str
    instances: tuple[PushedInstance, ...]

    def count(self, status: PushStatus) -> int:
        return sum(1 for pushed in self.instances if pushed.status == status)


def push_files(
    ctx: AppContext, paths: Sequence[Path], *, gateway: DicomwebGateway | None = None
) -> PushReport:
    """Send DICOM files (folders: every file in them) to the server by STOW-RS, one at a time.

    An instance the server already holds (same SOP Instance UID) is not sent again. Connection
    and credential failures raise; a file the server refuses is reported and the rest go on.
    """
    files = [p for g in paths for p in (sorted(g.rglob("*")) if g.is_dir() else [g])]
    with _opened(ctx, gateway) as gw:
        report = PushReport(gw.server, tuple(_push_one(gw, f) for f in files if f.is_file()))
    counts = {status.value: report.count(status) for status in PushStatus}
    log.info("DICOMweb push to %s: %s", report.server, counts)
    return report


def _push_one(gw: DicomwebGateway, path: Path) -> PushedInstance:
    try:
        identity = identify(path)
    except NotDicomError as refusal:
        return PushedInstance(str(path), PushStatus.FAILED, str(refusal))
    try:
        if gw.instance_exists(identity):
            reason = "The server already holds this image; it was not sent again."
            status = PushStatus.ALREADY_PRESENT
        else:
            status, reason = gw.store_instance(path)
    except (DicomwebServerError, DicomwebFormatError) as failure:
        status, reason = PushStatus.FAILED, str(failure)
    return PushedInstance(str(path), status, reason, identity.sop_instance_uid)


def find_studies(
    ctx: AppContext,
    *,
    date_from: date | None,
    date_to: date | None,
    modality: str = "US",
    limit: int = 200,
    gateway: DicomwebGateway | None = None,
) -> list[RemoteStudy]:
    """Studies on the server by Study Date range (either end open) and modality ("" for any)."""
    code = modality.strip().upper()
    if not re.fullmatch(r"[A-Z0-9_]{0,16}", code):
        raise ValidationError(f"{modality!r} is not a DICOM modality code such as US.")
    if date_from and date_to and date_from > date_to:
        raise ValidationError("The first date of the range is after the last one.")
    if not 1 <= limit <= MAX_STUDIES:
        raise ValidationError(f"Ask for between 1 and {MAX_STUDIES} studies, not {limit}.")
    filters = {"ModalitiesInStudy": code} if code else {}
    if date_from or date_to:
        filters["StudyDate"] = "-".join(f"{d:%Y%m%d}" if d else "" for d in (date_from, date_to))
    with _opened(ctx, gateway) as gw:
        found = [remote_study(row) for row in gw.search_studies(filters, limit=limit)]
    # Tolerant on read, honest on output: some servers ignore a filter they do not support.
    studies = [s for s in found if s is not None and s.matches(date_from, date_to, code)]
    log.info("DICOMweb search on %s: %d studies", gw.server, len(studies))
    return studies


def pull_studies(
    ctx: AppContext,
    study_uids: Sequence[str],
    *,
    actor: Actor | None,
    gateway: DicomwebGateway | None = None,
) -> list[IngestResult]:
    """Retrieve studies by WADO-RS and ingest them (``source="dicomweb"``); results per instance.

    Each study is downloaded whole, one instance at a time streamed into a temporary folder,
    and ingested only once every instance has arrived and proved to be the DICOM asked for; a
    study that fails gets one rejected result saying why, and nothing of it is ingested.
    Connection and credential failures raise: what was pulled before stays, and pulling again
    is safe (instances already stored are reported as such).
    """
    for uid in study_uids:
        if not is_uid(uid):
            raise ValidationError(f"{uid!r} is not a Study Instance UID.")
    results: list[IngestResult] = []
    with _opened(ctx, gateway) as gw:
        for uid in dict.fromkeys(study_uids):
            results.extend(_pull_study(ctx, gw, uid, actor))
    return results


def _pull_study(
    ctx: AppContext, gw: DicomwebGateway, study_uid: str, actor: Actor | None
) -> list[IngestResult]:
    label = f"dicomweb:{study_uid}"
    with tempfile.TemporaryDirectory(prefix="qa-meeting-dicomweb-") as folder:
        try:
            files = _download_study(gw, study_uid, Path(folder))
        except (DicomwebAuthError, DicomwebUnreachableError):
            raise
        except DicomwebError as failure:
            reason = f"{failure.message} Nothing of this study was ingested. {failure.remedy}"
            log.warning("DICOMweb pull from %s: a study failed: %s", gw.server, failure.message)
            audit.record_refusal(
                ctx.engine, actor, "dicomweb_pull", target=study_uid, detail=reason
            )
            code = RejectionCode.CANNOT_OPEN
            return [IngestResult(label, IngestStatus.REJECTED, reason, code=code)]
        ingested = ingest_paths(ctx, [path for path, _ in files], actor=actor, source="dicomweb")
    pairs = zip(ingested, files, strict=True)
    return [replace(result, path=f"{label}/{sop}") for result, (_, sop) in pairs]


def _download_study(gw: DicomwebGateway, study_uid: str, folder: Path) -> list[tuple[Path, str]]:
    rows = gw.search_instances(study_uid)
    if not rows:
        raise DicomwebNotFoundError(
            f"The DICOMweb server {gw.server} holds no image of this study."
        )
    files: list[tuple[Path, str]] = []
    for index, row in enumerate(rows):
        series, sop = json_text(row, "0020000E"), json_text(row, "00080018")
        if not (is_uid(series) and is_uid(sop)):
            raise DicomwebFormatError(f"{gw.server} listed an image without valid UIDs.")
        target = folder / f"{index:05d}.dcm"
        gw.retrieve_instance(study_uid, series, sop, target)
        try:
            identity = identify(target)
        except NotDicomError:
            raise DicomwebFormatError(f"{gw.server} sent a file that is not DICOM.") from None
        if (identity.study_instance_uid, identity.sop_instance_uid) != (study_uid, sop):
            raise DicomwebFormatError(f"{gw.server} sent another image than the one asked for.")
        files.append((target, sop))
    return files
