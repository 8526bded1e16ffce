"""Verify a teaching-case package: checksums, de-identified DICOM, and no identifier anywhere.

``verify_package`` reopens the package folder and checks, for every file:

- its SHA-256 against the manifest (and that no file is missing or unlisted, and none is a link);
- if it is DICOM (``*.dcm``): Patient Identity Removed is YES and no private tag is present;
- every byte, viewed as ASCII/UTF-8, Latin-1 and UTF-16 (both byte orders, both alignments),
  case-insensitively, for each forbidden string; plus every file name and the manifest text,
  and the decoded text values of every DICOM header (which also covers deflated files).

Forbidden strings are the original identifiers: patient name parts, IDs, birth date, accession
number, institution, operator names, original UIDs. A DICOM person name ("DOE^JOHN") is split
into its parts and common orders; an 8-digit date is also searched as 1960-01-31, 31/01/1960,
01/31/1960, 31.01.1960, 31-01-1960 and 1960/01/31. Length rule, so that "M" or "1" does not
match everything: strings of 4 or more characters are searched everywhere. Shorter ones are
ignored, except IDs and dates (``Forbidden`` with an ID or date kind) of 2 or 3 characters,
which are searched as whole words in text only (file names, manifest, DICOM text values), since
in compressed pixels and video they would match by chance. A finding names the file and the kind
of hit, never the identifier: its kind and a digest keyed per report ("patient ID #3f9a01c2").
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import stat
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from pathlib import Path, PurePosixPath

from qa_meeting.domain.package import (
    MANIFEST_NAME,
    Manifest,
    PackageFormatError,
    PackageIntegrityError,
    format_checksum,
    manifest_from_json,
)
from qa_meeting.errors import QaMeetingError
from qa_meeting.imaging.tce_kos import inspect_exported_instance

MIN_SEARCH_LENGTH = 4
MAX_PACKAGE_BYTES = 8 * 2**30  # a zip may not expand beyond this
MAX_PACKAGE_FILES = 10_000
MIN_ID_LENGTH = 2
_CHUNK = 4 * 2**20
_DATE = re.compile(r"(\d{4})(\d{2})(\d{2})")


class IdentifierKind(StrEnum):
    PATIENT_NAME = "patient name part"
    PERSON_NAME = "person name part"
    PATIENT_ID = "patient ID"
    BIRTH_DATE = "birth date"
    ACCESSION = "accession number"
    DATE = "date"
    INSTITUTION = "institution"
    OPERATOR = "operator name"
    UID = "original UID"
    OTHER = "identifier"


SHORT_KINDS = frozenset(
    {IdentifierKind.PATIENT_ID, IdentifierKind.ACCESSION, IdentifierKind.BIRTH_DATE}
) | {IdentifierKind.DATE}


@dataclass(frozen=True)
class Forbidden:
    """One identifier that must not appear in the package, and what kind it is."""

    value: str
    kind: IdentifierKind = IdentifierKind.OTHER


@dataclass(frozen=True)
class Finding:
    file: str  # path inside the package
    kind: str  # e.g. "checksum", "private tag", "identifier in file name"
    detail: str  # never the identifier itself


@dataclass(frozen=True)
class VerifyReport:
    findings: tuple[Finding, ...]
    files_checked: int
    strings_searched: int
    strings_ignored: int  # shorter than the length rule allows
    manifest: Manifest | None = field(default=None, compare=False)

    @property
    def ok(self) -> bool:
        return not self.findings

    def summary(self) -> str:
        if self.ok:
            return f"{self.files_checked} files checked: clean."
        lines = [f"{f.file}: {f.kind}: {f.detail}" for f in self.findings[:20]]
        more = len(self.findings) - len(lines)
        return "\n".join(lines + ([f"... and {more} more"] if more > 0 else []))


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while block := file.read(_CHUNK):
            digest.update(block)
    return format_checksum(digest.hexdigest())


def checksum_message(relative: str) -> str:
    return f"{relative} does not match its checksum: the package was changed after export."


def expand_forbidden(items: Iterable[str | Forbidden]) -> list[Forbidden]:
    """Name parts and orders, date formats; duplicates removed (case-insensitively)."""
    seen: dict[str, Forbidden] = {}
    for item in items:
        entry = item if isinstance(item, Forbidden) else Forbidden(item)
        for variant in _variants(entry):
            if variant.value and variant.value.casefold() not in seen:
                seen[variant.value.casefold()] = variant
    return list(seen.values())


def _variants(entry: Forbidden) -> Iterator[Forbidden]:
    value = entry.value.strip()
    if "^" in value:
        kind = entry.kind if entry.kind is not IdentifierKind.OTHER else IdentifierKind.PERSON_NAME
        parts = [p.strip() for p in value.split("^") if p.strip()]
        yield from (Forbidden(p, kind) for p in parts)
        if len(parts) >= 2:
            family, given = parts[0], parts[1]
            for joined in (f"{given} {family}", f"{family} {given}", f"{family}, {given}"):
                yield Forbidden(joined, kind)
        return
    yield Forbidden(value, entry.kind)
    match = _DATE.fullmatch(value)
    if match and _is_date(*match.groups()):
        y, m, d = match.groups()
        kind = entry.kind if entry.kind is not IdentifierKind.OTHER else IdentifierKind.DATE
        for text in (f"{y}-{m}-{d}", f"{d}/{m}/{y}", f"{m}/{d}/{y}", f"{d}.{m}.{y}"):
            yield Forbidden(text, kind)
        yield from (Forbidden(t, kind) for t in (f"{d}-{m}-{y}", f"{y}/{m}/{d}"))


def _is_date(y: str, m: str, d: str) -> bool:
    try:
        date(int(y), int(m), int(d))
    except ValueError:
        return False
    return True


class _Searcher:
    """Finds forbidden strings in bytes and text, naming them by kind and a keyed digest."""

    def __init__(self, forbidden: list[Forbidden]) -> None:
        self.everywhere = [f for f in forbidden if len(f.value) >= MIN_SEARCH_LENGTH]
        self.words = [
            f
            for f in forbidden
            if MIN_ID_LENGTH <= len(f.value) < MIN_SEARCH_LENGTH and f.kind in SHORT_KINDS
        ]
        self.ignored = len(forbidden) - len(self.everywhere) - len(self.words)
        self._key = secrets.token_bytes(16)
        self._word_patterns = [
            (f, re.compile(rf"(?<![0-9a-z]){re.escape(f.value.casefold())}(?![0-9a-z])"))
            for f in self.words
        ]
        longest = max((len(f.value) for f in self.everywhere), default=0)
        self.overlap = 4 * longest + 8

    def label(self, entry: Forbidden) -> str:
        digest = hmac.new(self._key, entry.value.casefold().encode(), "sha256").hexdigest()
        return f"{entry.kind} #{digest[:8]}"

    def in_text(self, text: str) -> list[Forbidden]:
        folded = text.casefold()
        hits = [f for f in self.everywhere if f.value.casefold() in folded]
        return hits + [f for f, pattern in self._word_patterns if pattern.search(folded)]

    def in_file(self, path: Path) -> list[Forbidden]:
        found: dict[int, Forbidden] = {}
        tail = b""
        with path.open("rb") as file:
            while block := file.read(_CHUNK):
                window = _Window(tail + block)
                for i, entry in enumerate(self.everywhere):
                    if i not in found and window.contains(entry.value):
                        found[i] = entry
                tail = window.data[-self.overlap :]
        return list(found.values())


class _Window:
    """One stretch of a file, searched case-insensitively as ASCII/UTF-8, Latin-1 and UTF-16."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self._lowered: bytes | None = None
        self._views: list[str] | None = None

    def contains(self, needle: str) -> bool:
        folded = needle.casefold()
        if folded.isascii():  # bytes.lower() folds ASCII letters in each of these encodings
            if self._lowered is None:
                self._lowered = self.data.lower()
            encodings = ("ascii", "utf-16-le", "utf-16-be")
            return any(folded.encode(e) in self._lowered for e in encodings)
        if self._views is None:
            data = self.data
            views = [data.decode("utf-8", "replace"), data.decode("latin-1")]
            views += [
                data[o:].decode(e, "replace") for e in ("utf-16-le", "utf-16-be") for o in (0, 1)
            ]
            self._views = [view.casefold() for view in views]
        return any(folded in view for view in self._views)


