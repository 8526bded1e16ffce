"""Which pages a signed-in user gets, and the sidebar with who is signed in."""

from __future__ import annotations

import streamlit as st

from qa_meeting.pages import login_page
from qa_meeting.services.context import Actor
from qa_meeting.ui import links, state


def login_pages() -> list[st.Page]:
    return [st.Page(login_page.render, title="Sign in", icon=":material/login:")]


def pages_for(actor: Actor) -> dict[str, list[st.Page]]:
    """Pages by role, under their sidebar headings. Hiding a page is a convenience: the
    services check roles themselves."""
    sections: dict[str, list[st.Page]] = {}
    for spec in links.PAGES:
        if spec.visible_to(actor.role):
            sections.setdefault(spec.section, []).append(links.page(spec.url_path))
    return sections


def sidebar(actor: Actor) -> None:
    with st.sidebar:
        st.caption(f"Signed in as **{actor.username}** ({actor.role}, {actor.pseudonym})")
        if st.button("Sign out", icon=":material/logout:"):
            state.sign_out()
            if st.user.is_logged_in:
                st.logout()
            st.rerun()
