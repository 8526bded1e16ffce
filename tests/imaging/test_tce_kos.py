"""The IHE TCE manifest: a Key Object Selection "For Teaching File Export" with TCE content."""

from __future__ import annotations

from pathlib import Path

import pydicom
import pytest
from highdicom.ko import KeyObjectSelectionDocument
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.uid import generate_uid

from qa_meeting.domain.package import (
    ClinicalContext,
    Level,
    QuestionRecord,
    TeachingCase,
    TeachingPointRecord,
)
from qa_meeting.imaging.synthetic import CineSpec, write_cine
from qa_meeting.imaging.tce_kos import (
    TceContent,
    TceExportError,
    inspect_exported_instance,
    read_tce_kos,
    tce_content,
    write_tce_kos,
)

CONTENT = TceContent(
    author="QA Meeting expert",
    abstract="Missed pericardial effusion",
    level=Level.ADVANCED,
    keywords=("FUSIC Heart", "effusion"),
    history="Age band: 60-69; Sex: F",
    findings=("Pericardial effusion?: Yes", "LV function?: Normal"),
    discussion="Echo-free space anterior to the RV.",
    diagnosis="Moderate pericardial effusion",
    description="Missed pericardial effusion",
)


def _cleaned(folder: Path, case_id: str, *, private: bool = False) -> Path:
    """A synthetic loop made to look de-identified (the header only: enough for the KOS)."""
    path = write_cine(CineSpec(case_id=case_id, scene="cardiac_a4c", frames=2), folder / case_id)
    ds = pydicom.dcmread(path)
    ds.PatientName, ds.PatientID, ds.PatientBirthDate = "TEACHING^CASE", "QA-1", ""
    ds.StudyInstanceUID = generate_uid(entropy_srcs=["one study"])
    ds.PatientIdentityRemoved = "YES"
    ds.DeidentificationMethod = "test"
    if private:
        ds.private_block(0x0011, "ACME", create=True).add_new(0x01, "LO", "hidden")
    ds.save_as(path, enforce_file_format=True)
    return path


@pytest.fixture
def instances(tmp_path: Path) -> list[Path]:
    return [_cleaned(tmp_path, "kos-1"), _cleaned(tmp_path, "kos-2")]


def test_the_manifest_is_titled_for_teaching_file_export_and_references_every_instance(
    instances: list[Path], tmp_path: Path
) -> None:
    uid = write_tce_kos(instances, CONTENT, tmp_path / "kos" / "tce.dcm")
    document = read_tce_kos(tmp_path / "kos" / "tce.dcm")
    assert document.sop_instance_uid == uid
    assert document.title == ("TCE001", "IHERADTF", "For Teaching File Export")
    expected = {str(pydicom.dcmread(p, stop_before_pixels=True).SOPInstanceUID) for p in instances}
    assert document.referenced_sop_instance_uids == expected == document.content_references
    assert document.patient_identity_removed == "YES"
    assert "113011" not in document.codes  # no delay asked for


def test_the_teaching_file_content_items_carry_their_tce_codes(
    instances: list[Path], tmp_path: Path
) -> None:
    write_tce_kos(instances, CONTENT, tmp_path / "tce.dcm")
    document = read_tce_kos(tmp_path / "tce.dcm")
    assert document.texts == {
        "113012": ("Missed pericardial effusion",),  # Key Object Description
        "TCE101": ("QA Meeting expert",),
        "TCE104": ("Missed pericardial effusion",),
        "TCE105": ("FUSIC Heart", "effusion"),
        "121060": ("Age band: 60-69; Sex: F",),
        "121071": ("Pericardial effusion?: Yes", "LV function?: Normal"),
        "TCE106": ("Echo-free space anterior to the RV.",),
        "TCE107": ("Moderate pericardial effusion",),
    }
    assert document.codes == {"TCE109": ("TCE309",), "TCE110": ("TCE203",)}
    ds = pydicom.dcmread(tmp_path / "tce.dcm")
    schemes = {
        str(item.ConceptNameCodeSequence[0].CodeValue): item.ConceptNameCodeSequence[0]
        for item in ds.ContentSequence
        if "ConceptNameCodeSequence" in item
    }
    assert schemes["TCE101"].CodingSchemeDesignator == "IHERADTF"
    assert schemes["121071"].CodingSchemeDesignator == "DCM"
    assert ds.Modality == "KO" and ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.88.59"
    assert ds.ContentTemplateSequence[0].TemplateIdentifier == "2010"


