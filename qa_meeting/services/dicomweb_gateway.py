"""The DICOMweb gateway: one HTTP session with auth, timeouts and retries with backoff.

Retrying is safe because every exchange is idempotent (see ``services.dicomweb``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import requests
from dicomweb_client.api import DICOMwebClient
from dicomweb_client.session_utils import create_session_from_user_pass

from qa_meeting.errors import ConfigurationError
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
    StowBody,
    StowStatus,
    identify,
    json_text,
    stow_verdict,
    write_single_part,
)
from qa_meeting.settings import Settings

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