def verify_package(path: Path, forbidden: Iterable[str | Forbidden] = ()) -> VerifyReport:
    """Check the package folder at ``path``; any finding blocks its export or import."""
    searcher = _Searcher(expand_forbidden(forbidden))
    findings: list[Finding] = []

    def hits(file: str, kind: str, entries: Iterable[Forbidden]) -> None:
        findings.extend(Finding(file, kind, searcher.label(e)) for e in entries)

    manifest: Manifest | None = None
    manifest_path = path / MANIFEST_NAME
    try:
        manifest = manifest_from_json(manifest_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError):
        findings.append(Finding(MANIFEST_NAME, "manifest", "missing or not UTF-8 text"))
    except QaMeetingError as exc:
        findings.append(Finding(MANIFEST_NAME, "manifest", exc.message))
    checksums = dict(manifest.checksums) if manifest else {}
    files = 0
    for entry in sorted(path.rglob("*")):
        relative = entry.relative_to(path).as_posix()
        hits(relative, "identifier in file name", searcher.in_text(relative))
        if entry.is_symlink() or not (entry.is_dir() or entry.is_file()):
            findings.append(Finding(relative, "link", "links and special files are not allowed"))
            continue
        if entry.is_dir():
            continue
        files += 1
        is_manifest = relative == MANIFEST_NAME
        kind = "identifier in manifest" if is_manifest else "identifier in file content"
        hits(relative, kind, searcher.in_file(entry))
        if is_manifest:
            text = entry.read_bytes().decode("utf-8", "replace")
            hits(relative, kind, [f for f in searcher.in_text(text) if f in searcher.words])
            continue
        expected = checksums.pop(relative, None)
        if manifest and expected is None:
            findings.append(Finding(relative, "unlisted file", "not listed in the manifest"))
        elif manifest and sha256_file(entry) != expected:
            findings.append(Finding(relative, "checksum", checksum_message(relative)))
        if entry.suffix.lower() == ".dcm":
            findings.extend(_dicom_findings(entry, relative, searcher))
    findings.extend(Finding(p, "missing file", "listed in the manifest") for p in checksums)
    return VerifyReport(
        findings=tuple(dict.fromkeys(findings)),
        files_checked=files,
        strings_searched=len(searcher.everywhere) + len(searcher.words),
        strings_ignored=searcher.ignored,
        manifest=manifest,
    )


