"""The meeting pages (queue & agenda, presenter, follow, meetings), run with AppTest on the demo."""

from __future__ import annotations

from datetime import date

import pytest
from streamlit.testing.v1 import AppTest

from qa_meeting.domain.agenda import build_agenda
from qa_meeting.domain.annotations import AnnotationDraft, AnnotationKind
from qa_meeting.domain.discordance import StudyCategory
from qa_meeting.domain.meeting import BiasTag, ErrorStage, RemedialAction, RevealStep
from qa_meeting.services import frame_annotations, meeting_queue, meetings, presenter, users
from qa_meeting.services.context import AppContext
from qa_meeting.services.meetings import Move, PlannedCase
from qa_meeting.services.protocols import load_protocols
from qa_meeting.ui import links
from tests.conftest import actor_named
from tests.pages.support import page_text, point_app_at, run_page

PROTOCOLS = load_protocols()


@pytest.fixture
def meeting_ctx(demo_ctx: AppContext, monkeypatch: pytest.MonkeyPatch) -> AppContext:
    """The demo data, with the app's own settings pointing at it."""
    return point_app_at(demo_ctx, monkeypatch)


def _button(at: AppTest, label: str) -> object:
    return next(b for b in at.button if b.label == label)


def _live_meeting(ctx: AppContext, minutes: int = 30) -> int:
    chair = actor_named(ctx, "chair1")
    agenda = build_agenda(meeting_queue.queue_entries(ctx, chair, PROTOCOLS), minutes)
    planned = [
        PlannedCase(c.study_id, c.planned_minutes, c.reason, c.nomination_reason.value)
        for c in agenda.choices
    ]
    meeting_id = meetings.create_meeting(
        ctx, chair, held_on=date(2026, 12, 1), slot_minutes=minutes, agenda=planned
    )
    meetings.start_meeting(ctx, chair, meeting_id)
    return meeting_id


def _case(ctx: AppContext, meeting_id: int) -> presenter.PresenterCase:
    return presenter.presenter_case(ctx, actor_named(ctx, "chair1"), meeting_id, PROTOCOLS)


def test_navigation_depends_on_the_role() -> None:
    def titles(role: str) -> list[str]:
        return [spec.title for spec in links.PAGES if spec.visible_to(role)]

    after_the_meeting = ["Follow", "Digest", "My feedback", "Loop figures", "Image bank"]
    assert titles("trainee") == ["Home", "Inbox", "Review", *after_the_meeting]
    assert titles("expert") == [
        "Home",
        "Inbox",
        "Review",
        "Ward round",
        "Queue & agenda",
        "Meetings",
        *after_the_meeting,
        "Export to bank",
    ]
    assert "Ward round" not in titles("trainee")
    assert "Export to bank" not in titles("trainee")
    for role in ("chair", "admin"):
        assert "Present" in titles(role) and "Queue & agenda" in titles(role)


def test_the_queue_lists_the_demo_queue_and_the_chair_pins(meeting_ctx: AppContext) -> None:
    chair = actor_named(meeting_ctx, "chair1")
    rows = meeting_queue.list_queue(meeting_ctx, chair)
    at = run_page("meeting_prep_page", chair)
    assert not at.exception
    text = page_text(at)
    assert "Discordant (major)" in text and "Good spot" in text
    last = rows[-1].study_id
    at.button(key=f"queue_pin_{last}").click().run()
    assert not at.exception
    pinned = {r.study_id for r in meeting_queue.list_queue(meeting_ctx, chair) if r.pinned}
    assert pinned == {last}
    assert at.button(key=f"queue_pin_{last}").label == "Unpin"
    at.button(key=f"queue_dismiss_{last}").click().run()
    assert last not in {r.study_id for r in meeting_queue.list_queue(meeting_ctx, chair)}
    at.number_input[0].set_value(last)
    _button(at, "Add to the queue").click().run()  # type: ignore[attr-defined]
    assert last in {r.study_id for r in meeting_queue.list_queue(meeting_ctx, chair)}


def test_an_expert_sees_the_queue_read_only(meeting_ctx: AppContext) -> None:
    at = run_page("meeting_prep_page", actor_named(meeting_ctx, "expert1"))
    assert not at.exception
    assert "Discordant (major)" in page_text(at)
    assert not [b for b in at.button if b.key and b.key.startswith("queue_")]
    assert "Only the chair changes the queue" in page_text(at)
    at = run_page("meeting_prep_page", actor_named(meeting_ctx, "trainee1"))
    assert "for experts and the chair" in page_text(at)


