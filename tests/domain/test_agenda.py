"""The agenda builder: which cases a meeting slot holds, in which order, and why."""

from __future__ import annotations

import math
import random
import statistics
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import pairwise, permutations
from typing import TypeVar

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qa_meeting.domain.agenda import (
    ERROR_STAGES,
    GOOD_SPOT_RULE,
    KEPT_FOR_GOOD_SPOTS,
    MAJOR,
    PINNED,
    Agenda,
    CaseMinutes,
    QueueEntry,
    build_agenda,
    good_spots_required,
    variety_cells,
    variety_score,
)
from qa_meeting.domain.agenda_order import (
    adjacent_repeats,
    fewest_repeats,
    good_spot_positions,
    ideal_sequence,
    order_without_back_to_back,
)
from qa_meeting.domain.nominations import NominationReason as R
from qa_meeting.errors import ValidationError

MAJ, MIN, LIM = R.DISCORDANT_MAJOR, R.DISCORDANT_MINOR, R.TECHNICALLY_LIMITED
INT, GOOD, CHAIR = R.INTERESTING, R.GOOD_SPOT, R.CHAIR_ADDED
DEFAULT = CaseMinutes()
T = TypeVar("T")


def entry(
    study_id: int,
    reason: R = MIN,
    *,
    pinned: bool = False,
    trainee: int | None = None,
    protocol: str = "efast",
    views: Iterable[str] = (),
    findings: Iterable[str] = (),
    stage: str | None = None,
    minutes: int | None = None,
) -> QueueEntry:
    return QueueEntry(
        study_id,
        reason,
        pinned,
        trainee,
        protocol,
        frozenset(views),
        frozenset(findings),
        stage,
        minutes,
    )


def chosen_entries(queue: Sequence[QueueEntry], agenda: Agenda) -> list[QueueEntry]:
    by_id = {e.study_id: e for e in queue}
    return [by_id[study_id] for study_id in agenda.study_ids]


def minutes_of(entries: Sequence[QueueEntry]) -> int:
    return sum(e.planned_minutes(DEFAULT) for e in entries)


# --- Types and validation -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reason", "minutes"), [(MAJ, 8), (MIN, 5), (LIM, 4), (INT, 6), (GOOD, 3), (CHAIR, 5)]
)
def test_default_minutes_per_case_type(reason: R, minutes: int) -> None:
    assert DEFAULT.for_reason(reason) == minutes
    assert entry(1, reason).planned_minutes(DEFAULT) == minutes
    assert entry(1, reason, minutes=11).planned_minutes(DEFAULT) == 11


@pytest.mark.parametrize("field", [r.value for r in R])
@pytest.mark.parametrize("bad", [0, -3])
def test_minutes_per_case_type_must_be_positive(field: str, bad: int) -> None:
    with pytest.raises(ValidationError, match="at least 1"):
        CaseMinutes(**{field: bad})


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"minutes": 0}, "at least 1"), ({"minutes": -2}, "at least 1"), ({"stage": "typo"}, "stage")],
)
def test_invalid_queue_entries_are_refused(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ValidationError, match=match) as raised:
        entry(7, **kwargs)  # type: ignore[arg-type]
    assert "Study 7" in raised.value.message and raised.value.remedy


@pytest.mark.parametrize("slot", [0, -1, 601, 10_000])
def test_slot_outside_1_to_600_minutes_is_refused(slot: int) -> None:
    with pytest.raises(ValidationError, match="1 to 600 minutes"):
        build_agenda([entry(1)], slot)


@pytest.mark.parametrize("slot", [1, 600])
def test_slot_limits_are_accepted(slot: int) -> None:
    assert build_agenda([entry(1, minutes=1)], slot).study_ids == (1,)


def test_duplicate_study_ids_are_refused_by_name() -> None:
    with pytest.raises(ValidationError, match="more than once: 2, 5") as raised:
        build_agenda([entry(2), entry(5), entry(2, GOOD), entry(5), entry(3)], 60)
    assert "duplicates" in raised.value.remedy


def test_empty_queue_gives_empty_agenda() -> None:
    assert build_agenda([], 60) == Agenda((), 60, 0, ())


