"""IHE TCE export in DICOM: the Key Object Selection "For Teaching File Export", read back, and
the header facts the package verifier checks on every exported instance.

The manifest is a Key Object Selection document (highdicom ``KeyObjectSelectionDocument``,
TID 2010) titled (TCE001, IHERADTF, "For Teaching File Export"), referencing every exported
instance. The teaching-file content items (author, abstract, keywords, history, findings,
discussion, diagnosis, category, level) are added to the same root container, as the product
design asks. Note that the IHE TCE profile itself carries them in a separate Basic Text SR, the
"Additional Teaching File Information" document (TCE006), and TID 2010 does not list them: a
strict TCE Export Receiver (RSNA CTP/MIRC) reads the manifest's Key Object Description and the
TCE006 document, not these items; dcm4chee-web3's teaching-file browser queries them on the
manifest. Codes (concept names and values), with where each was checked:

- TCE001 "For Teaching File Export": RSNA CTP ``DicomObject.checkManifest`` (johnperry/CTP)
  treats TCE001, TCE002 and TCE007 titles as TCE manifests; meaning from dcm4chee-2
  ``TFModel.DOC_TITLES``.
- (113011, DCM, "Document Title Modifier") = TCE018 "Delay export until expert review is
  available": dcm4chee-2 ``TFModel.DELAY_REASONS``/``DELAY_REASON_CODES`` and its export
  service (HAS CONCEPT MOD, CODE); IHE RAD TF TCE delay reasons are TCE011-TCE018.
- TCE101 Author, TCE104 Abstract, TCE105 Keywords, TCE106 Discussion, TCE107 Diagnosis,
  TCE109 Category, TCE110 Level (IHERADTF); (121060, DCM) History; (121071, DCM) Finding: CTP
  ``DicomObject.ATFI.getCodes`` and dcm4chee-2 ``SRManifestModel.fillContent`` (TEXT or CODE,
  CONTAINS); meanings as dcm4chee-web3 ``TCQueryFilterKey`` spells them.
- TCE309 Ultrasound, TCE201/202/203 Primary/Intermediate/Advanced: CTP ``ATFI.getCodes`` and
  dcm4chee-web3 ``TCQueryFilterValue.Category``/``Level``.
- Not written: TCE102 Affiliation and TCE103 Contact (they would identify the author or the
  site), TCE111 "Diagnosis confirmed" (its SRT yes/no values differ between dcm4chee versions).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import highdicom as hd
from highdicom.ko import KeyObjectSelection, KeyObjectSelectionDocument
from highdicom.sr import (
    CodeContentItem,
    CodedConcept,
    ContentItem,
    RelationshipTypeValues,
    TextContentItem,
)
from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.multival import MultiValue

from qa_meeting.domain.package import Level, TeachingCase
from qa_meeting.errors import QaMeetingError

IHERADTF = "IHERADTF"
FOR_TEACHING_FILE_EXPORT = CodedConcept("TCE001", IHERADTF, "For Teaching File Export")
DOCUMENT_TITLE_MODIFIER = CodedConcept("113011", "DCM", "Document Title Modifier")
DELAY_FOR_EXPERT_REVIEW = CodedConcept(
    "TCE018", IHERADTF, "Delay export until expert review is available"
)
KEY_OBJECT_DESCRIPTION = "113012"  # (113012, DCM, "Key Object Description"), via highdicom
AUTHOR = CodedConcept("TCE101", IHERADTF, "Author")
ABSTRACT = CodedConcept("TCE104", IHERADTF, "Abstract")
KEYWORDS = CodedConcept("TCE105", IHERADTF, "Keywords")
HISTORY = CodedConcept("121060", "DCM", "History")
FINDING = CodedConcept("121071", "DCM", "Finding")
DISCUSSION = CodedConcept("TCE106", IHERADTF, "Discussion")
DIAGNOSIS = CodedConcept("TCE107", IHERADTF, "Diagnosis")
CATEGORY = CodedConcept("TCE109", IHERADTF, "Category")
ULTRASOUND = CodedConcept("TCE309", IHERADTF, "Ultrasound")
LEVEL = CodedConcept("TCE110", IHERADTF, "Level")
LEVEL_CODES: Mapping[Level, CodedConcept] = {
    Level.PRIMARY: CodedConcept("TCE201", IHERADTF, "Primary"),
    Level.INTERMEDIATE: CodedConcept("TCE202", IHERADTF, "Intermediate"),
    Level.ADVANCED: CodedConcept("TCE203", IHERADTF, "Advanced"),
}
_TEXT_VRS = frozenset(
    {"AE", "AS", "CS", "DA", "DS", "DT", "IS", "LO", "LT", "PN", "SH", "ST", "TM", "UC", "UI"}
) | {"UR", "UT"}
_PIXEL_DATA = 0x7FE00010


class TceExportError(QaMeetingError):
    """An instance that may not be exported, or a file that is not readable DICOM."""

    default_remedy = "De-identify the instance again (identity removed, no private tags)."


@dataclass(frozen=True)
class TceContent:
    """The teaching-file content of the manifest; empty texts are left out."""

    author: str
    abstract: str
    level: Level
    keywords: tuple[str, ...] = ()
    history: str = ""
    findings: tuple[str, ...] = ()
    discussion: str = ""
    diagnosis: str = ""
    description: str = ""  # Key Object Description (113012), what CTP/MIRC shows
    delay_for_expert_review: bool = False


@dataclass(frozen=True)
class ExportedInstance:
    """What the verifier checks in one exported DICOM file."""

    sop_instance_uid: str
    patient_identity_removed: str
    private_tags: tuple[str, ...]  # "(0009,0010)", ...
    text_values: tuple[str, ...]  # every text-like value, sequences and file meta included


@dataclass(frozen=True)
class TceDocument:
    """A written manifest read back: its title, references and content items."""

    sop_instance_uid: str
    title: tuple[str, str, str]  # code value, coding scheme designator, code meaning
    referenced_sop_instance_uids: frozenset[str]  # Current Requested Procedure Evidence
    content_references: frozenset[str]  # IMAGE/COMPOSITE content items
    texts: Mapping[str, tuple[str, ...]]  # concept name code value -> TEXT values
    codes: Mapping[str, tuple[str, ...]]  # concept name code value -> CODE values
    patient_identity_removed: str


def write_tce_kos(
    instances: Sequence[Path], content: TceContent, out: Path, *, manufacturer: str = "QA Meeting"
) -> str:
    """Write the manifest referencing ``instances`` to ``out``; return its SOP Instance UID.

    Strict on write: every instance must say Patient Identity Removed YES and hold no private
    tag, or ``TceExportError`` is raised and nothing is written.
    """
    evidence = []
    for path in instances:
        facts = inspect_exported_instance(path)
        if facts.patient_identity_removed != "YES" or facts.private_tags:
            raise TceExportError(f"{path.name} is not de-identified; it cannot be exported.")
        evidence.append(dcmread(path, stop_before_pixels=True))
    if not evidence:
        raise TceExportError("A teaching file needs at least one instance to reference.")
    selection = KeyObjectSelection(
        document_title=FOR_TEACHING_FILE_EXPORT,
        referenced_objects=evidence,
        description=content.description or None,
    )
    items = selection[0].ContentSequence
    if content.delay_for_expert_review:  # TID 2010 puts the title modifier first
        items.insert(0, _code(DOCUMENT_TITLE_MODIFIER, DELAY_FOR_EXPERT_REVIEW, concept_mod=True))
    for item in _teaching_file_items(content):
        items.append(item)
    document = KeyObjectSelectionDocument(
        evidence=evidence,
        content=selection,
        series_instance_uid=hd.UID(),
        series_number=1,
        sop_instance_uid=hd.UID(),
        instance_number=1,
        manufacturer=manufacturer,
    )
    document.PatientIdentityRemoved = "YES"
    first = evidence[0]
    for keyword in ("DeidentificationMethod", "DeidentificationMethodCodeSequence"):
        if keyword in first:
            setattr(document, keyword, first[keyword].value)
    out.parent.mkdir(parents=True, exist_ok=True)
    document.save_as(out, enforce_file_format=True)
    return str(document.SOPInstanceUID)


def tce_content(
    case: TeachingCase, *, author: str, delay_for_expert_review: bool = False
) -> TceContent:
    """The manifest content for ``case``: findings are the expert's answers, the discussion
    the expert's reasoning and the teaching points."""
    context = case.clinical_context
    history = [
        f"{label}: {value}"
        for label, value in (
            ("Age band", context.age_band),
            ("Sex", context.sex),
            ("Indication", context.indication),
        )
        if value
    ]
    points = [f"- {p.text}" for p in case.teaching_points if p.text.strip()]
    discussion = case.expert_reasoning + (
        "\n\nTeaching points:\n" + "\n".join(points) if points else ""
    )
    return TceContent(
        author=author,
        abstract=case.title or case.protocol_name,
        level=case.level,
        keywords=(case.protocol_name, *case.tags),
        history="; ".join(history),
        findings=tuple(
            f"{q.text}: {q.expert_answer_label}" for q in case.questions if q.expert_answer_label
        ),
        discussion=discussion.strip(),
        diagnosis=case.diagnosis or "; ".join(case.findings),
        description=case.title,
        delay_for_expert_review=delay_for_expert_review,
    )


