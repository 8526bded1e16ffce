"""Header de-identification: a synthetic loop seeded with a marker everywhere, and samples."""

from __future__ import annotations

import io
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.filewriter import dcmwrite
from pydicom.sequence import Sequence

from qa_meeting.domain.deid import (
    DeidKeys,
    DeidOption,
    DeidRefusedError,
    DeidReport,
    PixelMethod,
    Rect,
    validate_pseudonym,
)
from qa_meeting.errors import ValidationError
from qa_meeting.imaging.deid_pixels import load_pixel_rules
from qa_meeting.imaging.deid_profile import (
    PROFILE_EDITION,
    Action,
    HeaderPolicy,
    Treatment,
    annex_e_table,
    effective_treatment,
    header_rules,
    identifying_values,
    tag_of,
)
from qa_meeting.imaging.deidentify import deidentify_dicom, deidentify_header, identifying_strings
from qa_meeting.imaging.frames import iter_rgb_frames
from qa_meeting.imaging.synthetic import CineSpec, build_dataset
from tests.samples import samples_dir

MARKER = "ZZMARKERZZ"
KEYS = DeidKeys(b"test-secret-0123456789abcdef")
PSEUDONYM = "TEACHING^CASE 12"
ROWS, COLUMNS = 200, 240
# Every identifying attribute handled, each holding the marker.
MARKED_TEXT = {
    "InstitutionAddress": f"1 {MARKER} Road",
    "InstitutionalDepartmentName": f"{MARKER} ED",
    "ReferringPhysicianName": f"{MARKER}^REFERRER",
    "PerformingPhysicianName": f"{MARKER}^PERFORMER",
    "NameOfPhysiciansReadingStudy": f"{MARKER}^READER",
    "StationName": f"{MARKER}ST",
    "DeviceSerialNumber": f"{MARKER}SN",
    "StudyID": f"{MARKER}03",
    "SeriesDescription": f"{MARKER} series",
    "ImageComments": f"{MARKER} comment",
    "ProtocolName": f"{MARKER} protocol",
    "DerivationDescription": f"{MARKER} derived",
    "OtherPatientIDs": f"{MARKER}04",
    "OtherPatientNames": f"{MARKER}^OTHER",
    "PatientAddress": f"2 {MARKER} Street",
    "PatientTelephoneNumbers": f"{MARKER}-07700",
    "PatientComments": f"{MARKER} comments",
    "AdditionalPatientHistory": f"{MARKER} history",
    "RequestingPhysician": f"{MARKER}^REQUESTER",
    "SoftwareVersions": f"{MARKER} 1.0",
    "TransducerData": f"{MARKER} probe",
    "ContentCreatorName": f"{MARKER}^CREATOR",
}
MARKED_DATES = {"PatientBirthDate": "19600101", "AcquisitionDate": "20250101"}


