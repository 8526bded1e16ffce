"""De-identify one DICOM file: header per PS3.15 Annex E, pixels outside the image blanked.

``deidentify_dicom`` vets the file, plans the pixel cleaning (``domain.deid.plan_pixels``),
cleans the header (``deid_profile.header_rules``: the 2026c Basic Profile narrowed by our
allow-list), checks that no original identifier survives in the encoded header, then writes
the header and streams the cleaned frames, uncompressed, one at a time. UIDs are remapped
with HMAC-SHA256 of the original under the site's secret (2.25 + a version-8 UUID), so the
same UID maps to the same new UID in every export with that secret and outsiders cannot
recompute it; dates move back by whole days, the same number for every file of a patient.
Anything this module cannot vouch for (a value it cannot parse, an unexpected VR) is refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, BinaryIO

import pydicom
from pydicom import config
from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian

from qa_meeting import __version__
from qa_meeting.domain.deid import (
    DeidKeys,
    DeidOption,
    DeidRefusedError,
    DeidReport,
    PixelPlan,
    PixelRule,
    Rect,
    capped_age,
    plan_pixels,
    shifted_date,
    validate_pseudonym,
)
from qa_meeting.domain.scans import DicomHeader
from qa_meeting.imaging import deid_pixels as pixels
from qa_meeting.imaging.deflated import inflated_copy
from qa_meeting.imaging.deid_header import elements_of, frozen, made_element
from qa_meeting.imaging.deid_profile import (
    PROFILE_TEXT,
    TEXT_VRS,
    HeaderPolicy,
    Rules,
    Treatment,
    check_absent,
    element_strings,
    encodings_of,
    header_rules,
    identifying_values,
    is_registered_uid,
    standard_vr,
    tag_name,
)
from qa_meeting.imaging.dicom_io import read_header
from qa_meeting.imaging.timing import ultrasound_regions

METHOD = (PROFILE_TEXT, f"QA Meeting {__version__}")
_SAFE_VRS = TEXT_VRS | {"AS", "AT", "CS", "DS", "FD", "FL", "IS", "OB", "OW", "SL", "SQ"}
_SAFE_VRS |= {"SS", "SV", "TM", "UI", "UL", "US", "UV"}


class _Log(dict[str, set[str]]):
    """What happened to which attribute, under the names of ``DeidReport``'s fields."""

    def __missing__(self, key: str) -> set[str]:
        self[key] = set()
        return self[key]

    def fields(self) -> dict[str, tuple[str, ...]]:
        names = ("removed", "emptied", "replaced", "remapped_uids", "shifted_dates")
        return {name: tuple(sorted(self[name])) for name in names}


@dataclass(frozen=True)
class _Context:
    keys: DeidKeys
    pseudonym: str
    offset_days: int | None
    encodings: list[str]


def patient_key(ds: Dataset) -> str:
    """What identifies the patient for the date shift: Patient ID, else Patient Name."""
    for keyword in ("PatientID", "PatientName"):
        value = str(ds.get(keyword) or "").strip()
        if value:
            return value
    return ""


def deidentify_header(
    ds: Dataset, *, pseudonym: str, keys: DeidKeys, policy: HeaderPolicy, pixels_cleaned: bool
) -> tuple[tuple[DeidOption, ...], _Log, int | None]:
    """Clean ``ds`` (a header without Pixel Data) in place; the options applied and a log."""
    name = validate_pseudonym(pseudonym)
    offset = keys.date_offset_days(patient_key(ds)) if policy.shift_dates else None
    log = _Log()
    rules = header_rules(policy)
    encodings = encodings_of(ds)
    _clean(ds, rules, _Context(keys, name, offset, encodings), log, "")
    options = [DeidOption.BASIC_PROFILE]
    if pixels_cleaned:
        options.append(DeidOption.CLEAN_PIXEL_DATA)
    if log["shifted_dates"]:
        options.append(DeidOption.RETAIN_MODIFIED_DATES)
    if _kept_characteristics(ds):
        options.append(DeidOption.RETAIN_PATIENT_CHARACTERISTICS)
    marks = _marks(tuple(options), pixels_cleaned, offset is not None, tuple(encodings))
    for element in marks:
        ds[element.tag] = element
    return tuple(options), log, offset


def _kept_characteristics(ds: Dataset) -> bool:
    return any(str(ds.get(keyword) or "").strip() for keyword in ("PatientAge", "PatientSex"))


