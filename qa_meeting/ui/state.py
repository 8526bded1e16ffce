"""Session-state keys and typed accessors. Only plain values and frozen dataclasses are stored."""

from __future__ import annotations

import streamlit as st

from qa_meeting.services.context import Actor

ACTOR = "actor"
SELECTED_STUDY = "selected_study_id"
UPLOAD_RESULTS = "upload_results"


def current_actor() -> Actor | None:
    actor = st.session_state.get(ACTOR)
    return actor if isinstance(actor, Actor) else None


def require_actor() -> Actor:
    """The signed-in user; pages are only routed after sign-in, so this is a bug guard."""
    actor = current_actor()
    if actor is None:
        st.stop()
    assert actor is not None
    return actor


def sign_in(actor: Actor) -> None:
    st.session_state[ACTOR] = actor


def sign_out() -> None:
    for key in list(st.session_state.keys()):
        del st.session_state[key]


def selected_study() -> int | None:
    value = st.session_state.get(SELECTED_STUDY)
    return value if isinstance(value, int) else None


def select_study(study_id: int) -> None:
    st.session_state[SELECTED_STUDY] = study_id


VIEWED = "viewed"


def first_view(what: str, item_id: int) -> bool:
    """True the first time this session shows ``what`` ``item_id``: the moment to audit a view.

    Streamlit reruns the page on every click; a view is one person opening a case, not a rerun.
    """
    seen = st.session_state.setdefault(VIEWED, set())
    key = f"{what}:{item_id}"
    if key in seen:
        return False
    seen.add(key)
    return True
