"""Demo case files: one TOML file per teaching case in ``cases/`` (see ``cases/README.md``).

``load_cases`` reads every ``*.toml`` file of a folder, in name order, and turns each into a
``DemoCase``: the clinical context, the recipe of its synthetic cine loop (a ``CineSpec``), the
trainee's read and the expert over-read. Everything is checked before anything is written: a
malformed file raises ``ConfigurationError`` naming the file and the field, and a case whose
reads do not produce its ``expected_category`` is refused too, so the demo always shows what
its files claim. A case without an ``[expert]`` table (and so without ``expected_category``)
is loaded awaiting its over-read, for the Review and Ward round pages to show.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, NoReturn

from qa_meeting.domain.discordance import StudyCategory, compare_reads
from qa_meeting.domain.protocols import SLUG_PATTERN, Protocol
from qa_meeting.domain.reads import Confidence, StructuredRead, validate_read
from qa_meeting.errors import ConfigurationError, ValidationError
from qa_meeting.imaging.synthetic import CineSpec, scene_names
from qa_meeting.services.review import AGE_BANDS, SEXES
from qa_meeting.store.models import Role

_REMEDY = "Fix the demo case file named in the message; cases/README.md describes the format."
CINE_ROWS, CINE_COLUMNS = 264, 352  # small loops keep the whole demo load to a few seconds


@dataclass(frozen=True)
class DemoAccount:
    """A demo login; the README lists them and the password."""

    username: str
    display_name: str
    role: Role


DEMO_ACCOUNTS: tuple[DemoAccount, ...] = (
    DemoAccount("trainee1", "Dr Alex Trainee", Role.TRAINEE),
    DemoAccount("trainee2", "Dr Priya Trainee", Role.TRAINEE),
    DemoAccount("trainee3", "Dr Sam Trainee", Role.TRAINEE),
    DemoAccount("expert1", "Dr Morgan Expert", Role.EXPERT),
    DemoAccount("chair1", "Dr Jordan Chair", Role.CHAIR),
    DemoAccount("admin", "Demo Administrator", Role.ADMIN),
)
DEMO_TRAINEES = tuple(a.username for a in DEMO_ACCOUNTS if a.role is Role.TRAINEE)


@dataclass(frozen=True)
class DemoCase:
    """One validated demo case; ``source`` is the file name, used in messages."""

    id: str
    title: str
    source: str
    protocol_id: str
    operator: str
    scanned_days_ago: int
    age_band: str
    sex: str
    indication: str
    interesting: bool
    good_spot: bool
    cine: CineSpec
    trainee: StructuredRead
    expert: StructuredRead | None  # None: the scan is loaded awaiting its over-read
    expected_category: StudyCategory | None
    overread_days_after_scan: int | None = None  # None: over-read when the demo is loaded


_CASE_KEYS = {"id", "title", "protocol", "operator", "scanned_days_ago", "expected_category"}
_CASE_KEYS |= {"context", "flags", "cine", "trainee", "expert", "overread_days_after_scan"}
_CONTEXT_KEYS = {"age_band", "sex", "indication"}
_FLAG_KEYS = {"interesting", "good_spot"}
_READ_KEYS = {"views_obtained", "missing_view_reasons", "answers", "image_quality"}
_READ_KEYS |= {"confidence", "reasoning"}
_CINE_FLOATS = {"heart_rate_bpm", "respiratory_rate_bpm", "lv_function"}
_CINE_FLOATS |= {"ivc_collapsibility", "aorta_diameter_cm"}
_CINE_INTS = {"rows", "columns", "image_quality"}
_CINE_FLAGS = {"dilated_rv", "effusion", "fluid", "lung_sliding", "dissection_flap"}
_CINE_REQUIRED = {"scene", "frames_per_second", "frames"}
_CINE_KEYS = _CINE_REQUIRED | _CINE_FLOATS | _CINE_INTS | _CINE_FLAGS


def _describe(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | str):
        return repr(value)
    return "a table" if isinstance(value, Mapping) else "a list"


class _Table:
    """Typed access to one table of a case file; every failure names the file and field."""

    def __init__(self, source: str, data: object, path: str, keys: set[str]) -> None:
        self.source, self.path = source, path
        if not isinstance(data, Mapping):
            self.fail(f"{path or 'the file'} must be a table, not {_describe(data)}")
        unknown = sorted(str(key) for key in data if key not in keys)
        if unknown:
            where = f"{path}.{unknown[0]}" if path else unknown[0]
            self.fail(f"{where} is not a known field; allowed: {', '.join(sorted(keys))}")
        self.data: Mapping[str, object] = data

    def field(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def fail(self, problem: str) -> NoReturn:
        raise ConfigurationError(f"{self.source}: {problem}.", _REMEDY)

    def get(self, key: str, default: object = None) -> object:
        if key in self.data:
            return self.data[key]
        if default is None:
            self.fail(f"{self.field(key)} is missing")
        return default

    def text(self, key: str, *, choices: Sequence[str] = ()) -> str:
        value = self.get(key)
        if not isinstance(value, str) or not value.strip():
            self.fail(f"{self.field(key)} must be a non-empty string, not {_describe(value)}")
        if choices and value not in choices:
            self.fail(f"{self.field(key)} must be one of {', '.join(choices)}, not {value!r}")
        return value.strip()

    def flag(self, key: str) -> bool:
        value = self.get(key, False)
        if not isinstance(value, bool):
            self.fail(f"{self.field(key)} must be true or false, not {_describe(value)}")
        return value

    def whole(self, key: str, *, low: int, high: int) -> int:
        value = self.get(key)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            self.fail(f"{self.field(key)} must be a whole number from {low} to {high}")
        return value

    def strings(self, key: str) -> list[str]:
        value = self.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.fail(f"{self.field(key)} must be a list of strings")
        return value

    def string_table(self, key: str) -> dict[str, str]:
        value = self.get(key, {})
        if not isinstance(value, Mapping) or not all(isinstance(v, str) for v in value.values()):
            self.fail(f'{self.field(key)} must be a table of strings (name = "text")')
        return {str(k): v for k, v in value.items()}


def _parse_read(source: str, data: object, name: str, protocol: Protocol) -> StructuredRead:
    table = _Table(source, data, name, _READ_KEYS)
    confidence = table.text("confidence", choices=[c.value for c in Confidence])
    raw = StructuredRead(
        protocol_id=protocol.id,
        answers=table.string_table("answers"),
        views_obtained=frozenset(table.strings("views_obtained")),
        missing_view_reasons=table.string_table("missing_view_reasons"),
        image_quality=table.whole("image_quality", low=1, high=5),
        confidence=Confidence(confidence),
        reasoning=table.text("reasoning"),
    )
    try:
        return validate_read(raw, protocol)
    except ValidationError as error:
        table.fail(f"{name}.{error.message.rstrip('.')}")


def _knob(table: _Table, key: str) -> object:
    value = table.data[key]
    if key in _CINE_FLAGS:
        if not isinstance(value, bool):
            table.fail(f"cine.{key} must be true or false, not {_describe(value)}")
        return value
    if isinstance(value, bool) or not isinstance(value, int | float):
        table.fail(f"cine.{key} must be a number, not {_describe(value)}")
    if key in _CINE_INTS and not isinstance(value, int):
        table.fail(f"cine.{key} must be a whole number, not {_describe(value)}")
    return value if key in _CINE_INTS else float(value)


def _parse_cine(table: _Table, case_id: str) -> CineSpec:
    """The loop's recipe: scene, length, rate and knobs (``demo`` adds the fake patient)."""
    scene = table.text("scene", choices=scene_names())
    fps = table.get("frames_per_second")
    if isinstance(fps, bool) or not isinstance(fps, int | float) or not 5 <= fps <= 120:
        table.fail(f"cine.frames_per_second must be a number from 5 to 120, not {_describe(fps)}")
    frames = table.whole("frames", low=1, high=2000)
    # Typed by _knob; CineSpec checks each knob's range when it is built.
    knobs: dict[str, Any] = {
        key: _knob(table, key) for key in table.data if key not in _CINE_REQUIRED
    }
    try:
        spec = CineSpec(
            case_id=case_id,
            scene=scene,
            rows=CINE_ROWS,
            columns=CINE_COLUMNS,
            frames=frames,
            frame_time_ms=round(1000 / fps, 4),
        )
        return replace(spec, **knobs)
    except ValidationError as error:
        table.fail(error.message.replace("CineSpec.", "cine.").rstrip("."))


