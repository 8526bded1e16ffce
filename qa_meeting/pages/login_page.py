"""Sign in: a local account, or the hospital's identity provider when OIDC is configured."""

from __future__ import annotations

import streamlit as st

from qa_meeting.errors import AuthenticationError
from qa_meeting.services import users
from qa_meeting.ui import resources, state
from qa_meeting.ui.feedback import reported_errors, show_error


def _oidc_configured() -> bool:
    try:
        return "auth" in st.secrets
    except FileNotFoundError:
        return False
    except Exception:  # Streamlit raises its own error type when no secrets file exists
        return False


def _finish_oidc_sign_in() -> None:
    with reported_errors():
        email = st.user.get("email")
        actor = users.actor_for_oidc(resources.app_context(), str(email) if email else None)
        state.sign_in(actor)
        st.rerun()


def render() -> None:
    st.title("QA Meeting")
    st.caption("Point-of-care ultrasound quality assurance: over-reads, meetings, image bank.")
    if _oidc_configured():
        if st.user.is_logged_in:
            _finish_oidc_sign_in()
        st.button("Sign in with your hospital account", on_click=st.login, type="primary")
        st.divider()
    with st.form("login", enter_to_submit=True):
        username = st.text_input("User name", autocomplete="username")
        password = st.text_input("Password", type="password", autocomplete="current-password")
        submitted = st.form_submit_button("Sign in", type="primary")
    if submitted:
        try:
            actor = users.authenticate(resources.app_context(), username, password)
        except AuthenticationError as error:
            show_error(error)
        else:
            state.sign_in(actor)
            st.rerun()
