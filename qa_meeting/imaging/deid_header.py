"""Encode a de-identified header as Explicit VR Little Endian, byte for byte as pydicom would.

``pydicom.filewriter.write_dataset`` spends most of its time on per-element bookkeeping (a
buffer per element, dispatch, validation). Here elements still raw from an Explicit VR Little
Endian source are copied as read, sequences are framed directly, and the plain values this
module's callers make (ASCII strings, integers) are packed directly; anything else goes through
pydicom's own ``write_data_element``, and a dataset whose encoding or character set changed
goes through ``write_dataset`` whole, so the output never differs from pydicom's.
"""

from __future__ import annotations

import struct
from typing import Any

from pydicom import config
from pydicom.charset import convert_encodings, default_encoding
from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import Dataset
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_data_element, write_dataset
from pydicom.multival import MultiValue
from pydicom.tag import BaseTag
from pydicom.valuerep import EXPLICIT_VR_LENGTH_32

_EXPLICIT_LE = (False, True)
_LONG_VRS = frozenset(str(vr) for vr in EXPLICIT_VR_LENGTH_32)
_UNDEFINED = 0xFFFFFFFF
_ITEM = struct.pack("<HH", 0xFFFE, 0xE000)
_ITEM_END = struct.pack("<HHI", 0xFFFE, 0xE00D, 0)
_SEQUENCE_END = struct.pack("<HHI", 0xFFFE, 0xE0DD, 0)
_NUMBERS = {"US": "<H", "UL": "<L", "SS": "<h", "SL": "<l", "UV": "<Q", "SV": "<q"}
_FLOATS = {"FD": "<d", "FL": "<f"}
_ASCII_VRS = frozenset({"AE", "AS", "CS", "DA", "TM", "UI"})  # written with the default encoding
_TEXT_VRS = frozenset({"LO", "SH"})  # encoded with the character set: ASCII is ASCII in these
_ASCII_CODECS = frozenset(  # ISO 8859 and UTF-8: ASCII text encodes as ASCII, no escapes
    {"UTF8", "iso8859", "latin_1", "iso8859_2", "iso8859_3", "iso8859_4", "iso_ir_126"}
    | {"iso_ir_127", "iso_ir_138", "iso_ir_144", "iso_ir_148", "iso_ir_166"}
)


def encode_dataset(ds: Dataset, parent_encoding: str | list[str] = default_encoding) -> bytes:
    """``ds`` encoded as ``write_dataset`` encodes it into an Explicit VR Little Endian file."""
    changed = ds.original_encoding != _EXPLICIT_LE
    if (changed or ds.original_character_set != ds._character_set) and not _all_made(ds):
        return _pydicom_dataset(ds, parent_encoding)  # pydicom converts and corrects it
    charset = ds.get("SpecificCharacterSet", parent_encoding)
    encodings = convert_encodings(charset or [default_encoding])
    return b"".join(
        _element(elem, charset, encodings)
        for elem in elements_of(ds)
        if elem.tag & 0xFFFF or elem.tag >> 16 <= 6  # retired group lengths are never written
    )


def elements_of(ds: Dataset) -> list[Any]:
    """``list(ds.elements())``, faster: in tag order, raw elements left raw."""
    return [
        ds.get_item(tag) if elem.value is None and isinstance(elem, RawDataElement) else elem
        for tag, elem in sorted(ds._dict.items(), key=_first)
    ]


def _first(pair: tuple[int, Any]) -> int:
    return int(pair[0])


def _all_made(ds: Dataset) -> bool:
    """Whether every element holds a value, not raw bytes, of a plain VR: nothing to convert."""
    return all(
        isinstance(elem, DataElement) and len(elem.VR) == 2 and elem.VR != "SQ"
        for elem in ds.elements()
    )


def _pydicom_dataset(ds: Dataset, parent_encoding: str | list[str]) -> bytes:
    buffer = DicomBytesIO()
    buffer.is_little_endian, buffer.is_implicit_VR = True, False
    write_dataset(buffer, ds, parent_encoding)
    return buffer.getvalue()


