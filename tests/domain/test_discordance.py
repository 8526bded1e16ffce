"""Discordance: per-question outcomes, differences and the study category."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from qa_meeting.domain.discordance import (
    DiscordanceResult,
    QuestionOutcome,
    StudyCategory,
    answers_differ,
    category_label,
    compare_reads,
    is_major_difference,
    outcome_label,
    question_outcome,
)
from qa_meeting.domain.protocols import Polarity, Protocol
from qa_meeting.domain.reads import Confidence, StructuredRead
from qa_meeting.services.protocols import load_protocols

PROTOCOLS = load_protocols()
FUSIC = PROTOCOLS["fusic_heart"]
EFAST = PROTOCOLS["efast"]
TP, TN = QuestionOutcome.TRUE_POSITIVE, QuestionOutcome.TRUE_NEGATIVE
FP, FN = QuestionOutcome.FALSE_POSITIVE, QuestionOutcome.FALSE_NEGATIVE
IND = QuestionOutcome.INDETERMINATE
NORMAL = {
    "lv_dilated": "no",
    "lv_impaired": "no",
    "rv_dilated": "no",
    "rv_impaired": "no",
    "low_preload": "no",
    "pericardial_effusion": "no",
    "tamponade": "no",
    "pleural_effusion": "none",
}
ALL_CORE = frozenset({"plax", "psax", "a4c", "sc4c"})

# (question, trainee, expert, outcome, differs, major); None means unanswered.
# lv_impaired is management-changing, lv_dilated and pleural_effusion are not.
OUTCOMES = [
    ("lv_impaired", "yes", "yes", TP, False, False),
    ("lv_impaired", "no", "no", TN, False, False),
    ("lv_impaired", "yes", "no", FP, True, True),
    ("lv_impaired", "no", "yes", FN, True, True),
    ("lv_dilated", "yes", "no", FP, True, False),
    ("lv_dilated", "no", "yes", FN, True, False),
    ("lv_impaired", "unable_to_assess", "yes", IND, True, False),
    ("lv_impaired", "unable_to_assess", "no", IND, True, False),
    ("lv_impaired", "yes", "unable_to_assess", IND, True, False),
    ("lv_impaired", "unable_to_assess", "unable_to_assess", IND, False, False),
    ("lv_impaired", None, "yes", IND, False, False),
    ("lv_impaired", "yes", None, IND, False, False),
    ("lv_impaired", None, None, IND, False, False),
    ("pleural_effusion", "left", "both", TP, True, False),
    ("pleural_effusion", "both", "both", TP, False, False),
    ("pleural_effusion", "none", "right", FN, True, False),
    ("pleural_effusion", "left", "none", FP, True, False),
]


@pytest.mark.parametrize(
    ("question_id", "trainee", "expert", "outcome", "differs", "major"), OUTCOMES
)
def test_question_outcome_table(
    question_id: str,
    trainee: str | None,
    expert: str | None,
    outcome: QuestionOutcome,
    differs: bool,
    major: bool,
) -> None:
    question = FUSIC.question(question_id)
    assert question_outcome(question, trainee, expert) is outcome
    assert answers_differ(question, trainee, expert) is differs
    assert is_major_difference(question, trainee, expert) is major


def fusic(answers: dict[str, str] | None = None, **changes: object) -> StructuredRead:
    """A complete, normal FUSIC Heart read; ``answers`` update the normal answers."""
    read = StructuredRead(
        protocol_id="fusic_heart",
        answers={**NORMAL, **(answers or {})},
        views_obtained=ALL_CORE,
        image_quality=4,
        confidence=Confidence.HIGH,
    )
    return replace(read, **changes)  # type: ignore[arg-type]


def test_identical_complete_reads_are_concordant() -> None:
    result = compare_reads(FUSIC, fusic(), fusic())
    assert result.category is StudyCategory.CONCORDANT
    assert set(result.outcomes.values()) == {TN}
    assert list(result.outcomes) == [q.id for q in FUSIC.questions]
    assert result.differing == result.major_differences == result.documentation_gaps == ()


def test_missed_impaired_lv_is_major() -> None:
    result = compare_reads(FUSIC, fusic(), fusic({"lv_impaired": "yes"}))
    assert result.category is StudyCategory.DISCORDANT_MAJOR
    assert result.outcomes["lv_impaired"] is FN
    assert result.major_differences == ("lv_impaired",)


@pytest.mark.parametrize(
    ("trainee", "expert", "differing"),
    [
        ({"lv_dilated": "yes"}, {}, ("lv_dilated",)),  # not management-changing
        ({"lv_impaired": "unable_to_assess"}, {}, ("lv_impaired",)),  # trainee could not assess
        ({}, {"tamponade": "unable_to_assess"}, ("tamponade",)),  # expert could not assess
        ({"pleural_effusion": "left"}, {"pleural_effusion": "both"}, ("pleural_effusion",)),
    ],
)
def test_minor_differences(
    trainee: dict[str, str], expert: dict[str, str], differing: tuple[str, ...]
) -> None:
    result = compare_reads(FUSIC, fusic(trainee), fusic(expert))
    assert result.category is StudyCategory.DISCORDANT_MINOR
    assert result.differing == result.minor_differences == differing
    assert result.major_differences == ()


def test_both_sides_against_one_side_on_a_management_changing_question_is_major() -> None:
    answers = {"peritoneal_free_fluid": "no", "pericardial_effusion": "no", "haemothorax": "none"}
    trainee = StructuredRead("efast", {**answers, "pneumothorax": "left"})
    expert = StructuredRead("efast", {**answers, "pneumothorax": "both"})
    result = compare_reads(EFAST, trainee, expert)
    assert result.outcomes["pneumothorax"] is TP
    assert result.positive_value_mismatches == ("pneumothorax",)
    assert result.category is StudyCategory.DISCORDANT_MAJOR


@pytest.mark.parametrize(
    ("quality", "category"),
    [
        (1, StudyCategory.TECHNICALLY_LIMITED),
        (2, StudyCategory.TECHNICALLY_LIMITED),
        (3, StudyCategory.CONCORDANT),
        (None, StudyCategory.CONCORDANT),
    ],
)
def test_expert_image_quality_below_three_is_technically_limited(
    quality: int | None, category: StudyCategory
) -> None:
    result = compare_reads(FUSIC, fusic(), fusic(image_quality=quality))
    assert result.category is category
    assert result.technically_limited is (category is StudyCategory.TECHNICALLY_LIMITED)


def test_an_expert_who_could_assess_nothing_makes_it_technically_limited() -> None:
    nothing = {q.id: "unable_to_assess" for q in FUSIC.questions}
    result = compare_reads(FUSIC, fusic(nothing), fusic(nothing, image_quality=None))
    assert result.category is StudyCategory.TECHNICALLY_LIMITED
    assert set(result.outcomes.values()) == {IND}


def test_a_trainee_read_with_gaps_is_incomplete_documentation() -> None:
    trainee = fusic(views_obtained=frozenset({"plax", "psax", "a4c"}))
    result = compare_reads(FUSIC, trainee, fusic())
    assert result.category is StudyCategory.INCOMPLETE_DOCUMENTATION
    assert result.documentation_gaps == (
        "Core view Subcostal four-chamber (SC4C) not obtained and no reason given.",
    )
    explained = replace(trainee, missing_view_reasons={"sc4c": "Abdominal dressing"})
    assert compare_reads(FUSIC, explained, fusic()).category is StudyCategory.CONCORDANT


def test_discordance_outranks_the_other_flags_which_are_still_reported() -> None:
    trainee = fusic({"lv_impaired": "yes"}, views_obtained=frozenset({"plax"}))
    result = compare_reads(FUSIC, trainee, fusic(image_quality=2))
    assert result.category is StudyCategory.DISCORDANT_MAJOR
    assert result.technically_limited and result.incomplete_documentation


def test_labels_are_distinct_and_readable() -> None:
    labels = [category_label(c) for c in StudyCategory]
    assert len(set(labels)) == len(labels)
    assert category_label(StudyCategory.DISCORDANT_MAJOR) == "Discordant (major)"
    assert outcome_label(FN) == "False negative"


# --- properties ----------------------------------------------------------------------------


@st.composite
def reads(draw: st.DrawFn, protocol: Protocol) -> StructuredRead:
    """Any valid read of ``protocol``: some questions answered, some views, some reasons."""
    answers = {}
    for question in protocol.questions:
        value = draw(st.none() | st.sampled_from(question.allowed_values))
        if value is not None:
            answers[question.id] = value
    view_ids = [view.id for view in protocol.views]
    obtained = draw(st.frozensets(st.sampled_from(view_ids)))
    missing = [v for v in view_ids if v not in obtained]
    explained = draw(st.lists(st.sampled_from(missing), unique=True)) if missing else []
    return StructuredRead(
        protocol_id=protocol.id,
        answers=answers,
        views_obtained=obtained,
        missing_view_reasons=dict.fromkeys(explained, "No window"),
        image_quality=draw(st.none() | st.integers(1, 5)),
        confidence=draw(st.none() | st.sampled_from(Confidence)),
    )


@st.composite
def read_pairs(draw: st.DrawFn) -> tuple[Protocol, StructuredRead, StructuredRead]:
    protocol = draw(st.sampled_from(sorted(PROTOCOLS.values(), key=lambda p: p.id)))
    return protocol, draw(reads(protocol)), draw(reads(protocol))


@st.composite
def near_pairs(draw: st.DrawFn) -> tuple[Protocol, StructuredRead, StructuredRead]:
    """The same read twice, the expert's with another quality and maybe one answer changed."""
    protocol, trainee, _ = draw(read_pairs())
    answers = dict(trainee.answers)
    question = draw(st.none() | st.sampled_from(protocol.questions))
    if question is not None:
        answers[question.id] = draw(st.sampled_from(question.allowed_values))
    quality = draw(st.none() | st.integers(1, 5))
    return protocol, trainee, replace(trainee, answers=answers, image_quality=quality)


