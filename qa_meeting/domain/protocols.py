"""Protocols: the views, clinical questions and allowed answers of a focused scan.

A protocol is configuration, not code: each one is a TOML file (see ``qa_meeting/protocols/``)
that ``parse_protocol`` turns into frozen dataclasses, refusing anything malformed with a
``ProtocolError`` naming the file and the field path (``questions[3].answers[1].polarity``,
entries counted from 0). This module does no I/O; ``services/protocols.py`` reads the files.

Every answer carries a polarity: ``positive`` (an abnormal finding is present), ``negative``
(normal or absent) or ``indeterminate`` (could not be assessed). Discordance is computed from
polarities, so a department's protocol works without code changes.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import NoReturn

from qa_meeting.errors import ProtocolError

SLUG_PATTERN = re.compile(r"^[a-z][a-z0-9_]*$")
_REMEDY = (
    "Fix the protocol file named in the message (list entries are counted from 0); "
    "see the README on adding a protocol."
)


class Polarity(StrEnum):
    """What an answer says about the finding a question asks for."""

    POSITIVE = "positive"
    NEGATIVE = "negative"
    INDETERMINATE = "indeterminate"


@dataclass(frozen=True)
class Answer:
    """One allowed answer to a question."""

    value: str
    label: str
    polarity: Polarity

    @property
    def is_determinate(self) -> bool:
        """True unless the answer means the reader could not assess the question."""
        return self.polarity is not Polarity.INDETERMINATE


@dataclass(frozen=True)
class View:
    """One acquisition window; core views are counted ("views obtained out of 4")."""

    id: str
    label: str
    core: bool


@dataclass(frozen=True)
class Question:
    """A clinical question with its allowed answers."""

    id: str
    text: str
    answers: tuple[Answer, ...]
    management_changing: bool
    views: tuple[str, ...] = ()
    help: str = ""

    @property
    def allowed_values(self) -> tuple[str, ...]:
        """The answer values, in the order the protocol lists them."""
        return tuple(answer.value for answer in self.answers)

    def answer(self, value: str) -> Answer:
        """Return the answer with this value; ``KeyError`` if the question does not allow it."""
        for answer in self.answers:
            if answer.value == value:
                return answer
        raise KeyError(f"{self.id!r} does not allow the answer {value!r}")


@dataclass(frozen=True)
class Protocol:
    """A scanning protocol: its views and questions."""

    id: str
    name: str
    version: str
    description: str
    source: str
    views: tuple[View, ...]
    questions: tuple[Question, ...]

    @property
    def core_views(self) -> tuple[View, ...]:
        """The views that count towards "views obtained out of N"."""
        return tuple(view for view in self.views if view.core)

    @property
    def management_changing_ids(self) -> frozenset[str]:
        """Ids of the questions whose wrong answer would change management."""
        return frozenset(q.id for q in self.questions if q.management_changing)

    @property
    def positive_values(self) -> dict[str, frozenset[str]]:
        """Per question, the values of its positive answers: the findings a read can record."""
        return {
            q.id: frozenset(a.value for a in q.answers if a.polarity is Polarity.POSITIVE)
            for q in self.questions
        }

    def question(self, question_id: str) -> Question:
        """Return the question with this id; ``KeyError`` if there is none."""
        for question in self.questions:
            if question.id == question_id:
                return question
        raise KeyError(f"protocol {self.id!r} has no question {question_id!r}")

    def view(self, view_id: str) -> View:
        """Return the view with this id; ``KeyError`` if there is none."""
        for view in self.views:
            if view.id == view_id:
                return view
        raise KeyError(f"protocol {self.id!r} has no view {view_id!r}")


def findings_among(
    answers: Mapping[str, str], positive: Mapping[str, frozenset[str]]
) -> frozenset[str]:
    """The answers that are findings, as ``"question=value"`` (``positive``: a protocol's
    ``positive_values``); answers to questions it does not ask are ignored."""
    return frozenset(f"{q}={v}" for q, v in answers.items() if v in positive.get(q, ()))


# --- parsing -------------------------------------------------------------------------------

_PROTOCOL_KEYS = {"id", "name", "version", "description", "source", "views", "questions"}
_VIEW_KEYS = {"id", "label", "core"}
_QUESTION_KEYS = {"id", "text", "help", "management_changing", "views", "answers"}
_ANSWER_KEYS = {"value", "label", "polarity"}
_POLARITIES = ", ".join(p.value for p in Polarity)


class _Reader:
    """Reads typed fields from one table of a protocol file, failing with the field path."""

    def __init__(self, source: str, data: object, path: str, keys: set[str]) -> None:
        self.source = source
        self.path = path
        where = path or "the file"
        if not isinstance(data, Mapping):
            self.fail(f"{where} must be a table, not {_describe(data)}")
        unknown = sorted(str(key) for key in data if key not in keys)
        if unknown:
            self.fail(
                f"{where} has unknown key {unknown[0]!r}; allowed keys: {', '.join(sorted(keys))}"
            )
        self.data: Mapping[str, object] = data

    def field(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def fail(self, problem: str) -> NoReturn:
        raise ProtocolError(f"{self.source}: {problem}.", _REMEDY)

    def required(self, key: str) -> object:
        if key not in self.data:
            self.fail(f"{self.field(key)} is missing")
        return self.data[key]

    def text(self, key: str, *, default: str | None = None) -> str:
        value = self.data.get(key, default) if default is not None else self.required(key)
        if not isinstance(value, str):
            self.fail(f"{self.field(key)} must be a string, not {_describe(value)}")
        if default is None and not value.strip():
            self.fail(f"{self.field(key)} must not be empty")
        return value.strip()

    def slug(self, key: str) -> str:
        value = self.text(key)
        if not SLUG_PATTERN.match(value):
            self.fail(
                f"{self.field(key)} must be a slug (lower-case letters, digits and "
                f"underscores, starting with a letter), not {value!r}"
            )
        return value

    def flag(self, key: str, *, default: bool | None = None) -> bool:
        value = self.data.get(key, default) if default is not None else self.required(key)
        if not isinstance(value, bool):
            self.fail(f"{self.field(key)} must be true or false, not {_describe(value)}")
        return value

    def items(self, key: str, *, default: Sequence[object] | None = None) -> Sequence[object]:
        value = self.data.get(key, default) if default is not None else self.required(key)
        if not isinstance(value, list | tuple):
            self.fail(f"{self.field(key)} must be a list, not {_describe(value)}")
        return value


def _describe(value: object) -> str:
    kinds = {bool: "a boolean", int: "a number", float: "a number", str: "a string"}
    for kind, name in kinds.items():
        if isinstance(value, kind):
            return f"{name} ({value!r})"
    if isinstance(value, Mapping):
        return "a table"
    if isinstance(value, list | tuple):
        return "a list"
    return type(value).__name__


def _check_unique(reader: _Reader, key: str, ids: Sequence[str], what: str) -> None:
    seen: dict[str, int] = {}
    for index, item_id in enumerate(ids):
        if item_id in seen:
            reader.fail(
                f"{key}[{index}].{what} {item_id!r} repeats {key}[{seen[item_id]}].{what}; "
                f"each {what} must be unique"
            )
        seen[item_id] = index


def _parse_view(source: str, data: object, path: str) -> View:
    reader = _Reader(source, data, path, _VIEW_KEYS)
    return View(
        id=reader.slug("id"), label=reader.text("label"), core=reader.flag("core", default=False)
    )


def _parse_answer(source: str, data: object, path: str) -> Answer:
    reader = _Reader(source, data, path, _ANSWER_KEYS)
    value, label = reader.slug("value"), reader.text("label")
    polarity = reader.required("polarity")
    if not isinstance(polarity, str) or polarity not in tuple(Polarity):
        shown = repr(polarity) if isinstance(polarity, str) else _describe(polarity)
        reader.fail(f"{reader.field('polarity')} must be one of {_POLARITIES}, not {shown}")
    return Answer(value=value, label=label, polarity=Polarity(polarity))


def _parse_question(source: str, data: object, path: str, view_ids: Sequence[str]) -> Question:
    reader = _Reader(source, data, path, _QUESTION_KEYS)
    question_id, text = reader.slug("id"), reader.text("text")
    raw_answers = reader.items("answers")
    if len(raw_answers) < 2:
        reader.fail(f"{reader.field('answers')} must list at least two answers")
    answers = tuple(
        _parse_answer(source, raw, f"{path}.answers[{index}]")
        for index, raw in enumerate(raw_answers)
    )
    _check_unique(reader, f"{path}.answers", [a.value for a in answers], "value")
    related: list[str] = []
    for index, view_id in enumerate(reader.items("views", default=())):
        field = f"{reader.field('views')}[{index}]"
        if not isinstance(view_id, str):
            reader.fail(f"{field} must be a string, not {_describe(view_id)}")
        if view_id not in view_ids:
            reader.fail(
                f"{field} {view_id!r} is not a view of this protocol ({', '.join(view_ids)})"
            )
        related.append(view_id)
    return Question(
        id=question_id,
        text=text,
        answers=answers,
        management_changing=reader.flag("management_changing"),
        views=tuple(related),
        help=reader.text("help", default=""),
    )


def parse_protocol(data: Mapping[str, object], source: str) -> Protocol:
    """Validate a protocol read from a file and build it.

    ``source`` names the file in error messages. Raises ``ProtocolError`` naming the file and
    the field path for a missing or mistyped field, an unknown key, a repeated id, a protocol
    without views or questions, a question with fewer than two answers, an unknown polarity or
    a question referring to a view the protocol does not declare.
    """
    reader = _Reader(source, data, "", _PROTOCOL_KEYS)
    protocol_id, name = reader.slug("id"), reader.text("name")
    version = reader.required("version")
    if isinstance(version, int) and not isinstance(version, bool):
        version = str(version)
    if not isinstance(version, str) or not version.strip():
        reader.fail(f"version must be a non-empty string, not {_describe(version)}")
    raw_views, raw_questions = reader.items("views"), reader.items("questions")
    if not raw_views:
        reader.fail("views must list at least one view")
    if not raw_questions:
        reader.fail("questions must list at least one question")
    views = tuple(_parse_view(source, raw, f"views[{i}]") for i, raw in enumerate(raw_views))
    view_ids = [view.id for view in views]
    _check_unique(reader, "views", view_ids, "id")
    questions = tuple(
        _parse_question(source, raw, f"questions[{i}]", view_ids)
        for i, raw in enumerate(raw_questions)
    )
    _check_unique(reader, "questions", [q.id for q in questions], "id")
    return Protocol(
        id=protocol_id,
        name=name,
        version=version.strip(),
        description=reader.text("description"),
        source=reader.text("source"),
        views=views,
        questions=questions,
    )
