"""Header ingest throughput against pydicom's bare header parse of the same files.

Files: synthetic ultrasound cine loops written by the demo generator. Three measurements, each
the best of three passes over the same files:
- baseline: ``pydicom.dcmread(path, stop_before_pixels=True)`` (parse only, no checks);
- ours, vetting: ``imaging.dicom_io.read_header`` (parse plus every refusal check);
- ours, full ingest: ``services.ingest.ingest_paths`` into an empty SQLite database (vetting,
  SHA-256 of the bytes, atomic copy into the media store, rows in a transaction, audit event).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pydicom

from bench.common import Result, best_of
from qa_meeting.imaging.dicom_io import read_header
from qa_meeting.imaging.synthetic import CineSpec, write_cine
from qa_meeting.services.context import build_context
from qa_meeting.services.ingest import ingest_paths
from qa_meeting.settings import load_settings

FILES = 200


def _make_files(folder: Path) -> list[Path]:
    paths = []
    for index in range(FILES):
        spec = CineSpec(
            case_id=f"bench-{index}", scene="cardiac_a4c", rows=160, columns=200, frames=8
        )
        paths.append(write_cine(spec, folder / f"clip{index:04d}.dcm"))
    return paths


def run() -> list[Result]:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        paths = _make_files(root / "in")
        settings = load_settings(environ={}, secrets_path=None)
        max_bytes = settings.max_decoded_mb * 1024 * 1024

        def bare() -> None:
            for path in paths:
                pydicom.dcmread(path, stop_before_pixels=True)

        def vetting() -> None:
            for path in paths:
                read_header(path, max_frames=settings.max_frames, max_decoded_bytes=max_bytes)

        counter = iter(range(1000))

        def full_ingest() -> None:
            data = root / f"data{next(counter)}"
            ctx = build_context(type(settings)(**{**settings.__dict__, "data_dir": data}))
            results = ingest_paths(ctx, paths, actor=None)
            assert all(r.status.value == "stored" for r in results)
            ctx.engine.dispose()

        baseline = FILES / best_of(3, bare)
        vetted = FILES / best_of(3, vetting)
        ingested = FILES / best_of(3, full_ingest)
    return [
        Result(
            "header vetting (files/s)",
            f"{vetted:,.0f}",
            f"{baseline:,.0f} (pydicom bare parse)",
            baseline / vetted,
            "within 1.15x",
        ),
        Result(
            "full ingest into SQLite (files/s)",
            f"{ingested:,.0f}",
            f"{baseline:,.0f} (pydicom bare parse)",
            baseline / ingested,
            "report only",
        ),
    ]