# --- Variety ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("entries", "cells", "score"),
    [
        ([entry(1)], {("efast", "normal")}, 2),
        ([entry(1, findings=["pneumothorax=left"], views=["ruq", "luq"])], None, 4),
        (
            [entry(1, findings=["pneumothorax=left"]), entry(2, findings=["pneumothorax=left"])],
            {("efast", "pneumothorax=left")},
            2,
        ),
        (
            [entry(1), entry(2, protocol="rush", findings=["b_lines=yes"], stage="acquisition")],
            {("efast", "normal"), ("rush", "b_lines=yes")},
            5,
        ),
        (
            # the same view and finding names count once per protocol
            [
                entry(1, views=["plax"], findings=["pericardial_effusion=yes"]),
                entry(2, protocol="rush", views=["plax"], findings=["pericardial_effusion=yes"]),
            ],
            {("efast", "pericardial_effusion=yes"), ("rush", "pericardial_effusion=yes")},
            6,
        ),
    ],
)
def test_variety_cells_and_score(
    entries: list[QueueEntry], cells: set[tuple[str, str]] | None, score: int
) -> None:
    if cells is not None:
        assert variety_cells(entries) == cells
    assert variety_score(entries) == score


@pytest.mark.parametrize(
    ("cases", "available", "required"),
    [(0, 5, 0), (1, 5, 1), (4, 5, 1), (5, 5, 2), (8, 5, 2), (9, 5, 3), (9, 1, 1), (9, 0, 0)],
)
def test_good_spots_required(cases: int, available: int, required: int) -> None:
    assert good_spots_required(cases, available) == required


# --- Rule 1: pinned cases, then every major discordance ----------------------------------------


def test_pinned_cases_overflowing_the_slot_are_all_kept_and_the_agenda_says_so() -> None:
    queue = [entry(1, MIN, pinned=True, minutes=30), entry(2, INT, pinned=True, minutes=40)]
    queue += [entry(3, MAJ), entry(4, GOOD)]
    agenda = build_agenda(queue, 60)
    assert set(agenda.study_ids) == {1, 2}
    assert agenda.planned_minutes == 70 and agenda.overflow_minutes == 10
    assert all(choice.reason == PINNED for choice in agenda.choices)
    assert any("10 more than the 60-minute slot" in note for note in agenda.notes)
    assert dict(agenda.left_out) == {
        3: "Did not fit in the slot (8 minutes, 0 left)",
        4: "Did not fit in the slot (3 minutes, 0 left)",
    }


def test_every_major_discordance_that_fits_comes_before_variety() -> None:
    varied = [entry(10 + i, INT, protocol=f"p{i}", findings=[f"f{i}=yes"]) for i in range(5)]
    majors = [entry(i, MAJ) for i in range(1, 4)]
    agenda = build_agenda([*varied, *majors], 8 * 3 + 6)
    assert {1, 2, 3} <= set(agenda.study_ids)
    reasons = {c.study_id: c.reason for c in agenda.choices}
    assert reasons[1] == reasons[2] == reasons[3] == MAJOR


def test_majors_that_do_not_all_fit_are_chosen_for_variety() -> None:
    queue = [
        entry(1, MAJ, findings=["pneumothorax=left"]),
        entry(2, MAJ, findings=["pneumothorax=left"]),
        entry(3, MAJ, protocol="dvt", findings=["left_cfv_compression=not_compressible"]),
    ]
    agenda = build_agenda(queue, 16)
    assert set(agenda.study_ids) == {1, 3}
    assert dict(agenda.left_out)[2].startswith("Did not fit in the slot")


# --- Rule 2: variety per minute, deterministic ties --------------------------------------------


def test_the_case_adding_most_variety_per_minute_is_chosen() -> None:
    queue = [
        entry(1, MIN, findings=["pneumothorax=left"]),
        entry(2, MIN, findings=["pneumothorax=left"]),
        entry(3, MIN, protocol="rush", findings=["b_lines=yes", "dvt=yes"], stage="acquisition"),
    ]
    agenda = build_agenda(queue, 10)
    assert set(agenda.study_ids) == {1, 3}
    reason = {c.study_id: c.reason for c in agenda.choices}[3]
    assert reason == (
        "Adds variety: protocol rush, finding b_lines=yes, finding dvt=yes, "
        "new error stage acquisition"
    )


