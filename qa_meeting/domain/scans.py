"""What ingest knows about a scan file, and how each file's ingest ended.

Pure types: ``imaging.dicom_io`` fills a ``DicomHeader`` from a file, ``services.ingest`` reports an
``IngestResult`` per file. Field names follow the DICOM attribute they hold.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Any


@dataclass(frozen=True)
class DicomHeader:
    """The header facts of one DICOM instance that ingest and playback rely on."""

    sop_instance_uid: str
    sop_class_uid: str
    study_instance_uid: str
    series_instance_uid: str
    modality: str
    rows: int
    columns: int
    number_of_frames: int
    samples_per_pixel: int
    bits_allocated: int
    photometric_interpretation: str
    transfer_syntax_uid: str
    frame_time_ms: float | None
    has_ultrasound_regions: bool
    manufacturer: str
    model_name: str
    study_date: date | None
    operators_name: str
    container: str = "dicom"  # or the video format of a non-DICOM clip (mp4, mov, avi)


VIDEO_SUFFIXES = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".avi": "avi"}


def uid_from_hash(sha256: str, salt: str) -> str:
    """A DICOM UID (2.25 + a 128-bit integer) derived from the bytes: same file, same UID."""
    digest = hashlib.sha256(f"{salt}:{sha256}".encode()).hexdigest()[:32]
    return f"2.25.{int(digest, 16)}"


def video_clip_header(
    *, sha256: str, container: str, width: int, height: int, frames: int, fps: float
) -> DicomHeader:
    """Header facts for a non-DICOM clip (an MP4, MOV or AVI exported by a trainee).

    It has no identifiers of its own, so its instance, series and study UIDs come from its
    bytes: the same file ingested twice is recognised, and each new file is a new scan.
    """
    return DicomHeader(
        sop_instance_uid=uid_from_hash(sha256, "instance"),
        sop_class_uid="",
        study_instance_uid=uid_from_hash(sha256, "study"),
        series_instance_uid=uid_from_hash(sha256, "series"),
        modality="US",
        rows=height,
        columns=width,
        number_of_frames=frames,
        samples_per_pixel=3,
        bits_allocated=8,
        photometric_interpretation="RGB",
        transfer_syntax_uid="",
        frame_time_ms=1000.0 / fps if fps > 0 else None,
        has_ultrasound_regions=False,
        manufacturer="",
        model_name="",
        study_date=None,
        operators_name="",
        container=container,
    )


# Per side; beyond any ultrasound machine, and 46341 x 46341 x 2 bytes already overflows 32 bits.
MAX_IMAGE_DIMENSION = 16384

ULTRASOUND_SOP_CLASSES = frozenset(
    {
        "1.2.840.10008.5.1.4.1.1.6.1",  # Ultrasound Image Storage
        "1.2.840.10008.5.1.4.1.1.3.1",  # Ultrasound Multi-frame Image Storage
        "1.2.840.10008.5.1.4.1.1.6.2",  # Enhanced US Volume Storage
        "1.2.840.10008.5.1.4.1.1.6",  # Ultrasound Image Storage (retired)
        "1.2.840.10008.5.1.4.1.1.3",  # Ultrasound Multi-frame Image Storage (retired)
    }
)


def is_ultrasound(modality: str, sop_class_uid: str) -> bool:
    """Modality US, or an ultrasound SOP class (some machines leave Modality out or wrong)."""
    return modality == "US" or sop_class_uid in ULTRASOUND_SOP_CLASSES


@dataclass(frozen=True)
class PixelGeometry:
    """What the Image Pixel module claims about the pixels."""

    rows: int
    columns: int
    frames: int
    samples_per_pixel: int
    bits_allocated: int
    photometric_interpretation: str

    def decoded_bytes(self) -> int:
        """Memory the decoded frames need (palette colour decodes to RGB)."""
        samples = (
            3 if self.photometric_interpretation == "PALETTE COLOR" else self.samples_per_pixel
        )
        per_sample = max(1, self.bits_allocated // 8)
        return self.rows * self.columns * self.frames * samples * per_sample

    def stored_bytes(self) -> int:
        """Length of uncompressed (native) Pixel Data, without the trailing pad byte."""
        pixels = self.rows * self.columns * self.frames
        if self.bits_allocated == 1:
            return -(-pixels // 8)
        stored = pixels * self.samples_per_pixel * self.bits_allocated // 8
        if self.photometric_interpretation == "YBR_FULL_422":
            return stored // 3 * 2  # each pair of pixels shares its two chroma samples
        return stored


class IngestStatus(StrEnum):
    STORED = "stored"
    ALREADY_STORED = "already_stored"
    CONFLICT = "conflict"
    REJECTED = "rejected"


class RejectionCode(StrEnum):
    """Why a file was refused, for machines (the message says it for people)."""

    EMPTY = "empty"
    NOT_DICOM = "not_dicom"
    CUT_SHORT = "cut_short"
    NO_IMAGE = "no_image"
    DICOMDIR = "dicomdir"
    NOT_ULTRASOUND = "not_ultrasound"
    IMPLAUSIBLE_SIZE = "implausible_size"
    UNREADABLE_STRUCTURE = "unreadable_structure"
    MISSING_UID = "missing_uid"
    CANNOT_OPEN = "cannot_open"
    UNSAFE_ARCHIVE = "unsafe_archive"
    UNREADABLE_ARCHIVE = "unreadable_archive"
    UNREADABLE_VIDEO = "unreadable_video"


@dataclass(frozen=True)
class IngestResult:
    """How the ingest of one file (or archive entry) ended.

    ``path`` is what the user offered (a path, an upload name, or ``archive.zip:inner/path``);
    ``reason`` is a sentence a clinician can act on; ``code`` is set for rejections.
    """

    path: str
    status: IngestStatus
    reason: str
    sop_instance_uid: str | None = None
    study_id: int | None = None
    code: RejectionCode | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "status": self.status.value,
            "reason": self.reason,
            "sop_instance_uid": self.sop_instance_uid,
            "study_id": self.study_id,
            "code": self.code.value if self.code is not None else None,
        }