def marked_dataset(
    case_id: str = "marked", *, patient_id: str = f"{MARKER}01", study_key: str = "study-1"
) -> Dataset:
    """A synthetic loop with the marker in every identifying place, nested and private too."""
    spec = CineSpec(
        case_id=case_id,
        scene="cardiac_plax",
        rows=ROWS,
        columns=COLUMNS,
        frames=4,
        patient_name=f"{MARKER}^PATIENT",
        patient_id=patient_id,
        patient_age="095Y",
        patient_sex="F",
        operator_name=f"{MARKER}^OPERATOR",
        institution_name=f"{MARKER} Hospital",
        accession_number=f"{MARKER}02",
        study_description=f"{MARKER} study",
        study_key=study_key,
        manufacturer="ACME Medical",
        model_name="Sonic 9",
    )
    ds = build_dataset(spec)
    for keyword, value in {**MARKED_TEXT, **MARKED_DATES}.items():
        setattr(ds, keyword, value)
    study = _item(ReferencedSOPClassUID="1.2.840.10008.3.1.2.3.1", StudyDescription=f"{MARKER}!")
    study.ReferencedSOPInstanceUID = "1.2.3.4.5.6.7.8.9"
    ds.ReferencedStudySequence = Sequence([study])
    code = _item(CodeValue="X1", CodingSchemeDesignator="99ZZ", CodeMeaning=f"{MARKER} deep")
    request = _item(RequestedProcedureID=f"{MARKER}05", ScheduledProcedureStepID=f"{MARKER}06")
    request.RequestedProcedureCodeSequence = Sequence([code])
    ds.RequestAttributesSequence = Sequence([request])
    block = ds.private_block(0x0009, f"{MARKER} CREATOR", create=True)
    block.add_new(0x01, "LO", f"{MARKER} private")
    block.add_new(0x02, "PN", f"{MARKER}^PRIVATE")
    ds.add_new(0x60000010, "US", ROWS)
    ds.add_new(0x60000011, "US", COLUMNS)
    ds.add_new(0x60000022, "LO", f"{MARKER} overlay")
    ds.add_new(0x60003000, "OW", MARKER.encode() * 2)
    ds.add_new(0x50002500, "LO", f"{MARKER} curve")
    icon = _item(Rows=1, Columns=len(MARKER), SamplesPerPixel=1)
    icon.add_new(0x7FE00010, "OB", MARKER.encode())
    ds.IconImageSequence = Sequence([icon])
    pixels = np.frombuffer(ds.PixelData, np.uint8)[: 4 * ROWS * COLUMNS].reshape(4, ROWS, COLUMNS)
    pixels = pixels.copy()
    pixels[:, 2, 10 : 10 + len(MARKER)] = np.frombuffer(MARKER.encode(), np.uint8)  # banner
    pixels[1, ROWS - 2, 10 : 10 + len(MARKER)] = np.frombuffer(MARKER.encode(), np.uint8)
    ds.PixelData = pixels.tobytes()
    return ds


def _item(**values: Any) -> Dataset:
    item = Dataset()
    for keyword, value in values.items():
        setattr(item, keyword, value)
    return item


def write(ds: Dataset, path: Path) -> Path:
    dcmwrite(path, ds, enforce_file_format=True)
    return path


def run(
    src: Path, *, policy: HeaderPolicy | None = None, keys: DeidKeys = KEYS, **kwargs: Any
) -> tuple[bytes, DeidReport, bytes]:
    out, sheet = io.BytesIO(), io.BytesIO()
    arguments: dict[str, Any] = {"rules": load_pixel_rules(), "mask": None, **kwargs}
    report = deidentify_dicom(
        src,
        out,
        pseudonym=PSEUDONYM,
        keys=keys,
        policy=policy or HeaderPolicy(),
        max_decoded_bytes=2**30,
        contact_sheet=sheet,
        **arguments,
    )
    return out.getvalue(), report, sheet.getvalue()


def read(data: bytes) -> Dataset:
    return pydicom.dcmread(io.BytesIO(data))


@pytest.fixture
def marked(tmp_path: Path) -> Path:
    return write(marked_dataset(), tmp_path / "marked.dcm")


def test_no_marker_byte_survives_anywhere(marked: Path) -> None:
    data, report, _ = run(marked)
    for variant in (MARKER, MARKER.lower(), "zzmarker", "markerzz"):
        for encoding in ("ascii", "utf-16-le", "utf-16-be"):
            assert variant.encode(encoding) not in data.lower(), (variant, encoding)
    found = [value for value in identifying_strings(marked) if value.lower().encode() in data]
    assert found == []
    assert MARKER not in str(report.to_json()) and MARKER not in repr(report)
    assert any(MARKER in value for value in report.original_identifiers)


