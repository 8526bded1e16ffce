"""Discordance: the trainee's read against the expert over-read (the reference).

Per question, from the polarity of each answer (see ``domain/protocols.py``):

- either answer missing or indeterminate ("unable to assess", "not seen") -> indeterminate;
- trainee positive, expert positive -> true positive (the exact values may still differ,
  e.g. pleural effusion "left" against "both": the question is then listed as differing);
- trainee negative, expert negative -> true negative;
- trainee positive, expert negative -> false positive;
- trainee negative, expert positive -> false negative.

A question *differs* when both readers answered it, the answers are not equal, and at least
one of them is determinate. So:

- trainee "unable to assess" where the expert could assess is a (minor) difference;
- trainee determinate where the expert says indeterminate is a (minor) difference;
- two different indeterminate answers are not a difference (neither reader could assess);
- a question the trainee left unanswered is not a difference but a documentation gap.

A difference is *major* when the question is management-changing and both answers are
determinate (this includes two positive answers with different values, e.g. a pneumothorax on
the left only against both sides). Every other difference is minor.

The study category is the first that applies, in this order:

1. ``discordant_major``: at least one major difference;
2. ``discordant_minor``: at least one difference;
3. ``technically_limited``: the expert graded image quality below 3 (ACEP), or the expert gave
   no determinate answer to any question;
4. ``incomplete_documentation``: the trainee's read has documentation gaps (unanswered
   questions, core views missing without a reason);
5. ``concordant``.

The flags ``technically_limited`` and ``incomplete_documentation`` are reported whatever the
category, so a discordant study can still show that it was also technically limited.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType

from qa_meeting.domain.protocols import Polarity, Protocol, Question
from qa_meeting.domain.reads import (
    DIAGNOSTIC_IMAGE_QUALITY,
    StructuredRead,
    documentation_gaps,
    validate_read,
)


class QuestionOutcome(StrEnum):
    """The trainee's answer to one question judged against the expert's."""

    TRUE_POSITIVE = "true_positive"
    TRUE_NEGATIVE = "true_negative"
    FALSE_POSITIVE = "false_positive"
    FALSE_NEGATIVE = "false_negative"
    INDETERMINATE = "indeterminate"


class StudyCategory(StrEnum):
    """The classification of a whole study."""

    CONCORDANT = "concordant"
    DISCORDANT_MINOR = "discordant_minor"
    DISCORDANT_MAJOR = "discordant_major"
    TECHNICALLY_LIMITED = "technically_limited"
    INCOMPLETE_DOCUMENTATION = "incomplete_documentation"


_CATEGORY_LABELS: Mapping[StudyCategory, str] = MappingProxyType(
    {
        StudyCategory.CONCORDANT: "Concordant",
        StudyCategory.DISCORDANT_MINOR: "Discordant (minor)",
        StudyCategory.DISCORDANT_MAJOR: "Discordant (major)",
        StudyCategory.TECHNICALLY_LIMITED: "Technically limited",
        StudyCategory.INCOMPLETE_DOCUMENTATION: "Incomplete documentation",
    }
)
_OUTCOME_LABELS: Mapping[QuestionOutcome, str] = MappingProxyType(
    {
        QuestionOutcome.TRUE_POSITIVE: "True positive",
        QuestionOutcome.TRUE_NEGATIVE: "True negative",
        QuestionOutcome.FALSE_POSITIVE: "False positive",
        QuestionOutcome.FALSE_NEGATIVE: "False negative",
        QuestionOutcome.INDETERMINATE: "Indeterminate",
    }
)
_OUTCOMES: Mapping[tuple[Polarity, Polarity], QuestionOutcome] = MappingProxyType(
    {
        (Polarity.POSITIVE, Polarity.POSITIVE): QuestionOutcome.TRUE_POSITIVE,
        (Polarity.NEGATIVE, Polarity.NEGATIVE): QuestionOutcome.TRUE_NEGATIVE,
        (Polarity.POSITIVE, Polarity.NEGATIVE): QuestionOutcome.FALSE_POSITIVE,
        (Polarity.NEGATIVE, Polarity.POSITIVE): QuestionOutcome.FALSE_NEGATIVE,
    }
)


@dataclass(frozen=True)
class DiscordanceResult:
    """The comparison of a trainee read with the expert read of the same study.

    ``outcomes`` holds every question of the protocol, in protocol order; ``differing`` and
    ``major_differences`` hold question ids in protocol order (major ones are also differing).
    """

    category: StudyCategory
    outcomes: Mapping[str, QuestionOutcome]
    differing: tuple[str, ...]
    major_differences: tuple[str, ...]
    technically_limited: bool
    incomplete_documentation: bool
    documentation_gaps: tuple[str, ...]

    @property
    def minor_differences(self) -> tuple[str, ...]:
        """Differing question ids that are not major."""
        return tuple(q for q in self.differing if q not in self.major_differences)

    @property
    def positive_value_mismatches(self) -> tuple[str, ...]:
        """True positives whose exact values differ (e.g. effusion "left" against "both")."""
        return tuple(q for q in self.differing if self.outcomes[q] is QuestionOutcome.TRUE_POSITIVE)


def category_label(category: StudyCategory) -> str:
    """Return the display label of a study category, e.g. "Discordant (major)"."""
    return _CATEGORY_LABELS[category]


def outcome_label(outcome: QuestionOutcome) -> str:
    """Return the display label of a question outcome, e.g. "False negative"."""
    return _OUTCOME_LABELS[outcome]


def _polarity(question: Question, value: str | None) -> Polarity:
    return Polarity.INDETERMINATE if value is None else question.answer(value).polarity


def question_outcome(
    question: Question, trainee_value: str | None, expert_value: str | None
) -> QuestionOutcome:
    """Judge the trainee's answer against the expert's; ``None`` means unanswered.

    Raises ``KeyError`` for a value the question does not allow (validate reads first).
    """
    pair = (_polarity(question, trainee_value), _polarity(question, expert_value))
    return _OUTCOMES.get(pair, QuestionOutcome.INDETERMINATE)


def answers_differ(question: Question, trainee_value: str | None, expert_value: str | None) -> bool:
    """True when both answered, the answers are not equal and at least one is determinate."""
    if trainee_value is None or expert_value is None or trainee_value == expert_value:
        return False
    return (
        question.answer(trainee_value).is_determinate
        or question.answer(expert_value).is_determinate
    )


def is_major_difference(
    question: Question, trainee_value: str | None, expert_value: str | None
) -> bool:
    """True when the answers differ, both are determinate and the question changes management."""
    return (
        question.management_changing
        and answers_differ(question, trainee_value, expert_value)
        and _polarity(question, trainee_value) is not Polarity.INDETERMINATE
        and _polarity(question, expert_value) is not Polarity.INDETERMINATE
    )


def is_technically_limited(expert: StructuredRead, protocol: Protocol) -> bool:
    """True when the expert graded quality below diagnostic or could assess no question."""
    if expert.image_quality is not None and expert.image_quality < DIAGNOSTIC_IMAGE_QUALITY:
        return True
    return not any(
        protocol.question(question_id).answer(value).is_determinate
        for question_id, value in expert.answers.items()
    )


def _category(
    major: tuple[str, ...], differing: tuple[str, ...], limited: bool, incomplete: bool
) -> StudyCategory:
    if major:
        return StudyCategory.DISCORDANT_MAJOR
    if differing:
        return StudyCategory.DISCORDANT_MINOR
    if limited:
        return StudyCategory.TECHNICALLY_LIMITED
    if incomplete:
        return StudyCategory.INCOMPLETE_DOCUMENTATION
    return StudyCategory.CONCORDANT


def compare_reads(
    protocol: Protocol, trainee: StructuredRead, expert: StructuredRead
) -> DiscordanceResult:
    """Compare a trainee read with the expert read under the rules in the module docstring.

    Both reads are validated against the protocol first (``ValidationError`` if either holds
    a value the protocol does not allow).
    """
    trainee = validate_read(trainee, protocol)
    expert = validate_read(expert, protocol)
    outcomes: dict[str, QuestionOutcome] = {}
    differing: list[str] = []
    major: list[str] = []
    for question in protocol.questions:
        mine, reference = trainee.answers.get(question.id), expert.answers.get(question.id)
        outcomes[question.id] = question_outcome(question, mine, reference)
        if answers_differ(question, mine, reference):
            differing.append(question.id)
        if is_major_difference(question, mine, reference):
            major.append(question.id)
    gaps = tuple(documentation_gaps(trainee, protocol))
    limited = is_technically_limited(expert, protocol)
    return DiscordanceResult(
        category=_category(tuple(major), tuple(differing), limited, bool(gaps)),
        outcomes=MappingProxyType(outcomes),
        differing=tuple(differing),
        major_differences=tuple(major),
        technically_limited=limited,
        incomplete_documentation=bool(gaps),
        documentation_gaps=gaps,
    )
