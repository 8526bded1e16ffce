"""The header policy: PS3.15 2026c Annex E Basic Profile actions, narrowed by an allow-list.

The action of every attribute in Table E.1-1 comes from the table dicom-anonymizer
(KitwareMedical) generates from the standard's own HTML, pinned here to the 2026c edition.
On top of it sits our policy: a public attribute survives only if it is on the allow-list of
what a teaching loop needs (pixels, regions, frame timing, modality, SOP class...), and even
then the table's action wins (an allow-listed attribute the Basic Profile removes is removed),
except where an option we claim says otherwise: dates shifted (Retain Longitudinal Temporal
Information Modified Dates) and age and sex kept (Retain Patient Characteristics).
Everything else, private attributes, overlays (60xx), curves (50xx) and icons included, goes.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum, StrEnum
from functools import cache, lru_cache
from typing import Any, cast

from pydicom.charset import convert_encodings, decode_bytes
from pydicom.datadict import dictionary_VR, keyword_for_tag, tag_for_keyword
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.uid import UID
from pydicom.valuerep import PN_DELIMS, TEXT_VR_DELIMS

from qa_meeting.domain.deid import DeidRefusedError
from qa_meeting.errors import ConfigurationError
from qa_meeting.imaging.deid_header import elements_of

PROFILE_EDITION = "2026c"
PROFILE_TEXT = f"DICOM PS3.15 {PROFILE_EDITION} Basic Profile"
TABLE_MODULE = "dicomanonymizer.dicom_anonymization_databases.dicomfields_2026c"
TEXT_VRS = frozenset({"AE", "DA", "DT", "LO", "LT", "PN", "SH", "ST", "UC", "UR", "UT"})


class Action(StrEnum):
    """Table E.1-1 action codes of the Basic Profile column."""

    REPLACE = "D"
    EMPTY = "Z"
    REMOVE = "X"
    UID = "U"
    EMPTY_OR_REPLACE = "Z/D"
    REMOVE_OR_EMPTY = "X/Z"
    REMOVE_OR_REPLACE = "X/D"
    REMOVE_EMPTY_OR_REPLACE = "X/Z/D"
    REMOVE_EMPTY_OR_UIDS = "X/Z/U*"

    @property
    def table_list(self) -> str:
        """The name of its list in dicom-anonymizer's tables: "X/Z/U*" is X_Z_U_STAR_TAGS."""
        return self.value.replace("/", "_").replace("*", "_STAR") + "_TAGS"


class Treatment(Enum):
    """What happens to one attribute."""

    KEEP = "keep"
    REMOVE = "remove"
    EMPTY = "empty"  # zero length (a Type 2 attribute)
    UID = "uid"  # remapped with the keyed hash
    DATE = "date"  # shifted by the patient's offset
    PATIENT_NAME = "patient_name"  # the caller's pseudonym
    PATIENT_ID = "patient_id"
    AGE = "age"
    SEX = "sex"
    SEQUENCE = "sequence"  # kept, each item cleaned by its own rules
    PIXEL = "pixel"  # rewritten from the cleaned pixels
    OURS = "ours"  # written by the de-identifier (0012,0062-0064), (0028,0301), (0028,0303)


@dataclass(frozen=True)
class AnnexETable:
    """Basic Profile actions by tag, with the repeating-group rows as masks."""

    exact: Mapping[int, Action]
    ranges: tuple[tuple[int, int, Action], ...]  # (value, mask, action) on the 32-bit tag

    def action(self, tag: int) -> Action | None:
        found = self.exact.get(tag)
        if found is not None:
            return found
        for value, mask, action in self.ranges:
            if tag & mask == value:
                return action
        return None


@cache
def annex_e_table() -> AnnexETable:
    """The 2026c Basic Profile column, from dicom-anonymizer's generated table."""
    try:
        module: Any = importlib.import_module(TABLE_MODULE)
    except ImportError as exc:
        raise ConfigurationError(
            f"The PS3.15 {PROFILE_EDITION} Annex E table ({TABLE_MODULE}) is not installed.",
            "Install the dicom-anonymizer package (pip install 'dicom-anonymizer>=2.1,<3').",
        ) from exc
    exact: dict[int, Action] = {}
    ranges: list[tuple[int, int, Action]] = []
    for action in Action:
        for row in cast(list[tuple[int, ...]], getattr(module, action.table_list)):
            if len(row) == 2:
                exact[row[0] << 16 | row[1]] = action
            else:  # (group, element, group mask, element mask): 50xx, 60xx rows
                group, element, group_mask, element_mask = row
                mask = group_mask << 16 | element_mask
                ranges.append(((group << 16 | element) & mask, mask, action))
    return AnnexETable(exact, tuple(ranges))