@pytest.mark.parametrize(
    ("queue", "expected"),
    [
        ([entry(5, LIM, minutes=5), entry(4, MIN)], 4),  # reason priority first
        ([entry(9, MIN), entry(8, MIN)], 8),  # then study id
        ([entry(3, INT, minutes=5), entry(2, CHAIR)], 3),
    ],
)
def test_equal_variety_per_minute_goes_to_priority_then_study_id(
    queue: list[QueueEntry], expected: int
) -> None:
    assert build_agenda(queue, 5).study_ids == (expected,)


def test_cases_adding_nothing_still_fill_spare_time() -> None:
    queue = [entry(1, MIN), entry(2, MIN), entry(3, LIM)]
    agenda = build_agenda(queue, 60)
    assert set(agenda.study_ids) == {1, 2, 3}
    assert "Fills the remaining time (discordant minor)" in {c.reason for c in agenda.choices}


# --- Rule 3: a good spot for every four cases ----------------------------------------------------


def test_a_good_spot_goes_in_even_when_a_case_as_varied_would_fill_the_slot() -> None:
    varied = [entry(i, MIN, protocol=f"p{i}", findings=[f"f{i}=yes"]) for i in range(1, 6)]
    good = entry(9, GOOD, protocol="p1", findings=["f1=yes"])  # no more varied than study 1
    agenda = build_agenda([*varied, good], 25)  # five minor discordances would fill it
    assert sorted(agenda.study_ids) == [2, 3, 4, 5, 9]
    assert {c.study_id: c.reason for c in agenda.choices}[9] == GOOD_SPOT_RULE
    assert dict(agenda.left_out) == {1: "Did not fit in the slot (5 minutes, 2 left)"}


def test_a_case_that_fits_is_left_out_when_it_would_break_the_good_spot_mix() -> None:
    queue = [entry(i, MIN, minutes=1) for i in range(1, 6)]
    queue += [entry(8, GOOD, minutes=10), entry(9, GOOD, minutes=10)]
    agenda = build_agenda(queue, 15)  # a fifth case would call for the second good spot
    assert sorted(agenda.study_ids) == [1, 2, 3, 8]
    assert dict(agenda.left_out) == {
        4: KEPT_FOR_GOOD_SPOTS,
        5: KEPT_FOR_GOOD_SPOTS,
        9: "Did not fit in the slot (10 minutes, 2 left)",
    }


def test_no_room_for_a_good_spot_beside_majors_is_reported() -> None:
    queue = [entry(i, MAJ) for i in range(1, 5)] + [entry(9, GOOD), entry(10, MIN, minutes=1)]
    agenda = build_agenda(queue, 33)
    assert sorted(agenda.study_ids) == [1, 2, 3, 4]
    assert any("Only 0 good spot(s) among 4 cases" in note for note in agenda.notes)
    assert dict(agenda.left_out)[10] == KEPT_FOR_GOOD_SPOTS


# --- Rule 5: order --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "trainees",
    [
        [1, 1, 2, 2],
        [1, 1, 1, 2, 2],
        [1, 1, 1, 2, 3],
        [1, 1, 1, None, None],
        [3, 3, 3, 3, 1, 2, 4],
        [1, 2, 3, 4, 5, 6],
    ],
)
def test_same_trainee_never_back_to_back_when_avoidable(trainees: list[int | None]) -> None:
    queue = [entry(i, MIN, trainee=t) for i, t in enumerate(trainees, start=1)]
    agenda = build_agenda(queue, 600)
    assert agenda.back_to_back_repeats == 0 and not agenda.notes
    assert adjacent_repeats(chosen_entries(queue, agenda)) == 0


@pytest.mark.parametrize(
    ("trainees", "repeats"), [([1, 1, 1], 2), ([1, 1, 1, 2], 1), ([1, 1, 1, 1, 2, None], 1)]
)
def test_unavoidable_repeats_are_kept_fewest_and_reported(
    trainees: list[int | None], repeats: int
) -> None:
    queue = [entry(i, MIN, trainee=t) for i, t in enumerate(trainees, start=1)]
    agenda = build_agenda(queue, 600)
    assert agenda.back_to_back_repeats == repeats
    assert adjacent_repeats(chosen_entries(queue, agenda)) == repeats
    assert any("follow a case of the same trainee" in note for note in agenda.notes)


