"""DICOMweb wire formats (PS3.18): what goes into STOW-RS and comes out of WADO-RS and STOW-RS.

- ``identify`` reads the UIDs of a local instance (header only, never the pixels);
- ``StowBody`` is a ``multipart/related`` request body that streams one file from disk, with a
  known length, so a 1 GB cine loop is sent without being held in memory;
- ``write_single_part`` streams the one part of a WADO-RS ``multipart/related`` answer to a file;
- ``stow_verdict`` reads a STOW-RS answer (DICOM JSON) for one instance;
- ``remote_study`` keeps what the app needs of a QIDO-RS study result, and no patient attribute;
- the ``DicomwebError`` family, for the services that talk to the server.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, BinaryIO

from pydicom import dcmread
from pydicom.errors import InvalidDicomError

from qa_meeting.errors import NotFoundError, QaMeetingError, RejectedFileError

CHUNK_SIZE = 1 << 20
MAX_PART_HEADER = 16 * 1024  # far beyond any real part header; bounds what garbage can cost
DICOM_JSON = "application/dicom+json"
# What remote_study reads; the server sends its default attributes too, patients' included.
QIDO_STUDY_FIELDS = "StudyDate StudyDescription ModalitiesInStudy NumberOfStudyRelatedInstances"
_UID = re.compile(r"[0-9]+(\.[0-9]+)*")

_FAILURE_REASONS = {  # PS3.18 section 10.5.3 and PS3.4 annex B status codes
    0xA700: "the server is out of resources",
    0xA900: "the data set does not match its SOP class",
    0xC000: "the server cannot understand the file",
    0xC122: "the server does not accept this transfer syntax",
    0x0110: "the server failed while processing it",
    0x0111: "an instance with this SOP Instance UID is already stored",
    0x0122: "the server does not accept this SOP class",
    0x0124: "the server refused it: not authorised",
    0xB000: "the server changed some attributes (coercion)",
    0xB006: "the server discarded some elements",
    0xB007: "the data set does not match its SOP class",
}
DUPLICATE_INSTANCE = 0x0111


class DicomwebError(QaMeetingError):
    """A DICOMweb exchange with the PACS or image bank failed."""

    default_remedy = "Check the DICOMweb settings and that the server is running, then try again."


class DicomwebFormatError(DicomwebError):
    """The server answered, but not in the form DICOMweb prescribes."""

    default_remedy = (
        "Check that QA_MEETING_DICOMWEB_URL is the DICOMweb root of the server "
        "(for Orthanc: http://host:8042/dicom-web), then try again."
    )


class DicomwebUnreachableError(DicomwebError):
    default_remedy = (
        "Check that the server is running and that QA_MEETING_DICOMWEB_URL names it, then retry."
    )


class DicomwebAuthError(DicomwebError):
    default_remedy = (
        "Check QA_MEETING_DICOMWEB_USERNAME and QA_MEETING_DICOMWEB_PASSWORD, and that this user "
        "may search, read and store on the server."
    )


class DicomwebNotFoundError(DicomwebError, NotFoundError):
    default_remedy = "Search the server again and pick a study it holds."


class DicomwebServerError(DicomwebError):
    default_remedy = "Try again later; if it persists, ask the PACS administrator to check its log."


class NotDicomError(RejectedFileError):
    """A file to send is not a DICOM file."""

    default_remedy = "Only DICOM files can be sent; export the scan as DICOM and try again."


@dataclass(frozen=True)
class InstanceIdentity:
    """The UIDs that place one instance on a DICOMweb server."""

    study_instance_uid: str
    series_instance_uid: str
    sop_instance_uid: str
    sop_class_uid: str


def identify(path: Path) -> InstanceIdentity:
    """Read the four UIDs of a DICOM file; ``NotDicomError`` when it is not one."""
    keywords = ["StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "SOPClassUID"]
    try:
        dataset = dcmread(path, stop_before_pixels=True, specific_tags=keywords)
    except OSError:
        raise NotDicomError("This file could not be read.") from None
    except (InvalidDicomError, EOFError, ValueError, KeyError, TypeError):
        raise NotDicomError("This file is not a readable DICOM file.") from None
    values = [str(dataset.get(keyword, "") or "").strip() for keyword in keywords]
    if not all(values):
        raise NotDicomError("This DICOM file lacks a study, series or instance UID.")
    return InstanceIdentity(*values)


class StowBody:
    """A one-part ``multipart/related; type="application/dicom"`` body, streamed from a file.

    Its length is known, so requests sends Content-Length rather than chunked encoding (which
    not every server accepts); iterating it again (a retry) reads the file again.
    """

    def __init__(self, path: Path) -> None:
        self.boundary = uuid.uuid4().hex
        self.path = path
        self._head = f"--{self.boundary}\r\nContent-Type: application/dicom\r\n\r\n".encode()
        self._tail = f"\r\n--{self.boundary}--\r\n".encode()
        self._size = path.stat().st_size

    @property
    def content_type(self) -> str:
        return f'multipart/related; type="application/dicom"; boundary={self.boundary}'

    def __len__(self) -> int:
        return len(self._head) + self._size + len(self._tail)

    def __iter__(self) -> Iterator[bytes]:
        yield self._head
        with self.path.open("rb") as file:
            while chunk := file.read(CHUNK_SIZE):
                yield chunk
        yield self._tail


def boundary_of(content_type: str) -> str:
    """The boundary parameter of a ``multipart/related`` Content-Type."""
    kind, _, params = content_type.partition(";")
    if kind.strip().lower() != "multipart/related":
        raise DicomwebFormatError(f"The server answered with {kind.strip() or 'no type'!r}.")
    for param in params.split(";"):
        name, _, value = param.strip().partition("=")
        if name.strip().lower() == "boundary" and value.strip().strip('"'):
            return value.strip().strip('"')
    raise DicomwebFormatError("The server's multipart answer names no boundary.")


def write_single_part(chunks: Iterable[bytes], content_type: str, target: BinaryIO) -> int:
    """Write the body of the first part of a multipart stream to ``target``; return its size.

    Memory stays at about one chunk plus the delimiter, whatever the size of the part.
    """
    boundary = boundary_of(content_type).encode("latin-1")
    opening, delimiter = b"--" + boundary, b"\r\n--" + boundary
    stream = iter(chunks)
    buffer = b""
    for chunk in stream:
        buffer += chunk
        start = buffer.find(opening)
        end = buffer.find(b"\r\n\r\n", start) if start >= 0 else -1
        if end >= 0:
            headers = buffer[start + len(opening) : end].decode("latin-1").lower()
            if "content-type:" in headers and "application/dicom" not in headers:
                raise DicomwebFormatError("The server sent something other than a DICOM file.")
            buffer = buffer[end + 4 :]
            break
        if len(buffer) > MAX_PART_HEADER:
            raise DicomwebFormatError("The server's answer does not start with a DICOM part.")
    else:
        raise DicomwebFormatError("The server's answer was empty or cut short.")
    written = 0
    keep = len(delimiter) - 1  # a delimiter may straddle two chunks
    while True:
        found = buffer.find(delimiter)
        if found >= 0:
            target.write(buffer[:found])
            return written + found
        if len(buffer) > keep:
            target.write(buffer[:-keep])
            written += len(buffer) - keep
            buffer = buffer[-keep:]
        more = next(stream, None)
        if more is None:
            raise DicomwebFormatError("The download was cut short before the file ended.")
        buffer += more


def json_values(dataset: object, tag: str) -> list[Any]:
    """The values of one attribute of a DICOM JSON data set (PS3.18 annex F); [] when absent."""
    element = dataset.get(tag) if isinstance(dataset, dict) else None
    values = element.get("Value") if isinstance(element, dict) else None
    return values if isinstance(values, list) else []


def json_text(dataset: object, tag: str) -> str:
    """The first value of an attribute as text; "" when absent."""
    values = json_values(dataset, tag)
    return str(values[0]).strip() if values and values[0] is not None else ""


def is_uid(text: str) -> bool:
    """Digits and dots, at most 64 characters (leading zeros tolerated: scanners write them)."""
    return len(text) <= 64 and _UID.fullmatch(text) is not None


class StowStatus(StrEnum):
    ACCEPTED = "accepted"
    ALREADY_PRESENT = "already_present"
    FAILED = "failed"


def _reason(code: object, default: str) -> str:
    if not isinstance(code, int):
        return default
    return f"{_FAILURE_REASONS.get(code, default)} (status 0x{code:04X})"


def stow_verdict(payload: object, sop_instance_uid: str) -> tuple[StowStatus, str] | None:
    """The server's word on one instance in a STOW-RS answer, from its FailedSOPSequence or
    ReferencedSOPSequence (with any WarningReason); None when the answer does not name it."""
    mine = (sop_instance_uid, "")  # some servers leave the UID out of a one-instance answer
    for failed in json_values(payload, "00081198"):
        if json_text(failed, "00081155") in mine:
            code = next(iter(json_values(failed, "00081197")), None)  # FailureReason
            reason = _reason(code, "the server refused it")
            if code == DUPLICATE_INSTANCE:
                return StowStatus.ALREADY_PRESENT, f"Not stored again: {reason}."
            return StowStatus.FAILED, f"The server refused this image: {reason}."
    for stored in json_values(payload, "00081199"):
        if json_text(stored, "00081155") in mine:
            warning = next(iter(json_values(stored, "00081196")), None)  # WarningReason
            if warning is None:
                return StowStatus.ACCEPTED, "Stored."
            return StowStatus.ACCEPTED, f"Stored, with a warning: {_reason(warning, 'a warning')}."
    return None


@dataclass(frozen=True)
class RemoteStudy:
    """A study on a DICOMweb server as the app keeps it: no patient attribute at all."""

    study_instance_uid: str
    study_date: date | None
    modalities: tuple[str, ...]
    number_of_instances: int | None
    description: str

    def matches(self, first: date | None, last: date | None, modality: str) -> bool:
        """Whether the study falls in the date range and holds the modality (unknowns pass)."""
        if modality and self.modalities and modality not in self.modalities:
            return False
        day = self.study_date
        return day is None or ((first or day) <= day <= (last or day))


def remote_study(row: object) -> RemoteStudy | None:
    """The study of one QIDO-RS result, dropping every patient attribute; None without a UID."""
    uid = json_text(row, "0020000D")
    if not is_uid(uid):
        return None
    try:
        study_date: date | None = datetime.strptime(json_text(row, "00080020"), "%Y%m%d").date()
    except ValueError:
        study_date = None
    count = json_text(row, "00201208")
    return RemoteStudy(
        study_instance_uid=uid,
        study_date=study_date,
        modalities=tuple(str(m) for m in json_values(row, "00080061") if m),
        number_of_instances=int(count) if count.isdigit() else None,
        description=json_text(row, "00081030"),
    )