def test_removed_attributes_are_listed(marked: Path) -> None:
    _, report, _ = run(marked)
    expected = {"RequestAttributesSequence", "ReferencedStudySequence", "IconImageSequence",
                "OverlayDescription", "OverlayData", "CurveLabel", "InstitutionName",
                "OperatorsName", "StudyDescription", "PatientAddress", "SoftwareVersions",
                "private (0009,0010)", "private (0009,1001)"}  # fmt: skip
    assert expected <= set(report.removed)
    assert {"AccessionNumber", "StudyID", "PatientBirthDate", "StudyTime"} <= set(report.emptied)
    assert set(report.replaced) == {"PatientName", "PatientID"}
    assert {"SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID"} <= set(report.remapped_uids)


def test_output_header_is_marked_and_valid(marked: Path) -> None:
    data, report, _ = run(marked)
    ds = read(data)
    assert data[:128] == b"\0" * 128 and data[128:132] == b"DICM"
    assert ds.file_meta.TransferSyntaxUID == pydicom.uid.ExplicitVRLittleEndian
    assert ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
    assert ds.PatientIdentityRemoved == "YES"
    assert list(ds.DeidentificationMethod) == [f"DICOM PS3.15 {PROFILE_EDITION} Basic Profile",
                                              "QA Meeting 0.1.0"]  # fmt: skip
    codes = [item.CodeValue for item in ds.DeidentificationMethodCodeSequence]
    assert codes == ["113100", "113101", "113107", "113108"] == [o.code for o in report.options]
    assert {item.CodingSchemeDesignator for item in ds.DeidentificationMethodCodeSequence} == {
        "DCM"
    }
    assert ds.LongitudinalTemporalInformationModified == "MODIFIED"
    assert ds.BurnedInAnnotation == "NO"
    assert (str(ds.PatientName), ds.PatientID) == (PSEUDONYM, "TEACHING CASE 12")
    assert (ds.PatientAge, ds.PatientSex) == ("090Y", "F")  # over 90 written as 90
    assert not [element for element in ds.iterall() if element.tag.is_private]
    assert not [e for e in ds if e.tag.group & 0xFF00 in (0x5000, 0x6000)]
    assert ds.SequenceOfUltrasoundRegions[0].RegionLocationMinY0 == 33
    assert ds.pixel_array.shape == (4, ROWS, COLUMNS)


def test_uids_are_remapped_consistently_with_the_key(tmp_path: Path) -> None:
    first = write(marked_dataset("one"), tmp_path / "one.dcm")
    second = write(marked_dataset("two"), tmp_path / "two.dcm")
    a, b = read(run(first)[0]), read(run(second)[0])
    again = read(run(first)[0])
    other_key = read(run(first, keys=DeidKeys(b"another-secret-0123456789"))[0])
    assert a.StudyInstanceUID == b.StudyInstanceUID == again.StudyInstanceUID
    assert a.SOPInstanceUID != b.SOPInstanceUID and a.SOPInstanceUID == again.SOPInstanceUID
    assert other_key.StudyInstanceUID != a.StudyInstanceUID
    source = pydicom.dcmread(first, stop_before_pixels=True)
    assert a.StudyInstanceUID == KEYS.uid(source.StudyInstanceUID) != source.StudyInstanceUID
    for uid in (a.StudyInstanceUID, a.SeriesInstanceUID, a.SOPInstanceUID):
        assert uid.startswith("2.25.") and len(uid) <= 64
        assert pydicom.uid.UID(uid).is_valid


