"""DICOMweb push, search and pull against a real Orthanc, and the wire formats on their own."""

from __future__ import annotations

import hashlib
import io
import logging
import time
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import requests
from requests.adapters import HTTPAdapter

from qa_meeting.domain.scans import IngestStatus
from qa_meeting.errors import ConfigurationError
from qa_meeting.imaging.dicomweb_io import (
    DicomwebFormatError,
    StowBody,
    StowStatus,
    identify,
    stow_verdict,
    write_single_part,
)
from qa_meeting.imaging.synthetic import CineSpec, write_cine
from qa_meeting.services.context import AppContext
from qa_meeting.services.dicomweb import (
    DicomwebAuthError,
    DicomwebGateway,
    DicomwebServerError,
    DicomwebUnreachableError,
    PushStatus,
    RetryPolicy,
    client_for,
    find_studies,
    pull_studies,
    push_files,
)
from qa_meeting.store import repository
from qa_meeting.store.db import transaction
from tests.conftest import add_actor
from tests.dicomweb.conftest import OrthancServer, _free_port

FAST = RetryPolicy(attempts=3, backoff_s=0.01, connect_timeout_s=2.0, read_timeout_s=10.0)
PATIENT = "ZEBRA^QUINTUS"  # must never show up in what the app keeps or logs


def _connected(ctx: AppContext, server: OrthancServer, password: str | None = None) -> AppContext:
    settings = replace(
        ctx.settings,
        dicomweb_url=server.dicomweb_url,
        dicomweb_username=server.username,
        dicomweb_password=server.password if password is None else password,
    )
    return replace(ctx, settings=settings)


def _cines(folder: Path, key: str, study_date: str, count: int = 2) -> list[Path]:
    """``count`` small loops of one study, each with its own series and instance."""
    scenes = ("cardiac_a4c", "lung_a_lines", "ivc")
    return [
        write_cine(
            CineSpec(
                case_id=f"{key}-{index}",
                scene=scenes[index],
                rows=160,
                columns=200,
                frames=4,
                study_key=key,
                study_date=study_date,
                patient_name=PATIENT,
            ),
            folder / f"{key}-{index}.dcm",
        )
        for index in range(count)
    ]