def test_engaging_opener_good_spot_second_and_last() -> None:
    queue = [entry(1, MIN), entry(2, MAJ), entry(3, GOOD), entry(4, LIM), entry(5, GOOD)]
    queue += [entry(6, INT), entry(7, MIN)]
    order = [c.nomination_reason for c in build_agenda(queue, 600).choices]
    assert order[0] is INT and order[1] is GOOD and order[-1] is GOOD
    assert order[2:6] == [MAJ, MIN, LIM, MIN]  # round-robin over the reasons
    assert [c.position for c in build_agenda(queue, 600).choices] == list(range(1, 8))


@pytest.mark.parametrize(
    ("good", "total", "positions"),
    [(0, 5, ()), (1, 1, (0,)), (1, 6, (1,)), (2, 2, (0, 1)), (2, 6, (1, 5)), (3, 9, (1, 4, 8))],
)
def test_good_spot_positions(good: int, total: int, positions: tuple[int, ...]) -> None:
    assert good_spot_positions(good, total) == positions


def test_ideal_sequence_opens_with_a_major_without_interesting_cases() -> None:
    cases = [entry(1, LIM), entry(2, MIN), entry(3, MAJ), entry(4, GOOD)]
    assert [c.study_id for c in ideal_sequence(cases)] == [3, 4, 2, 1]


trainee_lists = st.lists(st.one_of(st.none(), st.integers(0, 3)), max_size=7)


@given(trainee_lists, st.one_of(st.none(), st.integers(0, 3)))
@settings(max_examples=150, deadline=None)
def test_fewest_repeats_matches_brute_force(trainees: list[int | None], after: int | None) -> None:
    def repeats(order: Sequence[int | None]) -> int:
        return sum(1 for a, b in pairwise(order) if b is not None and a == b)

    best = min(repeats([after, *order]) for order in set(permutations(trainees)))
    assert fewest_repeats(trainees, after) == best


@given(trainee_lists)
@settings(max_examples=150, deadline=None)
def test_order_has_the_fewest_possible_repeats(trainees: list[int | None]) -> None:
    cases = [entry(i, MIN, trainee=t) for i, t in enumerate(trainees)]
    ordered = order_without_back_to_back(cases)
    assert sorted(c.study_id for c in ordered) == list(range(len(cases)))
    assert adjacent_repeats(ordered) == fewest_repeats(trainees)


# --- Properties of whole agendas --------------------------------------------------------------


@st.composite
def queues(draw: st.DrawFn) -> list[QueueEntry]:
    ids = draw(st.lists(st.integers(1, 60), unique=True, max_size=18))
    return [
        entry(
            study_id,
            draw(st.sampled_from(list(R))),
            pinned=draw(st.integers(0, 9)) == 0,
            trainee=draw(st.one_of(st.none(), st.integers(0, 4))),
            protocol=draw(st.sampled_from(["efast", "fusic_heart", "dvt"])),
            views=draw(st.frozensets(st.sampled_from(["a", "b", "c", "d"]))),
            findings=draw(st.frozensets(st.sampled_from(["x=yes", "y=yes", "y=left", "z=yes"]))),
            stage=draw(st.one_of(st.none(), st.sampled_from(ERROR_STAGES))),
            minutes=draw(st.one_of(st.none(), st.integers(1, 15))),
        )
        for study_id in ids
    ]


slots = st.integers(1, 120)
PROPERTY = settings(max_examples=200, deadline=None)


@given(queues(), slots)
@PROPERTY
def test_choices_and_left_out_partition_the_queue(queue: list[QueueEntry], slot: int) -> None:
    agenda = build_agenda(queue, slot)
    chosen = agenda.study_ids
    left = [study_id for study_id, _ in agenda.left_out]
    assert len(set(chosen)) == len(chosen)
    assert sorted([*chosen, *left]) == sorted(e.study_id for e in queue)
    assert [c.position for c in agenda.choices] == list(range(1, len(chosen) + 1))
    assert all(c.reason for c in agenda.choices) and all(why for _, why in agenda.left_out)
    assert agenda.planned_minutes == sum(c.planned_minutes for c in agenda.choices)
    assert agenda.planned_minutes == minutes_of(chosen_entries(queue, agenda))