def _clean(ds: Dataset, rules: Rules, context: _Context, log: _Log, path: str) -> None:
    for item in elements_of(ds):  # raw elements stay raw unless we need their values
        number = tag = int(item.tag)
        treatment = rules.treatments.get(number)
        label = path + tag_name(number)
        if treatment is None or treatment in (Treatment.REMOVE, Treatment.OURS):
            del ds[tag]
            if treatment is not Treatment.OURS:
                log["removed"].add(label)
            continue
        if item.VR == "UN" and standard_vr(number) != "UN":
            item = _converted(ds, number, label)  # pydicom gives it the dictionary's VR
        vr = _checked_vr(item, number, label)
        if treatment is Treatment.SEQUENCE:
            for child in _sequence(ds, number, label):
                _clean(child, rules.children[number], context, log, label + ">")
            continue
        if treatment in (Treatment.KEEP, Treatment.PIXEL) and vr != "UI":
            continue  # written as read: converting it would only cost time
        try:
            values = element_strings(item, vr, context.encodings)
        except Exception as exc:  # pydicom raises many types on a malformed value
            raise DeidRefusedError(f"The value of {label} cannot be read.") from exc
        new = _treated(values, treatment, vr, context, label, log)
        if new is not None:
            value = new[0] if len(new) == 1 else new
            ds[tag] = made_element(number, vr, value, context.encodings)


def _treated(
    values: list[str], treatment: Treatment, vr: str, context: _Context, label: str, log: _Log
) -> list[str] | None:
    """The new values of one element, or None to keep it as it is."""
    if treatment is Treatment.EMPTY:
        if values:
            log["emptied"].add(label)
        return [""]
    if vr == "UI" and treatment is not Treatment.UID:
        if label.endswith("ClassUID") or all(map(is_registered_uid, values)):
            return None  # a class or registry UID identifies nothing
        treatment = Treatment.UID  # any other UID could point back to the original
    if treatment is Treatment.UID:
        log["remapped_uids"].add(label)
        return [context.keys.uid(v) for v in values] or [""]
    if treatment is Treatment.DATE:
        shifted = [shifted_date(v, context.offset_days) for v in values]
        if context.offset_days is None or None in shifted:
            log["emptied"].add(label)  # unparseable dates go rather than stay
            return [""]
        log["shifted_dates"].add(label)
        return [d for d in shifted if d] or [""]
    if treatment in (Treatment.PATIENT_NAME, Treatment.PATIENT_ID):
        log["replaced"].add(label)
        name = context.pseudonym
        return [name if treatment is Treatment.PATIENT_NAME else name.replace("^", " ").strip()]
    if treatment is Treatment.AGE:
        return [capped_age(values[0] if values else "")]
    if treatment is Treatment.SEX:
        sex = (values[0] if values else "").upper()
        return [sex if sex in ("M", "F", "O") else ""]
    return None


def _checked_vr(item: Any, tag: int, label: str) -> str:
    """The element's VR, if it is one whose content we can check and the standard's own."""
    expected = standard_vr(tag)
    vr = str(item.VR or expected)  # implicit VR files carry none: the dictionary's applies
    if vr not in _SAFE_VRS or vr not in expected:
        raise DeidRefusedError(
            f"{label} has value representation {vr} (the standard says {expected}), "
            "so its content cannot be checked."
        )
    return vr


def _converted(ds: Dataset, tag: int, label: str) -> Any:
    try:
        element = ds[tag]
        _ = element.value
    except Exception as exc:  # pydicom raises many types on a malformed value
        raise DeidRefusedError(f"The value of {label} cannot be read.") from exc
    return element


def _sequence(ds: Dataset, tag: int, label: str) -> Sequence:
    value = _converted(ds, tag, label).value
    if not isinstance(value, Sequence):
        raise DeidRefusedError(f"{label} is not a readable sequence.")
    return value


@cache
def _marks(
    options: tuple[DeidOption, ...],
    pixels_cleaned: bool,
    dates_kept: bool,
    encodings: tuple[str, ...],
) -> tuple[RawDataElement, ...]:
    """The attributes that say what was done, encoded once per kind of export and shared."""
    codes = []
    for option in options:
        item = Dataset()
        item.add(_made(0x00080100, "SH", option.code))  # Code Value
        item.add(_made(0x00080102, "SH", "DCM"))  # Coding Scheme Designator
        item.add(_made(0x00080104, "LO", option.meaning))  # Code Meaning
        codes.append(item)
    elements = []
    for tag, vr, value in (
        (0x00120062, "CS", "YES"),  # Patient Identity Removed
        (0x00120063, "LO", list(METHOD)),  # De-identification Method
        (0x00120064, "SQ", Sequence(codes)),  # De-identification Method Code Sequence
        (0x00280301, "CS", "NO" if pixels_cleaned else "YES"),  # Burned In Annotation
        (0x00280303, "CS", "MODIFIED" if dates_kept else "REMOVED"),  # Longitudinal Temporal..
    ):
        elements.append(frozen(_made(tag, vr, value), list(encodings)))
    return tuple(elements)


