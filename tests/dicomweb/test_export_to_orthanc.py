"""The image-bank issue's whole path against a real Orthanc: a case approved in the demo meeting
is exported (cleaned frames confirmed), pushed by STOW-RS, found there by QIDO-RS, and a trainee
finds it in the bank and tests themselves on it."""

from __future__ import annotations

from dataclasses import replace

from qa_meeting.services import bank, export
from qa_meeting.services.context import AppContext
from qa_meeting.services.dicomweb import PushStatus, find_studies
from qa_meeting.store.models import ExportStatus
from tests.conftest import actor_named
from tests.dicomweb.conftest import OrthancServer


def test_a_presented_case_reaches_orthanc_and_the_bank(
    orthanc: OrthancServer, demo_ctx: AppContext
) -> None:
    ctx = replace(
        demo_ctx,
        settings=replace(
            demo_ctx.settings,
            dicomweb_url=orthanc.dicomweb_url,
            dicomweb_username=orthanc.username,
            dicomweb_password=orthanc.password,
        ),
    )
    chair = actor_named(ctx, "chair1")
    case = export.approved_cases(ctx, chair)[0]
    view = export.start_export(ctx, chair, case.study_id, meeting_id=case.meeting_id)
    assert view.status is ExportStatus.AWAITING_CONFIRMATION
    assert all(c.contact_sheet is not None and c.contact_sheet.is_file() for c in view.clips)
    published = export.confirm_and_publish(ctx, chair, view.id, looked_at_every_frame=True)
    assert published.status is ExportStatus.PUBLISHED

    report = export.push_export(ctx, chair, view.id)
    assert report.instances and all(
        p.status in (PushStatus.ACCEPTED, PushStatus.ALREADY_PRESENT) for p in report.instances
    )
    remote = find_studies(ctx, date_from=None, date_to=None)
    assert remote, "the pushed study is found on the server"
    again = export.push_export(ctx, chair, view.id)  # retrying is safe
    assert all(p.status is PushStatus.ALREADY_PRESENT for p in again.instances)

    trainee = actor_named(ctx, "trainee1")
    [row] = [r for r in bank.list_bank(ctx, trainee) if r.package_id == published.package_id]
    shown = bank.bank_case(ctx, trainee, row.id)
    answers = {q.question_id: q.expert_answer for q in shown.questions if q.expert_answer}
    score = bank.submit_self_test(ctx, trainee, row.id, answers)
    assert score.correct == score.total == len(answers) > 0
