"""The post-meeting teaching digest, the pure part: what a digest holds, and its rules.

A digest carries only de-identified content: operators appear as the meeting's pseudonyms
("Trainee A") or as "You" in a trainee's own digest; patients only by sex and age band. Every
free text has been through ``clean_text`` (the shared identifier check) before it is stored
here. ``forbidden`` keeps, in memory only, the names and codes the rendered files must never
contain: the renderers look for them once more and refuse (``DigestLeakError``) rather than
write a leaking file. Pure: no I/O.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date

from qa_meeting.domain.bank import NORMAL, header_names
from qa_meeting.domain.discordance import StudyCategory, category_label
from qa_meeting.domain.identifiers import find_identifiers, name_variants, redact
from qa_meeting.domain.meeting import TeachingCategory, label
from qa_meeting.domain.protocols import Protocol
from qa_meeting.errors import QaMeetingError

REDACTED = "[removed]"
MAX_KEY_FRAMES = 2
UNCLASSIFIED = "Not classified"
GOOD_SPOT_CATEGORY = TeachingCategory.GOOD_PRACTICE.value


class DigestLeakError(QaMeetingError):
    """A rendered digest would hold a name or code it must not; nothing was written."""

    default_remedy = (
        "Edit the case's free text (indication, reasoning, teaching points, annotation labels) "
        "so it holds no names or numbers of patients or staff, then build the digest again."
    )


@dataclass(frozen=True)
class KeyFrame:
    """One de-identified still of a loop; ``jpeg`` empty when it had to be left out."""

    caption: str
    jpeg: bytes = field(default=b"", repr=False)
    width: int = 0
    height: int = 0
    note: str = ""  # why the picture is not shown

    @property
    def shown(self) -> bool:
        return bool(self.jpeg)


@dataclass(frozen=True)
class AnswerRow:
    """One protocol question with the trainee's and the expert's answers (labels)."""

    question: str
    trainee: str
    expert: str

    @property
    def differs(self) -> bool:
        return bool(self.trainee) and self.trainee != self.expert


@dataclass(frozen=True)
class PointEntry:
    """A teaching point as the digest shows it."""

    text: str
    category: str  # as read: "Good practice"
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class DigestCase:
    """One presented case."""

    number: int
    protocol: str
    classification: str  # as read: "Discordant (major)"
    operator: str  # "Trainee A", or "You"
    patient: str  # "Female, 40-59"
    question: str  # the clinical question (the de-identified indication)
    frames: tuple[KeyFrame, ...] = ()
    answers: tuple[AnswerRow, ...] = ()
    reasoning: str = ""
    points: tuple[PointEntry, ...] = ()
    error_stage: str = ""
    remedial_action: str = ""
    good_spot: bool = False
    meeting: str = ""  # in a personal digest: which meeting showed it

    @property
    def title(self) -> str:
        return f"Case {self.number}: {self.protocol}"

    @property
    def good_points(self) -> tuple[PointEntry, ...]:
        good = label(GOOD_SPOT_CATEGORY)
        return tuple(p for p in self.points if p.category == good)


@dataclass(frozen=True)
class Figures:
    """The meeting's figures: no names, only counts."""

    presented: int
    deferred: int
    attendance: tuple[tuple[str, int], ...]  # (role, people), roles as read
    discordance: tuple[tuple[str, int], ...]  # (classification, cases)
    protocols: int  # distinct protocols among the presented cases
    cells: int  # distinct protocol x finding cells

    @property
    def attended(self) -> int:
        return sum(count for _, count in self.attendance)


@dataclass(frozen=True)
class Digest:
    """A meeting's teaching digest, or a trainee's own feedback across meetings."""

    title: str
    subtitle: str
    generated_on: date
    cases: tuple[DigestCase, ...] = ()
    figures: Figures | None = None
    redactions: int = 0  # free-text spans replaced because they looked like identifiers
    empty_note: str = ""  # shown when there are no cases
    forbidden: tuple[str, ...] = field(default=(), repr=False, compare=False)

    @property
    def good_spots(self) -> tuple[DigestCase, ...]:
        return tuple(case for case in self.cases if case.good_spot)


def clean_text(text: str, names: Iterable[str]) -> tuple[str, int]:
    """``text`` with every identifier replaced by ``[removed]``, and how many there were."""
    hits = find_identifiers(text, names)
    return (redact(text, hits, REDACTED), len(hits)) if hits else (text, 0)


