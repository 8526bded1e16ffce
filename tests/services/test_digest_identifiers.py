"""Identifiers planted in every free text of a presented case never reach the digest: not the
HTML, not the PDF's text, not the PDF's bytes; the key frames are shown with the banner blanked."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from qa_meeting.imaging.synthetic import BANNER_ROWS, CineSpec, build_dataset
from qa_meeting.services import digest
from qa_meeting.services.context import AppContext
from qa_meeting.services.digest_html import render_html
from qa_meeting.services.digest_pdf import render_pdf
from qa_meeting.services.ingest import ingest_paths
from qa_meeting.services.users import actor_for
from qa_meeting.store import repository
from qa_meeting.store.db import transaction
from qa_meeting.store.models import Annotation, TeachingPoint
from tests.conftest import actor_named
from tests.services.test_digest import DEMO_MEETING, pdf_text

CASE = "fusic_massive_pe_good_spot"  # presented at the demo meeting, operated by trainee2
PATIENT = "HAWTHORNE^QUENTIN"
OPERATOR_NAME, EXPERT_NAME = "Dr Wilhelmina Okonkwo-Bright", "Dr Bartholomew Quince"
NHS, MRN, PHONE = "943 476 5919", "HX7654321", "07700 900123"
EMAIL, DATE = "q.hawthorne@example.org", "03/04/2025"
IDENTIFIERS = (
    f"Mrs Quentin Hawthorne, NHS {NHS}, MRN {MRN}, phone {PHONE}, {EMAIL}, seen {DATE} "
    f"by {OPERATOR_NAME} and {EXPERT_NAME}"
)
NEEDLES = (
    "Hawthorne", "Quentin", PATIENT, NHS, NHS.replace(" ", ""), MRN, PHONE, EMAIL, DATE,
    "Wilhelmina", "Okonkwo-Bright", "Okonkwo", "Bartholomew", "Quince", "12 March 2025",
)  # fmt: skip


def _plant(ctx: AppContext, folder: Path) -> tuple[int, list[str]]:
    """Identifiers in every free text of the case, and a loop of a named patient; the study id
    and the operator's username and pseudonym."""
    with transaction(ctx.engine) as session:
        study = repository.get_study_by_demo_case(session=session, demo_case=CASE)
        assert study is not None and study.id is not None and study.operator_id is not None
        study.indication = f"{study.indication} {IDENTIFIERS}"
        repository.save_study(session=session, study=study)
        expert = repository.get_read(session=session, study_id=study.id, kind="expert")
        assert expert is not None
        expert.reasoning += f"\n\nDiscussed with {EXPERT_NAME} on {DATE}; {PATIENT} recovered."
        repository.save_read(session=session, read=expert)
        operator = repository.get_user(session=session, user_id=study.operator_id)
        reader = repository.get_user(session=session, user_id=expert.reader_id)
        assert operator is not None and reader is not None
        operator.display_name, reader.display_name = OPERATOR_NAME, EXPERT_NAME
        session.add_all([operator, reader])
        uid, study_id, secrets = study.study_instance_uid, study.id, [operator.username]
        secrets.append(operator.pseudonym)
    spec = CineSpec(
        case_id="digest-marker", scene="cardiac_psax", frames=8, patient_name=PATIENT,
        patient_id=MRN, operator_name="OKONKWO-BRIGHT^WILHELMINA",
    )  # fmt: skip
    dataset = build_dataset(spec)
    dataset.StudyInstanceUID = uid
    path = folder / "marker.dcm"
    dataset.save_as(path, enforce_file_format=True)
    [result] = ingest_paths(ctx, [path], actor=None)
    assert result.status.value == "stored" and result.study_id == study_id, result.reason
    with transaction(ctx.engine) as session:
        clip_id = max(c.id or 0 for c in repository.list_clips(session=session, study_id=study_id))
        note = repository.add_annotation(
            session=session,
            annotation=Annotation(
                clip_id=clip_id, frame_index=3, kind="arrow", points=[[10, 40], [60, 90]],
                label=f"Quentin's effusion, NHS {NHS}",
            ),
        )  # fmt: skip
        repository.add_teaching_point(
            session=session,
            point=TeachingPoint(
                study_id=study_id, meeting_id=DEMO_MEETING, annotation_id=note.id,
                text=f"Hawthorne (MRN {MRN}) was told by Dr Quince on 12 March 2025.",
                category="knowledge", tags=["hawthorne", "okonkwo-bright", PHONE],
            ),
        )  # fmt: skip
    return study_id, secrets


