"""Protocols: the shipped files load, broken ones are refused naming file and field."""

from __future__ import annotations

import copy
from collections.abc import Callable
from importlib.resources import files
from pathlib import Path
from typing import Any

import pytest

from qa_meeting.domain.protocols import Polarity, Protocol, parse_protocol
from qa_meeting.errors import ProtocolError
from qa_meeting.services.protocols import load_protocols

SHIPPED = sorted(
    entry.name
    for entry in (files("qa_meeting") / "protocols").iterdir()
    if entry.name.endswith(".toml")
)
EXPECTED_QUESTIONS = {
    "fusic_heart": [
        "lv_dilated",
        "lv_impaired",
        "rv_dilated",
        "rv_impaired",
        "low_preload",
        "pericardial_effusion",
        "tamponade",
        "pleural_effusion",
    ],
    "efast": ["peritoneal_free_fluid", "pericardial_effusion", "haemothorax", "pneumothorax"],
    "lung_blue": [
        "lung_sliding_abolished",
        "a_lines",
        "b_lines",
        "anterior_consolidation",
        "plaps",
        "lung_point",
        "profile",
    ],
    "dvt": [
        "right_cfv_compression",
        "right_popliteal_compression",
        "left_cfv_compression",
        "left_popliteal_compression",
    ],
    "rush": [
        "pericardial_effusion",
        "tamponade",
        "lv_contractility",
        "rv_dilated",
        "ivc",
        "peritoneal_free_fluid",
        "pleural_effusion",
        "pneumothorax",
        "b_lines",
        "aortic_aneurysm",
        "aortic_flap",
        "dvt",
    ],
}


def valid_mapping() -> dict[str, Any]:
    """A small protocol that parses; each broken case below changes one thing."""
    yes_no = [
        {"value": "yes", "label": "Yes", "polarity": "positive"},
        {"value": "no", "label": "No", "polarity": "negative"},
        {"value": "unable_to_assess", "label": "Unable to assess", "polarity": "indeterminate"},
    ]
    return {
        "id": "local_heart",
        "name": "Local heart",
        "version": "2",
        "description": "A department's own protocol.",
        "source": "Local guideline, 2025.",
        "views": [
            {"id": "plax", "label": "PLAX", "core": True},
            {"id": "a4c", "label": "A4C", "core": True},
            {"id": "ivc", "label": "IVC"},
        ],
        "questions": [
            {
                "id": "effusion",
                "text": "Pericardial effusion?",
                "management_changing": True,
                "views": ["plax", "a4c"],
                "answers": copy.deepcopy(yes_no),
            },
            {
                "id": "lv_impaired",
                "text": "LV impaired?",
                "management_changing": False,
                "answers": copy.deepcopy(yes_no),
            },
        ],
    }


def test_the_valid_mapping_parses() -> None:
    protocol = parse_protocol(valid_mapping(), "local.toml")
    assert protocol.id == "local_heart"
    assert [v.id for v in protocol.core_views] == ["plax", "a4c"]
    assert protocol.view("ivc").core is False
    assert protocol.management_changing_ids == frozenset({"effusion"})
    assert protocol.question("lv_impaired").views == ()
    assert protocol.question("effusion").answer("yes").polarity is Polarity.POSITIVE


def test_an_integer_version_is_read_as_text() -> None:
    data = valid_mapping()
    data["version"] = 3
    assert parse_protocol(data, "local.toml").version == "3"