def test_push_find_and_pull_round_trip(
    orthanc: OrthancServer, ctx: AppContext, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    here = _connected(ctx, orthanc)
    files = _cines(tmp_path, "round-trip", "20240315")
    identities = [identify(path) for path in files]
    study_uid = identities[0].study_instance_uid

    pushed = push_files(here, files)
    assert [p.status for p in pushed.instances] == [PushStatus.ACCEPTED] * 2, pushed
    again = push_files(here, files[:1])
    assert again.instances[0].status == PushStatus.ALREADY_PRESENT, again

    march = find_studies(here, date_from=date(2024, 3, 1), date_to=date(2024, 3, 31))
    (study,) = [s for s in march if s.study_instance_uid == study_uid]
    assert study.study_date == date(2024, 3, 15)
    assert study.modalities == ("US",)
    assert study.number_of_instances == 2
    assert study.description == "POCUS demo"
    assert "ZEBRA" not in repr(march)
    later = find_studies(here, date_from=date(2024, 4, 1), date_to=None)
    assert study_uid not in {s.study_instance_uid for s in later}
    other = find_studies(here, date_from=None, date_to=date(2024, 12, 31), modality="CT")
    assert study_uid not in {s.study_instance_uid for s in other}

    chair = add_actor(here, "chair1", "chair")
    pulled = pull_studies(here, [study_uid], actor=chair)
    assert [r.status for r in pulled] == [IngestStatus.STORED] * 2, pulled
    assert {r.sop_instance_uid for r in pulled} == {i.sop_instance_uid for i in identities}
    assert all(r.path.startswith(f"dicomweb:{study_uid}/") for r in pulled)
    with transaction(here.engine) as session:  # byte for byte what was pushed
        for path, identity in zip(files, identities, strict=True):
            clip = repository.get_clip_by_sop_uid(
                session=session, sop_instance_uid=identity.sop_instance_uid
            )
            assert clip is not None
            assert clip.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()

    again_pulled = pull_studies(here, [study_uid], actor=chair)
    assert [r.status for r in again_pulled] == [IngestStatus.ALREADY_STORED] * 2
    assert "ZEBRA" not in caplog.text
    assert orthanc.password not in caplog.text


def test_orthanc_accepts_a_repeated_stow_and_keeps_one_copy(
    orthanc: OrthancServer, ctx: AppContext, tmp_path: Path
) -> None:
    (path,) = _cines(tmp_path, "repeated-stow", "20230601", count=1)
    gateway = client_for(_connected(ctx, orthanc).settings, retry=FAST)
    try:
        first = gateway.store_instance(path)
        second = gateway.store_instance(path)
        copies = gateway.search_instances(identify(path).study_instance_uid)
    finally:
        gateway.close()
    assert first == second == (StowStatus.ACCEPTED, "Stored.")
    assert len(copies) == 1


def test_push_reports_a_file_that_is_not_dicom_and_sends_the_rest(
    orthanc: OrthancServer, ctx: AppContext, tmp_path: Path
) -> None:
    (good,) = _cines(tmp_path, "mixed-push", "20230602", count=1)
    bad = tmp_path / "notes.txt"
    bad.write_text("not an image")
    report = push_files(_connected(ctx, orthanc), [bad, good])
    assert [p.status for p in report.instances] == [PushStatus.FAILED, PushStatus.ACCEPTED]
    assert "not a readable DICOM file" in report.instances[0].reason


def test_a_study_that_fails_to_download_is_reported_and_nothing_of_it_is_ingested(
    orthanc: OrthancServer, ctx: AppContext, tmp_path: Path
) -> None:
    here = _connected(ctx, orthanc)
    files = _cines(tmp_path, "cut-short", "20230603")
    push_files(here, files)
    study_uid = identify(files[0]).study_instance_uid

    class CutShort(DicomwebGateway):
        calls = 0

        def retrieve_instance(self, study: str, series: str, sop: str, target: Path) -> int:
            CutShort.calls += 1
            if CutShort.calls == 2:
                target.write_bytes(b"half a file")
                raise DicomwebFormatError("The download was cut short before the file ended.")
            return super().retrieve_instance(study, series, sop, target)

    session = requests.Session()
    session.auth = (orthanc.username, orthanc.password)
    gateway = CutShort(orthanc.dicomweb_url, session, retry=FAST)
    missing = "1.2.3.4.5.6.7.8.9"
    results = pull_studies(here, [study_uid, missing], actor=None, gateway=gateway)
    assert [r.status for r in results] == [IngestStatus.REJECTED] * 2
    assert "cut short" in results[0].reason and "Nothing of this study" in results[0].reason
    assert "holds no image" in results[1].reason
    with transaction(here.engine) as session_:
        for path in files:
            uid = identify(path).sop_instance_uid
            assert repository.get_clip_by_sop_uid(session=session_, sop_instance_uid=uid) is None


def test_a_wrong_password_is_a_clear_error(orthanc: OrthancServer, ctx: AppContext) -> None:
    wrong = _connected(ctx, orthanc, password="not-the-password")
    with pytest.raises(DicomwebAuthError) as raised:
        find_studies(wrong, date_from=None, date_to=None)
    assert "HTTP 401" in raised.value.message
    assert "QA_MEETING_DICOMWEB_PASSWORD" in raised.value.remedy
    assert "not-the-password" not in str(raised.value)
    with pytest.raises(DicomwebAuthError):
        pull_studies(wrong, ["1.2.3.4"], actor=None)


class CountingSession(requests.Session):
    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def request(self, *args: Any, **kwargs: Any) -> requests.Response:
        self.calls += 1
        return super().request(*args, **kwargs)


def test_an_unreachable_server_is_a_clear_error_after_bounded_retries(
    ctx: AppContext, tmp_path: Path
) -> None:
    session = CountingSession()
    gateway = DicomwebGateway(f"http://127.0.0.1:{_free_port()}/dicom-web", session, retry=FAST)
    started = time.monotonic()
    with pytest.raises(DicomwebUnreachableError) as raised:
        find_studies(ctx, date_from=None, date_to=None, gateway=gateway)
    assert session.calls == FAST.attempts
    assert time.monotonic() - started < 5
    assert "could not be reached" in raised.value.message
    assert "QA_MEETING_DICOMWEB_URL" in raised.value.remedy
    (path,) = _cines(tmp_path, "unreachable", "20230604", count=1)
    with pytest.raises(DicomwebUnreachableError):
        push_files(ctx, [path], gateway=gateway)


class Scripted(HTTPAdapter):
    """Answers with the given statuses in turn (the last one repeats), JSON [] on success."""

    def __init__(self, *statuses: int) -> None:
        super().__init__()
        self.statuses, self.calls = list(statuses), 0

    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: float | tuple[float | None, float | None] | None = None,
        verify: bool | str = True,
        cert: str | tuple[str, str] | None = None,
        proxies: dict[str, str] | None = None,
    ) -> requests.Response:
        status = self.statuses[min(self.calls, len(self.statuses) - 1)]
        self.calls += 1
        response = requests.Response()
        response.status_code, response.request, response.url = status, request, str(request.url)
        response.headers["Content-Type"] = "application/dicom+json"
        response.raw = io.BytesIO(b"[]" if status == 200 else b"")
        return response