def _teaching_file_items(content: TceContent) -> list[ContentItem]:
    texts = [
        (AUTHOR, [content.author]),
        (ABSTRACT, [content.abstract]),
        (KEYWORDS, list(content.keywords)),
        (HISTORY, [content.history]),
        (FINDING, list(content.findings)),
        (DISCUSSION, [content.discussion]),
        (DIAGNOSIS, [content.diagnosis]),
    ]
    items: list[ContentItem] = [
        TextContentItem(name=name, value=value, relationship_type=RelationshipTypeValues.CONTAINS)
        for name, values in texts
        for value in values
        if value.strip()
    ]
    items.append(_code(CATEGORY, ULTRASOUND))
    items.append(_code(LEVEL, LEVEL_CODES[content.level]))
    return items


def _code(name: CodedConcept, value: CodedConcept, *, concept_mod: bool = False) -> ContentItem:
    relationship = (
        RelationshipTypeValues.HAS_CONCEPT_MOD if concept_mod else RelationshipTypeValues.CONTAINS
    )
    return CodeContentItem(name=name, value=value, relationship_type=relationship)


def read_tce_kos(path: Path) -> TceDocument:
    """Read a manifest written by ``write_tce_kos`` (or another TCE Export Selector)."""
    ds = _read(path)
    if ds.get("Modality") != "KO" or "ConceptNameCodeSequence" not in ds:
        raise TceExportError(f"{path.name} is not a Key Object Selection document.")
    title = ds.ConceptNameCodeSequence[0]
    evidence = {
        str(sop.ReferencedSOPInstanceUID)
        for study in ds.get("CurrentRequestedProcedureEvidenceSequence", [])
        for series in study.ReferencedSeriesSequence
        for sop in series.ReferencedSOPSequence
    }
    references: set[str] = set()
    texts: dict[str, list[str]] = {}
    codes: dict[str, list[str]] = {}
    for item in ds.get("ContentSequence", []):
        if item.ValueType in ("IMAGE", "COMPOSITE"):
            references.add(str(item.ReferencedSOPSequence[0].ReferencedSOPInstanceUID))
            continue
        concept = str(item.ConceptNameCodeSequence[0].CodeValue)
        if item.ValueType == "TEXT":
            texts.setdefault(concept, []).append(str(item.TextValue))
        elif item.ValueType == "CODE":
            codes.setdefault(concept, []).append(str(item.ConceptCodeSequence[0].CodeValue))
    return TceDocument(
        sop_instance_uid=str(ds.SOPInstanceUID),
        title=(str(title.CodeValue), str(title.CodingSchemeDesignator), str(title.CodeMeaning)),
        referenced_sop_instance_uids=frozenset(evidence),
        content_references=frozenset(references),
        texts={k: tuple(v) for k, v in texts.items()},
        codes={k: tuple(v) for k, v in codes.items()},
        patient_identity_removed=str(ds.get("PatientIdentityRemoved", "")),
    )