def test_dates_shift_by_one_offset_per_patient(tmp_path: Path) -> None:
    first = write(marked_dataset("one"), tmp_path / "one.dcm")
    second = write(marked_dataset("two"), tmp_path / "two.dcm")
    other = write(marked_dataset("three", patient_id="OTHER-PATIENT"), tmp_path / "three.dcm")
    (data_a, report_a, _), (data_b, report_b, _) = run(first), run(second)
    report_c = run(other)[1]
    assert report_a.date_shift_days == report_b.date_shift_days != report_c.date_shift_days
    offset = report_a.date_shift_days
    assert offset is not None and -3652 <= offset <= -365
    for data in (data_a, data_b):
        ds = read(data)
        for keyword in ("StudyDate", "SeriesDate", "ContentDate", "AcquisitionDate"):
            assert _days(ds[keyword].value) - _days("20250101") == offset
    assert set(report_a.shifted_dates) >= {"StudyDate", "SeriesDate", "ContentDate"}
    assert read(data_a).PatientBirthDate == "" and read(data_a).StudyTime == ""


def _days(value: str) -> int:
    return date(int(value[:4]), int(value[4:6]), int(value[6:])).toordinal()


def test_without_date_shift_dates_go(marked: Path) -> None:
    data, report, _ = run(marked, policy=HeaderPolicy(shift_dates=False))
    ds = read(data)
    assert ds.StudyDate == "" and "SeriesDate" not in ds
    assert ds.LongitudinalTemporalInformationModified == "REMOVED"
    assert DeidOption.RETAIN_MODIFIED_DATES not in report.options
    assert report.date_shift_days is None


def test_without_patient_characteristics(marked: Path) -> None:
    data, report, _ = run(marked, policy=HeaderPolicy(retain_patient_characteristics=False))
    ds = read(data)
    assert "PatientAge" not in ds and ds.PatientSex == ""
    assert DeidOption.RETAIN_PATIENT_CHARACTERISTICS not in report.options


def test_an_unexpected_value_representation_is_refused(marked: Path) -> None:
    ds = pydicom.dcmread(marked, stop_before_pixels=True)
    ds["Manufacturer"].VR = "UN"
    with pytest.raises(DeidRefusedError, match="Manufacturer"):
        deidentify_header(
            ds, pseudonym=PSEUDONYM, keys=KEYS, policy=HeaderPolicy(), pixels_cleaned=True
        )


def test_a_surviving_identifier_is_refused(tmp_path: Path) -> None:
    ds = marked_dataset()
    ds.ManufacturerModelName = f"Sonic {MARKER}01"  # the patient ID, inside a kept attribute
    ds.StationName = "acme medical"  # the kept Manufacturer: not counted as an identifier
    with pytest.raises(DeidRefusedError, match=r"from PatientID would remain in the header"):
        run(write(ds, tmp_path / "leak.dcm"))


@pytest.mark.parametrize("pseudonym", ["", "A" * 65, "CASE\\1", "CAFÉ^1"])
def test_pseudonym_must_be_plain(pseudonym: str) -> None:
    with pytest.raises(ValidationError):
        validate_pseudonym(pseudonym)


def test_the_pinned_annex_e_table() -> None:
    table = annex_e_table()
    assert PROFILE_EDITION == "2026c"
    expected = {
        "PatientName": Action.EMPTY,
        "PatientID": Action.EMPTY_OR_REPLACE,
        "StudyInstanceUID": Action.UID,
        "InstitutionName": Action.REMOVE_EMPTY_OR_REPLACE,
        "PatientAge": Action.REMOVE,
        "IconImageSequence": Action.REMOVE,
    }
    assert {keyword: table.action(tag_of(keyword)) for keyword in expected} == expected
    assert table.action(0x60024000) is Action.REMOVE  # Overlay Comments, any 60xx group
    assert table.action(0x50061234) is Action.REMOVE  # Curve Data: all of 50xx
    assert table.action(tag_of("Rows")) is None