@pytest.mark.parametrize(
    ("level", "code"),
    [(Level.PRIMARY, "TCE201"), (Level.INTERMEDIATE, "TCE202"), (Level.ADVANCED, "TCE203")],
)
def test_each_level_has_its_code(
    instances: list[Path], tmp_path: Path, level: Level, code: str
) -> None:
    content = TceContent(author="QA Meeting expert", abstract="x", level=level)
    write_tce_kos(instances[:1], content, tmp_path / "tce.dcm")
    assert read_tce_kos(tmp_path / "tce.dcm").codes["TCE110"] == (code,)


def test_a_delay_for_expert_review_is_a_title_modifier_first(
    instances: list[Path], tmp_path: Path
) -> None:
    content = TceContent(
        author="QA Meeting expert", abstract="x", level=Level.PRIMARY, delay_for_expert_review=True
    )
    write_tce_kos(instances, content, tmp_path / "tce.dcm")
    first = pydicom.dcmread(tmp_path / "tce.dcm").ContentSequence[0]
    assert first.RelationshipType == "HAS CONCEPT MOD"
    assert first.ConceptNameCodeSequence[0].CodeValue == "113011"
    assert first.ConceptCodeSequence[0].CodeValue == "TCE018"
    assert first.ConceptCodeSequence[0].CodingSchemeDesignator == "IHERADTF"


def test_highdicom_reads_the_document_back(instances: list[Path], tmp_path: Path) -> None:
    write_tce_kos(instances, CONTENT, tmp_path / "tce.dcm")
    document = KeyObjectSelectionDocument.from_dataset(pydicom.dcmread(tmp_path / "tce.dcm"))
    assert len(document.content.get_references()) == 2


def test_identifiable_instances_are_refused(tmp_path: Path) -> None:
    plain = write_cine(CineSpec(case_id="raw", scene="ivc", frames=2), tmp_path / "raw.dcm")
    with pytest.raises(TceExportError, match=r"raw\.dcm is not de-identified"):
        write_tce_kos([plain], CONTENT, tmp_path / "tce.dcm")
    with_private = _cleaned(tmp_path, "private", private=True)
    with pytest.raises(TceExportError, match="not de-identified"):
        write_tce_kos([with_private], CONTENT, tmp_path / "tce.dcm")
    assert not (tmp_path / "tce.dcm").exists()


def test_inspect_finds_private_tags_and_text_in_sequences(tmp_path: Path) -> None:
    path = _cleaned(tmp_path, "nested", private=True)
    ds = pydicom.dcmread(path)
    item = Dataset()
    item.PatientName = "NESTED^NAME"
    ds.OtherPatientIDsSequence = Sequence([item])
    ds.save_as(path, enforce_file_format=True)
    facts = inspect_exported_instance(path)
    assert facts.patient_identity_removed == "YES"
    assert "(0011,0010)" in facts.private_tags and "(0011,1001)" in facts.private_tags
    assert "NESTED^NAME" in facts.text_values and "hidden" in facts.text_values
    assert facts.sop_instance_uid == str(ds.SOPInstanceUID)


def test_a_file_that_is_not_dicom_is_refused(tmp_path: Path) -> None:
    (tmp_path / "x.dcm").write_text("not dicom")
    with pytest.raises(TceExportError, match="not readable DICOM"):
        inspect_exported_instance(tmp_path / "x.dcm")
    with pytest.raises(TceExportError):
        read_tce_kos(tmp_path / "x.dcm")


def test_the_content_comes_from_the_teaching_case() -> None:
    case = TeachingCase(
        protocol_id="efast",
        protocol_name="eFAST",
        title="Free fluid",
        level=Level.PRIMARY,
        questions=(QuestionRecord("ruq", "Fluid in RUQ?", "no", "No", "yes", "Yes"),),
        expert_reasoning="Anechoic stripe in Morison's pouch.",
        teaching_points=(TeachingPointRecord("Scan the liver tip.", "technique"),),
        tags=("trauma",),
        findings=("Free fluid",),
        clinical_context=ClinicalContext("30-39", "M", "Fall"),
    )
    content = tce_content(case, author="QA Meeting expert")
    assert content.findings == ("Fluid in RUQ?: Yes",)
    assert content.keywords == ("eFAST", "trauma")
    assert content.history == "Age band: 30-39; Sex: M; Indication: Fall"
    assert content.diagnosis == "Free fluid"  # no diagnosis given: the findings
    assert "Scan the liver tip." in content.discussion
    assert content.abstract == content.description == "Free fluid"
