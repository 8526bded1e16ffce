"""The image-bank pages (browse, self-test, coverage, import; export with the human check),
run with AppTest on a copy of the demo, whose past meeting approved two cases for the bank."""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from qa_meeting.domain.deid import Rect
from qa_meeting.services import bank, export
from qa_meeting.services.context import AppContext
from qa_meeting.services.package import zip_package
from qa_meeting.store import repository
from qa_meeting.store.db import transaction
from qa_meeting.store.models import ExportStatus, TeachingPoint
from qa_meeting.ui import links
from qa_meeting.ui.widgets.bank_widgets import coverage_grid
from qa_meeting.ui.widgets.mask_drawer import rect_from_drag
from tests.conftest import actor_named, make_context
from tests.pages.support import page_text, point_app_at, run_page

PLANTED = "Seen again in clinic on 12/03/2025, NHS 943 476 5919."


@pytest.fixture
def bank_ctx(demo_ctx: AppContext, monkeypatch: pytest.MonkeyPatch) -> AppContext:
    """The demo data, with the app's own settings pointing at it."""
    return point_app_at(demo_ctx, monkeypatch)


def _publish(ctx: AppContext, study_id: int) -> export.ExportView:
    chair = actor_named(ctx, "chair1")
    case = next(c for c in export.approved_cases(ctx, chair) if c.study_id == study_id)
    view = export.start_export(ctx, chair, study_id, meeting_id=case.meeting_id)
    assert view.status is ExportStatus.AWAITING_CONFIRMATION, view.message
    return export.confirm_and_publish(ctx, chair, view.id, looked_at_every_frame=True)


def _approved(ctx: AppContext) -> list[int]:
    return [c.study_id for c in export.approved_cases(ctx, actor_named(ctx, "chair1"))]


def _plant_identifier(ctx: AppContext, study_id: int) -> None:
    with transaction(ctx.engine) as session:
        repository.add_teaching_point(
            session=session,
            point=TeachingPoint(study_id=study_id, text=PLANTED, category="interpretation"),
        )


def _table(at: AppTest, column: str) -> list[object]:
    frame = next(d.value for d in at.dataframe if column in d.value.columns)
    return list(frame[column])


def test_the_bank_is_for_everyone_and_the_export_for_staff() -> None:
    def titles(role: str) -> list[str]:
        return [spec.title for spec in links.PAGES if spec.visible_to(role)]

    for role in ("trainee", "expert", "chair", "admin"):
        assert "Image bank" in titles(role)
    assert "Export to bank" not in titles("trainee")
    for role in ("expert", "chair", "admin"):
        assert "Export to bank" in titles(role)


def test_the_bank_lists_published_cases_and_filters_them(bank_ctx: AppContext) -> None:
    first, second = _approved(bank_ctx)
    _publish(bank_ctx, first)
    _publish(bank_ctx, second)
    actor = actor_named(bank_ctx, "expert1")
    at = run_page("bank_page", actor)
    assert not at.exception
    assert len(_table(at, "Title")) == 2
    finding = bank.list_bank(bank_ctx, actor)[0].findings[0]
    at.selectbox(key="bank_filter_finding").set_value(finding).run()
    assert not at.exception
    assert len(_table(at, "Title")) == 1
    at.selectbox(key="bank_filter_finding").set_value("").run()
    at.selectbox(key="bank_filter_protocol").set_value("efast").run()
    assert "No bank case matches" in page_text(at)
    at.selectbox(key="bank_filter_protocol").set_value("").run()
    at.text_input(key="bank_filter_text").input("no-such-word").run()
    assert "No bank case matches" in page_text(at)
    at.text_input(key="bank_filter_text").input("").run()
    qualities = [r.image_quality or 0 for r in bank.list_bank(bank_ctx, actor)]
    at.selectbox(key="bank_filter_quality").set_value(max(qualities)).run()
    assert not at.exception
    assert len(_table(at, "Title")) == qualities.count(max(qualities))


def test_the_case_view_shows_reasoning_aspage_text(bank_ctx: AppContext) -> None:
    view = _publish(bank_ctx, _approved(bank_ctx)[0])
    at = run_page("bank_page", actor_named(bank_ctx, "expert1"))
    assert not at.exception
    case = bank.list_bank(bank_ctx, actor_named(bank_ctx, "expert1"))[0]
    shown = bank.bank_case(bank_ctx, actor_named(bank_ctx, "expert1"), case.id)
    text = page_text(at)
    assert shown.expert_reasoning in [t.value for t in at.text]
    assert "Teaching points" in text and "Key frames" in text and "Indication:" in text
    assert len(at.get("iframe")) == 1  # the cine player
    assert view.package_id == case.package_id


