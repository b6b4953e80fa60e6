"""The Dash dashboard. It reads through monitor.store and never decides alarms.

Each page module has layout(store, protocol, rest) and register(app, store, protocol).
"""
from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Optional
from urllib.parse import unquote

from dash import Dash, Input, Output, dcc, html
from flask import request

from .. import access
from ..model import PRIORITIES, PRIORITY
from ..protocol import Protocol
from ..store import Store, StoreError

# Page paths, each documented in the README and docs/ARCHITECTURE.md (tests/test_docs.py).
# A prefix ending in "/" takes the rest of the path (a chair name, a session id, a patient).
PAGES = {"/": "overview", "/chair/": "bedside", "/sessions": "session list", "/session/": "session chart",
         "/patient/": "patient course", "/alarms": "alarm burden", "/admin": "administration"}


# Dash's endpoints that answer a page path with the page shell.
INDEX_ENDPOINTS = ("/", "/<path:path>")


def assets_path() -> str:
    """The browser files that belong to this code: in a source tree the `assets/` beside the
    `monitor` package (which pyproject maps to `monitor.assets`; an editable install's finder maps
    that name to the tree it was installed from, which need not be this one), else the package's."""
    tree = Path(__file__).resolve().parents[2] / "assets"
    if (tree / "alarm-audio.js").is_file() and (tree / "__init__.py").is_file():
        return str(tree)
    return str(resources.files("monitor.assets"))


def priority_css() -> str:
    """The priority colours as CSS variables (--high, --medium, --low) from model.PRIORITY,
    so the stylesheets in assets/ use the same colours as the charts without a copy."""
    return ":root { " + " ".join(f"--{p}: {PRIORITY[p].colour};" for p in PRIORITIES) + " }"


# The action (access.LEAST_ROLE) each page needs: the bedside work is a nurse's, review a clinician's.
PAGE_ACTIONS = {"/": "view", "/chair/": "view", "/sessions": "review", "/session/": "review",
                "/patient/": "review", "/alarms": "review", "/admin": "audit"}


def create_app(store: Store, protocol: Protocol, behind_tls: bool = False, setup_token: Optional[str] = None,
               live_streams: Optional[int] = None) -> Dash:
    from . import admin, auth, bedside, burden, escalation, live, overview, review
    app = Dash(__name__, assets_folder=assets_path(), serve_locally=True, title="infusion-monitor",
               update_title=None, suppress_callback_exceptions=True, assets_ignore=r".*\.py$")
    app.index_string = app.index_string.replace("{%css%}", "{%css%}\n        <style>" + priority_css() + "</style>")
    auth.install(app, store, behind_tls=behind_tls, setup_token=setup_token)
    live.install(app, store, live.MAX_STREAMS if live_streams is None else live_streams)
    app.layout = lambda: _shell(auth.current_role())
    # (prefix, layout, found): found(store, rest) says whether the page names something stored;
    # None: every name is a page (a chair's bedside can open its first session).
    routes = [("/chair/", bedside.layout, None), ("/sessions", review.sessions_layout, None),
              ("/session/", review.session_layout, review.session_found),
              ("/patient/", review.patient_layout, review.patient_found), ("/alarms", burden.layout, None),
              ("/admin", admin.layout, None)]
    assert {p for p, _, _ in routes} | {"/"} == set(PAGES) == set(PAGE_ACTIONS)
    for module in (bedside, overview, review, burden, admin):
        module.register(app, store, protocol)
    escalation.register(app, store)

    def page(path: str):
        """(layout, rest of the path, found, prefix) for a page path (already unquoted); None: no such page."""
        if path in ("/", ""):
            return overview.layout, "", None, "/"
        for prefix, layout, found in routes:
            if path == prefix or (prefix.endswith("/") and path.startswith(prefix)):
                return layout, path[len(prefix):], found, prefix
        return None

    @app.callback(Output("page", "children"), Input("url", "pathname"))
    def route(pathname):
        p = page(unquote(pathname or "/"))
        if p is None:
            return html.Div(className="page-error", children=[html.H2("Page not found"), html.A("All chairs", href="/")])
        layout, rest, _, prefix = p
        role = auth.current_role()
        if not access.permits(role, PAGE_ACTIONS[prefix]):
            return html.Div(className="page-error", children=[
                html.H2("Not for your role"),
                html.P(f"This page needs {access.with_article(access.ROLE_LABELS[access.LEAST_ROLE[PAGE_ACTIONS[prefix]]])} login; "
                       f"you are signed in as a {access.ROLE_LABELS.get(role, role)}."),
                html.A("All chairs", href="/")])
        return layout(store, protocol, rest)

    @app.server.after_request
    def not_found_status(response):
        """The page shell for a path naming nothing stored (no such page, session or patient) is
        sent as HTTP 404; the shell then shows the page's "not found" text (the route above)."""
        if request.endpoint in INDEX_ENDPOINTS and response.status_code == 200 and auth.current_role():
            p = page(request.path)
            if p is not None and not access.permits(auth.current_role(), PAGE_ACTIONS[p[3]]):
                response.status_code = 403  # before asking whether it exists: that is review too
                return response
            try:
                missing = p is None or (p[2] is not None and not p[2](store, p[1]))
            except StoreError:  # the database cannot answer now: the page itself will say so
                missing = False
            if missing:
                response.status_code = 404
        return response

    app.server.config["infusion_store"] = store
    return app


def _shell(role: Optional[str]):
    """Every page's frame: the navigation this role may use, who is signed in, and sign-out."""
    from flask_login import current_user
    from flask_wtf.csrf import generate_csrf
    links = [html.A("All chairs", href="/", className="navlink")]
    if access.permits(role, "review"):
        links.append(html.A("Sessions", href="/sessions", className="navlink"))
        links.append(html.A("Alarms", href="/alarms", className="navlink"))
    if access.permits(role, "audit"):
        links.append(html.A("Admin", href="/admin", className="navlink"))
    who = []
    if role is not None:
        who = [html.Span(f"{current_user.name} ({current_user.initials}, {access.ROLE_LABELS[role]})",
                         id="signed-in-as", className="muted"),
               html.Form(action="/logout", method="POST", children=[
                   dcc.Input(type="hidden", name="csrf_token", value=generate_csrf()),
                   html.Button("Sign out", id="sign-out", type="submit", className="btn btn-logout")])]
    from .escalation import banner
    return html.Div([
        dcc.Location(id="url"),
        *([banner()] if role is not None else []),  # every page: an alarm nobody answered in time
        html.Nav(className="topnav", children=[
            *links,
            html.Span("Decision support only: the devices' own alarms stay primary.", className="disclaimer"),
            html.Div(className="signed-in", children=who),
        ]),
        html.Div(id="page"),
    ])