@dataclass(frozen=True)
class HeaderPolicy:
    """The options of one export."""

    shift_dates: bool = True
    retain_patient_characteristics: bool = True


@dataclass(frozen=True)
class Rules:
    """Treatments of the attributes allowed in one dataset or sequence item; others go."""

    treatments: Mapping[int, Treatment]
    children: Mapping[int, Rules] = field(default_factory=dict)


def tag_of(keyword: str) -> int:
    tag = tag_for_keyword(keyword)
    if tag is None:
        raise KeyError(f"{keyword} is not in pydicom's data dictionary")
    return int(tag)


def _each(keywords: str, treatment: Treatment) -> dict[str, Treatment]:
    return dict.fromkeys(keywords.split(), treatment)


# What a teaching loop needs; times of day are never kept (the table's action applies).
_TOP_LEVEL: dict[str, Treatment] = {
    **_each(
        """SpecificCharacterSet ImageType SOPClassUID Modality Manufacturer ManufacturerModelName
        BodyPartExamined SeriesNumber InstanceNumber AcquisitionNumber PatientOrientation
        Laterality ImageLaterality PixelAspectRatio""",
        Treatment.KEEP,
    ),
    **_each("SOPInstanceUID StudyInstanceUID SeriesInstanceUID", Treatment.UID),
    **_each("StudyDate SeriesDate ContentDate AcquisitionDate AcquisitionDateTime", Treatment.DATE),
    **_each(
        """StudyTime SeriesTime ContentTime AcquisitionTime AccessionNumber
        ReferringPhysicianName StudyID PatientBirthDate""",
        Treatment.EMPTY,
    ),
    "PatientName": Treatment.PATIENT_NAME,
    "PatientID": Treatment.PATIENT_ID,
    "PatientSex": Treatment.SEX,
    "PatientAge": Treatment.AGE,
    # Cine and multi-frame timing, US Image, lossy compression history
    **_each(
        """NumberOfFrames FrameIncrementPointer FrameTime FrameTimeVector CineRate
        RecommendedDisplayFrameRate StartTrim StopTrim FrameDelay ActualFrameDuration
        EffectiveDuration PreferredPlaybackSequencing HeartRate UltrasoundColorDataPresent
        MechanicalIndex BoneThermalIndex CranialThermalIndex SoftTissueThermalIndex
        DepthOfScanField LossyImageCompression LossyImageCompressionRatio
        LossyImageCompressionMethod""",
        Treatment.KEEP,
    ),
    **_each(
        """SamplesPerPixel PhotometricInterpretation Rows Columns BitsAllocated BitsStored
        HighBit PixelRepresentation PlanarConfiguration""",
        Treatment.PIXEL,
    ),
    # Grey display (dropped again for colour output)
    **_each(
        "WindowCenter WindowWidth VOILUTFunction RescaleIntercept RescaleSlope RescaleType",
        Treatment.KEEP,
    ),
    **_each("VOILUTSequence ModalityLUTSequence SequenceOfUltrasoundRegions", Treatment.SEQUENCE),
    **_each(
        """PatientIdentityRemoved DeidentificationMethod DeidentificationMethodCodeSequence
        LongitudinalTemporalInformationModified BurnedInAnnotation""",
        Treatment.OURS,
    ),
}
_REGION_ITEM = _each(
    """RegionSpatialFormat RegionDataType RegionFlags RegionLocationMinX0 RegionLocationMinY0
    RegionLocationMaxX1 RegionLocationMaxY1 ReferencePixelX0 ReferencePixelY0
    PhysicalUnitsXDirection PhysicalUnitsYDirection ReferencePixelPhysicalValueX
    ReferencePixelPhysicalValueY PhysicalDeltaX PhysicalDeltaY TransducerFrequency
    PulseRepetitionFrequency DopplerCorrectionAngle SteeringAngle DopplerSampleVolumeXPosition
    DopplerSampleVolumeYPosition TMLinePositionX0 TMLinePositionY0 TMLinePositionX1
    TMLinePositionY1 PixelComponentOrganization PixelComponentMask PixelComponentRangeStart
    PixelComponentRangeStop PixelComponentPhysicalUnits PixelComponentDataType
    NumberOfTableBreakPoints TableOfXBreakPoints TableOfYBreakPoints NumberOfTableEntries
    TableOfPixelValues TableOfParameterValues""",
    Treatment.KEEP,
)
_LUT_ITEM = _each("LUTDescriptor ModalityLUTType LUTData", Treatment.KEEP)
_CHILDREN = {
    "SequenceOfUltrasoundRegions": _REGION_ITEM,
    "VOILUTSequence": _LUT_ITEM,
    "ModalityLUTSequence": _LUT_ITEM,
}
_KEPT_TEXT_TAGS = tuple(
    tag_of(keyword)
    for keyword, treatment in _TOP_LEVEL.items()
    if treatment is Treatment.KEEP and dictionary_VR(tag_of(keyword)) in TEXT_VRS | {"CS"}
)
_UID_TEXT = re.compile(r"(?:0|[1-9][0-9]*)(?:\.(?:0|[1-9][0-9]*))+")
GREY_DISPLAY_KEYWORDS = (
    *_each("WindowCenter WindowWidth VOILUTFunction RescaleIntercept", Treatment.KEEP),
    *_each("RescaleSlope RescaleType VOILUTSequence ModalityLUTSequence", Treatment.KEEP),
)


