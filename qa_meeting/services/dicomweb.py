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
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import requests
from dicomweb_client.api import DICOMwebClient
from dicomweb_client.session_utils import create_session_from_user_pass

from qa_meeting.domain.scans import IngestResult, IngestStatus, RejectionCode
from qa_meeting.errors import ConfigurationError, ValidationError
from qa_meeting.imaging.dicomweb_io import (
    CHUNK_SIZE,
    DICOM_JSON,
    QIDO_STUDY_FIELDS,
    DicomwebAuthError,
    DicomwebError,
    DicomwebFormatError,
    DicomwebNotFoundError,
    DicomwebServerError,
    DicomwebUnreachableError,
    InstanceIdentity,
    NotDicomError,
    RemoteStudy,
    StowBody,
    StowStatus,
    identify,
    is_uid,
    json_text,
    remote_study,
    stow_verdict,
    write_single_part,
)
from qa_meeting.services import audit
from qa_meeting.services.context import Actor, AppContext
from qa_meeting.services.ingest import ingest_paths
from qa_meeting.settings import Settings

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
T = TypeVar("T")
PushStatus = StowStatus  # accepted, already_present, failed
RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})
WADO_ACCEPT = 'multipart/related; type="application/dicom"; transfer-syntax=*'
MAX_STUDIES = 1000
_TRANSIENT = (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError)


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently to retry a request that failed for a passing reason."""

    attempts: int = 4  # in all, the first included
    backoff_s: float = 0.5  # pause before the second attempt; doubles for each one after
    max_backoff_s: float = 8.0
    connect_timeout_s: float = 5.0
    read_timeout_s: float = 120.0  # between two bytes of an answer, not for the whole download

    def pause(self, attempt: int, retry_after: str | None) -> float:
        wait = self.backoff_s * 2 ** (attempt - 1)
        if retry_after is not None and retry_after.strip().isdigit():
            wait = max(wait, float(retry_after))
        return float(min(wait, self.max_backoff_s))


class DicomwebGateway:
    """One DICOMweb server: every request retried, every failure a ``DicomwebError``."""

    def __init__(
        self, url: str, session: requests.Session, *, retry: RetryPolicy | None = None
    ) -> None:
        self.url = url.rstrip("/")
        parts = urlsplit(self.url)  # the server's name for messages: no credentials, no path
        self.server = f"{parts.scheme}://{parts.hostname}" + (
            f":{parts.port}" if parts.port else ""
        )
        self.retry = retry or RetryPolicy()
        self._timeout = (self.retry.connect_timeout_s, self.retry.read_timeout_s)
        self._session = session
        self._client = DICOMwebClient(
            self.url, session=session, timeout=self._timeout, permissive_uid=True
        )
        self._client.set_http_retry_params(retry=False)  # retried here, like every request

    def close(self) -> None:
        self._session.close()

    def search_studies(self, filters: Mapping[str, str], *, limit: int) -> list[dict[str, Any]]:
        """QIDO-RS over studies: DICOM JSON data sets with the fields ``remote_study`` reads."""
        search, fields = self._client.search_for_studies, QIDO_STUDY_FIELDS.split()
        return self._call(lambda: search(search_filters=dict(filters), fields=fields, limit=limit))

    def search_instances(
        self, study_uid: str, filters: Mapping[str, str] | None = None
    ) -> list[dict[str, Any]]:
        """QIDO-RS over the instances of one study, every page of them."""
        search, fields = self._client.search_for_instances, ["SeriesInstanceUID", "SOPInstanceUID"]
        filtered = dict(filters or {})
        return self._call(
            lambda: search(study_uid, search_filters=filtered, fields=fields, get_remaining=True)
        )

    def instance_exists(self, identity: InstanceIdentity) -> bool:
        uid = identity.sop_instance_uid
        found = self.search_instances(identity.study_instance_uid, {"SOPInstanceUID": uid})
        return any(json_text(row, "00080018") == uid for row in found)

    def store_instance(self, path: Path) -> tuple[StowStatus, str]:
        """STOW-RS of one file, streamed from disk: the server's verdict on it."""
        uid = identify(path).sop_instance_uid

        def attempt() -> tuple[StowStatus, str]:
            body = StowBody(path)  # a fresh stream for each attempt
            headers = {"Content-Type": body.content_type, "Accept": DICOM_JSON}
            answer = self._session.post(
                f"{self.url}/studies", data=body, headers=headers, timeout=self._timeout
            )
            if answer.status_code in {401, 403, 404} | RETRYABLE_STATUS:
                answer.raise_for_status()
            try:
                verdict = stow_verdict(answer.json(), uid)
            except ValueError:  # not JSON: judged by its status alone
                verdict = None
            if verdict is None:
                answer.raise_for_status()
                return StowStatus.FAILED, "The server did not confirm that it stored this image."
            return verdict

        return self._call(attempt)

    def retrieve_instance(self, study: str, series: str, sop: str, target: Path) -> int:
        """WADO-RS of one instance, streamed to ``target`` one chunk at a time: its size."""
        url = f"{self.url}/studies/{study}/series/{series}/instances/{sop}"

        def attempt() -> int:
            headers = {"Accept": WADO_ACCEPT}
            with self._session.get(url, headers=headers, stream=True, timeout=self._timeout) as got:
                got.raise_for_status()
                with target.open("wb") as file:  # a retry starts the file again
                    kind = got.headers.get("Content-Type", "")
                    return write_single_part(got.iter_content(CHUNK_SIZE), kind, file)

        return self._call(attempt)

    def _call(self, work: Callable[[], T]) -> T:
        status: int | None = None
        for attempt in range(1, self.retry.attempts + 1):
            retry_after = None
            try:
                return work()
            except requests.exceptions.JSONDecodeError:
                raise DicomwebFormatError(f"{self.server} did not answer in DICOM JSON.") from None
            except _TRANSIENT:
                status = None
            except requests.HTTPError as failure:
                answer = failure.response
                status = answer.status_code if answer is not None else 0
                if status not in RETRYABLE_STATUS:
                    raise self._refusal(status) from None
                retry_after = answer.headers.get("Retry-After") if answer is not None else None
            if attempt < self.retry.attempts:
                time.sleep(self.retry.pause(attempt, retry_after))
        server, tries = f"The DICOMweb server {self.server}", f"{self.retry.attempts} attempt(s)"
        if status is None:
            raise DicomwebUnreachableError(f"{server} could not be reached in time ({tries}).")
        raise DicomwebServerError(f"{server} kept failing (HTTP {status}, {tries}).")

    def _refusal(self, status: int) -> DicomwebError:
        server = f"The DICOMweb server {self.server}"
        if status in (401, 403):
            what = "refused the user name and password" if status == 401 else "refused access"
            return DicomwebAuthError(f"{server} {what} (HTTP {status}).")
        if status == 404:
            return DicomwebNotFoundError(f"{server} has no such item (HTTP 404).")
        return DicomwebServerError(f"{server} refused the request (HTTP {status}).")


def client_for(settings: Settings, *, retry: RetryPolicy | None = None) -> DicomwebGateway:
    """A gateway to the DICOMweb server named by the settings; ``close()`` it after use."""
    url = settings.dicomweb_url.strip()
    if not url:
        raise ConfigurationError(
            "DICOMweb is not configured.",
            "Set QA_MEETING_DICOMWEB_URL to the server's DICOMweb root, e.g. "
            "http://orthanc:8042/dicom-web, and restart the app.",
        )
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigurationError("QA_MEETING_DICOMWEB_URL is not an http:// or https:// URL.")
    user, password = settings.dicomweb_username, settings.dicomweb_password
    session = create_session_from_user_pass(user, password) if user else requests.Session()
    try:
        return DicomwebGateway(url, session, retry=retry)
    except ValueError:
        session.close()
        raise ConfigurationError("QA_MEETING_DICOMWEB_URL is not a valid URL.") from None


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