def _set(path: str, value: object) -> Callable[[dict[str, Any]], None]:
    """Return a change that sets (or, for ``...``, deletes) the item at a dotted path."""

    def change(data: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        target: Any = data
        for part in parents:
            target = target[int(part)] if part.isdigit() else target[part]
        key: Any = int(last) if last.isdigit() else last
        if value is ...:
            del target[key]
        else:
            target[key] = value

    return change


BROKEN: list[tuple[str, Callable[[dict[str, Any]], None], str]] = [
    ("missing id", _set("id", ...), "id is missing"),
    ("id not a slug", _set("id", "Local Heart"), "id must be a slug"),
    ("name not text", _set("name", 42), "name must be a string, not a number (42)"),
    ("empty name", _set("name", "  "), "name must not be empty"),
    ("version missing", _set("version", ...), "version is missing"),
    ("version a list", _set("version", [1]), "version must be a non-empty string"),
    ("unknown top key", _set("findings", []), "the file has unknown key 'findings'"),
    ("no views", _set("views", []), "views must list at least one view"),
    ("no questions", _set("questions", []), "questions must list at least one question"),
    ("views a table", _set("views", {"id": "plax"}), "views must be a list"),
    ("view not a table", _set("views.1", "a4c"), "views[1] must be a table"),
    ("view label missing", _set("views.2.label", ...), "views[2].label is missing"),
    ("view core a string", _set("views.0.core", "yes"), "views[0].core must be true or false"),
    ("view key typo", _set("views.0.cor", True), "views[0] has unknown key 'cor'"),
    ("repeated view id", _set("views.2.id", "plax"), "views[2].id 'plax' repeats views[0].id"),
    ("question text missing", _set("questions.1.text", ...), "questions[1].text is missing"),
    (
        "management flag missing",
        _set("questions.0.management_changing", ...),
        "questions[0].management_changing is missing",
    ),
    (
        "management flag a number",
        _set("questions.0.management_changing", 1),
        "questions[0].management_changing must be true or false, not a number (1)",
    ),
    (
        "repeated question id",
        _set("questions.1.id", "effusion"),
        "questions[1].id 'effusion' repeats questions[0].id",
    ),
    (
        "one answer only",
        _set("questions.1.answers", [{"value": "yes", "label": "Yes", "polarity": "positive"}]),
        "questions[1].answers must list at least two answers",
    ),
    (
        "unknown polarity",
        _set("questions.1.answers.1.polarity", "maybe"),
        "questions[1].answers[1].polarity must be one of positive, negative, indeterminate, "
        "not 'maybe'",
    ),
    (
        "polarity a list",
        _set("questions.0.answers.0.polarity", ["positive"]),
        "questions[0].answers[0].polarity must be one of positive, negative, indeterminate, "
        "not a list",
    ),
    (
        "answer value missing",
        _set("questions.0.answers.2.value", ...),
        "questions[0].answers[2].value is missing",
    ),
    (
        "answer value not a slug",
        _set("questions.0.answers.2.value", "Unable to assess"),
        "questions[0].answers[2].value must be a slug",
    ),
    (
        "repeated answer value",
        _set("questions.0.answers.1.value", "yes"),
        "questions[0].answers[1].value 'yes' repeats questions[0].answers[0].value",
    ),
    (
        "unknown view reference",
        _set("questions.0.views.1", "a5c"),
        "questions[0].views[1] 'a5c' is not a view of this protocol (plax, a4c, ivc)",
    ),
    (
        "view reference not text",
        _set("questions.0.views.0", 3),
        "questions[0].views[0] must be a string",
    ),
    (
        "question key typo",
        _set("questions.0.management", True),
        "questions[0] has unknown key 'management'",
    ),
]


@pytest.mark.parametrize(
    ("change", "expected"), [(c, e) for _, c, e in BROKEN], ids=[n for n, _, _ in BROKEN]
)
def test_a_broken_protocol_is_refused_naming_file_and_field(
    change: Callable[[dict[str, Any]], None], expected: str
) -> None:
    data = valid_mapping()
    change(data)
    with pytest.raises(ProtocolError) as caught:
        parse_protocol(data, "local_heart.toml")
    assert caught.value.message.startswith("local_heart.toml: ")
    assert expected in caught.value.message
    assert "README" in caught.value.remedy


def test_a_file_that_is_not_a_table_is_refused() -> None:
    with pytest.raises(ProtocolError, match=r"x\.toml: the file must be a table"):
        parse_protocol([], "x.toml")  # type: ignore[arg-type]


def test_five_protocols_are_shipped() -> None:
    assert SHIPPED == ["dvt.toml", "efast.toml", "fusic_heart.toml", "lung_blue.toml", "rush.toml"]


@pytest.fixture(scope="module")
def built_in() -> dict[str, Protocol]:
    return load_protocols()


@pytest.mark.parametrize("file_name", SHIPPED)
def test_each_shipped_file_loads_under_its_own_name(
    built_in: dict[str, Protocol], file_name: str
) -> None:
    protocol = built_in[file_name.removesuffix(".toml")]
    assert [q.id for q in protocol.questions] == EXPECTED_QUESTIONS[protocol.id]
    assert protocol.core_views
    assert protocol.source and protocol.description and protocol.version


@pytest.mark.parametrize("protocol_id", sorted(EXPECTED_QUESTIONS))
def test_every_shipped_question_can_be_answered_both_ways_or_not_at_all(
    built_in: dict[str, Protocol], protocol_id: str
) -> None:
    for question in built_in[protocol_id].questions:
        polarities = {answer.polarity for answer in question.answers}
        assert polarities == set(Polarity), question.id


def test_fusic_heart_counts_four_core_views_and_allows_unable_to_assess(
    built_in: dict[str, Protocol],
) -> None:
    fusic = built_in["fusic_heart"]
    assert [v.id for v in fusic.core_views] == ["plax", "psax", "a4c", "sc4c"]
    for question in fusic.questions:
        assert question.answer("unable_to_assess").polarity is Polarity.INDETERMINATE
    assert fusic.question("pleural_effusion").allowed_values == (
        "none",
        "left",
        "right",
        "both",
        "unable_to_assess",
    )
    assert "lv_impaired" in fusic.management_changing_ids


def test_dvt_sites_are_compressible_not_compressible_or_not_seen(
    built_in: dict[str, Protocol],
) -> None:
    for question in built_in["dvt"].questions:
        assert question.allowed_values == ("compressible", "not_compressible", "not_seen")
        assert question.answer("not_seen").polarity is Polarity.INDETERMINATE


def test_lookups_of_unknown_ids_raise_key_error(built_in: dict[str, Protocol]) -> None:
    fusic = built_in["fusic_heart"]
    with pytest.raises(KeyError):
        fusic.question("lv_enormous")
    with pytest.raises(KeyError):
        fusic.view("a5c")
    with pytest.raises(KeyError):
        fusic.question("lv_dilated").answer("maybe")


LOCAL_TOML = """
id = "{id}"
name = "{name}"
version = "1"
description = "Local."
source = "Local guideline."

[[views]]
id = "ruq"
label = "RUQ"
core = true

[[questions]]
id = "free_fluid"
text = "Free fluid?"
management_changing = true
answers = [
  {{ value = "yes", label = "Yes", polarity = "positive" }},
  {{ value = "no", label = "No", polarity = "negative" }},
]
"""


def test_a_protocol_in_the_extra_folder_is_added(tmp_path: Path) -> None:
    (tmp_path / "local_fast.toml").write_text(LOCAL_TOML.format(id="local_fast", name="Local"))
    (tmp_path / "notes.txt").write_text("not a protocol")
    protocols = load_protocols(tmp_path)
    assert protocols["local_fast"].name == "Local"
    assert set(protocols) == set(EXPECTED_QUESTIONS) | {"local_fast"}


def test_a_protocol_in_the_extra_folder_replaces_the_built_in_one(tmp_path: Path) -> None:
    (tmp_path / "our_efast.toml").write_text(LOCAL_TOML.format(id="efast", name="Our eFAST"))
    protocols = load_protocols(tmp_path)
    assert protocols["efast"].name == "Our eFAST"
    assert [q.id for q in protocols["efast"].questions] == ["free_fluid"]
    assert load_protocols()["efast"].name == "eFAST"  # nothing was cached


def test_a_toml_syntax_error_names_the_file_and_line(tmp_path: Path) -> None:
    broken = tmp_path / "broken.toml"
    broken.write_text('id = "broken"\nname = "Broken"\nversion = \n')
    with pytest.raises(ProtocolError) as caught:
        load_protocols(tmp_path)
    assert str(broken) in caught.value.message
    assert "line 3" in caught.value.message


def test_an_invalid_protocol_in_the_extra_folder_names_its_path(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(LOCAL_TOML.format(id="bad", name="Bad").replace('"negative"', '"maybe"'))
    with pytest.raises(ProtocolError, match=r"questions\[0\]\.answers\[1\]\.polarity") as caught:
        load_protocols(tmp_path)
    assert caught.value.message.startswith(f"{bad}: ")


def test_two_extra_files_with_one_id_are_refused(tmp_path: Path) -> None:
    (tmp_path / "a.toml").write_text(LOCAL_TOML.format(id="twin", name="A"))
    (tmp_path / "b.toml").write_text(LOCAL_TOML.format(id="twin", name="B"))
    with pytest.raises(ProtocolError, match="already used by") as caught:
        load_protocols(tmp_path)
    assert "a.toml" in caught.value.message
    assert "b.toml" in caught.value.message


def test_a_missing_extra_folder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ProtocolError, match="does not exist"):
        load_protocols(tmp_path / "nowhere")


def test_a_non_utf8_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "latin.toml").write_bytes('name = "Échographie"'.encode("latin-1"))
    with pytest.raises(ProtocolError, match=r"latin\.toml: is not UTF-8"):
        load_protocols(tmp_path)
