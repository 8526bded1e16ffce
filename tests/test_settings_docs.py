"""Every setting declared in code is in the README's settings table, and nothing else is."""

from __future__ import annotations

import re
from pathlib import Path

from qa_meeting.settings import SETTINGS, load_settings

README = Path(__file__).resolve().parents[1] / "README.md"
ROW = re.compile(
    r"^\|\s*`(QA_MEETING_[A-Z_]+)`\s*\|\s*(?:`([^`]+)`|\*\(empty\)\*)\s*\|\s*(.+?)\s*\|\s*$"
)


def _documented() -> dict[str, tuple[str, str]]:
    text = README.read_text(encoding="utf-8")
    table = text.split("<!-- settings:start -->")[1].split("<!-- settings:end -->")[0]
    rows = {}
    for line in table.splitlines():
        match = ROW.match(line)
        if match:
            rows[match.group(1)] = (match.group(2) or "", match.group(3))
    return rows


def test_readme_lists_every_setting_with_its_default_and_help() -> None:
    documented = _documented()
    declared = {s.env_var: (s.default, s.help) for s in SETTINGS}
    assert set(documented) == set(declared)
    for name, (default, help_text) in declared.items():
        assert documented[name][0] == default, name
        assert documented[name][1] == help_text, name


def test_environment_overrides_defaults(tmp_path: Path) -> None:
    settings = load_settings(
        environ={"QA_MEETING_DATA_DIR": str(tmp_path), "QA_MEETING_MAX_FRAMES": "12"},
        secrets_path=None,
    )
    assert settings.data_dir == tmp_path
    assert settings.max_frames == 12
    assert settings.effective_database_url.endswith("qa_meeting.sqlite3")


def test_secrets_file_is_read_and_environment_wins(tmp_path: Path) -> None:
    secrets = tmp_path / "secrets.toml"
    secrets.write_text('[qa_meeting]\nmax_frames = 99\nlog_level = "debug"\n', encoding="utf-8")
    settings = load_settings(environ={"QA_MEETING_MAX_FRAMES": "7"}, secrets_path=secrets)
    assert settings.max_frames == 7
    assert settings.log_level == "DEBUG"


def test_a_bad_number_names_the_variable() -> None:
    import pytest

    from qa_meeting.errors import ConfigurationError

    with pytest.raises(ConfigurationError, match="QA_MEETING_MAX_FRAMES"):
        load_settings(environ={"QA_MEETING_MAX_FRAMES": "many"}, secrets_path=None)
