"""Private feedback: each user sees their own scans' outcomes, teaching points and good spots,
and nothing about anyone else."""

from __future__ import annotations

from datetime import date

from qa_meeting.domain.meeting import TeachingCategory
from qa_meeting.services import meetings, presenter
from qa_meeting.services.context import AppContext
from qa_meeting.services.demo_cases import DEMO_ACCOUNTS
from qa_meeting.services.meetings import PlannedCase
from qa_meeting.services.my_feedback import NAME_REMOVED, MyFeedback, my_feedback, without_names
from qa_meeting.store import repository
from qa_meeting.store.db import transaction
from qa_meeting.store.models import Study
from tests.conftest import actor_named, add_actor

SIDE_POINT = "Scan both lung bases in every FUSIC study"
PE_POINT = "a D-shaped septum in systole AND diastole"


def _study_id(ctx: AppContext, case: str) -> int:
    with transaction(ctx.engine) as session:
        study = repository.get_study_by_demo_case(session=session, demo_case=case)
        assert study is not None and study.id is not None
        return study.id


def _names_except(username: str) -> list[str]:
    return [
        name
        for account in DEMO_ACCOUNTS
        if account.username != username
        for name in (account.username, account.display_name)
    ]


def _all_text(feedback: MyFeedback) -> str:
    return repr(feedback)


def test_trainee1_sees_their_presented_case_with_its_outcome_and_teaching_point(
    demo_ctx: AppContext,
) -> None:
    feedback = my_feedback(demo_ctx, actor_named(demo_ctx, "trainee1"))

    side = _study_id(demo_ctx, "fusic_pleural_side_minor")
    assert [c.study_id for c in feedback.cases] == [side]
    case = feedback.cases[0]
    assert case.outcome == "presented"
    assert case.outcome_label == "Presented"
    assert case.protocol.startswith("FUSIC")
    assert case.held_on < date.today()
    assert case.classification == "discordant_minor"
    assert case.classification_label == "Discordant (minor)"
    assert case.agreed_at_meeting
    assert "unlikely to change management" in case.classification_meaning
    assert case.error_stage == "Acquisition"
    assert case.remedial_action == "Feedback only"
    assert not case.approved_for_bank
    assert case.clinical_question  # the trainee's own record
    assert [p.text for p in case.teaching_points] == [
        "Scan both lung bases in every FUSIC study: the side you skip is the side with the "
        "effusion."
    ]
    point = case.teaching_points[0]
    assert point.category_label == "Acquisition"
    assert point.tags == ("lung bases", "pleural effusion")
    assert feedback.counts.presented == 1


def test_good_spots_are_celebrated_whether_flagged_or_praised_in_a_meeting(
    demo_ctx: AppContext,
) -> None:
    trainee1 = my_feedback(demo_ctx, actor_named(demo_ctx, "trainee1"))
    occult = _study_id(demo_ctx, "efast_occult_pneumothorax_good_spot")
    assert [s.study_id for s in trainee1.good_spots] == [occult]
    assert trainee1.good_spots[0].flagged_at_over_read
    assert trainee1.good_spots[0].presented_on is None
    assert trainee1.counts.good_spots == 1

    trainee2 = my_feedback(demo_ctx, actor_named(demo_ctx, "trainee2"))
    pe = _study_id(demo_ctx, "fusic_massive_pe_good_spot")
    spot = next(s for s in trainee2.good_spots if s.study_id == pe)
    assert [PE_POINT in p.text for p in spot.praise] == [True]
    assert spot.presented_on is not None
    case = next(c for c in trainee2.cases if c.study_id == pe)
    assert case.good_spot and case.approved_for_bank


def test_trainee2_sees_none_of_trainee1s_cases_or_points(demo_ctx: AppContext) -> None:
    feedback = my_feedback(demo_ctx, actor_named(demo_ctx, "trainee2"))

    trainee1_cases = {
        _study_id(demo_ctx, case)
        for case in ("fusic_pleural_side_minor", "efast_occult_pneumothorax_good_spot")
    }
    seen = {c.study_id for c in feedback.cases} | {s.study_id for s in feedback.good_spots}
    assert seen and not seen & trainee1_cases
    assert SIDE_POINT not in _all_text(feedback)
    assert {c.study_id for c in feedback.cases} == {
        _study_id(demo_ctx, "fusic_massive_pe_good_spot"),
        _study_id(demo_ctx, "fusic_lv_impairment_overcalled"),
    }
    with transaction(demo_ctx.engine) as session:
        studies = {c.study_id: session.get(Study, c.study_id) for c in feedback.cases}
        owner = actor_named(demo_ctx, "trainee2").user_id
        assert all(s is not None and s.operator_id == owner for s in studies.values())


