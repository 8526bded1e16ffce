"""The public DICOM samples (../shared/dicom-samples) and what ingest must make of each.

The files are read in place, never copied into the repository (most carry no explicit licence).
``QA_MEETING_SAMPLES_DIR`` overrides the location. When the folder is missing, tests that need it
fail under ``CI=true`` and are skipped elsewhere.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

import pytest
from pydicom.dataset import Dataset, FileDataset, FileMetaDataset
from pydicom.uid import UID, ExplicitVRLittleEndian

REPO_ROOT = Path(__file__).resolve().parents[1]
MANIFEST = "manifest.csv"
FOLDER_DOCS = frozenset({MANIFEST, "README.md"})

# What read_header / ingest must say about every file that is not a playable ultrasound image.
EXPECTED_REJECTIONS: dict[str, str] = {
    "README.md": "not_dicom",
    MANIFEST: "not_dicom",
    "broken__empty.dcm": "empty",
    "broken__plain-text.dcm": "not_dicom",
    "broken__random-bytes.dcm": "not_dicom",
    "broken__truncated-header_of_Issue16.dcm": "cut_short",
    "orthanc-tests__2026-05-06-Deeply-Nested-Sequence.dcm": "unreadable_structure",
    "orthanc-tests__2026-05-26-oob-monochrome-46341.dcm": "implausible_size",
    "orthanc-tests__2026-05-26-oob-monochrome-65535.dcm": "implausible_size",
    # An MR header with neither Rows nor Pixel Data: there is no image to size.
    "orthanc-tests__DummyCTInvalidRows.dcm": "no_image",
    "orthanc-tests__Issue22-NoPixelData.dcm": "no_image",
    "orthanc-tests__Philips_US_3EAF5680_reference.png": "not_dicom",
    "orthanc-tests__sample-pdf_EncapsulatedPDF.dcm": "no_image",
}
ALLOCATION_BOMBS = (
    "orthanc-tests__2026-05-26-oob-monochrome-46341.dcm",
    "orthanc-tests__2026-05-26-oob-monochrome-65535.dcm",
)


def find_samples_dir() -> Path | None:
    """The samples folder, or None when it is not there (safe at collection time)."""
    configured = os.environ.get("QA_MEETING_SAMPLES_DIR")
    folder = Path(configured) if configured else REPO_ROOT.parent / "shared" / "dicom-samples"
    return folder if (folder / MANIFEST).is_file() else None


def samples_dir() -> Path:
    """The samples folder; fails the test under CI=true when it is missing, else skips it."""
    folder = find_samples_dir()
    if folder is None:
        message = "DICOM samples folder not found; set QA_MEETING_SAMPLES_DIR"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return folder


def sample_names() -> list[str]:
    """Every file name in the samples folder, sorted; empty when the folder is missing."""
    folder = find_samples_dir()
    if folder is None:
        return []
    return sorted(p.name for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))


def manifest_rows() -> dict[str, dict[str, str]]:
    """The manifest, keyed by file name."""
    with (samples_dir() / MANIFEST).open(newline="", encoding="utf-8") as fp:
        return {row["file"]: row for row in csv.DictReader(fp)}


def expected_code(name: str) -> str | None:
    """The rejection code ingest must give this sample, or None when it must be stored."""
    return EXPECTED_REJECTIONS.get(name)


def ultrasound_samples() -> list[Path]:
    """The samples the manifest calls playable ultrasound."""
    folder = samples_dir()
    rows = manifest_rows()
    return [folder / name for name, row in sorted(rows.items()) if row["category"] == "ultrasound"]


def us_dataset(
    *,
    rows: int = 32,
    columns: int = 48,
    frames: int = 3,
    modality: str | None = "US",
    sop_class_uid: str = "1.2.840.10008.5.1.4.1.1.3.1",
    sop_instance_uid: str | None = "1.2.826.0.1.3680043.8.498.1",
    study_instance_uid: str | None = "1.2.826.0.1.3680043.8.498.2",
    pixel_bytes: bytes | None = None,
    with_pixels: bool = True,
) -> Dataset:
    """A small synthetic 8-bit ultrasound cine (Explicit VR Little Endian) to vary in tests."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = UID(sop_class_uid)
    if sop_instance_uid is not None:
        meta.MediaStorageSOPInstanceUID = UID(sop_instance_uid)
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = sop_class_uid
    if sop_instance_uid is not None:
        ds.SOPInstanceUID = sop_instance_uid
    if study_instance_uid is not None:
        ds.StudyInstanceUID = study_instance_uid
    ds.SeriesInstanceUID = "1.2.826.0.1.3680043.8.498.3"
    if modality is not None:
        ds.Modality = modality
    ds.PatientName = "Synthetic^Patient"
    ds.PatientID = "SYN0001"
    ds.StudyDate = "20240131"
    ds.Manufacturer = "Test Manufacturer"
    ds.ManufacturerModelName = "Model T"
    ds.OperatorsName = "Operator^Olive"
    ds.Rows, ds.Columns = rows, columns
    ds.NumberOfFrames = frames
    ds.FrameTime = 25.0
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    if with_pixels:
        data = pixel_bytes if pixel_bytes is not None else bytes(rows * columns * frames)
        ds.PixelData = data + (b"\0" if len(data) % 2 else b"")
    return ds


def write_dataset(ds: Dataset, path: Path) -> Path:
    """Write ``ds`` as a DICOM file (preamble, DICM, meta) without validating it."""
    file_dataset = FileDataset(path, ds, preamble=b"\0" * 128, file_meta=ds.file_meta)
    file_dataset.save_as(path, implicit_vr=False, little_endian=True)
    return path
