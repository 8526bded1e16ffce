"""Deflated Explicit VR Little Endian files, inflated to a temporary plain copy for decoding.

The copy is written through a bounded inflater: a file that would expand beyond the decoded-size
limit (plus a header allowance) is refused, so a deflate bomb costs neither memory nor disk.
"""

from __future__ import annotations

import tempfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pydicom
from pydicom.dataset import Dataset
from pydicom.filereader import read_file_meta_info
from pydicom.uid import ExplicitVRLittleEndian

from qa_meeting.domain.scans import RejectionCode
from qa_meeting.imaging.dicom_io import DEFLATED_TRANSFER_SYNTAX, DicomRejectedError

# The inflated dataset holds the pixel data (at most the decoded size) plus a header.
_INFLATE_HEADROOM = 64 * 2**20
_CHUNK = 2**20


@contextmanager
def inflated_copy(path: Path, max_decoded_bytes: int) -> Iterator[Path]:
    """``path``, or for a deflated file a temporary inflated copy (Explicit VR Little Endian)."""
    try:
        transfer_syntax = str(read_file_meta_info(path).get("TransferSyntaxUID", ""))
    except Exception:  # not DICOM or damaged: read_header says which
        transfer_syntax = ""
    if transfer_syntax != DEFLATED_TRANSFER_SYNTAX:
        yield path
        return
    with tempfile.TemporaryDirectory(prefix="qa-meeting-inflate-") as folder:
        plain = Path(folder) / "inflated.dcm"
        inflate_to(path, plain, max_decoded_bytes + _INFLATE_HEADROOM)
        yield plain


def inflate_to(source: Path, target: Path, limit: int) -> None:
    """Write ``source`` with its dataset inflated, refusing to write more than ``limit`` bytes."""
    meta = read_file_meta_info(source)
    # The group length (type 1) says where the meta group, never deflated, ends.
    dataset_start = 132 + 12 + int(meta.get("FileMetaInformationGroupLength") or 0)
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    shell = Dataset()
    shell.file_meta = meta
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    written, pending = 0, b""
    with source.open("rb") as fin, target.open("wb") as fout:
        try:
            pydicom.dcmwrite(fout, shell, enforce_file_format=True)
            fin.seek(dataset_start)
            while not inflater.eof and (pending := pending or fin.read(_CHUNK)):
                chunk = inflater.decompress(pending, _CHUNK)
                pending, written = inflater.unconsumed_tail, written + len(chunk)
                if written > limit:
                    raise DicomRejectedError(
                        RejectionCode.IMPLAUSIBLE_SIZE,
                        f"This compressed (deflated) file expands to more than {limit // 2**20} "
                        "MB.",
                        "Export the loop uncompressed or as JPEG, or ask an administrator to "
                        "raise QA_MEETING_MAX_DECODED_MB.",
                    )
                fout.write(chunk)
        except (AttributeError, ValueError, zlib.error):
            pass  # incomplete file meta or damaged data: the inflater is not at its end
        if not inflater.eof:
            raise DicomRejectedError(
                RejectionCode.UNREADABLE_STRUCTURE,
                "The compressed (deflated) data of this DICOM file is damaged or cut short.",
            )