def test_deferred_items_show_as_deferred(demo_ctx: AppContext) -> None:
    feedback = my_feedback(demo_ctx, actor_named(demo_ctx, "trainee3"))

    deferred = _study_id(demo_ctx, "lung_surgical_emphysema_limited")
    case = next(c for c in feedback.cases if c.study_id == deferred)
    assert case.outcome == "deferred"
    assert case.outcome_label == "Deferred to a later meeting"
    assert not case.agreed_at_meeting
    assert case.classification == "technically_limited"  # the automatic one
    assert case.teaching_points == ()
    assert feedback.counts.presented == 0


def test_feedback_never_names_anyone_else(demo_ctx: AppContext) -> None:
    for username in ("trainee1", "trainee2", "trainee3"):
        text = _all_text(my_feedback(demo_ctx, actor_named(demo_ctx, username)))
        for name in _names_except(username):
            assert name.lower() not in text.lower(), (username, name)


def test_a_user_with_no_scans_gets_an_empty_result(demo_ctx: AppContext) -> None:
    for username in ("expert1", "chair1"):
        feedback = my_feedback(demo_ctx, actor_named(demo_ctx, username))
        assert feedback.empty
        assert feedback.cases == () and feedback.good_spots == ()
        assert (feedback.counts.over_read, feedback.counts.presented) == (0, 0)


def test_names_typed_into_a_teaching_point_are_removed_and_authors_left_out(
    any_ctx: AppContext,
) -> None:
    chair = add_actor(any_ctx, "chairperson", "chair")
    trainee = add_actor(any_ctx, "learner", "trainee")
    other = add_actor(any_ctx, "someone", "trainee")
    with transaction(any_ctx.engine) as session:
        mine = repository.add_study(
            session=session,
            study=Study(
                study_instance_uid="1.2.3.1", protocol_id="efast", operator_id=trainee.user_id
            ),
        )
        theirs = repository.add_study(
            session=session,
            study=Study(
                study_instance_uid="1.2.3.2", protocol_id="efast", operator_id=other.user_id
            ),
        )
        mine_id, theirs_id = mine.id, theirs.id
    assert mine_id is not None and theirs_id is not None
    meeting_id = meetings.create_meeting(
        any_ctx,
        chair,
        held_on=date(2026, 1, 5),
        slot_minutes=30,
        agenda=[PlannedCase(theirs_id, 5, "x"), PlannedCase(mine_id, 5, "y")],
    )
    with transaction(any_ctx.engine) as session:
        items = {
            i.study_id: i.id
            for i in repository.list_agenda_items(session=session, meeting_id=meeting_id)
        }
    presenter.add_teaching_point(
        any_ctx,
        chair,
        items[mine_id] or 0,
        text="As Chairperson said, someone's view was clearer; compare both.",
        category=TeachingCategory.GOOD_PRACTICE,
        tags=["Someone", "views"],
    )
    presenter.add_teaching_point(
        any_ctx,
        chair,
        items[theirs_id] or 0,
        text="Not yours.",
        category=TeachingCategory.KNOWLEDGE,
    )

    feedback = my_feedback(any_ctx, trainee)

    assert [c.study_id for c in feedback.cases] == [mine_id]
    case = feedback.cases[0]
    assert case.outcome == "pending" and case.outcome_label == "On an upcoming agenda"
    assert case.classification is None and case.good_spot
    assert [p.text for p in case.teaching_points] == [
        f"As {NAME_REMOVED} said, {NAME_REMOVED}'s view was clearer; compare both."
    ]
    assert case.teaching_points[0].tags == (NAME_REMOVED, "views")
    assert [s.study_id for s in feedback.good_spots] == [mine_id]
    assert "Not yours." not in repr(feedback)
    assert "chairperson" not in repr(feedback).lower()


def test_without_names_matches_whole_names_only() -> None:
    names = ["Dr Morgan Expert", "expert1", "ab"]
    text = "dr  morgan expert and Expert1 agreed; the expert's read; expert10; ab"
    assert without_names(text, names) == (
        f"{NAME_REMOVED} and {NAME_REMOVED} agreed; the expert's read; expert10; ab"
    )