@pytest.mark.parametrize("policy", [HeaderPolicy(), HeaderPolicy(False, False)])
def test_allow_list_never_keeps_what_the_profile_removes(policy: HeaderPolicy) -> None:
    table = annex_e_table()
    options = {Treatment.DATE: policy.shift_dates, Treatment.AGE: True, Treatment.SEX: True}
    if not policy.retain_patient_characteristics:
        options |= {Treatment.AGE: False, Treatment.SEX: False}
    rules = header_rules(policy)
    for tag, treatment in rules.treatments.items():
        action = table.action(tag)
        if action is None or options.get(treatment):
            continue
        assert treatment is not Treatment.KEEP, hex(tag)
        if action is Action.REMOVE:
            assert treatment is Treatment.REMOVE, hex(tag)
    with pytest.raises(RuntimeError):
        effective_treatment(Treatment.KEEP, Action.REPLACE, policy, "ContentSequence")


def test_identifying_values_cover_names_ids_dates_uids() -> None:
    values = identifying_values(marked_dataset())
    for expected in (f"{MARKER}^PATIENT", f"PATIENT {MARKER}", f"{MARKER}01", f"{MARKER}02",
                     f"{MARKER} Hospital", f"{MARKER}^OPERATOR", "19600101", "01/01/1960",
                     "1960-01-01", f"{MARKER}05", f"{MARKER}06", f"{MARKER} private"):  # fmt: skip
        assert expected in values, expected
    assert values[f"{MARKER}05"] == "RequestAttributesSequence>RequestedProcedureID"
    assert not any(value.startswith("1.2.840.10008.") for value in values)  # registry UIDs
    assert "Sonic 9" not in values and "F" not in values


def test_region_pixels_unchanged_and_everything_else_zero(marked: Path) -> None:
    data, report, _ = run(marked)
    source = pydicom.dcmread(marked).pixel_array
    cleaned = read(data).pixel_array
    (rect,) = report.pixel_rects
    assert report.pixel_method is PixelMethod.REGIONS
    inside = (slice(None), slice(rect.y0, rect.y1 + 1), slice(rect.x0, rect.x1 + 1))
    assert np.array_equal(cleaned[inside], source[inside])
    outside = np.ones(cleaned.shape, bool)
    outside[inside] = False
    assert not cleaned[outside].any() and source[outside].any()


def _sample(name: str) -> Path:
    return samples_dir() / name


def test_sample_with_private_tags_loses_them(tmp_path: Path) -> None:
    src = _sample("orthanc-tests__PrivateTags_GDCM-494APG9K.dcm")
    assert any(e.tag.is_private for e in pydicom.dcmread(src, stop_before_pixels=True))
    data, report, _ = run(src, mask=(Rect(0, 40, 639, 479),))
    ds = read(data)
    assert not [element for element in ds.iterall() if element.tag.is_private]
    assert report.pixel_method is PixelMethod.MASK
    assert not ds.pixel_array[:40].any()
    assert any(label.startswith("private") for label in report.removed)
    assert not [v for v in identifying_strings(src) if v.lower().encode() in data.lower()]


def test_rle_sample_is_cleaned_by_its_regions_and_written_uncompressed() -> None:
    src = _sample("orthanc-tests__2023-04-21-RLEPlanarConfigurationYBR_FULL.dcm")
    data, report, _ = run(src)
    ds = read(data)
    assert report.pixel_method is PixelMethod.REGIONS
    assert report.pixel_rects == (Rect(0, 120, 1100, 909),)  # Max Y1 910 clipped to the frame
    assert report.transfer_syntax_in == pydicom.uid.RLELossless
    assert (ds.PhotometricInterpretation, ds.PlanarConfiguration) == ("RGB", 0)
    assert ds.BurnedInAnnotation == "NO"
    cleaned = ds.pixel_array
    (source,) = list(iter_rgb_frames(src))
    assert np.array_equal(cleaned[120:910, :1101], source[120:910, :1101])
    assert not cleaned[:120].any() and not cleaned[:, 1101:].any()


def test_report_json_has_no_identifiers_or_shift(marked: Path) -> None:
    report = run(marked)[1]
    text = str(report.to_json())
    assert "date_shift" not in text and MARKER not in text
    assert replace(report, original_identifiers=frozenset()).to_json() == report.to_json()