@cache
def header_rules(policy: HeaderPolicy) -> Rules:
    """The allow-list merged with the Basic Profile table under ``policy``'s options."""
    table = annex_e_table()

    def rules(allowed: Mapping[str, Treatment]) -> Rules:
        treatments: dict[int, Treatment] = {}
        children: dict[int, Rules] = {}
        for keyword, wanted in allowed.items():
            tag = tag_of(keyword)
            treatments[tag] = effective_treatment(wanted, table.action(tag), policy, keyword)
            if keyword in _CHILDREN:
                children[tag] = rules(_CHILDREN[keyword])
        return Rules(treatments, children)

    return rules(_TOP_LEVEL)


def effective_treatment(
    wanted: Treatment, action: Action | None, policy: HeaderPolicy, keyword: str = ""
) -> Treatment:
    """What the allow-list wants, unless the Basic Profile (or a missing option) forbids it."""
    if action is None:
        return wanted
    retained = {Treatment.DATE: policy.shift_dates}
    retained |= dict.fromkeys((Treatment.AGE, Treatment.SEX), policy.retain_patient_characteristics)
    if retained.get(wanted, False):
        return wanted  # the option's column allows what the Basic Profile would not
    if action is Action.UID and wanted in (Treatment.UID, Treatment.KEEP):
        return Treatment.UID
    if wanted in (Treatment.PATIENT_NAME, Treatment.PATIENT_ID) and action in (
        Action.EMPTY,
        Action.EMPTY_OR_REPLACE,
    ):
        return wanted  # the pseudonym is a dummy value
    if action in (Action.EMPTY, Action.EMPTY_OR_REPLACE):
        return Treatment.EMPTY
    if action is Action.REMOVE_OR_EMPTY and wanted is Treatment.EMPTY:
        return Treatment.EMPTY
    if action is Action.REMOVE or action.value.startswith("X/"):
        return Treatment.REMOVE
    raise RuntimeError(f"No policy for {keyword} ({wanted.name}) under Basic Profile {action}")


# What counts as an original identifier, for the checks before and after writing.


@cache
def tag_name(tag: int) -> str:
    group, element = tag >> 16, tag & 0xFFFF
    if group % 2:
        return f"private ({group:04X},{element:04X})"
    return keyword_for_tag(tag) or f"({group:04X},{element:04X})"


