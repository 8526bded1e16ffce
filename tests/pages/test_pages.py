"""Every page, run headless with Streamlit's AppTest against a real database in a temp folder."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from qa_meeting.domain.reads import Confidence, StructuredRead
from qa_meeting.services import review
from qa_meeting.services.context import Actor, AppContext
from qa_meeting.services.protocols import load_protocols
from qa_meeting.store import repository
from qa_meeting.store.db import transaction
from qa_meeting.store.models import ReadKind, Study
from tests.conftest import add_actor, make_context

ROOT = Path(__file__).resolve().parents[2]
PROTOCOLS = load_protocols()
TIMEOUT = 30


@pytest.fixture
def page_ctx(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AppContext:
    """A context whose data folder the app's own settings point at."""
    data_dir = tmp_path / "data"
    monkeypatch.setenv("QA_MEETING_DATA_DIR", str(data_dir))
    monkeypatch.delenv("QA_MEETING_DATABASE_URL", raising=False)
    monkeypatch.chdir(ROOT)
    return make_context(data_dir)


def _page(module: str, actor: Actor, **state: object) -> AppTest:
    script = f"from qa_meeting.pages import {module}\n{module}.render()\n"
    at = AppTest.from_string(script, default_timeout=TIMEOUT)
    at.session_state["actor"] = actor
    for key, value in state.items():
        at.session_state[key] = value
    return at.run()


def _study(ctx: AppContext, operator: Actor, uid: str, protocol: str | None = None) -> int:
    with transaction(ctx.engine) as session:
        study = repository.add_study(
            session=session,
            study=Study(study_instance_uid=uid, operator_id=operator.user_id, protocol_id=protocol),
        )
        assert study.id is not None
        return study.id


def _all_text(at: AppTest) -> str:
    parts = [e.value for e in at.markdown] + [e.value for e in at.caption]
    parts += [e.value for e in at.text] + [e.value for e in at.info] + [e.value for e in at.error]
    parts += [str(m.label) + str(m.value) for m in at.metric]
    return "\n".join(str(p) for p in parts)


def test_sign_in_routes_to_home_and_a_wrong_password_is_refused(page_ctx: AppContext) -> None:
    add_actor(page_ctx, "expert1", "expert")
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT).run()
    assert not at.exception
    at.text_input[0].input("expert1")
    at.text_input[1].input("wrong password")
    at.button[0].click().run()
    assert "not right" in at.error[0].value
    at.text_input[1].input("correct-horse")
    at.button[0].click().run()
    assert not at.exception
    assert at.session_state["actor"].username == "expert1"
    assert at.title[0].value == "QA Meeting"
    assert any(m.label == "Awaiting an expert over-read" for m in at.metric)


def test_home_counts_what_is_waiting(page_ctx: AppContext) -> None:
    trainee = add_actor(page_ctx, "trainee1", "trainee")
    other = add_actor(page_ctx, "trainee2", "trainee")
    expert = add_actor(page_ctx, "expert1", "expert")
    _study(page_ctx, trainee, "1.1")
    _study(page_ctx, other, "1.2")
    at = _page("home_page", expert)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Scans in total"] == "2"
    assert metrics["Awaiting the trainee's read"] == "2"
    at = _page("home_page", trainee)
    assert {m.label: m.value for m in at.metric}["Scans in total"] == "1"


def test_inbox_lists_and_filters_scans_by_role(page_ctx: AppContext) -> None:
    trainee = add_actor(page_ctx, "trainee1", "trainee")
    other = add_actor(page_ctx, "trainee2", "trainee")
    expert = add_actor(page_ctx, "expert1", "expert")
    _study(page_ctx, trainee, "1.1", "efast")
    _study(page_ctx, other, "1.2", "fusic_heart")
    at = _page("inbox_page", expert)
    assert not at.exception
    table = at.dataframe[0].value
    assert len(table) == 2
    at.selectbox(key="inbox_protocol").select("efast").run()
    assert list(at.dataframe[0].value["Protocol"]) == ["eFAST"]
    at = _page("inbox_page", other)
    assert list(at.dataframe[0].value["Operator"]) == ["Trainee2"]
    assert not [s for s in at.selectbox if s.label == "Trainee"]