def test_proposing_and_saving_an_agenda_creates_a_meeting(meeting_ctx: AppContext) -> None:
    chair = actor_named(meeting_ctx, "chair1")
    before = {m.id for m in meetings.list_meetings(meeting_ctx, chair)}
    at = run_page("meeting_prep_page", chair)
    next(n for n in at.number_input if n.label == "Slot (minutes)").set_value(20)
    at.button(key="agenda_propose").click().run()
    assert not at.exception
    [table] = at.data_editor
    proposed = list(table.value["Scan"])
    assert proposed and "" not in set(table.value["Why chosen"])
    assert "of 20 min" in page_text(at)
    assert "Did not fit" in " ".join(at.dataframe[-1].value["Why left out"])
    at.button(key="agenda_save").click().run()
    assert not at.exception
    [meeting] = [m for m in meetings.list_meetings(meeting_ctx, chair) if m.id not in before]
    assert (meeting.status, meeting.cases, meeting.slot_minutes) == ("planned", len(proposed), 20)
    assert f"Meeting {meeting.id} saved" in page_text(at)


def test_a_planned_meetings_agenda_can_be_replaced(meeting_ctx: AppContext) -> None:
    chair = actor_named(meeting_ctx, "chair1")
    first = meeting_queue.list_queue(meeting_ctx, chair)[0].study_id
    meeting_id = meetings.create_meeting(
        meeting_ctx,
        chair,
        held_on=date(2026, 12, 1),
        slot_minutes=30,
        agenda=[PlannedCase(first, 7, "Chosen by hand")],
    )
    at = run_page("meeting_prep_page", chair)
    at.selectbox(key="agenda_for").set_value(meeting_id).run()
    assert not at.exception
    assert list(at.dataframe[0].value["Why chosen"]) == ["Chosen by hand"]
    at.button(key="agenda_propose").click().run()
    proposed = list(at.data_editor[0].value["Scan"])
    assert len(proposed) > 1
    at.button(key="agenda_save").click().run()
    assert not at.exception
    [meeting] = [m for m in meetings.list_meetings(meeting_ctx, chair) if m.id == meeting_id]
    assert (meeting.cases, meeting.status) == (len(proposed), "planned")


def test_the_presenter_reveals_the_steps_in_order(meeting_ctx: AppContext) -> None:
    meeting_id = _live_meeting(meeting_ctx)
    case = _case(meeting_ctx, meeting_id)
    operators = [u.display_name for u in users.list_users(meeting_ctx) if u.role == "trainee"]
    at = run_page("present_page", actor_named(meeting_ctx, "chair1"))
    assert not at.exception
    text = page_text(at)
    assert "Step 1 of 5 · Clinical context" in text and "Indication" in text
    assert not [name for name in operators if name in text]
    heading = f"{case.trainee_label}'s read"
    seen: list[str] = []
    for _ in range(4):
        at.button(key="present_next_step").click().run()
        assert not at.exception
        text = page_text(at)
        seen.append(text)
        assert not [name for name in operators if name in text]
    assert "What do you see?" in seen[0] and heading not in seen[0]
    assert heading in seen[1] and "The expert's read" not in seen[1]
    assert "The expert's read" in seen[2] and "Agreement" in seen[2]
    assert "Classification and outcome" in seen[3]
    assert _case(meeting_ctx, meeting_id).step == RevealStep.CLASSIFICATION
    at.button(key="present_next_case").click().run()
    after = _case(meeting_ctx, meeting_id)
    assert (after.position, after.step) == (2, RevealStep.CONTEXT)


def test_teaching_points_save_and_show_aspage_text(meeting_ctx: AppContext) -> None:
    meeting_id = _live_meeting(meeting_ctx)
    at = run_page("present_page", actor_named(meeting_ctx, "chair1"))
    item = _case(meeting_ctx, meeting_id).item_id
    at.text_area(key=f"tp_text_{item}").input("<script>x</script> look at the IVC")
    at.text_input(key=f"tp_tags_{item}").input("IVC, preload")
    at.number_input(key=f"tp_frame_{item}").set_value(3)
    _button(at, "Save teaching point").click().run()  # type: ignore[attr-defined]
    assert not at.exception
    [point] = _case(meeting_ctx, meeting_id).teaching_points
    assert (point.text, point.tags, point.frame_index) == (
        "<script>x</script> look at the IVC",
        ("ivc", "preload"),
        2,
    )
    assert any(t.value == "<script>x</script> look at the IVC" for t in at.text)
    assert all("<script>" not in m.value for m in at.markdown)


