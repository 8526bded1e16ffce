"""What every use case needs: settings, the database engine and the media store.

The app builds one ``AppContext`` per process (cached in the UI layer); the CLI builds one per
command; tests build one over a temporary folder.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import Engine

from qa_meeting.settings import Settings, load_settings
from qa_meeting.store.db import make_engine
from qa_meeting.store.media import MediaStore


@dataclass(frozen=True)
class AppContext:
    settings: Settings
    engine: Engine
    media: MediaStore


@dataclass(frozen=True)
class Actor:
    """The signed-in user as the services see them."""

    user_id: int
    username: str
    role: str
    pseudonym: str


def build_context(settings: Settings | None = None) -> AppContext:
    """Open the database (creating the schema) and the media store named by the settings."""
    resolved = settings or load_settings()
    resolved.data_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(resolved.effective_database_url)
    return AppContext(settings=resolved, engine=engine, media=MediaStore(Path(resolved.media_dir)))
