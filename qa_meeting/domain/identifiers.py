"""Find identifiers in free text: the one shared check for image-bank exports and the digest.

``find_identifiers(text, known)`` returns every span that looks like a patient or staff
identifier: the names passed in ``known`` (patient names from headers, staff display names),
NHS numbers (10 digits whose modulus-11 check digit is valid), hospital numbers, dates, UK
phone numbers and e-mail addresses. It leans towards flagging: a false hit costs a reviewer a
glance, a miss leaks a patient. Clinical shorthand ("LV 45%", "RR 24", "5 cm", "ACEP 3",
"frames 5-30", "BP 120/80") is not an identifier and must not hit. Pure: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from enum import StrEnum


class IdentifierKind(StrEnum):
    """What kind of identifier a hit is."""

    NAME = "name"
    NHS_NUMBER = "nhs_number"
    HOSPITAL_NUMBER = "hospital_number"
    DATE = "date"
    PHONE = "phone"
    EMAIL = "email"


@dataclass(frozen=True)
class IdentifierHit:
    """One identifier found in a text: ``text[start:end]``."""

    kind: IdentifierKind
    start: int
    end: int
    text: str


# Overlapping hits keep the longest; on equal length, the earlier kind here.
_PRIORITY = (
    IdentifierKind.EMAIL,
    IdentifierKind.NHS_NUMBER,
    IdentifierKind.PHONE,
    IdentifierKind.DATE,
    IdentifierKind.HOSPITAL_NUMBER,
    IdentifierKind.NAME,
)
MIN_NAME_PART = 3
# Honorifics and particles are not names on their own; "Dr Jane Smith" still hits in full.
_NOT_NAMES = frozenset(
    {"dr", "mr", "mrs", "ms", "miss", "mx", "prof", "sir", "dame", "rev", "md", "phd", "frcem"}
    | {"the", "and", "von", "van", "der", "del", "de", "la", "le", "da", "di"}
)

_MONTHS = (
    "jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
    "|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?"
)
_DAY = r"(?:0?[1-9]|[12]\d|3[01])"
_ORDINAL = r"(?:st|nd|rd|th)?"
_YEAR = r"(?:19|20)\d{2}"
_EDGE_L = r"(?<![\w/.-])"
_EDGE_R = r"(?![\w/]|[.-]\d)"
_EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
_NHS = re.compile(_EDGE_L + r"(\d{3})([ -]?)(\d{3})\2(\d{4})" + _EDGE_R)
_PHONE = re.compile(
    r"(?<![\w+])(?:\+44\s?(?:\(0\)\s?)?|\(?0)"  # +44 (0) or a leading 0
    r"[1-9](?:[\s-]?\)?[\s-]?\d){7,9}" + _EDGE_R
)
_LABELLED_NUMBER = re.compile(
    r"\b(?:MRN|hospital\s+(?:no|number)|hosp\.?\s*no|unit\s+(?:no|number)|patient\s+id"
    r"|PID|case\s+no)\b\.?\s*[:#]?\s*([A-Z]{0,4}\d{5,10})\b",
    re.IGNORECASE,
)
_PREFIXED_NUMBER = re.compile(r"(?<![\w-])[A-Z]{1,4}\d{6,10}(?![\w-])", re.IGNORECASE)
_BARE_NUMBER = re.compile(r"(?<![\w.,/-])\d{7,10}(?![\w,]|[./-]\d)")
_NUMERIC_DATE = re.compile(_EDGE_L + r"(\d{1,2})([/.-])(\d{1,2})\2(\d{4}|\d{2})" + _EDGE_R)
_ISO_DATE = re.compile(_EDGE_L + r"(" + _YEAR + r")([-/.]?)(\d{2})\2(\d{2})" + _EDGE_R)
_DAY_MONTH = re.compile(
    r"\b" + _DAY + _ORDINAL + r"(?:\s+of)?[\s/-]+(" + _MONTHS + r")\b\.?"
    r"(?:,?[\s/-]+(" + _YEAR + r"|\d{2})\b)?",
    re.IGNORECASE,
)
_MONTH_DAY = re.compile(
    r"\b(" + _MONTHS + r")\.?\s+" + _DAY + _ORDINAL + r"(?:,?\s+(" + _YEAR + r"))?\b",
    re.IGNORECASE,
)
_MONTH_YEAR = re.compile(r"\b(" + _MONTHS + r")\.?,?\s+(" + _YEAR + r")\b", re.IGNORECASE)


def find_identifiers(text: str, known: Iterable[str] = ()) -> list[IdentifierHit]:
    """Every identifier in ``text``, in order, without overlaps.

    ``known`` holds names to look for: DICOM person names ("SURNAME^GIVEN") and display
    names ("Dr Jane Smith"). Each is found whole, in either order, and by its parts of at
    least three letters, ignoring case.
    """
    found = [
        *_names(text, known),
        *_emails(text),
        *_nhs_numbers(text),
        *_phones(text),
        *_dates(text),
        *_hospital_numbers(text),
    ]
    return _without_overlaps(found)


def nhs_number_is_valid(number: str) -> bool:
    """True when ``number`` (10 digits; spaces and hyphens ignored) passes the modulus-11 check."""
    digits = re.sub(r"[\s-]", "", number)
    if len(digits) != 10 or not digits.isdigit():
        return False
    total = sum(int(d) * weight for d, weight in zip(digits[:9], range(10, 1, -1), strict=True))
    check = 11 - total % 11
    if check == 10:
        return False
    return (0 if check == 11 else check) == int(digits[9])


def redact(text: str, hits: Iterable[IdentifierHit], replacement: str = "[removed]") -> str:
    """``text`` with every hit replaced by ``replacement``."""
    parts: list[str] = []
    position = 0
    for hit in sorted(hits, key=lambda h: h.start):
        if hit.start < position:
            continue
        parts += [text[position : hit.start], replacement]
        position = hit.end
    return "".join([*parts, text[position:]])


def name_variants(name: str) -> set[str]:
    """The ways a known name may be written: whole (both orders) and its parts of 3+ letters."""
    first_group = name.split("=")[0]  # DICOM PN: alphabetic group before ideographic ones
    components = [c.strip() for c in re.split(r"[\^,]", first_group) if c.strip()]
    words = [w for c in components for w in re.split(r"\s+", c) if w]
    variants = {first_group.strip(), " ".join(components), " ".join(reversed(components[:2]))}
    variants |= {", ".join(components[:2])}
    names = [w for w in words if w.lower().rstrip(".") not in _NOT_NAMES]
    if len(components) == 1 and len(names) >= 2:  # "Dr Jane Smith": also "Smith, Jane" etc.
        given, surname = names[0], names[-1]
        variants |= {f"{surname}^{given}", f"{surname}, {given}", f"{surname} {given}"}
        variants |= {f"{given} {surname}"}
    variants |= {w for w in words if len(w) >= MIN_NAME_PART and w.lower() not in _NOT_NAMES}
    return {v for v in variants if len(v) >= MIN_NAME_PART and v.lower() not in _NOT_NAMES}


def _names(text: str, known: Iterable[str]) -> Iterator[IdentifierHit]:
    variants = {variant for name in known for variant in name_variants(name)}
    if not variants:
        return
    ordered = sorted(variants, key=len, reverse=True)  # the whole name before its parts
    pattern = "|".join(r"\s+".join(map(re.escape, v.split())) for v in ordered)
    for match in re.finditer(rf"(?<!\w)(?:{pattern})(?!\w)", text, re.IGNORECASE):
        yield _hit(IdentifierKind.NAME, match)


def _emails(text: str) -> Iterator[IdentifierHit]:
    for match in _EMAIL.finditer(text):
        yield _hit(IdentifierKind.EMAIL, match)


def _nhs_numbers(text: str) -> Iterator[IdentifierHit]:
    for match in _NHS.finditer(text):
        if nhs_number_is_valid(match.group(1) + match.group(3) + match.group(4)):
            yield _hit(IdentifierKind.NHS_NUMBER, match)


def _phones(text: str) -> Iterator[IdentifierHit]:
    for match in _PHONE.finditer(text):
        digits = re.sub(r"\D", "", match.group().replace("(0)", ""))
        national = "0" + digits[2:] if match.group().startswith("+") else digits
        if len(national) in (10, 11) and national[1] in "123789":
            yield _hit(IdentifierKind.PHONE, match)


def _dates(text: str) -> Iterator[IdentifierHit]:
    for match in _NUMERIC_DATE.finditer(text):
        first, second = int(match.group(1)), int(match.group(3))
        if _day_month(first, second) or _day_month(second, first):
            yield _hit(IdentifierKind.DATE, match)
    for match in _ISO_DATE.finditer(text):
        if _day_month(int(match.group(4)), int(match.group(3))):
            yield _hit(IdentifierKind.DATE, match)
    for pattern in (_DAY_MONTH, _MONTH_DAY):
        for match in pattern.finditer(text):
            if _month_word_is_a_month(match.group(1), has_year=bool(match.group(2))):
                yield _hit(IdentifierKind.DATE, match)
    for match in _MONTH_YEAR.finditer(text):
        if _month_word_is_a_month(match.group(1), has_year=True):
            yield _hit(IdentifierKind.DATE, match)


def _hospital_numbers(text: str) -> Iterator[IdentifierHit]:
    for match in _LABELLED_NUMBER.finditer(text):
        yield _hit(IdentifierKind.HOSPITAL_NUMBER, match)
    for pattern in (_PREFIXED_NUMBER, _BARE_NUMBER):
        for match in pattern.finditer(text):
            yield _hit(IdentifierKind.HOSPITAL_NUMBER, match)


def _day_month(day: int, month: int) -> bool:
    return 1 <= day <= 31 and 1 <= month <= 12


def _month_word_is_a_month(word: str, *, has_year: bool) -> bool:
    """Month names double as words ("may", "march"): without a year, only "March" or "MAR"."""
    return has_year or not word.islower()


def _hit(kind: IdentifierKind, match: re.Match[str]) -> IdentifierHit:
    return IdentifierHit(kind, match.start(), match.end(), match.group())


def _without_overlaps(hits: list[IdentifierHit]) -> list[IdentifierHit]:
    rank = {kind: index for index, kind in enumerate(_PRIORITY)}
    ordered = sorted(hits, key=lambda h: (-(h.end - h.start), rank[h.kind], h.start))
    kept: list[IdentifierHit] = []
    for hit in ordered:
        if all(hit.end <= other.start or hit.start >= other.end for other in kept):
            kept.append(hit)
    return sorted(kept, key=lambda h: h.start)
