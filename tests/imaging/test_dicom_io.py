"""read_header on every public sample and on synthetic files built to break one rule each."""

from __future__ import annotations

import tempfile
import tracemalloc
import zlib
from datetime import date
from pathlib import Path

import pydicom
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import UID

from qa_meeting.domain.scans import DicomHeader
from qa_meeting.imaging.dicom_io import DicomRejectedError, is_probably_dicom, read_header
from tests.samples import (
    ALLOCATION_BOMBS,
    FOLDER_DOCS,
    expected_code,
    manifest_rows,
    sample_names,
    samples_dir,
    us_dataset,
    write_dataset,
)

LIMITS = {"max_frames": 5000, "max_decoded_bytes": 4096 * 2**20}
SMALL = {"max_frames": 10, "max_decoded_bytes": 10**6}


def _read(path: Path, **limits: int) -> DicomHeader:
    return read_header(path, **(limits or LIMITS))


def _refusal(path: Path, **limits: int) -> DicomRejectedError:
    with pytest.raises(DicomRejectedError) as caught:
        _read(path, **limits)
    assert caught.value.message and caught.value.remedy
    return caught.value


def _patient_words(path: Path) -> set[str]:
    """Patient name parts and id in a sample's header, where pydicom can read one."""
    try:
        ds = pydicom.dcmread(path, stop_before_pixels=True, specific_tags=["PatientName"])
        ds_id = pydicom.dcmread(path, stop_before_pixels=True, specific_tags=["PatientID"])
    except Exception:
        return set()
    words = set(str(ds.get("PatientName", "")).replace("^", " ").split())
    words.add(str(ds_id.get("PatientID", "")).strip())
    return {w for w in words if len(w) >= 3}


def test_samples_folder_is_present() -> None:
    assert (samples_dir() / "manifest.csv").is_file()


def test_every_sample_is_in_the_manifest_and_classified() -> None:
    rows = manifest_rows()
    on_disk = set(sample_names()) - FOLDER_DOCS
    assert on_disk == set(rows), "manifest.csv and the folder disagree"
    for name, row in rows.items():
        must_store = row["category"] == "ultrasound"
        assert (expected_code(name) is None) == must_store, name


@pytest.mark.parametrize("name", sample_names())
def test_sample(name: str) -> None:
    path = samples_dir() / name
    code = expected_code(name)
    if code is not None:
        refusal = _refusal(path)
        assert refusal.code == code
        for word in _patient_words(path):
            assert word not in str(refusal), "a refusal must not echo patient identifiers"
        return
    row = manifest_rows()[name]
    header = _read(path)
    assert header.rows == int(row["rows"])
    assert header.columns == int(row["columns"])
    assert header.number_of_frames == int(row["frames"] or 1)
    assert header.modality == row["modality"] == "US"
    assert header.photometric_interpretation == row["photometric"]
    assert header.has_ultrasound_regions == (row["has_us_regions_0018_6011"] == "yes")
    assert len(header.sop_instance_uid) <= 64 and header.study_instance_uid