def identifying_values(ds: Dataset) -> dict[str, str]:
    """Each original identifier of ``ds`` (searchable text) with the attribute it came from.

    Names (whole, both orders), IDs, dates (as stored and as commonly printed), UIDs that are
    not registry UIDs, institution, accession, operator...: every text value of an attribute
    Table E.1-1 lists, every person name and every private text, in nested sequences too.
    Short values (under 4 characters, or under 6 digits) are left out: they would match by
    chance in any file; so are values equal to a whole text the policy keeps (a Station Name
    that is the model's name is not identifying, and the model's name stays).
    """
    found: dict[str, str] = {}
    encodings = encodings_of(ds)

    def visit(dataset: Dataset, path: str) -> None:
        for item in elements_of(dataset):  # raw elements are not converted
            number = tag = int(item.tag)
            vr = _raw_vr(item, number)
            if not _may_identify(number, vr):
                continue  # reading only what may hold an identifier keeps this fast
            label = path + tag_name(number)
            try:
                if vr == "SQ":
                    for child in dataset[tag].value or ():
                        visit(child, label + ">")
                    continue
                values = element_strings(item, vr, encodings)
            except Exception:  # unreadable values are removed, never written
                continue
            if not label.endswith("ClassUID"):
                for value in values:
                    for variant in _variants(vr, value):
                        found.setdefault(variant, label)

    visit(ds, "")
    meta = getattr(ds, "file_meta", None)
    if meta is not None:
        visit(meta, "")
    kept = {
        text.lower()
        for tag in _KEPT_TEXT_TAGS
        if tag in ds
        for text in element_strings(ds.get_item(tag), "LO", encodings)
    }
    return {
        value: label
        for value, label in found.items()
        if len(value) >= (6 if value.replace(".", "").isdigit() else 4)
        and value.lower() not in kept
        and not is_registered_uid(value)
    }


def encodings_of(ds: Dataset) -> list[str]:
    """The Python codecs of the dataset's Specific Character Set."""
    item = ds.get_item(0x00080005) if 0x00080005 in ds else None
    if item is None:
        return convert_encodings(None)
    terms = element_strings(item, "CS", ["iso8859"])
    return convert_encodings(terms or None)


def element_strings(item: Any, vr: str, encodings: list[str]) -> list[str]:
    """The text values of an element, decoded from its raw bytes when it is still raw."""
    value = item.value
    if isinstance(value, bytes):  # raw, or a UN element: decode without pydicom's conversion
        text = decode_bytes(value, encodings, PN_DELIMS if vr == "PN" else TEXT_VR_DELIMS)
        texts = [text] if vr in ("LT", "ST", "UT", "UN") else text.split("\\")
    elif isinstance(value, list | tuple | MultiValue):
        texts = [str(v) for v in value if v is not None]
    else:
        texts = [] if value is None else [str(value)]
    cleaned = [text.strip(" \0") for text in texts]
    return [text for text in cleaned if text and text.isprintable()]


def _variants(vr: str, value: str) -> set[str]:
    if vr == "PN":
        parts = [p.strip() for p in value.split("=")[0].split("^") if p.strip()]
        return {value, " ".join(parts), " ".join(reversed(parts[:2])), ", ".join(parts[:2])}
    if vr in ("DA", "DT") and len(value) >= 8 and value[:8].isdigit():
        y, m, d = value[:4], value[4:6], value[6:8]
        return {value, value[:8], f"{y}-{m}-{d}", f"{d}/{m}/{y}", f"{d}.{m}.{y}"}
    return {value}


@lru_cache(maxsize=1 << 16)  # bounded: private tags vary from file to file
def _may_identify(tag: int, vr: str) -> bool:
    """Whether an element of ``tag`` and ``vr`` may hold an identifier (decided once a tag)."""
    listed, private = annex_e_table().action(tag) is not None, bool(tag >> 16 & 1)
    if vr in ("SQ", "UI", "PN") or ((listed or private) and vr in TEXT_VRS):
        return True
    return private and vr == "UN"


def _raw_vr(item: Any, tag: int) -> str:
    return str(item.VR) if item.VR else standard_vr(tag)


@cache
def standard_vr(tag: int) -> str:
    """The dictionary's VR of ``tag`` ("UN" for private and unknown tags)."""
    try:
        return str(dictionary_VR(tag))
    except KeyError:
        return "UN"


def is_registered_uid(uid: str) -> bool:
    """A UID of the DICOM registry (a transfer syntax, a coding scheme...): not identifying."""
    return bool(_UID_TEXT.fullmatch(uid)) and UID(uid).name != uid


def check_absent(data: bytes, originals: Mapping[str, str], where: str) -> None:
    """Refuse if any original identifier occurs in ``data`` (ignoring case)."""
    haystack = data.lower()
    for value, label in originals.items():
        if value.lower().encode("utf-8", "replace") in haystack:
            raise DeidRefusedError(
                f"A value from {label} would remain in the {where} after de-identification."
            )