def test_a_self_test_hides_the_expert_then_shows_the_score(bank_ctx: AppContext) -> None:
    _publish(bank_ctx, _approved(bank_ctx)[0])
    trainee = actor_named(bank_ctx, "trainee1")
    [case] = bank.list_bank(bank_ctx, trainee)
    shown = bank.bank_case(bank_ctx, trainee, case.id)
    at = run_page("bank_page", trainee)
    assert not at.exception
    assert at.toggle(key="bank_self_test").value is True
    before = page_text(at)
    assert case.title not in before and "The expert's read" not in before
    assert shown.expert_reasoning not in [t.value for t in at.text]
    scored = [q for q in shown.questions if q.expert_answer is not None]
    for question in scored[:-1]:  # the last one is left wrong on purpose
        at.selectbox(key=f"bank_test_{case.id}_{question.question_id}").set_value(
            question.expert_answer
        )
    last = scored[-1]
    wrong = next(v for v, _ in last.choices if v != last.expert_answer)
    at.selectbox(key=f"bank_test_{case.id}_{last.question_id}").set_value(wrong)
    next(b for b in at.button if b.label == "Check my answers").click().run()
    assert not at.exception
    text = page_text(at)
    assert f"Your score {len(scored) - 1} of {len(scored)}" in text
    assert "Agree" in text and ("Different" in text or "difference" in text)
    assert shown.expert_reasoning in [t.value for t in at.text]
    [attempt] = bank.my_attempts(bank_ctx, trainee)
    assert (attempt.correct, attempt.total) == (len(scored) - 1, len(scored))


def test_the_coverage_chart_shows_the_empty_cells(bank_ctx: AppContext) -> None:
    _publish(bank_ctx, _approved(bank_ctx)[0])
    at = run_page("bank_page", actor_named(bank_ctx, "trainee1"))
    assert not at.exception
    [chart] = at.get("plotly_chart")
    spec = chart.proto.spec
    assert '"type":"heatmap"' in spec.replace(" ", "") and "FUSIC Heart" in spec
    assert "cells have no case yet" in page_text(at)
    counts = bank.coverage(bank_ctx, actor_named(bank_ctx, "trainee1"))
    names, findings, grid = coverage_grid(counts, {})
    assert sum(n or 0 for row in grid for n in row) == sum(counts.values())
    assert names and findings


def test_importing_a_tampered_package_shows_the_clear_message(
    bank_ctx: AppContext, tmp_path: Path
) -> None:
    other = make_context(tmp_path / "other-site")
    shutil.copytree(bank_ctx.settings.data_dir, other.settings.data_dir, dirs_exist_ok=True)
    published = _publish(other, _approved(other)[0])
    assert published.package_path is not None
    good = zip_package(published.package_path, tmp_path / "good.zip")
    tampered = tmp_path / "tampered.zip"
    with zipfile.ZipFile(good) as source, zipfile.ZipFile(tampered, "w") as target:
        for item in source.infolist():
            data = source.read(item)
            if item.filename.endswith(".png"):
                data = data[:-1] + bytes([data[-1] ^ 0xFF])
            target.writestr(item, data)
    other.engine.dispose()
    chair = actor_named(bank_ctx, "chair1")
    at = run_page("bank_page", chair)
    assert not at.exception
    at.file_uploader[0].set_value(("case.zip", tampered.read_bytes(), "application/zip"))
    next(b for b in at.button if b.label == "Import the package").click().run()
    assert not at.exception
    assert at.error and "What to do" in at.error[0].value
    assert not bank.list_bank(bank_ctx, chair)
    at.file_uploader[0].set_value(("case.zip", good.read_bytes(), "application/zip"))
    next(b for b in at.button if b.label == "Import the package").click().run()
    assert not at.exception, at.exception
    [row] = bank.list_bank(bank_ctx, chair)
    assert row.package_id == published.package_id
    assert "Imported as bank case" in page_text(at)


def test_only_a_chair_or_admin_sees_the_import(bank_ctx: AppContext) -> None:
    at = run_page("bank_page", actor_named(bank_ctx, "expert1"))
    assert not at.file_uploader
    assert [t.label for t in at.tabs] == ["Cases", "Coverage"]


def test_prepare_shows_contact_sheets_and_publish_needs_the_checkbox(
    bank_ctx: AppContext,
) -> None:
    study = _approved(bank_ctx)[0]
    chair = actor_named(bank_ctx, "chair1")
    at = run_page("export_page", chair)
    assert not at.exception
    assert "Not prepared" in _table(at, "Export")
    at.selectbox(key="export_study").set_value(study).run()
    at.button(key=f"export_prepare_{study}").click().run()
    assert not at.exception
    [case] = [c for c in export.approved_cases(bank_ctx, chair) if c.study_id == study]
    assert case.export_status is ExportStatus.AWAITING_CONFIRMATION and case.export_id
    assert "Look at every frame before it leaves" in page_text(at)
    assert len(at.image) >= 1  # a contact sheet per loop
    publish = at.button(key=f"export_publish_{case.export_id}")
    assert publish.proto.disabled
    at.checkbox(key=f"export_confirm_{case.export_id}").check().run()
    at.button(key=f"export_publish_{case.export_id}").click().run()
    assert not at.exception
    view = export.export_view(bank_ctx, chair, case.export_id)
    assert view.status is ExportStatus.PUBLISHED
    assert f"Package: {view.package_id}" in page_text(at)
    at.button(key=f"export_push_{case.export_id}").click().run()
    assert not at.exception
    assert at.error and "What to do" in at.error[0].value  # no DICOMweb server configured


