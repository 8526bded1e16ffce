"""Zip archives offered for ingest: vetted whole before anything is unpacked.

Refused outright: path traversal, absurd entry counts, and archives that would expand beyond
``ARCHIVE_SIZE_FACTOR`` times the per-file decoded-size limit (zip bombs). Entries are then
copied out one at a time, never more bytes than each declared.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

from qa_meeting.domain.scans import RejectionCode
from qa_meeting.store.media import CHUNK_SIZE

MAX_ARCHIVE_ENTRIES = 20_000
# A zip may expand to this many times the per-file decoded-size limit (settings.max_decoded_mb).
ARCHIVE_SIZE_FACTOR = 2
SKIPPED_FOLDERS = frozenset({"__MACOSX"})


def is_hidden(name: str) -> bool:
    return name.startswith(".") or name in SKIPPED_FOLDERS


class ArchiveRefusedError(Exception):
    def __init__(self, code: RejectionCode, reason: str) -> None:
        super().__init__(reason)
        self.code, self.reason = code, reason


def vet_archive(archive: zipfile.ZipFile, limit: int) -> list[zipfile.ZipInfo]:
    """The entries to ingest, in name order; refuse the whole archive if any entry is unsafe."""
    entries = archive.infolist()
    if len(entries) > MAX_ARCHIVE_ENTRIES:
        raise ArchiveRefusedError(
            RejectionCode.UNSAFE_ARCHIVE,
            f"This zip holds more than {MAX_ARCHIVE_ENTRIES} entries; ingest the folder in parts.",
        )
    for entry in entries:
        parts = entry.filename.replace("\\", "/").split("/")
        if (
            entry.filename.startswith(("/", "\\"))
            or ".." in parts
            or ":" in parts[0]
            or "\0" in entry.filename
        ):
            raise ArchiveRefusedError(
                RejectionCode.UNSAFE_ARCHIVE,
                "This zip contains a path that points outside its own folder, as malicious "
                "archives do; nothing from it was ingested. Zip the study folder again.",
            )
        if entry.flag_bits & 0x1:
            raise ArchiveRefusedError(
                RejectionCode.UNREADABLE_ARCHIVE,
                "This zip is password-protected; create it again without a password.",
            )
    total = sum(entry.file_size for entry in entries)
    if total > limit:
        raise ArchiveRefusedError(
            RejectionCode.UNSAFE_ARCHIVE,
            f"This zip would unpack to {-(-total // 2**20)} MB, more than this site's limit of "
            f"{limit // 2**20} MB; nothing from it was ingested. Ingest the study in parts.",
        )
    wanted = [
        entry
        for entry in entries
        if not entry.is_dir() and not any(is_hidden(part) for part in entry.filename.split("/"))
    ]
    return sorted(wanted, key=lambda entry: entry.filename)


def extract_entry(archive: zipfile.ZipFile, entry: zipfile.ZipInfo, target: Path) -> None:
    """Copy one entry out, never writing more bytes than its vetted declared size."""
    written = 0
    with archive.open(entry) as source, target.open("wb") as out:
        while chunk := source.read(CHUNK_SIZE):
            written += len(chunk)
            if written > entry.file_size:
                raise zipfile.BadZipFile("entry larger than declared")
            out.write(chunk)