def test_the_consensus_form_saves(meeting_ctx: AppContext) -> None:
    meeting_id = _live_meeting(meeting_ctx)
    chair = actor_named(meeting_ctx, "chair1")
    for _ in range(4):
        meetings.navigate(meeting_ctx, chair, meeting_id, Move.NEXT_STEP)
    item = _case(meeting_ctx, meeting_id).item_id
    at = run_page("present_page", chair)
    assert not at.exception
    at.selectbox(key=f"consensus_category_{item}").set_value(StudyCategory.DISCORDANT_MINOR)
    at.selectbox(key=f"consensus_stage_{item}").set_value(ErrorStage.INTERPRETATION)
    at.selectbox(key=f"consensus_action_{item}").set_value(RemedialAction.FEEDBACK_ONLY)
    at.multiselect(key=f"consensus_biases_{item}").set_value([BiasTag.HINDSIGHT])
    at.checkbox(key=f"consensus_bank_{item}").check()
    _button(at, "Save consensus").click().run()  # type: ignore[attr-defined]
    assert not at.exception
    saved = _case(meeting_ctx, meeting_id).consensus
    assert saved.category is not None and saved.category.value == "discordant_minor"
    assert saved.error_stage is not None and saved.error_stage.value == "interpretation"
    assert [b.value for b in saved.bias_tags] == ["hindsight"] and saved.approved_for_bank


def test_choosing_a_reasoning_frame_moves_the_player(meeting_ctx: AppContext) -> None:
    meeting_id = _live_meeting(meeting_ctx)
    chair, expert = actor_named(meeting_ctx, "chair1"), actor_named(meeting_ctx, "expert1")
    case = _case(meeting_ctx, meeting_id)
    clip = case.clips[0]
    draft = AnnotationDraft(
        frame_index=min(4, clip.number_of_frames - 1),
        kind=AnnotationKind.TEXT,
        points=((10.0, 10.0),),
        label="<b>Look here</b>",
    )
    frame_annotations.add_annotation(meeting_ctx, expert, clip.clip_id, draft)
    for _ in range(3):
        meetings.navigate(meeting_ctx, chair, meeting_id, Move.NEXT_STEP)
    at = run_page("present_page", chair)
    assert not at.exception
    choice = at.selectbox(key=f"present_reasoning_{case.item_id}")
    assert "<b>Look here</b>" in choice.options[0]
    choice.set_value(0).run()
    assert not at.exception
    [player] = at.get("iframe")
    html = str(player.proto)
    assert f'value=\\"{draft.frame_index}\\"' in html or f'value="{draft.frame_index}"' in html


def test_a_trainee_is_refused_the_presenter(meeting_ctx: AppContext) -> None:
    _live_meeting(meeting_ctx)
    for name in ("trainee1", "expert1"):
        at = run_page("present_page", actor_named(meeting_ctx, name))
        assert not at.exception
        assert "Only the meeting chair" in at.warning[0].value
        assert not at.button


def test_follow_commits_answers_that_the_chair_counts(meeting_ctx: AppContext) -> None:
    trainee = actor_named(meeting_ctx, "trainee2")
    at = run_page("follow_page", trainee)
    assert not at.exception
    assert "No meeting is live" in at.info[0].value
    meeting_id = _live_meeting(meeting_ctx)
    case = _case(meeting_ctx, meeting_id)
    at.run()
    assert not at.exception
    keys = [f"follow_{case.item_id}_{q.id}" for q in case.protocol.questions]
    assert [r.key for r in at.radio] == keys
    assert not [
        name
        for name in ("Dr Alex Trainee", "Dr Priya Trainee", "Dr Sam Trainee")
        if name in page_text(at)
    ]
    first = case.protocol.questions[0]
    at.radio(key=keys[0]).set_value(first.allowed_values[0])
    _button(at, "Commit my answers").click().run()  # type: ignore[attr-defined]
    assert not at.exception
    assert "Committed" in at.success[0].value
    assert _case(meeting_ctx, meeting_id).responses == 1
    chair_view = run_page("present_page", actor_named(meeting_ctx, "chair1"))
    assert "**1** answer(s) committed in the room" in page_text(chair_view)