@given(queues(), slots)
@PROPERTY
def test_pinned_always_in_majors_in_when_they_fit_and_minutes_within_slot(
    queue: list[QueueEntry], slot: int
) -> None:
    agenda = build_agenda(queue, slot)
    chosen = set(agenda.study_ids)
    pinned = [e for e in queue if e.pinned]
    majors = [e for e in queue if e.reason is MAJ and not e.pinned]
    assert {e.study_id for e in pinned} <= chosen
    if minutes_of(pinned) + minutes_of(majors) <= slot:
        assert {e.study_id for e in majors} <= chosen
    if agenda.planned_minutes > slot:
        assert chosen == {e.study_id for e in pinned}
        assert agenda.overflow_minutes == agenda.planned_minutes - slot
    else:
        assert agenda.overflow_minutes == 0


@given(queues(), slots)
@PROPERTY
def test_at_least_one_good_spot_per_four_cases(queue: list[QueueEntry], slot: int) -> None:
    agenda = build_agenda(queue, slot)
    chosen = chosen_entries(queue, agenda)
    available = [e for e in queue if e.reason is GOOD and (e.pinned or minutes_of([e]) <= slot)]
    good = sum(1 for e in chosen if e.reason is GOOD)
    if good >= good_spots_required(len(chosen), len(available)):
        return
    # Only pinned cases and majors can crowd good spots out, and the agenda then says so.
    assert all(e.pinned or e.reason in (MAJ, GOOD) for e in chosen)
    room = slot - agenda.planned_minutes
    assert all(minutes_of([e]) > room for e in available if e.study_id not in agenda.study_ids)
    assert any(note.startswith("Only") for note in agenda.notes)


@given(queues(), slots)
@PROPERTY
def test_no_back_to_back_trainee_whenever_the_trainees_allow(
    queue: list[QueueEntry], slot: int
) -> None:
    chosen = chosen_entries(queue, build_agenda(queue, slot))
    counts = Counter(e.trainee_id for e in chosen if e.trainee_id is not None)
    if max(counts.values(), default=0) <= math.ceil(len(chosen) / 2):
        assert adjacent_repeats(chosen) == 0


@given(queues(), slots, st.randoms(use_true_random=False))
@PROPERTY
def test_same_queue_in_any_order_gives_the_same_agenda(
    queue: list[QueueEntry], slot: int, rng: random.Random
) -> None:
    shuffled = list(queue)
    rng.shuffle(shuffled)
    assert build_agenda(queue, slot) == build_agenda(shuffled, slot) == build_agenda(queue, slot)


# --- Variety against a random pick, on realistic queues ----------------------------------------

# The shipped protocols' views and positive findings (question=value), frozen here so that
# editing a protocol file does not move this benchmark.
CATALOGUE = {
    "fusic_heart": (
        "plax psax a4c sc4c sc_ivc lung_base_right lung_base_left",
        "lv_dilated:yes lv_impaired:yes rv_dilated:yes rv_impaired:yes low_preload:yes "
        "pericardial_effusion:yes tamponade:yes pleural_effusion:left,right,both",
    ),
    "efast": (
        "ruq luq pelvis subxiphoid right_anterior_chest left_anterior_chest",
        "peritoneal_free_fluid:yes pericardial_effusion:yes haemothorax:left,right,both "
        "pneumothorax:left,right,both",
    ),
    "lung_blue": (
        "right_upper_blue right_lower_blue right_plaps left_upper_blue left_lower_blue left_plaps",
        "lung_sliding_abolished:left,right,both a_lines:left_only,right_only,neither "
        "b_lines:left,right,both anterior_consolidation:left,right,both plaps:left,right,both "
        "lung_point:yes profile:a_prime,b,b_prime,a_b,c",
    ),
    "dvt": (
        "right_cfv right_popliteal left_cfv left_popliteal",
        "right_cfv_compression:not_compressible right_popliteal_compression:not_compressible "
        "left_cfv_compression:not_compressible left_popliteal_compression:not_compressible",
    ),
    "rush": (
        "plax psax a4c sc4c sc_ivc ruq luq pelvis right_anterior_chest left_anterior_chest "
        "aorta_abdominal aorta_suprasternal femoral_veins popliteal_veins",
        "pericardial_effusion:yes tamponade:yes lv_contractility:hyperdynamic,decreased "
        "rv_dilated:yes ivc:small_collapsing,plethoric peritoneal_free_fluid:yes "
        "pleural_effusion:left,right,both pneumothorax:left,right,both b_lines:yes "
        "aortic_aneurysm:yes aortic_flap:yes dvt:yes",
    ),
}
PROTOCOL_SHARE = {"fusic_heart": 30, "efast": 25, "lung_blue": 20, "dvt": 15, "rush": 10}
REASON_SHARE = {MAJ: 8, MIN: 22, LIM: 15, INT: 15, GOOD: 30, CHAIR: 10}
STAGE_SHARE = {"acquisition": 40, "interpretation": 40, "indication": 10}
STAGE_SHARE["medical_decision_making"] = 10