SWAPPED = {TP: TP, TN: TN, FP: FN, FN: FP, IND: IND}


@given(read_pairs())
def test_a_read_compared_with_itself_is_never_discordant(
    case: tuple[Protocol, StructuredRead, StructuredRead],
) -> None:
    protocol, read, _ = case
    result = compare_reads(protocol, read, read)
    assert result.differing == ()
    assert result.category in {
        StudyCategory.CONCORDANT,
        StudyCategory.TECHNICALLY_LIMITED,
        StudyCategory.INCOMPLETE_DOCUMENTATION,
    }
    assert not {FP, FN} & set(result.outcomes.values())


@given(read_pairs())
def test_swapping_trainee_and_expert_swaps_false_positives_and_negatives(
    case: tuple[Protocol, StructuredRead, StructuredRead],
) -> None:
    protocol, first, second = case
    forward = compare_reads(protocol, first, second)
    backward = compare_reads(protocol, second, first)
    for question in protocol.questions:
        assert backward.outcomes[question.id] is SWAPPED[forward.outcomes[question.id]]
        mine, theirs = first.answers.get(question.id), second.answers.get(question.id)
        if mine is not None and theirs is not None:
            polarities = {question.answer(mine).polarity, question.answer(theirs).polarity}
            if polarities == {Polarity.POSITIVE, Polarity.NEGATIVE}:
                assert {forward.outcomes[question.id], backward.outcomes[question.id]} == {FP, FN}
    assert set(forward.differing) == set(backward.differing)
    assert forward.major_differences == backward.major_differences


