"""Settings, declared once as data.

Each setting has a name, a default and a help text. Values come from the environment
(``QA_MEETING_<NAME>``) and, for the Streamlit app, from ``.streamlit/secrets.toml`` under a
``[qa_meeting]`` table; the environment wins. The README's settings table is generated from, and
checked against, ``SETTINGS`` by a test.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from qa_meeting.errors import ConfigurationError

ENV_PREFIX = "QA_MEETING_"


@dataclass(frozen=True)
class Setting:
    """One configurable value: its name (without the prefix), default and help text."""

    name: str
    default: str
    help: str

    @property
    def env_var(self) -> str:
        return ENV_PREFIX + self.name.upper()


SETTINGS: tuple[Setting, ...] = (
    Setting("data_dir", "./data", "Folder for the SQLite database and the media store."),
    Setting(
        "database_url",
        "",
        "SQLAlchemy URL of the database, e.g. postgresql+psycopg://user@host/db. "
        "Empty: a SQLite file qa_meeting.sqlite3 in the data folder.",
    ),
    Setting(
        "protocols_dir",
        "",
        "Extra folder of protocol TOML files, added to the built-in ones (same id replaces).",
    ),
    Setting("max_frames", "5000", "Files claiming more frames than this are refused at ingest."),
    Setting(
        "max_decoded_mb",
        "4096",
        "Files whose decoded pixels would exceed this many megabytes are refused at ingest.",
    ),
    Setting(
        "demo_password",
        "",
        "Password for the demo accounts created by `qa-meeting demo`. Empty: the documented "
        "demo password; set it on any shared server.",
    ),
    Setting("log_level", "INFO", "Python logging level for the app and the CLI."),
    Setting(
        "deid_secret",
        "",
        "Secret key for remapping UIDs and shifting dates in exports. Empty: a random key "
        "kept in deid-secret in the data folder (created on first export; keep it private).",
    ),
    Setting(
        "dicomweb_url",
        "",
        "Base URL of the DICOMweb server (PACS or image bank), e.g. "
        "http://orthanc:8042/dicom-web. Empty: DICOMweb push and pull are off.",
    ),
    Setting("dicomweb_username", "", "User name for the DICOMweb server (HTTP basic auth)."),
    Setting("dicomweb_password", "", "Password for the DICOMweb server (put it in secrets.toml)."),
    Setting(
        "timezone",
        "Europe/London",
        "The department's time zone (IANA name): the loop figures count days and months in it.",
    ),
    Setting(
        "cusum_acceptable_rate",
        "0.10",
        "Loop figures: the acceptable discordance rate p0 of the CUSUM learning curve (0-1).",
    ),
    Setting(
        "cusum_unacceptable_rate",
        "0.20",
        "Loop figures: the unacceptable discordance rate p1 of the CUSUM (above p0, below 1).",
    ),
    Setting(
        "cusum_alpha",
        "0.10",
        "Loop figures: the CUSUM's chance of a false signal at rate p0 (sets the limit h).",
    ),
    Setting(
        "cusum_beta",
        "0.10",
        "Loop figures: the CUSUM's chance of missing a true rate p1 (sets the limit h).",
    ),
)

_BY_NAME = {s.name: s for s in SETTINGS}


@dataclass(frozen=True)
class Settings:
    """Resolved settings."""

    data_dir: Path
    database_url: str
    protocols_dir: Path | None
    max_frames: int
    max_decoded_mb: int
    demo_password: str
    log_level: str
    deid_secret: str = ""
    dicomweb_url: str = ""
    dicomweb_username: str = ""
    dicomweb_password: str = ""
    timezone: str = "Europe/London"
    cusum_acceptable_rate: float = 0.10
    cusum_unacceptable_rate: float = 0.20
    cusum_alpha: float = 0.10
    cusum_beta: float = 0.10

    @property
    def media_dir(self) -> Path:
        return self.data_dir / "media"

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'qa_meeting.sqlite3').resolve()}"


def _secrets_values(secrets_path: Path | None) -> Mapping[str, object]:
    if secrets_path is None or not secrets_path.is_file():
        return {}
    try:
        data = tomllib.loads(secrets_path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigurationError(f"{secrets_path} is not valid TOML: {exc}.") from exc
    section = data.get("qa_meeting", {})
    return section if isinstance(section, Mapping) else {}


def _as_int(setting: Setting, raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise ConfigurationError(
            f"{setting.env_var} must be a whole number, not {raw!r}.",
            f"Set {setting.env_var} to a whole number (default {setting.default}).",
        ) from None
    if value <= 0:
        raise ConfigurationError(f"{setting.env_var} must be greater than zero, not {value}.")
    return value


def _as_probability(setting: Setting, raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0 < value < 1:
        raise ConfigurationError(
            f"{setting.env_var} must be a number between 0 and 1, not {raw!r}.",
            f"Set {setting.env_var} to a rate such as {setting.default}.",
        )
    return value


def _as_timezone(setting: Setting, raw: str) -> str:
    try:
        ZoneInfo(raw)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigurationError(
            f"{setting.env_var} must be a time zone name such as Europe/London, not {raw!r}.",
            f"Set {setting.env_var} to an IANA time zone name (default {setting.default}).",
        ) from None
    return raw


def _check_cusum_rates(acceptable: float, unacceptable: float) -> None:
    if not acceptable < unacceptable:
        raise ConfigurationError(
            f"QA_MEETING_CUSUM_ACCEPTABLE_RATE ({acceptable}) must be below "
            f"QA_MEETING_CUSUM_UNACCEPTABLE_RATE ({unacceptable}).",
            "Set the acceptable discordance rate below the unacceptable one, e.g. 0.10 and 0.20.",
        )


def load_settings(
    environ: Mapping[str, str] | None = None,
    secrets_path: Path | None = Path(".streamlit/secrets.toml"),
) -> Settings:
    """Resolve every setting from the environment, then secrets, then its default."""
    env = os.environ if environ is None else environ
    secrets = _secrets_values(secrets_path)

    def raw(name: str) -> str:
        setting = _BY_NAME[name]
        if setting.env_var in env:
            return env[setting.env_var]
        if name in secrets:
            return str(secrets[name])
        return setting.default

    protocols_dir = raw("protocols_dir")
    acceptable, unacceptable = (
        _as_probability(_BY_NAME[name], raw(name))
        for name in ("cusum_acceptable_rate", "cusum_unacceptable_rate")
    )
    _check_cusum_rates(acceptable, unacceptable)
    return Settings(
        data_dir=Path(raw("data_dir")).expanduser(),
        database_url=raw("database_url"),
        protocols_dir=Path(protocols_dir).expanduser() if protocols_dir else None,
        max_frames=_as_int(_BY_NAME["max_frames"], raw("max_frames")),
        max_decoded_mb=_as_int(_BY_NAME["max_decoded_mb"], raw("max_decoded_mb")),
        demo_password=raw("demo_password"),
        log_level=raw("log_level").upper(),
        deid_secret=raw("deid_secret"),
        dicomweb_url=raw("dicomweb_url").rstrip("/"),
        dicomweb_username=raw("dicomweb_username"),
        dicomweb_password=raw("dicomweb_password"),
        timezone=_as_timezone(_BY_NAME["timezone"], raw("timezone")),
        cusum_acceptable_rate=acceptable,
        cusum_unacceptable_rate=unacceptable,
        cusum_alpha=_as_probability(_BY_NAME["cusum_alpha"], raw("cusum_alpha")),
        cusum_beta=_as_probability(_BY_NAME["cusum_beta"], raw("cusum_beta")),
    )