def _weighted(rng: random.Random, shares: dict[T, int]) -> T:
    return rng.choices(list(shares), weights=list(shares.values()))[0]


def _realistic_findings(rng: random.Random, protocol: str) -> frozenset[str]:
    """40% normal; else 1 to 3 findings, earlier questions commoner (1/rank)."""
    questions = [q.split(":") for q in CATALOGUE[protocol][1].split()]
    if rng.random() < 0.4:
        return frozenset()
    wanted = 1 + (rng.random() < 0.35) + (rng.random() < 0.15)
    weights = [1 / rank for rank in range(1, len(questions) + 1)]
    picked: list[list[str]] = []
    while len(picked) < min(wanted, len(questions)):
        question = rng.choices(questions, weights=weights)[0]
        if question not in picked:
            picked.append(question)
    return frozenset(f"{qid}={rng.choice(values.split(','))}" for qid, values in picked)


def realistic_queue(rng: random.Random) -> tuple[list[QueueEntry], int]:
    trainees = range(rng.randint(3, 8))
    activity = [1 / math.sqrt(rank) for rank in range(1, len(trainees) + 1)]
    queue = []
    for study_id in range(1, rng.randint(15, 40) + 1):
        protocol = _weighted(rng, PROTOCOL_SHARE)
        reason = _weighted(rng, REASON_SHARE)
        views = CATALOGUE[protocol][0].split()
        stage = None
        if reason in (MAJ, MIN):
            stage = _weighted(rng, STAGE_SHARE)
        elif reason is LIM:
            stage = "acquisition"
        queue.append(
            entry(
                study_id,
                reason,
                pinned=rng.random() < 0.05,
                trainee=None if rng.random() < 0.05 else rng.choices(trainees, activity)[0],
                protocol=protocol,
                views=rng.sample(views, rng.randint(2, len(views))),
                findings=_realistic_findings(rng, protocol),
                stage=stage,
                minutes=rng.randint(3, 10) if rng.random() < 0.1 else None,
            )
        )
    return queue, rng.randint(45, 90)


def random_pick(queue: Sequence[QueueEntry], minutes: int, rng: random.Random) -> list[QueueEntry]:
    shuffled = list(queue)
    rng.shuffle(shuffled)
    picked: list[QueueEntry] = []
    for candidate in shuffled:
        if minutes_of([*picked, candidate]) <= minutes:
            picked.append(candidate)
    return picked


@dataclass(frozen=True)
class Coverage:
    agenda: float
    random: float

    @property
    def ratio(self) -> float:
        return self.agenda / self.random


def measure_coverage(runs: int = 100, seed: int = 20240611) -> Coverage:
    rng = random.Random(seed)
    agenda_cells, random_cells = [], []
    for _ in range(runs):
        queue, slot = realistic_queue(rng)
        agenda = build_agenda(queue, slot)
        budget = max(slot, agenda.planned_minutes)
        agenda_cells.append(len(variety_cells(chosen_entries(queue, agenda))))
        random_cells.append(
            len(variety_cells(random_pick(queue, budget, random.Random(rng.random()))))
        )
    return Coverage(statistics.mean(agenda_cells), statistics.mean(random_cells))


@pytest.fixture(scope="module")
def coverage() -> Coverage:
    return measure_coverage()


def test_agenda_covers_more_cells_than_a_random_pick(coverage: Coverage) -> None:
    """The issue asks for 1.5x; measured 1.33x. It is out of reach while pinned cases and every
    major discordance come first: the exact best cover keeping them reaches 1.35x on these
    queues, and one ignoring every rule 1.47x (see the README, "Agenda"). This guards what the
    chooser achieves so that a regression fails."""
    assert coverage.ratio >= 1.3, coverage
