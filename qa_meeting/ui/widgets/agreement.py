"""Two reads of a protocol side by side, question by question, with agreement colour-coded.

Used by the presenter (trainee against expert) and the follow page (my answers against the
expert's). The verdict per question follows the discordance rules of ``domain/discordance.py``:
red a major difference, orange a minor one, grey indeterminate or unanswered, green agreement.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from qa_meeting.domain.discordance import (
    QuestionOutcome,
    answers_differ,
    is_major_difference,
    outcome_label,
    question_outcome,
)
from qa_meeting.domain.protocols import Protocol, Question

_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]#|<>~$:])")


@dataclass(frozen=True)
class Agreement:
    colour: str  # a Streamlit markdown colour
    label: str


AGREE = Agreement("green", "Agree")
MAJOR = Agreement("red", "Major difference")
MINOR = Agreement("orange", "Minor difference")
INDETERMINATE = Agreement("gray", "Indeterminate")
NOT_ANSWERED = Agreement("gray", "Not answered")


def plain(text: str) -> str:
    """Configuration text (protocol names, questions) made inert inside Markdown."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", text).replace("\n", " ")


def agreement(question: Question, mine: str | None, reference: str | None) -> Agreement:
    """How ``mine`` compares with the reference answer to ``question``."""
    if mine is None or reference is None:
        return NOT_ANSWERED
    if is_major_difference(question, mine, reference):
        return MAJOR
    if answers_differ(question, mine, reference):
        return MINOR
    if question_outcome(question, mine, reference) is QuestionOutcome.INDETERMINATE:
        return INDETERMINATE
    return AGREE


def answer_text(question: Question, value: str | None) -> str:
    """The answer's label, or a dash when the question was not answered."""
    if value is None:
        return "—"
    try:
        return question.answer(value).label
    except KeyError:
        return value


def badge(verdict: Agreement, detail: str = "") -> str:
    """A coloured Markdown badge (our own words only)."""
    text = f"{verdict.label} · {detail}" if detail else verdict.label
    return f":{verdict.colour}-badge[{text}]"


def comparison_markdown(
    protocol: Protocol,
    mine_title: str,
    mine: Mapping[str, str],
    reference_title: str,
    reference: Mapping[str, str],
    *,
    with_outcome: bool = True,
) -> str:
    """A Markdown table: question, both answers, and the colour-coded verdict.

    Only protocol configuration and our own labels go in; free text from users never does.
    """
    lines = [
        f"| Question | {plain(mine_title)} | {plain(reference_title)} | Agreement |",
        "|---|---|---|---|",
    ]
    for question in protocol.questions:
        left, right = mine.get(question.id), reference.get(question.id)
        verdict = agreement(question, left, right)
        detail = ""
        if with_outcome and verdict not in (AGREE, NOT_ANSWERED) and left and right:
            detail = outcome_label(question_outcome(question, left, right)).lower()
        lines.append(
            f"| {plain(question.text)} | {plain(answer_text(question, left))} | "
            f"{plain(answer_text(question, right))} | {badge(verdict, detail)} |"
        )
    return "\n".join(lines)


CATEGORY_COLOURS: Mapping[str, str] = MappingProxyType(
    {
        "concordant": "green",
        "discordant_minor": "orange",
        "discordant_major": "red",
        "technically_limited": "gray",
        "incomplete_documentation": "violet",
    }
)


def comparison_lines(
    protocol: Protocol,
    mine_title: str,
    mine: Mapping[str, str],
    reference_title: str,
    reference: Mapping[str, str],
) -> str:
    """The same comparison as a Markdown list, narrow enough for a phone."""
    lines = []
    for question in protocol.questions:
        left, right = mine.get(question.id), reference.get(question.id)
        lines.append(
            f"- {plain(question.text)}  \n{plain(mine_title)} "
            f"**{plain(answer_text(question, left))}** · {plain(reference_title)} "
            f"**{plain(answer_text(question, right))}** "
            f"{badge(agreement(question, left, right))}"
        )
    return "\n".join(lines)
