"""Load the protocols: the built-in TOML files, then a department's own folder.

A department adds a protocol by dropping a ``*.toml`` file into the folder named by the
``protocols_dir`` setting; a file whose ``id`` matches a built-in protocol replaces it.
Nothing is cached here: callers (the UI's cached resources, the CLI) decide how long to keep
the result.
"""

from __future__ import annotations

import tomllib
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path

from qa_meeting.domain.protocols import Protocol, parse_protocol
from qa_meeting.errors import ProtocolError

BUILT_IN_PACKAGE = "qa_meeting"
BUILT_IN_FOLDER = "protocols"


def _parse_file(file: Traversable | Path, source: str) -> Protocol:
    try:
        text = file.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ProtocolError(
            f"{source}: is not UTF-8 text ({exc.reason} at byte {exc.start}).",
            "Save the protocol file as UTF-8 and restart the app.",
        ) from exc
    except OSError as exc:
        raise ProtocolError(
            f"{source}: cannot be read ({exc.strerror or exc}).",
            "Check that the file exists and the app may read it.",
        ) from exc
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        # The decoder's message ends with "(at line L, column C)".
        raise ProtocolError(
            f"{source}: is not valid TOML: {exc}.",
            "Fix the TOML syntax at the line named in the message; see the README on adding "
            "a protocol.",
        ) from exc
    return parse_protocol(data, source)


def _toml_files(folder: Traversable | Path) -> list[Traversable | Path]:
    found: list[Traversable | Path] = [
        entry for entry in folder.iterdir() if entry.is_file() and entry.name.endswith(".toml")
    ]
    return sorted(found, key=lambda entry: entry.name)


def _add(
    protocols: dict[str, Protocol], origins: dict[str, str], protocol: Protocol, source: str
) -> None:
    if protocol.id in origins:
        raise ProtocolError(
            f"{source}: id {protocol.id!r} is already used by {origins[protocol.id]}.",
            "Give each protocol file in the folder its own id, or remove one of the two files.",
        )
    protocols[protocol.id] = protocol
    origins[protocol.id] = source


def load_protocols(extra_dir: Path | None = None) -> dict[str, Protocol]:
    """Return every protocol by id: the built-in ones, then those in ``extra_dir``.

    A protocol in ``extra_dir`` with the same id as a built-in one replaces it. Raises
    ``ProtocolError`` naming the file when a file is not valid TOML (with its line), is not a
    valid protocol, or repeats the id of another file in the same folder, and when
    ``extra_dir`` is given but is not a folder.
    """
    protocols: dict[str, Protocol] = {}
    origins: dict[str, str] = {}
    for file in _toml_files(files(BUILT_IN_PACKAGE) / BUILT_IN_FOLDER):
        _add(protocols, origins, _parse_file(file, file.name), f"built-in {file.name}")
    if extra_dir is None:
        return protocols
    if not extra_dir.is_dir():
        raise ProtocolError(
            f"The protocol folder {extra_dir} does not exist or is not a folder.",
            "Create the folder, or correct or clear the QA_MEETING_PROTOCOLS_DIR setting.",
        )
    extra_origins: dict[str, str] = {}
    for file in _toml_files(extra_dir):
        source = str(file)
        protocol = _parse_file(file, source)
        _add(protocols, extra_origins, protocol, source)
    return protocols