def _dicom_findings(entry: Path, relative: str, searcher: _Searcher) -> list[Finding]:
    try:
        facts = inspect_exported_instance(entry)
    except QaMeetingError as exc:
        return [Finding(relative, "unreadable DICOM", exc.message)]
    findings = []
    if facts.patient_identity_removed != "YES":
        findings.append(
            Finding(relative, "identity not removed", "Patient Identity Removed != YES")
        )
    findings.extend(Finding(relative, "private tag", tag) for tag in facts.private_tags)
    for value in facts.text_values:
        for hit in searcher.in_text(value):
            findings.append(Finding(relative, "identifier in DICOM header", searcher.label(hit)))
    return findings


def check_package_files(folder: Path) -> Manifest:
    """The manifest, once every file matches its checksum and none is missing or extra.

    Raises ``PackageFormatError`` or ``PackageIntegrityError`` at the first problem.
    """
    try:
        text = (folder / MANIFEST_NAME).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        raise PackageFormatError(f"{folder.name} has no readable {MANIFEST_NAME}.") from None
    manifest = manifest_from_json(text)
    present = {
        p.relative_to(folder).as_posix(): p
        for p in folder.rglob("*")
        if p.is_symlink() or not p.is_dir()
    }
    present.pop(MANIFEST_NAME)
    for relative, expected in manifest.checksums.items():
        file = present.pop(relative, None)
        if file is None or file.is_symlink() or not file.is_file():
            raise PackageIntegrityError(f"{relative} is missing: the package is incomplete.")
        if sha256_file(file) != expected:
            raise PackageIntegrityError(checksum_message(relative))
    for relative in present:
        raise PackageIntegrityError(
            f"{relative} is not listed in the manifest: the package was changed after export."
        )
    return manifest


def extract_package_zip(archive_path: Path, into: Path) -> Path:
    """Extract safely (no absolute or parent paths, links, encryption or duplicates; bounded
    size and count, counted as written); return the folder holding manifest.json."""
    into.mkdir(parents=True)
    written = 0
    seen: set[str] = set()
    with zipfile.ZipFile(archive_path) as archive:
        entries = archive.infolist()
        if len(entries) > MAX_PACKAGE_FILES:
            raise PackageFormatError(f"The zip holds more than {MAX_PACKAGE_FILES} files.")
        for number, info in enumerate(entries, start=1):
            parts = PurePosixPath(info.filename).parts
            unsafe = (
                not parts
                or info.filename.startswith("/")
                or any(c in info.filename for c in "\\:")
                or any(part in ("..", ".") for part in parts)
                or stat.S_ISLNK(info.external_attr >> 16)
                or info.flag_bits & 0x1
                or info.filename.casefold() in seen
            )
            if unsafe:
                raise PackageFormatError(f"Entry {number} of the zip is unsafe; nothing was read.")
            seen.add(info.filename.casefold())
            target = into.joinpath(*parts)
            if info.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            with archive.open(info) as source, target.open("xb") as sink:
                while block := source.read(2**20):
                    written += len(block)
                    if written > MAX_PACKAGE_BYTES:
                        raise PackageFormatError(
                            f"The zip expands to more than {MAX_PACKAGE_BYTES // 2**30} GiB."
                        )
                    sink.write(block)
    if (into / MANIFEST_NAME).is_file():
        return into
    children = list(into.iterdir())
    if len(children) == 1 and (children[0] / MANIFEST_NAME).is_file():
        return children[0]
    raise PackageFormatError(f"The zip holds no {MANIFEST_NAME}; it is not a teaching case.")
