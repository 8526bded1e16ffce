"""The one engine factory and the one transaction helper.

SQLite (the default) runs in WAL mode with a busy timeout so the app and the CLI can share the
file; PostgreSQL is chosen by ``QA_MEETING_DATABASE_URL``. No engine is built at import time.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event, inspect
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import StaticPool
from sqlmodel import Session, SQLModel, create_engine

from qa_meeting.errors import ConfigurationError
from qa_meeting.store import models  # noqa: F401  (registers the tables)

SQLITE_BUSY_TIMEOUT_MS = 10_000


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def make_engine(url: str) -> Engine:
    """Build an engine for ``url`` and make sure the schema exists."""
    if url.startswith("sqlite"):
        in_memory = url in ("sqlite://", "sqlite:///:memory:")
        if not in_memory:
            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
            poolclass=StaticPool if in_memory else None,
        )
        event.listen(engine, "connect", _sqlite_pragmas)
    elif url.startswith("postgresql"):
        engine = create_engine(
            url,
            pool_pre_ping=True,
            pool_size=5,
            max_overflow=5,
            connect_args={"options": _postgres_options(url)},
        )
    else:
        raise ConfigurationError(
            f"The database URL must start with sqlite or postgresql, not {url.split(':')[0]!r}.",
            "Set QA_MEETING_DATABASE_URL to e.g. postgresql+psycopg://user@host/db.",
        )
    try:
        SQLModel.metadata.create_all(engine)
    except OperationalError as exc:
        raise ConfigurationError(
            f"The database cannot be reached: {exc.orig}.",
            "Check QA_MEETING_DATABASE_URL and that the database server is running.",
        ) from exc
    _check_schema(engine)
    return engine


def _postgres_options(url: str) -> str:
    """The URL's own ``options`` plus a pinned date style and time zone: dates and times read
    as text (the loop figures do, for speed) are ISO and UTC whatever the server's defaults."""
    own = make_url(url).query.get("options", "")
    own_text = own if isinstance(own, str) else " ".join(own)
    return f"{own_text} -c DateStyle=ISO,YMD -c TimeZone=UTC".strip()


def _check_schema(engine: Engine) -> None:
    """Refuse, with a clear message, a database made by an older version of the app.

    Until the first release ships with migrations, a changed table is not altered in place.
    """
    inspector = inspect(engine)
    for table in SQLModel.metadata.sorted_tables:
        present = {column["name"] for column in inspector.get_columns(table.name)}
        missing = sorted(column.name for column in table.columns if column.name not in present)
        if missing:
            raise ConfigurationError(
                f"The database was made by an older version of QA Meeting: table {table.name} "
                f"lacks {', '.join(missing)}.",
                "Back up the data folder, then start with an empty database (delete "
                "qa_meeting.sqlite3, or point QA_MEETING_DATABASE_URL at a new database) and "
                "ingest the scans again. Releases will migrate in place.",
            )


@contextmanager
def transaction(engine: Engine) -> Iterator[Session]:
    """A session whose work is committed on success and rolled back on any error."""
    with Session(engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