def _made(tag: int, vr: str, value: Any) -> DataElement:
    """An element whose value this module made (a UID, a date, a checked pseudonym...)."""
    return DataElement(tag, vr, value, validation_mode=config.IGNORE)


def read_source_header(path: Path) -> Dataset:
    """The header of ``path`` (no pixels), or a refusal naming the problem."""
    try:
        return pydicom.dcmread(path, stop_before_pixels=True)
    except Exception as exc:  # pydicom raises many types on damaged files
        raise DeidRefusedError(f"The header of {path.name} cannot be parsed: {exc}") from exc


def identifying_strings(path: Path) -> set[str]:
    """The original identifiers of the file at ``path`` (see ``identifying_values``)."""
    return set(identifying_values(read_source_header(path)))


def output_identity(path: Path, keys: DeidKeys, prefix: str) -> tuple[str, str]:
    """A pseudonym for the patient of ``path`` (``prefix`` + a keyed code) and its new UID."""
    ds = read_source_header(path)
    instance = str(ds.get("SOPInstanceUID") or "").strip()
    if not instance:
        raise DeidRefusedError(f"{path.name} has no SOP Instance UID: it is not an image.")
    return prefix + keys.pseudonym_code(patient_key(ds)), keys.uid(instance)


def pixel_plan(
    header: DicomHeader,
    ds: Dataset,
    *,
    rules: tuple[PixelRule, ...],
    mask: tuple[Rect, ...] | None = None,
) -> PixelPlan:
    """How to clean this file's pixels: its mask, its regions' data areas or its model's rule."""
    return plan_pixels(
        rows=header.rows,
        columns=header.columns,
        manufacturer=header.manufacturer,
        model=header.model_name,
        regions=ultrasound_regions(ds),
        rules=rules,
        mask=mask,
    )


def pixel_plan_of_file(
    path: Path, *, rules: tuple[PixelRule, ...], max_decoded_bytes: int
) -> PixelPlan:
    """``pixel_plan`` for a stored file, read from its header alone (no pixel is decoded)."""
    with inflated_copy(path, max_decoded_bytes) as plain:
        header = read_header(
            plain, max_frames=pixels.MAX_FRAMES, max_decoded_bytes=max_decoded_bytes
        )
        return pixel_plan(header, read_source_header(plain), rules=rules)


def deidentify_dicom(
    src: Path,
    out: BinaryIO,
    *,
    pseudonym: str,
    keys: DeidKeys,
    policy: HeaderPolicy,
    rules: tuple[PixelRule, ...],
    mask: tuple[Rect, ...] | None,
    max_decoded_bytes: int,
    contact_sheet: BinaryIO | None,
) -> DeidReport:
    """Write the de-identified ``src`` to ``out`` (and its contact sheet PNG); the report."""
    with inflated_copy(src, max_decoded_bytes) as plain:
        header = read_header(
            plain, max_frames=pixels.MAX_FRAMES, max_decoded_bytes=max_decoded_bytes
        )
        ds = read_source_header(plain)
        originals = identifying_values(ds)
        plan = pixel_plan(header, ds, rules=rules, mask=mask)
        layout = pixels.output_layout(header, ds)
        options, log, offset = deidentify_header(
            ds, pseudonym=pseudonym, keys=keys, policy=policy, pixels_cleaned=True
        )
        pixels.set_pixel_attributes(ds, layout, header.transfer_syntax_uid)
        sop_class, sop_instance = str(ds.get("SOPClassUID", "")), str(ds.get("SOPInstanceUID", ""))
        if not sop_class or not sop_instance:
            raise DeidRefusedError("This file has no SOP Class or SOP Instance UID.")
        encoded = pixels.encode_header(ds, sop_class, sop_instance)
        check_absent(encoded, originals, "header")
        out.write(encoded)
        frames = pixels.cleaned_frames(plain, layout, plan, max_decoded_bytes)
        distinct = pixels.write_pixel_data(out, frames, layout, contact_sheet)
    return DeidReport(
        output="",
        contact_sheet="",
        method=METHOD,
        options=options,
        pixel_method=plan.method,
        pixel_rule=plan.rule_name,
        pixel_rects=plan.keep or plan.blank,
        frames=layout.frames,
        distinct_frames=distinct,
        transfer_syntax_in=header.transfer_syntax_uid,
        transfer_syntax_out=str(ExplicitVRLittleEndian),
        **log.fields(),
        date_shift_days=offset,
        original_identifiers=frozenset(originals),
    )