def test_review_saves_reads_and_shows_the_discordance(page_ctx: AppContext) -> None:
    trainee = add_actor(page_ctx, "trainee1", "trainee")
    expert = add_actor(page_ctx, "expert1", "expert")
    study_id = _study(page_ctx, trainee, "1.1", "fusic_heart")
    answers = {q.id: q.answers[1].value for q in PROTOCOLS["fusic_heart"].questions}
    review.save_read(
        page_ctx,
        trainee,
        study_id,
        ReadKind.TRAINEE,
        StructuredRead(
            "fusic_heart",
            answers,
            frozenset({"plax", "psax", "a4c", "sc4c"}),
            image_quality=4,
            confidence=Confidence.HIGH,
        ),
        PROTOCOLS,
    )
    at = _page("review_page", expert, selected_study_id=study_id)
    assert not at.exception
    # the expert fills in the over-read form: tamponade present (management-changing)
    at.radio(key="read_expert_q_pericardial_effusion").set_value("yes")
    at.radio(key="read_expert_q_tamponade").set_value("yes")
    for question in PROTOCOLS["fusic_heart"].questions:
        if question.id not in ("pericardial_effusion", "tamponade"):
            at.radio(key=f"read_expert_q_{question.id}").set_value(answers[question.id])
    at.multiselect(key="read_expert_views").set_value(["plax", "psax", "a4c", "sc4c"])
    at.selectbox(key="read_expert_quality").set_value(4)
    at.text_area(key="read_expert_reasoning").input(
        "<b>Diastolic RV collapse</b> on the SC4C view."
    )
    next(b for b in at.button if b.label == "Save the over-read").click().run()
    assert not at.exception
    assert "Discordant (major)" in _all_text(at)
    with transaction(page_ctx.engine) as session:
        study = repository.get_study(session=session, study_id=study_id)
    assert study is not None and study.discordance == "discordant_major"


def test_review_hides_another_trainees_scan(page_ctx: AppContext) -> None:
    trainee = add_actor(page_ctx, "trainee1", "trainee")
    other = add_actor(page_ctx, "trainee2", "trainee")
    _study(page_ctx, trainee, "1.1", "fusic_heart")
    theirs = _study(page_ctx, other, "1.2", "fusic_heart")
    at = _page("review_page", trainee, selected_study_id=theirs)
    assert not at.exception
    assert "was not found" not in _all_text(at)  # falls back to their own scan
    assert all(f"Scan {theirs} " not in option for option in at.selectbox[0].options)


def test_user_text_is_shown_as_text_not_html(page_ctx: AppContext) -> None:
    trainee = add_actor(page_ctx, "trainee1", "trainee")
    expert = add_actor(page_ctx, "expert1", "expert")
    study_id = _study(page_ctx, trainee, "1.1", "fusic_heart")
    review.save_read(
        page_ctx,
        trainee,
        study_id,
        ReadKind.TRAINEE,
        StructuredRead("fusic_heart", reasoning="<script>alert(1)</script>"),
        PROTOCOLS,
    )
    at = _page("review_page", expert, selected_study_id=study_id)
    assert not at.exception
    for markdown in at.markdown:
        assert "<script>" not in markdown.value
    assert any(t.value == "Reasoning: <script>alert(1)</script>" for t in at.text)
    at = _page("review_page", trainee, selected_study_id=study_id)
    assert any("<script>alert(1)</script>" in (t.value or "") for t in at.text_area)


def test_review_plays_the_loop_and_shows_its_timing(page_ctx: AppContext, tmp_path: Path) -> None:
    from qa_meeting.imaging.synthetic import CineSpec, write_cine
    from qa_meeting.services import ingest

    trainee = add_actor(page_ctx, "trainee1", "trainee")
    expert = add_actor(page_ctx, "expert1", "expert")
    spec = CineSpec(case_id="p1", scene="cardiac_plax", frames=20, frame_time_ms=25.0)
    [stored] = ingest.ingest_paths(page_ctx, [write_cine(spec, tmp_path / "p1.dcm")], actor=trainee)
    assert stored.study_id is not None
    at = _page("review_page", expert, selected_study_id=stored.study_id)
    assert not at.exception
    assert any("20 frames · 40.0 frames/s (FrameTime)" in c.value for c in at.caption)
    expander = next(e for e in at.expander if "Still frame" in e.label)
    assert expander.slider[0].max == 20


def test_reruns_never_decode_the_clip_again(
    page_ctx: AppContext, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from qa_meeting.imaging import frames
    from qa_meeting.imaging.synthetic import CineSpec, write_cine
    from qa_meeting.services import ingest

    trainee = add_actor(page_ctx, "trainee1", "trainee")
    expert = add_actor(page_ctx, "expert1", "expert")
    spec = CineSpec(case_id="p2", scene="ivc", frames=12)
    [stored] = ingest.ingest_paths(page_ctx, [write_cine(spec, tmp_path / "p2.dcm")], actor=trainee)
    at = _page("review_page", expert, selected_study_id=stored.study_id)
    assert not at.exception

    def no_decoding(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("a rerun decoded the clip again")

    monkeypatch.setattr(frames, "iter_rgb_frames", no_decoding)
    monkeypatch.setattr(frames, "read_frame", no_decoding)
    label_key = f"review_{stored.study_id}_annotator_1_label"
    at.text_input(key=label_key).input("Typing elsewhere on the page").run()
    at.run()
    assert not at.exception
