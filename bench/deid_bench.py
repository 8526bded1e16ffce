"""De-identification: the header step in files/s, and pixel cleaning in frames/s, each against a
bare baseline on the same files. Rates are per core: work done per CPU second of the process
(``time.process_time``, every thread counted; the best of three runs), so a decoder that reads
ahead on a second thread gains nothing from it here.

- Header: the header half of ``imaging.deidentify.deidentify_dicom`` on synthetic ultrasound
  loops from the demo generator (vetting with ``read_header``, the header parse, the original
  identifiers, the pixel plan from the regions, the PS3.15 Annex E profile with UID remapping and
  date shifting, the pixel description, encoding, and the check that no original identifier
  remains), written to memory. Baseline: ``pydicom.dcmread(path, stop_before_pixels=True)`` then
  ``dcmwrite`` of that header to memory: a bare read-and-write of the same files.
- Pixels: ``deid_pixels.cleaned_frames`` (decode each frame, keep only the regions' data areas)
  of a 600x800 loop, against decoding the same frames alone with the same decoder
  (``pydicom.pixels.iter_pixels`` for the grey loop the generator writes, ``iter_rgb_frames``
  for a JPEG Baseline RGB loop as scanners export them).
- Full: ``services.deidentify.deidentify_file`` of the 600x800 grey loop (header, cleaned pixels
  written uncompressed, contact sheet, both atomically), reported only.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from io import BytesIO
from pathlib import Path

from pydicom import dcmread
from pydicom.filewriter import dcmwrite
from pydicom.pixels.utils import iter_pixels

from bench.cine_fixtures import ultrasound_frames, write_jpeg_cine
from bench.common import Result
from qa_meeting.domain.deid import DeidKeys, PixelPlan
from qa_meeting.imaging import deid_pixels
from qa_meeting.imaging.deid_profile import HeaderPolicy, check_absent, identifying_values
from qa_meeting.imaging.deidentify import deidentify_header, pixel_plan, read_source_header
from qa_meeting.imaging.dicom_io import read_header
from qa_meeting.imaging.frames import iter_rgb_frames
from qa_meeting.imaging.synthetic import CineSpec, write_cine
from qa_meeting.services.context import build_context
from qa_meeting.services.deidentify import deidentify_file
from qa_meeting.settings import load_settings

FILES = 300
PIXEL_FRAMES = 60
ROWS, COLUMNS = 600, 800
REPEATS = 3
KEYS = DeidKeys(b"bench-secret-0123456789abcdef")
POLICY = HeaderPolicy(shift_dates=True, retain_patient_characteristics=True)
MAX_BYTES = 4096 * 2**20


def run() -> list[Result]:
    with tempfile.TemporaryDirectory(prefix="qa-meeting-deid-bench-") as tmp:
        root = Path(tmp)
        small = [
            write_cine(
                CineSpec(f"deid-{i}", "cardiac_a4c", rows=160, columns=200, frames=4),
                root / f"in{i:04d}.dcm",
            )
            for i in range(FILES)
        ]
        big = write_cine(
            CineSpec("deid-big", "cardiac_a4c", rows=ROWS, columns=COLUMNS, frames=PIXEL_FRAMES),
            root / "big.dcm",
        )
        jpeg = write_jpeg_cine(ultrasound_frames(PIXEL_FRAMES), PIXEL_FRAMES, root / "jpeg.dcm")
        return [_header(small), _pixels(big, "grey"), _pixels(jpeg, "JPEG RGB"), _full(big, root)]


def per_core(work: Callable[[], object]) -> float:
    """The fewest CPU seconds (all threads) of ``REPEATS`` runs of ``work``."""
    best = float("inf")
    for _ in range(REPEATS):
        start = time.process_time()
        work()
        best = min(best, time.process_time() - start)
    return best


def _header_step(path: Path) -> bytes:
    """The header half of ``deidentify_dicom``: everything but the pixels."""
    header = read_header(path, max_frames=deid_pixels.MAX_FRAMES, max_decoded_bytes=MAX_BYTES)
    ds = read_source_header(path)
    originals = identifying_values(ds)
    pixel_plan(header, ds, rules=deid_pixels.load_pixel_rules())
    layout = deid_pixels.output_layout(header, ds)
    deidentify_header(ds, pseudonym="BENCH^CASE", keys=KEYS, policy=POLICY, pixels_cleaned=True)
    deid_pixels.set_pixel_attributes(ds, layout, header.transfer_syntax_uid)
    encoded = deid_pixels.encode_header(ds, str(ds.SOPClassUID), str(ds.SOPInstanceUID))
    check_absent(encoded, originals, "header")
    return encoded


def _header(paths: list[Path]) -> Result:
    def ours() -> None:
        for path in paths:
            BytesIO().write(_header_step(path))

    def bare() -> None:
        for path in paths:
            dcmwrite(BytesIO(), dcmread(path, stop_before_pixels=True))

    ours_rate, bare_rate = len(paths) / per_core(ours), len(paths) / per_core(bare)
    return Result(
        "header de-identification, per core (files/s)",
        f"{ours_rate:,.0f}",
        f"{bare_rate:,.0f} (pydicom bare header read and write)",
        ours_rate / bare_rate,
        ">= 600 files/s per core",
    )


def _plan(path: Path) -> tuple[deid_pixels.PixelLayout, PixelPlan]:
    header = read_header(path, max_frames=deid_pixels.MAX_FRAMES, max_decoded_bytes=MAX_BYTES)
    ds = read_source_header(path)
    return deid_pixels.output_layout(header, ds), pixel_plan(header, ds, rules=())


def _pixels(path: Path, kind: str) -> Result:
    layout, plan = _plan(path)

    def ours() -> None:
        for _ in deid_pixels.cleaned_frames(path, layout, plan, MAX_BYTES):
            pass

    def decode_only() -> None:
        frames = iter_pixels(path) if layout.samples == 1 else iter_rgb_frames(path)
        for _ in frames:
            pass

    ours_rate, bare_rate = PIXEL_FRAMES / per_core(ours), PIXEL_FRAMES / per_core(decode_only)
    decoder = "pydicom iter_pixels" if layout.samples == 1 else "iter_rgb_frames"
    return Result(
        f"pixel cleaning, regions plan, {kind} {ROWS}x{COLUMNS}, per core (frames/s)",
        f"{ours_rate:,.0f}",
        f"{bare_rate:,.0f} (decoding alone, {decoder})",
        ours_rate / bare_rate,
        ">= 0.67x (cleaning costs at most 1.5x decoding)",
    )


def _full(path: Path, root: Path) -> Result:
    settings = replace(load_settings(environ={}, secrets_path=None), data_dir=root / "data")
    ctx = build_context(settings)
    counter = iter(range(100))

    def full() -> None:
        out = root / f"out{next(counter)}.dcm"
        deidentify_file(ctx, path, out, pseudonym="BENCH^CASE")

    ours_rate = PIXEL_FRAMES / per_core(full)

    def decode_only() -> None:
        for _ in iter_pixels(path):
            pass

    bare_rate = PIXEL_FRAMES / per_core(decode_only)
    ctx.engine.dispose()
    return Result(
        f"full de-identification of a file, grey {ROWS}x{COLUMNS}, per core (frames/s)",
        f"{ours_rate:,.0f}",
        f"{bare_rate:,.0f} (decoding alone)",
        ours_rate / bare_rate,
        "report only",
    )
