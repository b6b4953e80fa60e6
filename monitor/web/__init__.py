"""The Dash dashboard. It reads through monitor.store and never decides alarms.

Each page module has layout(store, protocol, rest) and register(app, store, protocol).
"""
from __future__ import annotations

from importlib import resources
from urllib.parse import unquote

from dash import Dash, Input, Output, dcc, html
from flask import request

from ..model import PRIORITIES, PRIORITY
from ..protocol import Protocol
from ..store import Store, StoreError

# Page paths, each documented in the README and docs/ARCHITECTURE.md (tests/test_docs.py).
# A prefix ending in "/" takes the rest of the path (a chair name, a session id, a patient).
PAGES = {"/": "overview", "/chair/": "bedside", "/sessions": "session list", "/session/": "session chart",
         "/patient/": "patient course"}


# Dash's endpoints that answer a page path with the page shell.
INDEX_ENDPOINTS = ("/", "/<path:path>")


def assets_path() -> str:
    return str(resources.files("monitor.assets"))


def priority_css() -> str:
    """The priority colours as CSS variables (--high, --medium, --low) from model.PRIORITY,
    so the stylesheets in assets/ use the same colours as the charts without a copy."""
    return ":root { " + " ".join(f"--{p}: {PRIORITY[p].colour};" for p in PRIORITIES) + " }"


def create_app(store: Store, protocol: Protocol) -> Dash:
    from . import bedside, overview, review
    app = Dash(__name__, assets_folder=assets_path(), serve_locally=True, title="infusion-monitor",
               update_title=None, suppress_callback_exceptions=True, assets_ignore=r".*\.py$")
    app.index_string = app.index_string.replace("{%css%}", "{%css%}\n        <style>" + priority_css() + "</style>")
    app.layout = html.Div([
        dcc.Location(id="url"),
        html.Nav(className="topnav", children=[
            html.A("All chairs", href="/", className="navlink"),
            html.A("Sessions", href="/sessions", className="navlink"),
            html.Span("Decision support only: the devices' own alarms stay primary.", className="disclaimer"),
        ]),
        html.Div(id="page"),
    ])
    # (prefix, layout, found): found(store, rest) says whether the page names something stored;
    # None: every name is a page (a chair's bedside can open its first session).
    routes = [("/chair/", bedside.layout, None), ("/sessions", review.sessions_layout, None),
              ("/session/", review.session_layout, review.session_found),
              ("/patient/", review.patient_layout, review.patient_found)]
    assert {p for p, _, _ in routes} | {"/"} == set(PAGES)
    for module in (bedside, overview, review):
        module.register(app, store, protocol)

    def page(path: str):
        """(layout, rest of the path, found) for a page path (already unquoted); None: no such page."""
        if path in ("/", ""):
            return overview.layout, "", None
        for prefix, layout, found in routes:
            if path == prefix or (prefix.endswith("/") and path.startswith(prefix)):
                return layout, path[len(prefix):], found
        return None

    @app.callback(Output("page", "children"), Input("url", "pathname"))
    def route(pathname):
        p = page(unquote(pathname or "/"))
        if p is None:
            return html.Div(className="page-error", children=[html.H2("Page not found"), html.A("All chairs", href="/")])
        layout, rest, _ = p
        return layout(store, protocol, rest)

    @app.server.after_request
    def not_found_status(response):
        """The page shell for a path naming nothing stored (no such page, session or patient) is
        sent as HTTP 404; the shell then shows the page's "not found" text (the route above)."""
        if request.endpoint in INDEX_ENDPOINTS and response.status_code == 200:
            p = page(request.path)
            try:
                missing = p is None or (p[2] is not None and not p[2](store, p[1]))
            except StoreError:  # the database cannot answer now: the page itself will say so
                missing = False
            if missing:
                response.status_code = 404
        return response

    app.server.config["infusion_store"] = store
    return app

