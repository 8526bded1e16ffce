"""The meeting's pure rules: reveal steps, operator pseudonyms, capture vocabularies, responses.

The reveal order follows PRODUCT.md section 5: de-identified context, "what do you see?" (the
audience commits first), the trainee's read under a pseudonym, the expert's read question by
question, then the classification and outcome.
"""

from __future__ import annotations

import string
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from enum import IntEnum, StrEnum

from qa_meeting.domain.protocols import Protocol


class RevealStep(IntEnum):
    CONTEXT = 0
    WHAT_DO_YOU_SEE = 1
    TRAINEE_READ = 2
    EXPERT_READ = 3
    CLASSIFICATION = 4

    @property
    def title(self) -> str:
        return _STEP_TITLES[self]


_STEP_TITLES = {
    RevealStep.CONTEXT: "Clinical context",
    RevealStep.WHAT_DO_YOU_SEE: "What do you see?",
    RevealStep.TRAINEE_READ: "The trainee's read",
    RevealStep.EXPERT_READ: "The expert's read",
    RevealStep.CLASSIFICATION: "Classification and outcome",
}
FIRST_STEP = RevealStep.CONTEXT
LAST_STEP = RevealStep.CLASSIFICATION


def answers_open(step: int) -> bool:
    """The audience may commit answers until the trainee's read is revealed."""
    return step < RevealStep.TRAINEE_READ


class TeachingCategory(StrEnum):
    ACQUISITION = "acquisition"
    INTERPRETATION = "interpretation"
    KNOWLEDGE = "knowledge"
    CLINICAL_INTEGRATION = "clinical_integration"
    GOOD_PRACTICE = "good_practice"


class ErrorStage(StrEnum):
    """Where the error happened (I-AIM)."""

    INDICATION = "indication"
    ACQUISITION = "acquisition"
    INTERPRETATION = "interpretation"
    MEDICAL_DECISION_MAKING = "medical_decision_making"


class RemedialAction(StrEnum):
    NONE = "none"
    FEEDBACK_ONLY = "feedback_only"
    REPEAT_SUPERVISED_SCANS = "repeat_supervised_scans"
    TEACHING_SESSION = "teaching_session"
    INCIDENT_REPORT = "incident_report"


class BiasTag(StrEnum):
    """Cognitive biases named by the RCR learning-meeting standard (REALM)."""

    HINDSIGHT = "hindsight"
    OUTCOME = "outcome"
    SELECTION = "selection"
    PRESENTATION = "presentation"
    INFORMATION = "information"
    ATTENDANCE = "attendance"


def label(value: str) -> str:
    """A vocabulary value as people read it: "remedial_action" -> "Remedial action"."""
    return value.replace("_", " ").capitalize()


def trainee_pseudonyms(operator_ids_in_order: Iterable[int | None]) -> dict[int, str]:
    """ "Trainee A", "Trainee B"... by first appearance on the agenda: stable within a meeting."""
    names: dict[int, str] = {}
    for operator_id in operator_ids_in_order:
        if operator_id is not None and operator_id not in names:
            names[operator_id] = f"Trainee {_letters(len(names))}"
    return names


def _letters(index: int) -> str:
    letters = string.ascii_uppercase
    return letters[index] if index < 26 else letters[index // 26 - 1] + letters[index % 26]


def answer_distribution(
    protocol: Protocol, responses: Sequence[Mapping[str, str]]
) -> dict[str, dict[str, int]]:
    """Per question, how many of the committed responses gave each allowed answer."""
    distribution: dict[str, dict[str, int]] = {}
    for question in protocol.questions:
        counts = Counter(r[question.id] for r in responses if r.get(question.id))
        distribution[question.id] = {
            value: counts.get(value, 0) for value in question.allowed_values
        }
    return distribution