def _element(elem: Any, charset: Any, encodings: list[str]) -> bytes:
    vr = elem.VR
    if isinstance(elem, RawDataElement):
        value = elem.value
        if vr is None or value is None or isinstance(value, memoryview):
            return _pydicom_element(elem, charset)
        if elem.length == _UNDEFINED:
            if vr not in _LONG_VRS:
                return _pydicom_element(elem, charset)
            return _head(elem.tag, vr, _UNDEFINED) + value + _SEQUENCE_END
        return _framed(elem, vr, value, charset)
    if vr == "SQ":
        items = b"".join(_item(item, encodings) for item in elem.value or ())
        if elem.is_undefined_length:
            return _head(elem.tag, vr, _UNDEFINED) + items + _SEQUENCE_END
        return _head(elem.tag, vr, len(items)) + items
    value = _packed(elem, vr, encodings)
    if value is None:
        return _pydicom_element(elem, charset)
    return _framed(elem, vr, value, charset)


def _framed(elem: Any, vr: str, value: bytes, charset: Any) -> bytes:
    if vr not in _LONG_VRS and len(value) > 0xFFFF:
        return _pydicom_element(elem, charset)  # pydicom writes it as UN, with a warning
    return _head(elem.tag, vr, len(value)) + value


def _head(tag: int, vr: str, length: int) -> bytes:
    if vr in _LONG_VRS:
        return struct.pack("<HH2sHL", tag >> 16, tag & 0xFFFF, vr.encode(), 0, length)
    return struct.pack("<HH2sH", tag >> 16, tag & 0xFFFF, vr.encode(), length)


def _item(item: Dataset, encodings: list[str]) -> bytes:
    body = encode_dataset(item, encodings)
    if getattr(item, "is_undefined_length_sequence_item", False):
        return _ITEM + struct.pack("<L", _UNDEFINED) + body + _ITEM_END
    return _ITEM + struct.pack("<L", len(body)) + body


def _packed(elem: DataElement, vr: str, encodings: list[str]) -> bytes | None:
    """The value of a plain string or integer element, as pydicom writes it; else None."""
    return _encoded(vr, elem.value, encodings)


def _encoded(vr: str, value: Any, encodings: list[str]) -> bytes | None:
    if vr in _NUMBERS:
        if type(value) is int:
            try:
                return struct.pack(_NUMBERS[vr], value)
            except struct.error:
                return None
        return None
    if vr in _FLOATS:
        return struct.pack(_FLOATS[vr], value) if type(value) is float else None
    plain_pn = vr == "PN" and isinstance(value, str) and "=" not in value
    if vr in _ASCII_VRS or ((vr in _TEXT_VRS or plain_pn) and encodings[0] in _ASCII_CODECS):
        if isinstance(value, list | tuple | MultiValue) and all(type(v) is str for v in value):
            value = "\\".join(value)
        if not isinstance(value, str) or not value.isascii():
            return None
        if len(value) % 2:
            value += "\0" if vr == "UI" else " "
        encoded: bytes = value.encode("ascii")
        return encoded
    return None


def made_element(tag: int, vr: str, value: Any, encodings: list[str]) -> Any:
    """A new element for a dataset read as Explicit VR Little Endian: kept encoded (raw) when
    it is plain ASCII or a number, so writing it is a copy; else a ``DataElement``."""
    encoded = _encoded(vr, value, encodings) if vr != "SQ" else None
    if encoded is None or (vr not in _LONG_VRS and len(encoded) > 0xFFFF):
        return DataElement(tag, vr, value, validation_mode=config.IGNORE)
    return RawDataElement(BaseTag(tag), vr, len(encoded), encoded, 0, False, True)


def holds_encoded(ds: Dataset, tag: int, vr: str, value: Any) -> bool:
    """Whether ``ds`` holds ``tag`` still raw, of ``vr``, with exactly the bytes ``value`` would
    be written as (in a dataset read as Explicit VR Little Endian)."""
    elem = ds._dict.get(BaseTag(tag)) if ds.original_encoding == _EXPLICIT_LE else None
    if not isinstance(elem, RawDataElement) or vr != elem.VR or elem.value is None:
        return False
    return elem.value == _encoded(vr, value, ["iso8859"])  # only ASCII text is compared


def frozen(elem: DataElement, encodings: list[str]) -> RawDataElement:
    """``elem`` (a sequence of made items too) encoded once, as a raw element to share."""
    whole = _element(elem, encodings, encodings)
    value = whole[12 if elem.VR in _LONG_VRS else 8 :]
    if elem.VR == "SQ" and elem.is_undefined_length:
        raise ValueError("Only sequences of defined length can be frozen")
    return RawDataElement(BaseTag(elem.tag), elem.VR, len(value), value, 0, False, True)


def _pydicom_element(elem: Any, charset: Any) -> bytes:
    buffer = DicomBytesIO()
    buffer.is_little_endian, buffer.is_implicit_VR = True, False
    write_data_element(buffer, elem, charset)
    return buffer.getvalue()
