"""The ``qa-meeting`` command: the same services as the app, from a terminal.

Exit codes: 0 when the command did its work (for ``ingest``: every file got a status, stored or
rejected); 2 when the request was refused (bad input or configuration), with the reason on
stderr; 1 only on an internal failure.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict
from functools import wraps
from pathlib import Path
from typing import ParamSpec, TypeVar

import click

from qa_meeting.errors import QaMeetingError
from qa_meeting.services import agenda_proposal, demo, ingest, media, meetings, scans, users
from qa_meeting.services.context import Actor, AppContext, build_context
from qa_meeting.services.protocols import load_protocols
from qa_meeting.settings import load_settings
from qa_meeting.store.models import Role

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