def test_a_planted_identifier_blocks_and_only_the_chair_may_override(
    bank_ctx: AppContext,
) -> None:
    study = _approved(bank_ctx)[0]
    _plant_identifier(bank_ctx, study)
    chair = actor_named(bank_ctx, "chair1")
    at = run_page("export_page", chair)
    at.selectbox(key="export_study").set_value(study).run()
    at.button(key=f"export_prepare_{study}").click().run()
    assert not at.exception
    [case] = [c for c in export.approved_cases(bank_ctx, chair) if c.study_id == study]
    assert case.export_status is ExportStatus.BLOCKED and case.export_id
    kinds = _table(at, "Kind")
    assert "date" in kinds and "nhs number" in kinds
    excerpts = " ".join(str(e) for e in _table(at, "Excerpt (identifier hidden)"))
    assert "943 476 5919" not in excerpts and "12/03/2025" not in excerpts
    assert any(str(w).startswith("teaching point") for w in _table(at, "Where"))
    assert [t for t in at.text_area if "override" in t.label.lower()]
    expert = run_page("export_page", actor_named(bank_ctx, "expert1"))
    expert.selectbox(key="export_study").set_value(study).run()
    assert not expert.exception
    assert "nhs number" in _table(expert, "Kind")
    assert not [t for t in expert.text_area if "override" in t.label.lower()]
    assert not [b for b in expert.button if b.key and b.key.startswith("export_prepare")]
    at.text_area[0].input("A fictional example date and number written by the chair")
    next(b for b in at.button if b.label == "Override the warnings").click().run()
    assert not at.exception
    view = export.export_view(bank_ctx, chair, case.export_id)
    assert view.text_override and view.status is ExportStatus.AWAITING_CONFIRMATION


def test_a_trainee_sees_no_export_actions(bank_ctx: AppContext) -> None:
    at = run_page("export_page", actor_named(bank_ctx, "trainee1"))
    assert not at.exception
    assert "for experts and the chair" in page_text(at)
    assert not at.button and not at.selectbox and not at.dataframe


def test_a_loop_without_regions_waits_for_the_keep_rectangle(
    bank_ctx: AppContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    study = _approved(bank_ctx)[0]
    chair = actor_named(bank_ctx, "chair1")
    case = next(c for c in export.approved_cases(bank_ctx, chair) if c.study_id == study)
    prepared = export.start_export(bank_ctx, chair, study, meeting_id=case.meeting_id)
    [clip] = prepared.clips
    needs = export.ClipState(
        clip.clip_id, "needs_mask", "", None, None, 1, None, clip.rows, clip.columns, clip.frames
    )
    blocked = export.ExportView(
        **{**prepared.__dict__, "status": ExportStatus.BLOCKED, "clips": (needs,)}
    )
    monkeypatch.setattr(export, "export_view", lambda *_args: blocked)
    saved: list[Rect] = []

    def set_mask(_ctx: object, _actor: object, _export: int, _clip: int, rect: Rect) -> object:
        saved.append(rect)
        return blocked

    monkeypatch.setattr(export, "set_mask", set_mask)
    at = run_page("export_page", actor_named(bank_ctx, "expert1"))
    at.selectbox(key="export_study").set_value(study).run()
    assert not at.exception
    assert "draw the keep-rectangle" in page_text(at)
    key = f"export_mask_{prepared.id}_{clip.clip_id}"
    assert at.button(key=f"{key}_save").proto.disabled
    at.session_state[f"{key}_pending"] = Rect(10, 20, 300, 250)
    at.run()
    at.button(key=f"{key}_save").click().run()
    assert not at.exception
    assert saved == [Rect(10, 20, 300, 250)]


@pytest.mark.parametrize(
    ("points", "expected"),
    [
        ([(10.4, 20.6), (100.2, 80.0)], Rect(10, 21, 100, 80)),
        ([(100.0, 80.0), (10.0, 20.0)], Rect(10, 20, 100, 80)),  # dragged up and left
        ([(-5.0, -5.0), (500.0, 400.0)], Rect(0, 0, 351, 263)),  # cut to the frame
        ([(10.0, 10.0), (10.0, 50.0)], None),  # no width
        ([], None),
    ],
)
def test_a_drag_becomes_a_keep_rectangle(
    points: list[tuple[float, float]], expected: Rect | None
) -> None:
    assert rect_from_drag(points, rows=264, columns=352) == expected