@given(read_pairs())
def test_a_major_difference_is_on_a_differing_management_changing_question(
    case: tuple[Protocol, StructuredRead, StructuredRead],
) -> None:
    protocol, trainee, expert = case
    result = compare_reads(protocol, trainee, expert)
    if result.category is StudyCategory.DISCORDANT_MAJOR:
        assert result.major_differences
    for question_id in result.major_differences:
        assert question_id in protocol.management_changing_ids
        assert question_id in result.differing
        assert result.outcomes[question_id] is not IND


def _expected_category(
    protocol: Protocol, trainee: StructuredRead, expert: StructuredRead, result: DiscordanceResult
) -> StudyCategory:
    """The precedence rule, computed from the reads rather than from the result's category."""
    if any(result.outcomes[q] in {FP, FN} for q in protocol.management_changing_ids):
        assert result.major_differences  # a management-changing FP or FN is always major
    if result.major_differences:
        return StudyCategory.DISCORDANT_MAJOR
    if result.differing:
        return StudyCategory.DISCORDANT_MINOR
    poor = expert.image_quality is not None and expert.image_quality < 3
    assessed = [
        q.answer(expert.answers[q.id]) for q in protocol.questions if q.id in expert.answers
    ]
    if poor or not any(answer.polarity is not Polarity.INDETERMINATE for answer in assessed):
        return StudyCategory.TECHNICALLY_LIMITED
    unanswered = any(q.id not in trainee.answers for q in protocol.questions)
    unexplained = any(
        v.id not in trainee.views_obtained and v.id not in trainee.missing_view_reasons
        for v in protocol.core_views
    )
    if unanswered or unexplained:
        return StudyCategory.INCOMPLETE_DOCUMENTATION
    return StudyCategory.CONCORDANT


@given(read_pairs() | near_pairs())
def test_the_category_follows_the_precedence_rule(
    case: tuple[Protocol, StructuredRead, StructuredRead],
) -> None:
    protocol, trainee, expert = case
    result = compare_reads(protocol, trainee, expert)
    assert result.category is _expected_category(protocol, trainee, expert, result)
    if {FP, FN} & set(result.outcomes.values()):
        assert result.category in {StudyCategory.DISCORDANT_MAJOR, StudyCategory.DISCORDANT_MINOR}
    assert result.incomplete_documentation is bool(result.documentation_gaps)
