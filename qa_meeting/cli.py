"""The ``qa-meeting`` command: the same services as the app, from a terminal.

Exit codes: 0 when the command did its work (for ``ingest``: every file got a status, stored or
rejected); 2 when the request was refused (bad input or configuration), with the reason on
stderr; 1 only on an internal failure.
"""

from __future__ import annotations

import json
import logging
import shutil
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict
from functools import wraps
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import click

from qa_meeting.domain.deid import MASK_HELP, parse_rect
from qa_meeting.errors import QaMeetingError, ValidationError
from qa_meeting.services import (
    agenda_proposal,
    bank,
    deidentify,
    demo,
    digest,
    export,
    ingest,
    media,
    meetings,
    scans,
    users,
)
from qa_meeting.services.context import Actor, AppContext, build_context
from qa_meeting.services.package import zip_package
from qa_meeting.services.protocols import load_protocols
from qa_meeting.settings import load_settings
from qa_meeting.store.models import ExportStatus, Role

P = ParamSpec("P")
R = TypeVar("R")

# The command line is run by a trusted operator on the server: staff visibility, no user row.
CLI_ACTOR = Actor(user_id=0, username="cli", role=Role.ADMIN.value, pseudonym="CLI")


def _refusals_exit_2(func: Callable[P, R]) -> Callable[P, R]:
    @wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except QaMeetingError as error:
            click.echo(f"error: {error.message}\nwhat to do: {error.remedy}", err=True)
            sys.exit(2)

    return wrapper


def _context() -> AppContext:
    settings = load_settings()
    logging.basicConfig(level=settings.log_level, format="%(levelname)s %(name)s: %(message)s")
    return build_context(settings)


def _emit_json(items: Sequence[dict[str, object]]) -> None:
    for item in items:
        click.echo(json.dumps(item, sort_keys=True, default=str))


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="qa-meeting")
def main() -> None:
    """QA Meeting: POCUS scans, over-reads and QA meetings from the command line."""


@main.command("demo")
@click.option("--if-empty", is_flag=True, help="Only load when the database has no scans yet.")
@_refusals_exit_2
def demo_command(if_empty: bool) -> None:
    """Load the demo cases and demo accounts (see README for the accounts)."""
    ctx = _context()
    report = demo.load_demo(ctx, only_if_empty=if_empty)
    click.echo(report.summary())
    built = media.build_missing_media(ctx)
    if built:
        click.echo(f"Prepared playable video for {built} loop(s).")


@main.command("ingest")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="One JSON object per file.")
@_refusals_exit_2
def ingest_command(paths: tuple[Path, ...], as_json: bool) -> None:
    """Store DICOM files, folders (recursively) and zip archives."""
    results = ingest.ingest_paths(_context(), list(paths), actor=None, source="folder")
    if as_json:
        _emit_json([r.to_json() for r in results])
        return
    for r in results:
        reason = f": {r.reason}" if r.reason else ""
        click.echo(f"{r.status.value:<15} {r.path}{reason}")
    stored = sum(1 for r in results if r.status.value == "stored")
    click.echo(f"{len(results)} files, {stored} stored")


