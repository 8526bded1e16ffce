"""read_header on every public sample and on synthetic files built to break one rule each."""

from __future__ import annotations

import tempfile
import time
import tracemalloc
import zlib
from dataclasses import replace
from datetime import date
from pathlib import Path

import pydicom
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import UID, DeflatedExplicitVRLittleEndian, ExplicitVRLittleEndian

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


def _save(ds: Dataset, path: Path, syntax: UID = DeflatedExplicitVRLittleEndian) -> Path:
    """Write ``ds`` in the file format as pydicom does, by default Deflated Explicit VR LE."""
    ds.file_meta.TransferSyntaxUID = syntax
    ds.save_as(path, enforce_file_format=True)
    return path


def _dataset_start(data: bytes) -> int:
    """Offset just after the file meta group (its group length counts from offset 144)."""
    return 144 + int.from_bytes(data[140:144], "little")


def _deflate_bomb(folder: Path, dataset: bytes, zeros: int) -> Path:
    """A Deflated file whose dataset is ``dataset`` followed by ``zeros`` zero bytes.

    Deflate shrinks at most about 1000:1, so a GiB of zeros takes about a MB: one MiB is
    compressed once and repeated, each copy a complete run of blocks after a full flush.
    """
    head = _save(us_dataset(), folder / "shell.dcm").read_bytes()
    compressor = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    parts = [compressor.compress(dataset), compressor.flush(zlib.Z_FULL_FLUSH)]
    mebibyte = compressor.compress(bytes(2**20)) + compressor.flush(zlib.Z_FULL_FLUSH)
    parts += [mebibyte] * (zeros // 2**20)
    parts.append(compressor.flush())
    path = folder / "bomb.dcm"
    path.write_bytes(head[: _dataset_start(head)] + b"".join(parts))
    return path


def _plain_dataset(folder: Path, *, pixel_length: int | None = None) -> bytes:
    """The encoded dataset (after the file meta) of the synthetic cine, uncompressed."""
    data = _save(us_dataset(), folder / "plain.dcm", ExplicitVRLittleEndian).read_bytes()
    dataset = data[_dataset_start(data) :]
    if pixel_length is not None:  # Pixel Data: tag, VR (OB or OW), 2 reserved bytes, length
        at = dataset.index(b"\xe0\x7f\x10\x00") + 8
        dataset = dataset[:at] + pixel_length.to_bytes(4, "little") + dataset[at + 4 :]
    return dataset


def test_deflated_file_is_accepted(tmp_path: Path) -> None:
    pixels = bytes(range(256)) * (64 * 80 * 5 // 256)
    ds = us_dataset(rows=64, columns=80, frames=5, pixel_bytes=pixels)
    header = _read(_save(ds, tmp_path / "deflated.dcm"), **SMALL)
    assert (header.rows, header.columns, header.number_of_frames) == (64, 80, 5)
    assert header.transfer_syntax_uid == DeflatedExplicitVRLittleEndian
    plain = _read(write_dataset(us_dataset(rows=64, columns=80, frames=5), tmp_path / "p.dcm"))
    assert replace(header, transfer_syntax_uid=ExplicitVRLittleEndian) == plain


@pytest.mark.parametrize("syntax", [ExplicitVRLittleEndian, DeflatedExplicitVRLittleEndian])
def test_long_frame_time_vector_is_read_back_after_the_parse(tmp_path: Path, syntax: UID) -> None:
    ds = us_dataset()
    del ds.FrameTime
    ds.FrameTimeVector = [0.0] + [40.0] * 999  # about 5 kB: longer than the parse keeps
    header = _read(_save(ds, tmp_path / "vector.dcm", syntax), **SMALL)
    assert header.frame_time_ms == pytest.approx(40.0)


@pytest.mark.parametrize("damage", ["pixels short of the header's claim", "file cut short"])
def test_deflated_file_is_checked_after_inflating(tmp_path: Path, damage: str) -> None:
    if damage == "file cut short":
        path = _save(us_dataset(), tmp_path / "cut.dcm")
        path.write_bytes(path.read_bytes()[:-20])
    else:
        ds = us_dataset(frames=3, pixel_bytes=bytes(32 * 48 * 2))  # two frames of three
        path = _save(ds, tmp_path / "short.dcm")
    assert _refusal(path, **SMALL).code == "cut_short"


def test_damaged_deflated_data_is_refused(tmp_path: Path) -> None:
    data = _save(us_dataset(), tmp_path / "damaged.dcm").read_bytes()
    path = tmp_path / "damaged.dcm"
    path.write_bytes(data[: _dataset_start(data)] + b"\xff" * 64)  # block type 3 does not exist
    assert _refusal(path).code == "unreadable_structure"


@pytest.mark.parametrize(
    ("bomb", "code"),
    [
        ("a GiB of zeros after the pixels", "implausible_size"),
        ("pixel data claiming 4 GB", "implausible_size"),
        ("a dataset of a GiB of zeros", "unreadable_structure"),
    ],
)
def test_deflate_bombs_are_refused_quickly_in_little_memory(
    tmp_path: Path, bomb: str, code: str
) -> None:
    if bomb == "a dataset of a GiB of zeros":
        dataset = b""
    else:
        pixel_length = 0xFFFFFFF0 if bomb == "pixel data claiming 4 GB" else None
        dataset = _plain_dataset(tmp_path, pixel_length=pixel_length)
    path = _deflate_bomb(tmp_path, dataset, zeros=2**30)
    assert path.stat().st_size < 2 * 2**20
    tracemalloc.start()
    started = time.perf_counter()
    try:
        with pytest.raises(DicomRejectedError) as caught:
            _read(path)  # the site's default limits: 4 GB of decoded pixels
        elapsed = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert caught.value.code == code
    assert peak < 4 * 2**20, f"peak {peak} bytes while refusing {bomb}"
    assert elapsed < 5, f"{elapsed:.1f} s to refuse {bomb}: it inflated far too much"


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