def test_the_answer_form_keeps_its_identity_when_the_chair_moves_on(
    meeting_ctx: AppContext,
) -> None:
    """The poll reruns the page when the step changes; the form and its keys stay the same.

    (A half-filled, unsubmitted form lives in the browser until submitted; AppTest drops staged
    form values on a rerun, so the browser check is done with Playwright; here we check the
    identity the browser relies on, and that chosen answers survive the step change.)
    """
    meeting_id = _live_meeting(meeting_ctx)
    case = _case(meeting_ctx, meeting_id)
    at = run_page("follow_page", actor_named(meeting_ctx, "trainee3"))
    question = case.protocol.questions[1]
    key = f"follow_{case.item_id}_{question.id}"
    form_id = at.radio(key=key).form_id
    at.radio(key=key).set_value(question.allowed_values[-1])
    _button(at, "Commit my answers").click().run()  # type: ignore[attr-defined]
    meetings.navigate(meeting_ctx, actor_named(meeting_ctx, "chair1"), meeting_id, Move.NEXT_STEP)
    at.run()  # what the polling fragment's rerun does once the chair moves on
    assert not at.exception
    assert "What do you see?" in page_text(at)
    assert at.radio(key=key).form_id == form_id
    assert at.radio(key=key).value == question.allowed_values[-1]
    assert [b.label for b in at.button] == ["Update my answers"]


def test_follow_shows_my_answers_beside_the_experts_after_the_reveal(
    meeting_ctx: AppContext,
) -> None:
    meeting_id = _live_meeting(meeting_ctx)
    chair, trainee = actor_named(meeting_ctx, "chair1"), actor_named(meeting_ctx, "trainee1")
    case = _case(meeting_ctx, meeting_id)
    at = run_page("follow_page", trainee)
    question = case.protocol.questions[0]
    at.radio(key=f"follow_{case.item_id}_{question.id}").set_value(question.allowed_values[0])
    _button(at, "Commit my answers").click().run()  # type: ignore[attr-defined]
    for _ in range(3):
        meetings.navigate(meeting_ctx, chair, meeting_id, Move.NEXT_STEP)
    at.run()
    assert not at.exception
    assert not at.radio
    text = page_text(at)
    assert "Your answers beside the expert's" in text and "You **" in text


def test_the_meetings_page_lists_meetings(meeting_ctx: AppContext) -> None:
    _live_meeting(meeting_ctx)
    at = run_page("meetings_page", actor_named(meeting_ctx, "expert1"))
    assert not at.exception
    assert at.dataframe[0].value["Status"].iloc[0] == "live"  # newest first
    assert "follow it" in str([p.proto for p in at.get("page_link")])


def test_the_timer_turns_red_once_the_case_runs_over() -> None:
    from qa_meeting.ui.widgets.presenter_live import timer_text

    assert timer_text(65.4, 6) == "**01:05 / 06:00**"
    assert timer_text(400, 6).startswith(":red[**06:40 / 06:00**]")
    assert "over by 00:40" in timer_text(400, 6)


def test_agreement_colours_follow_the_discordance_rules() -> None:
    from qa_meeting.ui.widgets.agreement import agreement, comparison_markdown, plain

    heart = PROTOCOLS["fusic_heart"]
    tamponade = heart.question("tamponade")  # management-changing
    assert agreement(tamponade, "yes", "yes").colour == "green"
    assert agreement(tamponade, "no", "yes").colour == "red"
    assert agreement(tamponade, "unable_to_assess", "yes").colour == "orange"
    assert agreement(tamponade, None, "yes").label == "Not answered"
    table = comparison_markdown(heart, "Trainee A", {"tamponade": "no"}, "Expert", {})
    assert "Not answered" in table and table.count("\n") == len(heart.questions) + 1
    assert plain("**x** <b>:red[y]</b> | z") == "\\*\\*x\\*\\* \\<b\\>\\:red\\[y\\]\\</b\\> \\| z"
