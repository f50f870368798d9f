"""The door of a lab served beyond this machine: the access password, and who each visitor is.

The rules are `core.security.access`; here they meet the server's address (`server.address`), the
browser's cookie and the session. The router calls `require_access` before it draws anything
else, so a visitor without the password sees no page, no sidebar and no saved job.
"""

from __future__ import annotations

import re
import secrets
import threading
import time

import streamlit as st

from components.runtime import environment
from core.security.access import AccessPolicy, Visitor, visitor_id

ADMITTED_KEY = "lab.access_admitted"
VISITOR_KEY = "lab.visitor"
# The browser keeps the visitor's token in this cookie: a reload, a new tab or a `?job=` link in
# the same browser is the same visitor (a Streamlit session id changes on every reload).
VISITOR_COOKIE = "lab_visitor"
_TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]{32,64}")
# A wrong password waits this long, one guess at a time for the whole process, so guessing from
# many tabs at once is no faster than from one.
WRONG_PASSWORD_WAIT_S = 1.0
_GUESSES = threading.Lock()


def access_policy() -> AccessPolicy:
    """The policy for the address this server is bound to and the environment (with `.env`)."""
    return AccessPolicy.from_env(environment(), st.get_option("server.address"))


def require_access(pages: dict[str, list[st.Page]]) -> None:
    """Stop the run here unless this visitor may use the lab (the router's first step).

    On an address served beyond this machine without a password (and without the operator's
    opt-out) nobody may: every visitor reads why. With a password, a visitor who has not typed
    it gets the password form and nothing else. `pages` are registered hidden meanwhile, so the
    page and query the URL names (`/batch?job=…`) are still there once the password is in.
    """
    policy = access_policy()
    if policy.refusal is None and (not policy.asks_password or st.session_state.get(ADMITTED_KEY)):
        return
    st.navigation(pages, position="hidden")
    with st.container(key="access-gate", width=560):
        st.title("Execution Patterns Lab")
        if policy.refusal is not None:
            st.error(policy.refusal, icon=":material/lock:")
            st.stop()
        _password_form(policy)
    st.stop()


def _password_form(policy: AccessPolicy) -> None:
    st.markdown("This lab is shared over the network. Type its access password to continue.")
    with st.form("access-form", clear_on_submit=True, border=False):
        typed = st.text_input("Access password", type="password", key="access.password",
                              help="The operator set it as LAB_ACCESS_PASSWORD in the lab's .env.")
        entered = st.form_submit_button("Enter", icon=":material/lock_open:", type="primary")
    if not entered:
        return
    if policy.admits(typed):
        st.session_state[ADMITTED_KEY] = True
        st.rerun()
    with _GUESSES:
        time.sleep(WRONG_PASSWORD_WAIT_S)
    st.error("That is not the access password.", icon=":material/error:")


def current_visitor() -> Visitor:
    """This browser's visitor: the token in its cookie (a new one, set now, when it has none).

    The cookie is written only in a lab others use (`AccessPolicy.shared`); on this machine
    alone every run is everyone's, and the session's own token is enough.
    """
    policy = access_policy()
    token = st.session_state.get(VISITOR_KEY)
    if token is None:
        cookie = st.context.cookies.get(VISITOR_COOKIE)
        # Outside a browser (AppTest) there are no cookies, and the mapping gives no string.
        token = cookie if isinstance(cookie, str) and _TOKEN_SHAPE.fullmatch(cookie) else None
        if token is None:
            token = secrets.token_urlsafe(32)
            if policy.shared:
                _set_cookie(token)
        st.session_state[VISITOR_KEY] = token
    return Visitor(visitor_id(token), shared_lab=policy.shared)


def _set_cookie(token: str) -> None:
    """Keep the token in the browser for a year (read back by the next session's websocket)."""
    # The token is made here from URL-safe characters only: nothing in it can end the string.
    # In the sidebar: the element draws nothing, and there it moves no page content.
    st.sidebar.html(
        "<script>document.cookie = '" + VISITOR_COOKIE + "=" + token + "; path=/; max-age=31536000;"
        " SameSite=Strict' + (location.protocol === 'https:' ? '; Secure' : '');</script>",
        unsafe_allow_javascript=True,
    )