@pytest.fixture
def planted(demo_ctx: AppContext, tmp_path: Path) -> tuple[AppContext, list[str]]:
    _, secrets = _plant(demo_ctx, tmp_path)
    return demo_ctx, secrets


def test_planted_identifiers_never_reach_the_digest(
    planted: tuple[AppContext, list[str]], tmp_path: Path
) -> None:
    ctx, secrets = planted
    built = digest.meeting_digest(ctx, actor_named(ctx, "trainee1"), DEMO_MEETING)
    html_path, pdf_path = digest.write_digest(built, tmp_path / "digest")
    page = html_path.read_text(encoding="utf-8").lower()
    data = pdf_path.read_bytes()
    text, raw = pdf_text(data).lower(), data.lower()
    assert built.redactions >= 12 and "[removed]" in page and "[removed]" in text
    assert f"{built.redactions} passage(s)" in page
    for needle in (*NEEDLES, *secrets):
        low = needle.lower()
        assert low not in page, needle
        assert low not in text, needle
        for encoded in (low.encode("latin-1"), low.encode("utf-16-be")):
            assert encoded not in raw, needle

    [case] = [c for c in built.cases if c.good_spot]
    assert case.question.endswith("by [removed] and [removed]")
    assert [p.tags for p in case.points][-1] == ("[removed]", "[removed]", "[removed]")
    first, second = case.frames
    assert first.caption == "Loop 1, frame 20"
    assert second.caption == "Loop 2, frame 3: [removed]'s effusion, NHS [removed]"
    picture = np.asarray(Image.open(io.BytesIO(second.jpeg)).convert("L"))
    assert picture[: BANNER_ROWS - 2].mean() < 8  # the burned-in banner is blanked
    assert picture[BANNER_ROWS + 10 :].mean() > 8  # the image itself is there


def test_the_trainees_own_digest_is_cleaned_too(planted: tuple[AppContext, list[str]]) -> None:
    ctx, secrets = planted
    with transaction(ctx.engine) as session:
        study = repository.get_study_by_demo_case(session=session, demo_case=CASE)
        assert study is not None and study.operator_id is not None
        operator = repository.get_user(session=session, user_id=study.operator_id)
        assert operator is not None
    mine = digest.personal_digest(ctx, actor_for(operator))
    page, text = render_html(mine).lower(), pdf_text(render_pdf(mine)).lower()
    assert mine.redactions > 0 and any(c.good_spot for c in mine.cases)
    for needle in (*NEEDLES, *secrets):
        assert needle.lower() not in page and needle.lower() not in text, needle


def test_a_loop_that_needs_a_mask_is_left_out_with_a_note(
    demo_ctx: AppContext, tmp_path: Path
) -> None:
    with transaction(demo_ctx.engine) as session:
        study = repository.get_study_by_demo_case(session=session, demo_case=CASE)
        assert study is not None and study.id is not None
        uid, study_id = study.study_instance_uid, study.id
    spec = CineSpec(
        case_id="digest-no-regions", scene="cardiac_a4c", rows=200, columns=240, frames=6,
        patient_name=PATIENT, manufacturer="ACME Medical", model_name="Sonic 9",
    )  # fmt: skip
    dataset = build_dataset(spec)
    dataset.StudyInstanceUID = uid
    del dataset.SequenceOfUltrasoundRegions
    path = tmp_path / "no-regions.dcm"
    dataset.save_as(path, enforce_file_format=True)
    [result] = ingest_paths(demo_ctx, [path], actor=None)
    assert result.status.value == "stored", result.reason
    with transaction(demo_ctx.engine) as session:
        clip_id = max(c.id or 0 for c in repository.list_clips(session=session, study_id=study_id))
        note = repository.add_annotation(
            session=session,
            annotation=Annotation(clip_id=clip_id, frame_index=2, kind="arrow", label="apex"),
        )
        repository.add_teaching_point(
            session=session,
            point=TeachingPoint(
                study_id=study_id, meeting_id=DEMO_MEETING, annotation_id=note.id,
                text="Look at the apex.", category="acquisition",
            ),
        )  # fmt: skip
    built = digest.meeting_digest(demo_ctx, actor_named(demo_ctx, "trainee1"), DEMO_MEETING)
    [case] = [c for c in built.cases if c.good_spot]
    shown, left_out = case.frames
    assert shown.shown and not left_out.shown and left_out.caption == "Loop 2, frame 2: apex"
    assert "no ultrasound region information" in left_out.note
    page = render_html(built)
    assert page.count('<img src="data:image/jpeg') == 3 and left_out.note in page
    assert "Sonic" not in page and "hawthorne" not in page.lower()
