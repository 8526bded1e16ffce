"""The media store: original DICOM files and their derived media, addressed by content.

An original lives at ``root/originals/ab/cd/<sha256>.dcm`` where ``<sha256>`` is the hash of its
bytes, so storing the same file twice is a no-op and two different files never share a name.
Derived media (videos, thumbnails, key frames) live under ``root/derived/ab/cd/<sha256>/`` and can
be rebuilt from the original. Every write goes to a temporary file in the destination folder,
is fsynced, and is renamed into place, so a reader never sees a partial file.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
from pathlib import Path

from qa_meeting.errors import RejectedFileError

CHUNK_SIZE = 1024 * 1024
_SHA256_PATTERN = re.compile(r"[0-9a-f]{64}")
_DERIVED_NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


def sha256_file(path: Path) -> str:
    """The hex SHA-256 of a file's bytes, read in chunks (constant memory)."""
    digest = hashlib.sha256()
    with path.open("rb") as fp:
        while chunk := fp.read(CHUNK_SIZE):
            digest.update(chunk)
    return digest.hexdigest()


def _check_sha(sha: str) -> str:
    if not _SHA256_PATTERN.fullmatch(sha):
        raise ValueError(f"not a lower-case hex SHA-256: {sha!r}")
    return sha


def _fsync_directory(folder: Path) -> None:
    """Make a rename durable; not every platform can open a directory, which is fine."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


class MediaStore:
    """Content-addressed files under one root folder."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def _shard(self, kind: str, sha: str) -> Path:
        _check_sha(sha)
        return self.root / kind / sha[:2] / sha[2:4]

    def path_for(self, sha: str, suffix: str = ".dcm") -> Path:
        """Where the original with this hash lives (whether or not it exists)."""
        return self._shard("originals", sha) / f"{sha}{suffix}"

    def derived_path(self, sha: str, name: str) -> Path:
        """Where a derived file (e.g. ``cine.mp4``, ``thumb.png``) of this original lives."""
        if not _DERIVED_NAME_PATTERN.fullmatch(name) or ".." in name:
            raise ValueError(f"not a plain file name: {name!r}")
        return self._shard("derived", sha) / sha / name

    def exists(self, sha: str) -> bool:
        return self.path_for(sha).is_file()

    def put_file(self, src: Path, *, known_sha256: str | None = None) -> tuple[str, bool]:
        """Store a copy of ``src``; return its hash and whether this call wrote it.

        ``known_sha256`` saves hashing the file twice when the caller has just done it; the copy
        is still checked against it, so a file that changed in between is refused, not stored.
        """
        sha = _check_sha(known_sha256) if known_sha256 else sha256_file(src)
        destination = self.path_for(sha)
        if destination.is_file():
            return sha, False
        destination.parent.mkdir(parents=True, exist_ok=True)
        fd, temporary_name = tempfile.mkstemp(prefix=".incoming-", dir=destination.parent)
        temporary = Path(temporary_name)
        try:
            digest = hashlib.sha256()
            with os.fdopen(fd, "wb") as target, src.open("rb") as source:
                while chunk := source.read(CHUNK_SIZE):
                    digest.update(chunk)
                    target.write(chunk)
                target.flush()
                os.fsync(target.fileno())
            if digest.hexdigest() != sha:
                raise RejectedFileError(
                    "The file changed while it was being stored.",
                    "Wait until the copy or export has finished, then ingest it again.",
                )
            temporary.replace(destination)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise
        _fsync_directory(destination.parent)
        return sha, True

    def remove(self, sha: str) -> bool:
        """Delete the original and its derived media; True if the original existed."""
        original = self.path_for(sha)
        existed = original.is_file()
        original.unlink(missing_ok=True)
        derived_folder = self._shard("derived", sha) / sha
        if derived_folder.is_dir():
            shutil.rmtree(derived_folder, ignore_errors=True)
        _fsync_directory(original.parent)
        return existed
