"""Identifiers in free text: what must hit, and clinical shorthand that must not."""

from __future__ import annotations

import itertools

import pytest

from qa_meeting.domain.identifiers import (
    IdentifierKind,
    find_identifiers,
    name_variants,
    nhs_number_is_valid,
    redact,
)

KNOWN = ("SMITH^JANE", "Dr Priya Raman", "ZZMARKERZZ^ALPHA")

TRUE_POSITIVES = [
    ("NHS 943 476 5919", IdentifierKind.NHS_NUMBER, "943 476 5919"),
    ("nhs no 9434765919.", IdentifierKind.NHS_NUMBER, "9434765919"),
    ("id 943-476-5919", IdentifierKind.NHS_NUMBER, "943-476-5919"),
    ("MRN 1234567", IdentifierKind.HOSPITAL_NUMBER, "MRN 1234567"),
    ("MRN: 12345678 seen", IdentifierKind.HOSPITAL_NUMBER, "MRN: 12345678"),
    ("hospital number K123456", IdentifierKind.HOSPITAL_NUMBER, "hospital number K123456"),
    ("ref RXH1234567 today", IdentifierKind.HOSPITAL_NUMBER, "RXH1234567"),
    ("unit no. 7654321", IdentifierKind.HOSPITAL_NUMBER, "unit no. 7654321"),
    ("scanned 12/03/2024", IdentifierKind.DATE, "12/03/2024"),
    ("scanned 2024-03-12.", IdentifierKind.DATE, "2024-03-12"),
    ("on 3 March 2024", IdentifierKind.DATE, "3 March 2024"),
    ("on 3rd of March", IdentifierKind.DATE, "3rd of March"),
    ("on 03-Mar-24", IdentifierKind.DATE, "03-Mar-24"),
    ("on March 3, 2024", IdentifierKind.DATE, "March 3, 2024"),
    ("in Sept 2023", IdentifierKind.DATE, "Sept 2023"),
    ("study 20240312", IdentifierKind.DATE, "20240312"),
    ("dob 1.2.60", IdentifierKind.DATE, "1.2.60"),
    ("call 07700 900123", IdentifierKind.PHONE, "07700 900123"),
    ("call 07700900123", IdentifierKind.PHONE, "07700900123"),
    ("call +44 7700 900123", IdentifierKind.PHONE, "+44 7700 900123"),
    ("call +44 (0)20 7946 0000", IdentifierKind.PHONE, "+44 (0)20 7946 0000"),
    ("call 020 7946 0000", IdentifierKind.PHONE, "020 7946 0000"),
    ("call 01632 960983", IdentifierKind.PHONE, "01632 960983"),
    ("call (0161) 496 0000", IdentifierKind.PHONE, "(0161) 496 0000"),
    ("mail jane.smith@nhs.net.", IdentifierKind.EMAIL, "jane.smith@nhs.net"),
    ("seen by SMITH^JANE", IdentifierKind.NAME, "SMITH^JANE"),
    ("seen by Jane Smith", IdentifierKind.NAME, "Jane Smith"),
    ("seen by smith, jane", IdentifierKind.NAME, "smith, jane"),
    ("seen by jane", IdentifierKind.NAME, "jane"),
    ("Dr Priya Raman scanned", IdentifierKind.NAME, "Dr Priya Raman"),
    ("raman, priya scanned", IdentifierKind.NAME, "raman, priya"),
    ("RAMAN reviewed", IdentifierKind.NAME, "RAMAN"),
    ("patient zzmarkerzz", IdentifierKind.NAME, "zzmarkerzz"),
]

CLINICAL_TEXT = [
    "LV 45%",
    "RR 24",
    "5 cm",
    "ACEP 3",
    "frames 5-30",
    "frames 5 to 30",
    "EF 55-60%",
    "BP 120/80",
    "HR 110 bpm, SpO2 94% on 2 L",
    "IVC 2.1 cm with >50% collapse",
    "C5-1 curvilinear probe, depth 16 cm",
    "A4C and PLAX views",
    "the effusion may be small",
    "march the probe laterally",
    "TAPSE 17 mm, E/A 0.8",
    "GCS 15, lactate 4.2",
    "B-lines in 3/8 zones",
    "score 2/5",
    "pydicom 3.0.2",
    "platelets 150000",
    "Dr to review",
]


@pytest.mark.parametrize(("text", "kind", "expected"), TRUE_POSITIVES)
def test_identifiers_are_found(text: str, kind: IdentifierKind, expected: str) -> None:
    hits = find_identifiers(text, KNOWN)
    assert [(hit.kind, hit.text) for hit in hits] == [(kind, expected)]
    (hit,) = hits
    assert text[hit.start : hit.end] == expected


@pytest.mark.parametrize("text", CLINICAL_TEXT)
def test_clinical_shorthand_is_not_an_identifier(text: str) -> None:
    assert find_identifiers(text, KNOWN) == []


@pytest.mark.parametrize(
    ("number", "valid"),
    [
        ("9434765919", True),
        ("943 476 5919", True),
        ("4010232137", True),
        ("9434765918", False),  # wrong check digit
        ("9434765910", False),
        ("1000000010", False),  # check digit would be 10: never issued
        ("943476591", False),
        ("94347659190", False),
    ],
)
def test_nhs_check_digit(number: str, valid: bool) -> None:
    assert nhs_number_is_valid(number) is valid


def test_a_ten_digit_number_with_a_bad_check_digit_is_still_flagged() -> None:
    (hit,) = find_identifiers("ref 9434765918")
    assert hit.kind is IdentifierKind.HOSPITAL_NUMBER


def test_hits_do_not_overlap_and_come_in_order() -> None:
    text = "SMITH^JANE (MRN 1234567) seen 03/04/2024, call 07700 900123 or jane@x.org"
    hits = find_identifiers(text, KNOWN)
    kinds = [hit.kind for hit in hits]
    assert kinds == [
        IdentifierKind.NAME,
        IdentifierKind.HOSPITAL_NUMBER,
        IdentifierKind.DATE,
        IdentifierKind.PHONE,
        IdentifierKind.EMAIL,
    ]
    assert all(a.end <= b.start for a, b in itertools.pairwise(hits))


def test_redact_replaces_every_hit() -> None:
    text = "Jane Smith, NHS 943 476 5919, 3 March 2024: LV 45%"
    assert (
        redact(text, find_identifiers(text, KNOWN)) == "[removed], NHS [removed], [removed]: LV 45%"
    )


def test_name_variants() -> None:
    assert name_variants("SMITH^JANE^^DR") >= {"SMITH^JANE^^DR", "SMITH JANE DR", "JANE SMITH"}
    assert {"SMITH", "JANE"} <= name_variants("SMITH^JANE")
    assert "Dr" not in name_variants("Dr Jane Smith")
    assert "Li" not in name_variants("LI^WEI")  # parts under three letters only count whole
    assert name_variants("") == set()
