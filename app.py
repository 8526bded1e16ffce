"""QA Meeting: the router. Page config, sign-in gate, navigation; nothing else."""

import streamlit as st

from qa_meeting.ui import navigation, state

st.set_page_config(page_title="QA Meeting", page_icon=":material/ecg_heart:", layout="wide")

actor = state.current_actor()
if actor is None:
    page = st.navigation(navigation.login_pages())
else:
    navigation.sidebar(actor)
    page = st.navigation(navigation.pages_for(actor), expanded=True)
page.run()
