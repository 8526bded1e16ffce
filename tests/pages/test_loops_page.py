"""The loop figures page on the demo data, as a trainee, an expert and the chair (AppTest)."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from qa_meeting.services.context import AppContext
from qa_meeting.store import repository
from qa_meeting.store.db import transaction
from qa_meeting.ui.links import PAGES
from tests.conftest import actor_named, add_actor
from tests.pages.support import page_text, point_app_at, run_page


@pytest.fixture
def loops_ctx(demo_ctx: AppContext, monkeypatch: pytest.MonkeyPatch) -> AppContext:
    return point_app_at(demo_ctx, monkeypatch)


def _pseudonyms(ctx: AppContext) -> dict[str, str]:
    with transaction(ctx.engine) as session:
        return {u.username: u.pseudonym for u in repository.list_users(session=session)}


def _charts(at: AppTest) -> list[str]:
    return [str(chart.proto.spec) for chart in at.get("plotly_chart")]


def _everything(at: AppTest) -> str:
    return page_text(at) + "\n".join(_charts(at))


def test_the_page_is_registered_for_everyone_before_the_bank() -> None:
    paths = [spec.url_path for spec in PAGES]
    assert paths.index("loops") == paths.index("bank") - 1
    [spec] = [spec for spec in PAGES if spec.url_path == "loops"]
    assert (spec.title, spec.icon, spec.roles) == ("Loop figures", ":material/monitoring:", None)


def test_a_trainee_sees_the_department_and_only_their_own_curve(loops_ctx: AppContext) -> None:
    at = run_page("loops_page", actor_named(loops_ctx, "trainee1"))

    assert not at.exception and not at.error
    text = _everything(at)
    for heading in ("Share of scans over-read", "Days from scan to feedback", "Learning curves"):
        assert heading in text
    assert "**You**" in page_text(at)
    charts, downloads = _charts(at), at.get("download_button")
    assert len(charts) >= 8 and len(downloads) == len(charts)
    names = _pseudonyms(loops_ctx)
    for other in ("trainee2", "trainee3"):
        assert names[other] not in text
    assert names["trainee1"] not in text  # shown as "You"
    for display_name in ("Dr Alex Trainee", "Dr Priya Trainee", "trainee2"):
        assert display_name not in text


def test_the_chair_sees_every_trainees_curve_by_pseudonym(loops_ctx: AppContext) -> None:
    at = run_page("loops_page", actor_named(loops_ctx, "chair1"))

    assert not at.exception and not at.error
    text = page_text(at)
    names = _pseudonyms(loops_ctx)
    for trainee in ("trainee1", "trainee2", "trainee3"):
        assert f"**{names[trainee]}**" in text
    assert "Dr Alex Trainee" not in _everything(at)
    assert "Meetings held in the last 12 months" in text
    assert len(at.get("download_button")) == len(_charts(at))


def test_an_expert_is_told_the_curves_are_not_theirs(loops_ctx: AppContext) -> None:
    at = run_page("loops_page", actor_named(loops_ctx, "expert1"))

    assert not at.exception
    assert any("shown only to each trainee" in info.value for info in at.info)
    assert "**You**" not in page_text(at)


def test_a_period_with_no_data_shows_messages_not_errors(
    ctx: AppContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    point_app_at(ctx, monkeypatch)
    at = run_page("loops_page", add_actor(ctx, "carol", "chair"))

    assert not at.exception and not at.error
    assert "No scans in this period." in page_text(at)
    assert "No meeting held yet." in page_text(at)
    assert at.get("plotly_chart") == []