@pytest.mark.parametrize(
    ("statuses", "outcome"), [((503, 429, 200), None), ((503,), DicomwebServerError)]
)
def test_5xx_and_429_are_retried_with_backoff(
    ctx: AppContext, statuses: tuple[int, ...], outcome: type[Exception] | None
) -> None:
    adapter = Scripted(*statuses)
    session = requests.Session()
    session.mount("http://pacs.test", adapter)
    gateway = DicomwebGateway("http://pacs.test/dicom-web", session, retry=FAST)
    if outcome is None:
        assert find_studies(ctx, date_from=None, date_to=None, gateway=gateway) == []
    else:
        with pytest.raises(outcome, match="HTTP 503"):
            find_studies(ctx, date_from=None, date_to=None, gateway=gateway)
    assert adapter.calls == 3


def test_dicomweb_must_be_configured(ctx: AppContext) -> None:
    with pytest.raises(ConfigurationError) as raised:
        client_for(replace(ctx.settings, dicomweb_url=""))
    assert "QA_MEETING_DICOMWEB_URL" in raised.value.remedy


@pytest.mark.parametrize("chunk", [1, 5, 64, 1 << 20])
def test_the_wado_part_is_streamed_byte_exact_whatever_the_chunking(chunk: int) -> None:
    body = bytes(range(256)) * 40 + b"\r\n--almost-the-boundary"
    message = b"--b0\r\nContent-Type: application/dicom\r\n\r\n" + body + b"\r\n--b0--\r\n"
    chunks = [message[i : i + chunk] for i in range(0, len(message), chunk)]
    target = io.BytesIO()
    assert write_single_part(chunks, 'multipart/related; boundary="b0"', target) == len(body)
    assert target.getvalue() == body


@pytest.mark.parametrize(
    ("message", "content_type"),
    [
        (
            b"--b0\r\nContent-Type: application/dicom\r\n\r\nhalf a fi",
            "multipart/related; boundary=b0",
        ),
        (
            b"--b0\r\nContent-Type: text/html\r\n\r\n<html>\r\n--b0--",
            "multipart/related; boundary=b0",
        ),
        (b"<html>login</html>", "text/html"),
        (b"", "multipart/related; boundary=b0"),
    ],
)
def test_a_broken_wado_answer_is_a_format_error(message: bytes, content_type: str) -> None:
    with pytest.raises(DicomwebFormatError):
        write_single_part([message], content_type, io.BytesIO())


def test_the_stow_body_streams_the_file_with_its_length(tmp_path: Path) -> None:
    path = tmp_path / "instance.dcm"
    path.write_bytes(b"DICM" * 1000)
    body = StowBody(path)
    sent = b"".join(body)
    assert len(sent) == len(body) and sent == b"".join(body)  # a retry sends it again
    assert body.boundary in body.content_type
    assert write_single_part([sent], body.content_type, io.BytesIO()) == 4000


def _stow_answer(sequence: str, uid: str, reason_tag: str | None, code: int) -> dict[str, Any]:
    item: dict[str, Any] = {"00081155": {"vr": "UI", "Value": [uid]}}
    if reason_tag:
        item[reason_tag] = {"vr": "US", "Value": [code]}
    return {sequence: {"vr": "SQ", "Value": [item]}}


@pytest.mark.parametrize(
    ("answer", "expected", "words"),
    [
        (_stow_answer("00081199", "1.2", None, 0), StowStatus.ACCEPTED, "Stored."),
        (_stow_answer("00081199", "1.2", "00081196", 0xB000), StowStatus.ACCEPTED, "coercion"),
        (_stow_answer("00081198", "1.2", "00081197", 0xC000), StowStatus.FAILED, "understand"),
        (_stow_answer("00081198", "1.2", "00081197", 0x0111), StowStatus.ALREADY_PRESENT, "0111"),
    ],
)
def test_stow_answers_are_read_per_instance(
    answer: dict[str, Any], expected: StowStatus, words: str
) -> None:
    verdict = stow_verdict(answer, "1.2")
    assert verdict is not None and verdict[0] == expected and words in verdict[1]
    assert stow_verdict(answer, "9.9") is None
