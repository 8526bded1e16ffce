"""The content-addressed media store: sharding, idempotency, atomic writes, removal."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from qa_meeting.errors import RejectedFileError
from qa_meeting.store.media import MediaStore, sha256_file

DATA = b"DICM-ish bytes " * 1000


@pytest.fixture
def store(tmp_path: Path) -> MediaStore:
    return MediaStore(tmp_path / "media")


@pytest.fixture
def source(tmp_path: Path) -> Path:
    path = tmp_path / "source.dcm"
    path.write_bytes(DATA)
    return path


def _all_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def test_sha256_file_matches_hashlib(tmp_path: Path) -> None:
    path = tmp_path / "big.bin"
    path.write_bytes(os.urandom(3 * 1024 * 1024 + 17))  # several chunks and a remainder
    assert sha256_file(path) == hashlib.sha256(path.read_bytes()).hexdigest()


def test_put_file_is_sharded_and_content_addressed(store: MediaStore, source: Path) -> None:
    sha, newly_written = store.put_file(source)
    assert newly_written and sha == hashlib.sha256(DATA).hexdigest()
    expected = store.root / "originals" / sha[:2] / sha[2:4] / f"{sha}.dcm"
    assert store.path_for(sha) == expected
    assert expected.read_bytes() == DATA
    assert store.exists(sha)
    assert _all_files(store.root) == [expected]  # no temporary file left behind


def test_put_file_is_idempotent(store: MediaStore, source: Path, tmp_path: Path) -> None:
    first = store.put_file(source)
    copy = tmp_path / "copy.dcm"
    copy.write_bytes(DATA)
    assert store.put_file(copy) == (first[0], False)
    assert store.put_file(source, known_sha256=first[0]) == (first[0], False)
    assert len(_all_files(store.root)) == 1


@pytest.mark.parametrize("failing", ["fsync", "replace"])
def test_a_failed_write_leaves_no_partial_file(
    store: MediaStore, source: Path, monkeypatch: pytest.MonkeyPatch, failing: str
) -> None:
    def fail(*_args: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, failing, fail)
    with pytest.raises(OSError, match="disk full"):
        store.put_file(source)
    monkeypatch.undo()
    sha = sha256_file(source)
    assert not store.exists(sha)
    assert _all_files(store.root) == []
    assert store.put_file(source) == (sha, True)  # and a retry works


def test_a_file_that_changed_since_hashing_is_refused(store: MediaStore, source: Path) -> None:
    stale = hashlib.sha256(b"what the file held before").hexdigest()
    with pytest.raises(RejectedFileError):
        store.put_file(source, known_sha256=stale)
    assert _all_files(store.root) == []


def test_remove_deletes_the_original_and_its_derived_media(store: MediaStore, source: Path) -> None:
    sha, _ = store.put_file(source)
    video = store.derived_path(sha, "cine.mp4")
    assert video == store.root / "derived" / sha[:2] / sha[2:4] / sha / "cine.mp4"
    video.parent.mkdir(parents=True)
    video.write_bytes(b"video")
    assert store.remove(sha)
    assert _all_files(store.root) == []
    assert not store.remove(sha)


@pytest.mark.parametrize("sha", ["", "ABC", "../" + "a" * 61, "g" * 64, "A" * 64])
def test_paths_refuse_anything_but_a_sha256(store: MediaStore, sha: str) -> None:
    with pytest.raises(ValueError):
        store.path_for(sha)


@pytest.mark.parametrize("name", ["", "..", "../x.png", "a/b.png", ".hidden", "x\\y.png"])
def test_derived_names_are_plain_file_names(store: MediaStore, name: str) -> None:
    with pytest.raises(ValueError):
        store.derived_path("a" * 64, name)
