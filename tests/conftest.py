"""Shared fixtures: an app context over a temporary folder, on SQLite and on PostgreSQL.

PostgreSQL tests run in a fresh schema each, on the server named by
QA_MEETING_TEST_POSTGRES_URL (default: the local server CI starts). When it does not answer they
fail under CI=true and are skipped elsewhere, with the reason shown.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from qa_meeting.cli import main
from qa_meeting.services.context import Actor, AppContext
from qa_meeting.services.users import actor_for, create_user
from qa_meeting.settings import Settings, load_settings
from qa_meeting.store.db import make_engine, transaction
from qa_meeting.store.media import MediaStore
from qa_meeting.store.repository import get_user_by_username

POSTGRES_URL = os.environ.get(
    "QA_MEETING_TEST_POSTGRES_URL", "postgresql+psycopg://root@127.0.0.1:5432/test"
)
IN_CI = os.environ.get("CI") == "true"


def _require_postgres() -> None:
    try:
        engine = create_engine(POSTGRES_URL, connect_args={"connect_timeout": 3})
        with engine.connect() as connection:
            connection.execute(text("select 1"))
        engine.dispose()
    except OperationalError as exc:
        message = f"PostgreSQL at {POSTGRES_URL} does not answer: {exc.orig}"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A URL whose connections live in a schema of their own, dropped afterwards."""
    _require_postgres()
    schema = f"qa_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_URL)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    separator = "&" if "?" in POSTGRES_URL else "?"
    yield f"{POSTGRES_URL}{separator}options=-csearch_path%3D{schema}"
    with admin.begin() as connection:
        connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'qa_meeting.sqlite3'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


def make_settings(data_dir: Path, database_url: str = "") -> Settings:
    return replace(
        load_settings(environ={}, secrets_path=None),
        data_dir=data_dir,
        database_url=database_url,
    )


def make_context(data_dir: Path, database_url: str = "") -> AppContext:
    settings = make_settings(data_dir, database_url)
    engine = make_engine(settings.effective_database_url)
    return AppContext(settings=settings, engine=engine, media=MediaStore(settings.media_dir))


@pytest.fixture
def ctx(tmp_path: Path) -> Iterator[AppContext]:
    """An app context on a SQLite file in a temporary folder."""
    context = make_context(tmp_path / "data")
    yield context
    context.engine.dispose()


@pytest.fixture
def any_ctx(tmp_path: Path, database_url: str) -> Iterator[AppContext]:
    """The same, once on SQLite and once on PostgreSQL."""
    context = make_context(tmp_path / "data", database_url)
    yield context
    context.engine.dispose()


def add_actor(ctx: AppContext, username: str, role: str) -> Actor:
    create_user(
        ctx, username=username, display_name=username.title(), role=role, password="correct-horse"
    )
    with transaction(ctx.engine) as session:
        user = get_user_by_username(session=session, username=username)
        assert user is not None
        return actor_for(user)


@pytest.fixture(scope="session")
def demo_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data folder with the demo loaded once per test session (copied by ``demo_ctx``)."""
    from qa_meeting.services.demo import load_demo

    folder = tmp_path_factory.mktemp("demo-template") / "data"
    context = make_context(folder)
    load_demo(context)
    context.engine.dispose()  # closes the SQLite connections, checkpointing the WAL
    return folder


@pytest.fixture
def demo_ctx(demo_template: Path, tmp_path: Path) -> Iterator[AppContext]:
    """An app context over a private copy of the demo data."""
    import shutil

    folder = tmp_path / "data"
    shutil.copytree(demo_template, folder)
    context = make_context(folder)
    yield context
    context.engine.dispose()


def actor_named(ctx: AppContext, username: str) -> Actor:
    with transaction(ctx.engine) as session:
        user = get_user_by_username(session=session, username=username)
        assert user is not None, username
        return actor_for(user)


Run = Callable[..., Result]


@pytest.fixture
def demo_cli(demo_template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Run:
    """``qa-meeting`` over a private copy of the demo data: ``demo_cli("digest", "1", ...)``."""
    shutil.copytree(demo_template, tmp_path / "data")
    monkeypatch.setenv("QA_MEETING_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("QA_MEETING_DATABASE_URL", raising=False)
    runner = CliRunner()

    def invoke(*args: str | Path) -> Result:
        return runner.invoke(main, [str(a) for a in args], catch_exceptions=False)

    return invoke