def inspect_exported_instance(path: Path) -> ExportedInstance:
    """Header facts of ``path`` without decoding pixels (large values are read lazily)."""
    ds = _read(path, defer_size="256 KB")
    private: list[str] = []
    texts: list[str] = []
    _walk(ds.file_meta, private, texts)
    _walk(ds, private, texts)
    return ExportedInstance(
        sop_instance_uid=str(ds.get("SOPInstanceUID", "")),
        patient_identity_removed=str(ds.get("PatientIdentityRemoved", "")),
        private_tags=tuple(private),
        text_values=tuple(texts),
    )


def _read(path: Path, **options: Any) -> Dataset:
    try:
        return dcmread(path, **options)
    except (InvalidDicomError, EOFError, OSError, ValueError, KeyError) as exc:
        raise TceExportError(
            f"{path.name} is not readable DICOM.", "Export the case again."
        ) from exc


def _walk(ds: Dataset, private: list[str], texts: list[str]) -> None:
    for tag in list(ds.keys()):
        if tag.is_private:
            private.append(str(tag))
        if tag == _PIXEL_DATA:
            continue
        vr = ds.get_item(tag).VR or ds[tag].VR
        if vr == "SQ":
            for item in ds[tag].value:
                _walk(item, private, texts)
        elif vr in _TEXT_VRS:
            value = ds[tag].value
            values = value if isinstance(value, MultiValue | list) else [value]
            texts.extend(str(v) for v in values if v not in (None, ""))
