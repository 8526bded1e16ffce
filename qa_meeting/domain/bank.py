"""The image bank, the pure part: filtering cases, scoring a self-test, counting case variety.

A bank case is known here only by the facts the list shows (``CaseFacts``): its protocol, views,
findings, image quality, level, title and tags. Findings are short labels of the expert's
positive answers ("RV dilated", "Pleural effusion: Left"); a case without any is a normal
study and counts under the finding ``"normal"``.

The export rules live here too: which header values are names to look for in the case's text,
how a warning is shown without the identifier (``redacted_excerpts``), when an export is
blocked and what its status says. Pure: no I/O.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any
from typing import Protocol as Shape

from qa_meeting.domain.identifiers import IdentifierHit
from qa_meeting.domain.package import (
    PACKAGE_FOLDERS,
    ClipRecord,
    Level,
    Manifest,
    QuestionRecord,
    TeachingCase,
    TeachingPointRecord,
)
from qa_meeting.domain.protocols import Polarity, Protocol

NORMAL = "normal"
CLEANED, NEEDS_MASK = "cleaned", "needs_mask"  # the states of a loop in an export
EXCERPT_CHARS = 40  # of context on each side of a redacted identifier
# Words a package is made of (its manifest's field names...): a name part equal to one of them
# would be found in every package, so the verifier cannot look for it on its own.
PACKAGE_WORDS = frozenset(
    word
    for kind in (Manifest, TeachingCase, QuestionRecord, TeachingPointRecord, ClipRecord)
    for f in fields(kind)
    for word in f.name.split("_")
) | {*PACKAGE_FOLDERS, *Level, "clip", "frame", "teaching", "file", "export", "expert"}
_ID_LIKE = re.compile(r"(?=.*[A-Za-z])(?=.*\d)[A-Za-z0-9-]{4,}")
_ABBREVIATIONS = frozenset({"lv", "rv", "ivc", "cfv", "plaps", "ruq", "luq", "pe", "dvt", "aaa"})


class CaseFacts(Shape):
    """What filtering and coverage need to know of a bank case."""

    @property
    def protocol_id(self) -> str: ...
    @property
    def protocol_name(self) -> str: ...
    @property
    def title(self) -> str: ...
    @property
    def views(self) -> Sequence[str]: ...
    @property
    def findings(self) -> Sequence[str]: ...
    @property
    def tags(self) -> Sequence[str]: ...
    @property
    def image_quality(self) -> int | None: ...
    @property
    def level(self) -> str: ...


@dataclass(frozen=True)
class BankFilter:
    """What the bank page filters on; ``None`` or empty text means "any"."""

    protocol_id: str | None = None
    view: str | None = None
    finding: str | None = None
    min_quality: int | None = None
    level: str | None = None
    text: str = ""


@dataclass(frozen=True)
class SelfTestScore:
    """A self-test against the expert: per question (mine, expert's, whether they agree)."""

    correct: int
    total: int
    per_question: Mapping[str, tuple[str | None, str | None, bool]] = field(default_factory=dict)

    @property
    def percent(self) -> int:
        return round(100 * self.correct / self.total) if self.total else 0


def case_findings(findings: Sequence[str]) -> tuple[str, ...]:
    """The findings a case counts under: its own, or ``"normal"`` when it has none."""
    cleaned = tuple(f.strip() for f in findings if f.strip())
    return cleaned or (NORMAL,)


def matches(case: CaseFacts, wanted: BankFilter) -> bool:
    """True when ``case`` passes every part of the filter (text: any word, any case)."""
    if wanted.protocol_id and case.protocol_id != wanted.protocol_id:
        return False
    if wanted.level and case.level != wanted.level:
        return False
    if wanted.view and wanted.view.casefold() not in {v.casefold() for v in case.views}:
        return False
    findings = {f.casefold() for f in case_findings(case.findings)}
    if wanted.finding and wanted.finding.casefold() not in findings:
        return False
    if wanted.min_quality is not None and (case.image_quality or 0) < wanted.min_quality:
        return False
    words = wanted.text.casefold().split()
    if words:
        fields = (case.title, case.protocol_id, case.protocol_name, *case.views, *case.tags)
        haystack = " ".join((*fields, *findings)).casefold()
        return all(word in haystack for word in words)
    return True


def score(expert_answers: Mapping[str, str | None], my_answers: Mapping[str, str]) -> SelfTestScore:
    """My answers against the expert's, over the questions the expert answered.

    A question I left out counts as wrong; answers to questions the expert did not answer (or
    the case does not ask) are ignored.
    """
    per_question: dict[str, tuple[str | None, str | None, bool]] = {}
    for question_id, expert in expert_answers.items():
        if expert is None:
            continue
        mine = my_answers.get(question_id) or None
        per_question[question_id] = (mine, expert, mine == expert)
    correct = sum(1 for _, _, agreed in per_question.values() if agreed)
    return SelfTestScore(correct=correct, total=len(per_question), per_question=per_question)


def coverage_matrix(cases: Iterable[CaseFacts]) -> dict[tuple[str, str], int]:
    """How many bank cases there are of each (protocol, finding); a normal case is "normal"."""
    counts: Counter[tuple[str, str]] = Counter()
    for case in cases:
        for finding in dict.fromkeys(case_findings(case.findings)):
            counts[(case.protocol_id, finding)] += 1
    return dict(sorted(counts.items()))


def finding_label(question_id: str, answer_value: str, answer_label: str) -> str:
    """ "rv_dilated", yes -> "RV dilated"; "pleural_effusion", left -> "Pleural effusion: Left"."""
    words = [w.upper() if w in _ABBREVIATIONS else w for w in question_id.split("_") if w]
    text = " ".join(words)
    text = text[:1].upper() + text[1:]
    return text if answer_value == "yes" else f"{text}: {answer_label}"


def case_title(protocol_name: str, findings: Sequence[str]) -> str:
    """A title made of the protocol and the findings only: it cannot hold an identifier."""
    return f"{protocol_name}: {', '.join(findings) or 'normal study'}"[:300]


def question_records(
    protocol: Protocol, trainee: Mapping[str, str], expert: Mapping[str, str]
) -> tuple[QuestionRecord, ...]:
    """Every question of the protocol with both answers, as values and labels."""

    records = []
    for q in protocol.questions:
        mine, theirs = trainee.get(q.id), expert.get(q.id)
        labels = [q.answer(v).label if v in q.allowed_values else "" for v in (mine, theirs)]
        records.append(QuestionRecord(q.id, q.text, mine, labels[0], theirs, labels[1]))
    return tuple(records)


def unsearchable(values: Iterable[str], kept_text: Iterable[str]) -> set[str]:
    """Of ``values`` (identifiers split into parts), the single words the package holds for
    other reasons: words of its format, or of header text the policy keeps (the maker)."""
    kept = {w.casefold() for text in kept_text for w in re.split(r"\W+", text) if w}
    common = {w.casefold() for w in PACKAGE_WORDS} | kept
    return {value for value in values if value.casefold() in common}


def expert_findings(protocol: Protocol, answers: Mapping[str, str]) -> tuple[str, ...]:
    """The labels of the expert's positive answers, in the protocol's question order."""
    found = []
    for question in protocol.questions:
        value = answers.get(question.id)
        if value is None or value not in question.allowed_values:
            continue
        answer = question.answer(value)
        if answer.polarity is Polarity.POSITIVE:
            found.append(finding_label(question.id, answer.value, answer.label))
    return tuple(found)


def header_names(originals: Iterable[str]) -> set[str]:
    """Of a loop's original identifiers, the person names ("DOE^JANE") and ID-like codes
    ("MRN0012345") to look for in its text; descriptions, places, dates and UIDs are not."""
    return {value for value in originals if "^" in value or _ID_LIKE.fullmatch(value)}


def redacted_excerpts(text: str, hits: Sequence[IdentifierHit]) -> list[str]:
    """For each hit (in order), the text around it with every hit replaced by its kind."""
    parts: list[str] = []
    places: list[tuple[int, int]] = []
    position = 0
    for hit in sorted(hits, key=lambda h: h.start):
        parts.append(text[position : hit.start])
        start = sum(map(len, parts))
        parts.append(f"[{hit.kind.value.replace('_', ' ')}]")
        places.append((start, start + len(parts[-1])))
        position = hit.end
    redacted = "".join([*parts, text[position:]])
    excerpts = []
    for start, end in places:
        left, right = max(0, start - EXCERPT_CHARS), min(len(redacted), end + EXCERPT_CHARS)
        body = " ".join(redacted[left:right].split())
        excerpts.append(("…" if left else "") + body + ("…" if right < len(redacted) else ""))
    return excerpts


def export_blocked(report: Mapping[str, Any]) -> bool:
    """Blocked while a text warning stands (not overridden) or a loop is not cleaned."""
    warned = bool(report["text_hits"]) and not report.get("override_reason")
    return warned or any(clip["status"] != CLEANED for clip in report["clips"])


def export_message(report: Mapping[str, Any], package_id: str = "") -> str:
    """What an export's state means and what it waits for, in words."""
    hits, overridden = len(report.get("text_hits", ())), bool(report.get("override_reason"))
    masks = sum(1 for clip in report.get("clips", ()) if clip["status"] != CLEANED)
    parts = []
    if package_id:
        parts.append(f"Published to the image bank as package {package_id}.")
    elif "message" in report:  # a failure, or a change after the check
        parts.append(str(report["message"]))
    elif "clips" not in report:
        parts.append("Being prepared.")
    else:
        if hits and not overridden:
            parts.append(
                f"{hits} passage(s) of text look like identifiers: edit them, or a chair "
                "overrides the warnings with a reason."
            )
        if masks:
            parts.append(
                f"{masks} loop(s) have no ultrasound regions and no rule for their machine: an "
                "expert draws the rectangle to keep."
            )
        if not parts:
            parts.append(
                "Every loop is cleaned. Look at every frame on each contact sheet, then confirm."
                + (" The text warnings were overridden by the chair." if hits else "")
            )
    if report.get("videos_left_out"):
        parts.append(f"{report['videos_left_out']} video file(s) are not exported (not DICOM).")
    return " ".join(parts)