@pytest.mark.parametrize("name", ALLOCATION_BOMBS)
def test_allocation_bombs_are_refused_without_allocating(name: str) -> None:
    path = samples_dir() / name
    tracemalloc.start()
    try:
        with pytest.raises(DicomRejectedError) as caught:
            _read(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert caught.value.code == "implausible_size"
    assert peak < 4 * 2**20, f"peak {peak} bytes while refusing {name}"


def test_cine_sample_reports_frame_time() -> None:
    header = _read(samples_dir() / "orthanc-tests__Issue16.dcm")
    assert header.number_of_frames == 34 and header.frame_time_ms == pytest.approx(30.0)
    vector = _read(samples_dir() / "fo-dicom__DIRW0007")  # Frame Time Vector only
    assert vector.frame_time_ms is not None and 30 < vector.frame_time_ms < 50


def test_is_probably_dicom(tmp_path: Path) -> None:
    assert is_probably_dicom(samples_dir() / "orthanc-tests__Issue19.dcm")
    assert not is_probably_dicom(samples_dir() / "broken__plain-text.dcm")
    assert not is_probably_dicom(tmp_path / "missing.dcm")


def test_synthetic_cine_reads_every_field(tmp_path: Path) -> None:
    header = _read(write_dataset(us_dataset(), tmp_path / "ok.dcm"), **SMALL)
    assert header == DicomHeader(
        sop_instance_uid="1.2.826.0.1.3680043.8.498.1",
        sop_class_uid="1.2.840.10008.5.1.4.1.1.3.1",
        study_instance_uid="1.2.826.0.1.3680043.8.498.2",
        series_instance_uid="1.2.826.0.1.3680043.8.498.3",
        modality="US",
        rows=32,
        columns=48,
        number_of_frames=3,
        samples_per_pixel=1,
        bits_allocated=8,
        photometric_interpretation="MONOCHROME2",
        transfer_syntax_uid="1.2.840.10008.1.2.1",
        frame_time_ms=25.0,
        has_ultrasound_regions=False,
        manufacturer="Test Manufacturer",
        model_name="Model T",
        study_date=date(2024, 1, 31),
        operators_name="Operator^Olive",
    )


def test_cut_short_pixel_data(tmp_path: Path) -> None:
    path = write_dataset(us_dataset(), tmp_path / "cut.dcm")
    path.write_bytes(path.read_bytes()[:-100])
    assert _refusal(path, **SMALL).code == "cut_short"


def test_pixel_data_shorter_than_the_header_claims(tmp_path: Path) -> None:
    ds = us_dataset(frames=3, pixel_bytes=bytes(32 * 48 * 2))  # two frames of three
    assert _refusal(write_dataset(ds, tmp_path / "short.dcm"), **SMALL).code == "cut_short"


def test_cut_short_compressed_pixel_data(tmp_path: Path) -> None:
    data = (samples_dir() / "orthanc-tests__Issue16.dcm").read_bytes()
    path = tmp_path / "cut.dcm"
    path.write_bytes(data[: len(data) // 2])
    assert _refusal(path).code == "cut_short"


def test_wrong_modality_is_named(tmp_path: Path) -> None:
    ds = us_dataset(modality="CT", sop_class_uid="1.2.840.10008.5.1.4.1.1.2")
    refusal = _refusal(write_dataset(ds, tmp_path / "ct.dcm"), **SMALL)
    assert refusal.code == "not_ultrasound" and "CT" in refusal.message


def test_ultrasound_sop_class_without_modality_is_accepted(tmp_path: Path) -> None:
    header = _read(write_dataset(us_dataset(modality=None), tmp_path / "us.dcm"), **SMALL)
    assert header.modality == ""


def test_too_many_frames(tmp_path: Path) -> None:
    refusal = _refusal(write_dataset(us_dataset(frames=11), tmp_path / "long.dcm"), **SMALL)
    assert refusal.code == "implausible_size" and "11 frames" in refusal.message


def test_decoded_size_over_the_limit(tmp_path: Path) -> None:
    ds = us_dataset(rows=600, columns=800, frames=3)
    assert _refusal(write_dataset(ds, tmp_path / "big.dcm"), **SMALL).code == "implausible_size"


@pytest.mark.parametrize("rows", [0, 16385])
def test_rows_out_of_range(tmp_path: Path, rows: int) -> None:
    ds = us_dataset()
    ds.Rows = rows
    assert _refusal(write_dataset(ds, tmp_path / "rows.dcm"), **SMALL).code == "implausible_size"


@pytest.mark.parametrize(
    "changes",
    [
        {"sop_instance_uid": None},
        {"study_instance_uid": None},
        {"sop_instance_uid": "1.2.3.patient-name"},
        {"study_instance_uid": "1." + "2" * 70},
    ],
)
def test_missing_or_invalid_uid(tmp_path: Path, changes: dict[str, str | None]) -> None:
    ds = us_dataset(**changes)  # type: ignore[arg-type]
    assert _refusal(write_dataset(ds, tmp_path / "uid.dcm"), **SMALL).code == "missing_uid"


def test_image_header_without_pixels(tmp_path: Path) -> None:
    refusal = _refusal(write_dataset(us_dataset(with_pixels=False), tmp_path / "np.dcm"), **SMALL)
    assert refusal.code == "no_image" and "incomplete" in refusal.message


def test_dicomdir_is_refused_as_an_index(tmp_path: Path) -> None:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = UID("1.2.840.10008.1.3.10")
    meta.MediaStorageSOPInstanceUID = UID("1.2.826.0.1.3680043.8.498.9")
    meta.TransferSyntaxUID = UID("1.2.840.10008.1.2.1")
    ds = Dataset()
    ds.file_meta = meta
    ds.FileSetID = "STUDY"
    refusal = _refusal(write_dataset(ds, tmp_path / "DICOMDIR"))
    assert refusal.code == "dicomdir" and "DICOMDIR" in refusal.message


def test_deflated_files_are_refused_before_inflating(tmp_path: Path) -> None:
    path = tmp_path / "deflated.dcm"
    ds = us_dataset()
    ds.file_meta.TransferSyntaxUID = UID("1.2.840.10008.1.2.1.99")
    write_dataset(ds, path)
    data = path.read_bytes()
    start = data.index(b"1.2.840.10008.1.2.1.99") + 24  # end of the meta group
    path.write_bytes(data[:start] + zlib.compress(bytes(10**6))[2:])
    assert _refusal(path, **SMALL).code == "unreadable_structure"


@pytest.mark.parametrize(("content", "code"), [(b"", "empty"), (b"\0" * 200, "not_dicom")])
def test_empty_and_markerless(tmp_path: Path, content: bytes, code: str) -> None:
    path = tmp_path / "x.dcm"
    path.write_bytes(content)
    assert _refusal(path).code == code


def test_unopenable_file(tmp_path: Path) -> None:
    assert _refusal(tmp_path / "does-not-exist.dcm").code == "cannot_open"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fraction=st.floats(min_value=0.0, max_value=0.9999))
def test_any_truncation_is_refused(fraction: float) -> None:
    for name in ("orthanc-tests__Issue19.dcm", "orthanc-tests__Issue16.dcm"):  # pixels last
        data = (samples_dir() / name).read_bytes()
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "cut.dcm"
            path.write_bytes(data[: int(len(data) * fraction)])
            with pytest.raises(DicomRejectedError):
                _read(path)


@settings(max_examples=150, deadline=None)
@given(body=st.binary(min_size=0, max_size=600))
def test_garbage_after_the_marker_is_refused_not_crashed(body: bytes) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "fuzz.dcm"
        path.write_bytes(b"\0" * 128 + b"DICM" + body)
        with pytest.raises(DicomRejectedError):
            _read(path)