def _check_category(case: DemoCase, protocol: Protocol) -> None:
    if case.expert is None or case.expected_category is None:
        return  # awaiting its over-read: nothing to compare yet
    got = compare_reads(protocol, case.trainee, case.expert).category
    if got is not case.expected_category:
        raise ConfigurationError(
            f"{case.source}: expected_category is {case.expected_category.value!r}, but the "
            f"trainee and expert reads give {got.value!r}.",
            "Change the reads or expected_category so that they agree (the rules are in "
            "qa_meeting/domain/discordance.py).",
        )


def _overread_delay(table: _Table, scanned_days_ago: int, awaiting: bool) -> int | None:
    """Days from the scan to its over-read: the over-read must exist and not be in the future."""
    if "overread_days_after_scan" not in table.data:
        return None
    if awaiting:
        table.fail("overread_days_after_scan needs an [expert] over-read; remove it or add one")
    delay = table.whole("overread_days_after_scan", low=0, high=365)
    if delay > scanned_days_ago:
        table.fail(
            f"overread_days_after_scan ({delay}) would put the over-read in the future: it must "
            f"be at most scanned_days_ago ({scanned_days_ago})"
        )
    return delay


def parse_case(
    data: Mapping[str, object], source: str, protocols: Mapping[str, Protocol]
) -> DemoCase:
    """Validate one case file's content and build the case (``source`` names it in errors)."""
    table = _Table(source, data, "", _CASE_KEYS)
    case_id = table.text("id")
    if not SLUG_PATTERN.match(case_id):
        table.fail(f"id must be a slug (lower-case letters, digits, underscores), not {case_id!r}")
    protocol = protocols[table.text("protocol", choices=sorted(protocols))]
    context = _Table(source, table.get("context"), "context", _CONTEXT_KEYS)
    flags = _Table(source, table.get("flags", {}), "flags", _FLAG_KEYS)
    awaiting = "expert" not in table.data and "expected_category" not in table.data
    category = (
        None
        if awaiting
        else table.text("expected_category", choices=[c.value for c in StudyCategory])
    )
    scanned_days_ago = table.whole("scanned_days_ago", low=0, high=3650)
    case = DemoCase(
        id=case_id,
        title=table.text("title"),
        source=source,
        protocol_id=protocol.id,
        operator=table.text("operator", choices=DEMO_TRAINEES),
        scanned_days_ago=scanned_days_ago,
        age_band=context.text("age_band", choices=AGE_BANDS),
        sex=context.text("sex", choices=SEXES),
        indication=context.text("indication"),
        interesting=flags.flag("interesting"),
        good_spot=flags.flag("good_spot"),
        cine=_parse_cine(_Table(source, table.get("cine"), "cine", _CINE_KEYS), case_id),
        trainee=_parse_read(source, table.get("trainee"), "trainee", protocol),
        expert=None if awaiting else _parse_read(source, table.get("expert"), "expert", protocol),
        expected_category=StudyCategory(category) if category else None,
        overread_days_after_scan=_overread_delay(table, scanned_days_ago, awaiting),
    )
    _check_category(case, protocol)
    return case


def _read_toml(path: Path) -> dict[str, object]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigurationError(f"{path.name}: cannot be read as UTF-8 text ({exc}).") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigurationError(f"{path.name}: is not valid TOML: {exc}.", _REMEDY) from exc


def load_cases(folder: Path, protocols: Mapping[str, Protocol]) -> list[DemoCase]:
    """Every case in ``folder`` (``*.toml``, in file-name order), each one validated."""
    files = sorted(folder.glob("*.toml"), key=lambda p: p.name) if folder.is_dir() else []
    if not files:
        raise ConfigurationError(
            f"The demo case folder {folder} does not exist or holds no *.toml case files.",
            "Run the command from a checkout of QA Meeting, or pass the cases folder.",
        )
    cases: list[DemoCase] = []
    seen: dict[str, str] = {}
    for path in files:
        case = parse_case(_read_toml(path), path.name, protocols)
        if case.id in seen:
            raise ConfigurationError(
                f"{path.name}: id {case.id!r} is already used by {seen[case.id]}.", _REMEDY
            )
        seen[case.id] = path.name
        cases.append(case)
    return cases