@main.command("render")
@click.argument("file", type=click.Path(path_type=Path, exists=True, dir_okay=False))
@click.option("--out", "out_dir", required=True, type=click.Path(path_type=Path, file_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print the report as one JSON object.")
@_refusals_exit_2
def render_command(file: Path, out_dir: Path, as_json: bool) -> None:
    """Decode a DICOM cine and write its MP4 and thumbnail: check your scanner's files."""
    settings = load_settings()
    report = media.render_file(file, out_dir, max_decoded_bytes=settings.max_decoded_mb * 2**20)
    if as_json:
        click.echo(json.dumps(asdict(report), sort_keys=True))
        return
    click.echo(
        f"{report.frames} frame(s) at {report.frames_per_second} frames/s "
        f"({report.duration_s} s), {report.photometric}, {report.transfer_syntax}: "
        f"decoded in {report.decode_s} s, encoded in {report.encode_s} s\n"
        f"video: {report.video}\nthumbnail: {report.thumbnail}"
    )


@main.command("agenda")
@click.option("--minutes", required=True, type=click.IntRange(1, 600), help="The slot length.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per case.")
@_refusals_exit_2
def agenda_command(minutes: int, as_json: bool) -> None:
    """Propose the next meeting's agenda from the current queue."""
    ctx = _context()
    proposal = agenda_proposal.propose_agenda(
        ctx, CLI_ACTOR, minutes, load_protocols(ctx.settings.protocols_dir)
    )
    if as_json:
        _emit_json([case.to_json() for case in proposal.cases])
        return
    for case in proposal.cases:
        click.echo(
            f"{case.position:>2}. scan {case.study_id:<6} {case.planned_minutes:>2} min  "
            f"{case.trainee:<10} {case.protocol:<28} {case.reason}"
        )
    agenda = proposal.agenda
    click.echo(f"{agenda.planned_minutes} of {agenda.slot_minutes} minutes planned")
    for note in agenda.notes:
        click.echo(f"note: {note}")
    for study_id, why in agenda.left_out:
        click.echo(f"left out: scan {study_id}: {why}")


@main.group("meetings")
def meetings_group() -> None:
    """QA meetings held and planned."""


@meetings_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per meeting.")
@_refusals_exit_2
def meetings_list(as_json: bool) -> None:
    """Every meeting, newest first, with its cases and attendance."""
    rows = meetings.list_meetings(_context(), CLI_ACTOR)
    if as_json:
        _emit_json([row.to_json() for row in rows])
        return
    for m in rows:
        click.echo(
            f"{m.id:>4}  {m.held_on}  {m.status:<8} {m.cases} case(s), {m.presented} presented, "
            f"{m.deferred} deferred, {m.attendance} attended  chair {m.chair}"
        )


@main.command("digest")
@click.argument("meeting_id", type=int)
@click.option("--out", "out_dir", required=True, type=click.Path(path_type=Path, file_okay=False))
@_refusals_exit_2
def digest_command(meeting_id: int, out_dir: Path) -> None:
    """Write a closed meeting's de-identified teaching digest to the --out folder: digest.html
    (self-contained, for e-mail) and digest.pdf."""
    built = digest.meeting_digest(_context(), CLI_ACTOR, meeting_id)
    html_path, pdf_path = digest.write_digest(built, out_dir)
    click.echo(f"html: {html_path}\npdf: {pdf_path}")
    if built.redactions:
        click.echo(
            f"note: {built.redactions} passage(s) of free text looked like identifiers and were "
            "replaced by [removed]; correct the source text and run again if they were not."
        )


@main.group("scans")
def scans_group() -> None:
    """List stored scans."""


@scans_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per scan.")
@_refusals_exit_2
def scans_list(as_json: bool) -> None:
    """Every scan, newest first (no patient identifiers are printed)."""
    rows = scans.list_scans(_context(), CLI_ACTOR)
    if as_json:
        _emit_json([r.to_json() for r in rows])
        return
    for r in rows:
        click.echo(
            f"{r.study_id:>6}  {r.protocol_id or '-':<12} {r.status:<18} "
            f"{r.discordance or '-':<24} {r.clips} clip(s)  {r.operator}"
        )


@main.group("users")
def users_group() -> None:
    """Manage local accounts."""


@users_group.command("add")
@click.argument("username")
@click.option("--name", "display_name", required=True, help="The person's name.")
@click.option(
    "--role", required=True, type=click.Choice([r.value for r in Role]), help="What they may do."
)
@click.option("--email", default=None, help="E-mail, used to match OIDC sign-ins.")
@click.password_option(
    "--password", help="Local password (prompted for when omitted; at least 8 characters)."
)
@_refusals_exit_2
def users_add(
    username: str, display_name: str, role: str, email: str | None, password: str
) -> None:
    """Add a local account."""
    user = users.create_user(
        _context(),
        username=username,
        display_name=display_name,
        role=role,
        password=password,
        email=email,
    )
    click.echo(f"added {user.username} ({user.role}), pseudonym {user.pseudonym}")


@users_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per user.")
@_refusals_exit_2
def users_list(as_json: bool) -> None:
    """Every account (never the password hash)."""
    everyone = users.list_users(_context())
    if as_json:
        _emit_json([u.to_json() for u in everyone])
        return
    for u in everyone:
        click.echo(f"{u.username:<20} {u.role:<8} {u.pseudonym:<8} {u.display_name}")


@main.command("deidentify")
@click.argument("source", type=click.Path(path_type=Path, exists=True))
@click.argument("out_dir", type=click.Path(path_type=Path, file_okay=False))
@click.option("--mask", "masks", multiple=True, help=f"Keep only {MASK_HELP}; repeatable.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per file.")
@_refusals_exit_2
def deidentify_command(source: Path, out_dir: Path, masks: tuple[str, ...], as_json: bool) -> None:
    """De-identify DICOM loops (a file or a folder) for teaching, each with its contact sheet.

    Exit 2 when any file is blocked (e.g. a loop without regions needs --mask).
    """
    rects = [parse_rect(text) for text in masks]
    keep = [(r.x0, r.y0, r.x1, r.y1) for r in rects] or None
    results = deidentify.deidentify_paths(_context(), source, out_dir, mask=keep)
    if as_json:
        _emit_json([r.to_json() for r in results])
    for r in [] if as_json else results:
        if r.report is not None:
            done = f"{r.report.pixel_method.value}, {r.report.frames} frame(s)"
            click.echo(f"done     {r.source} -> {r.output} ({done}); {r.report.contact_sheet}")
        else:
            click.echo(f"blocked  {r.source}: {r.reason} What to do: {r.remedy}")
    blocked = sum(1 for r in results if r.status == "blocked")
    if blocked:
        click.echo(f"error: {blocked} of {len(results)} file(s) blocked.", err=True)
        sys.exit(2)


_EXPORT_DONE = (ExportStatus.AWAITING_CONFIRMATION.value, ExportStatus.PUBLISHED.value)


@main.command("export")
@click.option("--case", "study_id", type=int, help="The scan (study) id of an approved case.")
@click.option("--meeting", "meeting_id", type=int, help="Every case the meeting approved.")
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(path_type=Path, file_okay=False),
    help="Folder for the contact sheets (review/) and the zipped packages.",
)
@click.option("--confirm-reviewed", is_flag=True, help="I looked at every contact sheet: publish.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per case.")
@_refusals_exit_2
def export_command(
    study_id: int | None,
    meeting_id: int | None,
    out_dir: Path,
    confirm_reviewed: bool,
    as_json: bool,
) -> None:
    """Export cases approved for the image bank: first without --confirm-reviewed (writes the
    contact sheets to OUT/review/ to look at), then with it (publishes, zips into OUT)."""
    if (study_id is None) == (meeting_id is None):
        raise ValidationError("Give either --case or --meeting.")
    ctx = _context()
    if study_id is None:
        cases = export.approved_cases(ctx, CLI_ACTOR, meeting_id=meeting_id)
        study_ids = [case.study_id for case in cases]
        if not study_ids:
            raise ValidationError(f"Meeting {meeting_id} approved no case for the image bank.")
    else:
        study_ids = [study_id]
    outcomes = [_export_one(ctx, sid, meeting_id, out_dir, confirm_reviewed) for sid in study_ids]
    if as_json:
        _emit_json(outcomes)
    for o in [] if as_json else outcomes:
        click.echo(f"scan {o['study_id']}: {o['status'].replace('_', ' ')}: {o['message']}")
        for file in o["files"]:
            click.echo(f"  {file}")
    if any(o["status"] not in _EXPORT_DONE for o in outcomes):
        sys.exit(2)


def _export_one(
    ctx: AppContext, study_id: int, meeting_id: int | None, out_dir: Path, publish: bool
) -> dict[str, Any]:
    """Prepare one case (contact sheets copied to OUT/review/) or publish it (zip in OUT)."""
    files: list[str] = []
    view: export.ExportView | None = None
    try:
        if not publish:
            view = export.start_export(ctx, CLI_ACTOR, study_id, meeting_id=meeting_id)
            (out_dir / "review").mkdir(parents=True, exist_ok=True)
            for clip in view.clips:
                if clip.contact_sheet is not None:
                    copy = out_dir / "review" / f"scan-{study_id}-clip-{clip.number}.png"
                    files.append(str(shutil.copyfile(clip.contact_sheet, copy)))
        else:
            mine = [v for v in export.list_exports(ctx, CLI_ACTOR) if v.study_id == study_id]
            if not mine:
                raise ValidationError(
                    f"Scan {study_id} has no export to confirm.",
                    "Run the export without --confirm-reviewed and look at the contact sheets.",
                )
            view = mine[0]
            if view.status is ExportStatus.AWAITING_CONFIRMATION:
                view = export.confirm_and_publish(
                    ctx, CLI_ACTOR, view.id, looked_at_every_frame=True
                )
            if view.status is ExportStatus.PUBLISHED and view.package_path is not None:
                out_dir.mkdir(parents=True, exist_ok=True)
                archive = out_dir / f"{view.package_id}.zip"
                files.append(
                    str(archive if archive.exists() else zip_package(view.package_path, archive))
                )
    except QaMeetingError as error:
        status, message = "refused", f"{error.message} What to do: {error.remedy}"
    else:
        assert view is not None
        status, message = view.status.value, view.message
    export_id = view.id if view else None
    return {
        "study_id": study_id,
        "export_id": export_id,
        "status": status,
        "message": message,
        "files": files,
    }


@main.group("bank")
def bank_group() -> None:
    """The image bank of teaching cases."""


@bank_group.command("import")
@click.argument("package", type=click.Path(path_type=Path, exists=True))
@click.option("--source", default="imported", help="Where it came from (shown in the bank).")
@_refusals_exit_2
def bank_import(package: Path, source: str) -> None:
    """Add another site's teaching-case package (folder or .zip) to the bank, once checked."""
    summary = bank.import_bank_package(_context(), CLI_ACTOR, package, source=source)
    click.echo(
        f"added bank case {summary.id}: {summary.title} ({summary.clips} loop(s), "
        f"package {summary.package_id})"
    )