def classification_label(category: str | None) -> str:
    """ "discordant_major" -> "Discordant (major)"; unknown or unset -> "Not classified"."""
    try:
        return category_label(StudyCategory(category or ""))
    except ValueError:
        return UNCLASSIFIED


def patient_line(sex: str, age_band: str) -> str:
    """ "Female, 40-59": the only patient facts a digest shows."""
    parts = [sex.capitalize() if sex else "", f"age {age_band}" if age_band else ""]
    return ", ".join(p for p in parts if p) or "Not recorded"


def is_good_spot(flagged: bool, point_categories: Iterable[str]) -> bool:
    """A good spot: flagged as one, or given a good-practice teaching point."""
    return flagged or GOOD_SPOT_CATEGORY in set(point_categories)


def meeting_figures(
    *,
    outcomes: Sequence[str],
    attendance_by_role: Mapping[str, int],
    classifications: Sequence[str],
    protocol_findings: Sequence[tuple[str, Sequence[str]]],
) -> Figures:
    """The figures of one meeting from its agenda outcomes, attendance per role, the presented
    cases' classifications (labels) and their (protocol, expert findings)."""
    counted = Counter(outcomes)
    cells = {(p, f) for p, findings in protocol_findings for f in (list(findings) or [NORMAL])}
    mix = Counter(classifications)
    return Figures(
        presented=counted.get("presented", 0),
        deferred=counted.get("deferred", 0),
        attendance=tuple((label(r), n) for r, n in sorted(attendance_by_role.items()) if n),
        discordance=tuple(sorted(mix.items(), key=lambda kv: (-kv[1], kv[0]))),
        protocols=len({p for p, _ in protocol_findings}),
        cells=len(cells),
    )


def chosen_frames(
    linked: Sequence[tuple[int, int]], first_loop: tuple[int, int] | None
) -> tuple[tuple[int, int], ...]:
    """Up to ``MAX_KEY_FRAMES`` distinct (loop id, frame index) pairs: those the teaching points
    and annotations link to, in order, else the middle frame of the first loop.

    ``first_loop`` is (loop id, number of frames)."""
    chosen = tuple(dict.fromkeys(linked))[:MAX_KEY_FRAMES]
    if chosen or first_loop is None:
        return chosen
    loop_id, frames = first_loop
    return ((loop_id, max(frames, 1) // 2),)


def forbidden_terms(
    staff_names: Iterable[str],
    header_values: Iterable[str],
    *,
    pseudonyms: Iterable[str] = (),
    usernames: Iterable[str] = (),
) -> tuple[str, ...]:
    """What a rendered digest must never contain: whole names of staff and patients (in every
    written order), the headers' ID-like codes, staff pseudonyms and operators' usernames.

    Single name parts are left to the free-text check: alone they are often ordinary words."""
    names = [*staff_names, *(v for v in header_names(header_values) if "^" in v)]
    whole = {v for n in names for v in name_variants(n) if re.search(r"[\s,^]", v.strip())}
    codes = {v for v in header_names(header_values) if "^" not in v}
    terms = whole | codes | {p for p in pseudonyms if p} | {u for u in usernames if u}
    return tuple(sorted(t for t in terms if len(t) >= 3))


def leaks(text: str, terms: Iterable[str]) -> int:
    """How many of ``terms`` appear in ``text`` as whole words (any case, any spacing)."""
    found = 0
    for term in terms:
        words = r"\s+".join(map(re.escape, term.split()))
        if re.search(rf"(?<!\w){words}(?!\w)", text, re.IGNORECASE):
            found += 1
    return found


def check_no_leaks(text: str, terms: Iterable[str], what: str) -> None:
    """Raise ``DigestLeakError`` (without naming the leak) when ``text`` holds a term."""
    count = leaks(text, terms)
    if count:
        raise DigestLeakError(
            f"The {what} would show {count} name(s) or code(s) of a patient or a member of "
            "staff that the free-text check did not remove; nothing was written."
        )


def answer_rows(
    protocol: Protocol | None, trainee: Mapping[str, str], expert: Mapping[str, str]
) -> tuple[AnswerRow, ...]:
    """Per question of ``protocol`` the trainee's and the expert's answer labels; questions
    neither reader answered are left out; no protocol, no rows."""
    if protocol is None:
        return ()
    rows = []
    for question in protocol.questions:
        mine, theirs = trainee.get(question.id), expert.get(question.id)
        if mine is None and theirs is None:
            continue
        labels = [
            question.answer(v).label if v in question.allowed_values else "" for v in (mine, theirs)
        ]
        rows.append(AnswerRow(question.text, labels[0], labels[1]))
    return tuple(rows)
