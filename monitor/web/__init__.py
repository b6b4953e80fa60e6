"""The Dash dashboard. It reads through monitor.store and never decides alarms.

Each page module has layout(store, protocol, rest) and register(app, store, protocol).
"""
from __future__ import annotations

from importlib import resources
from urllib.parse import unquote

from dash import Dash, Input, Output, dcc, html

from ..model import PRIORITIES, PRIORITY
from ..protocol import Protocol
from ..store import Store

# Page paths, each documented in the README and docs/ARCHITECTURE.md (tests/test_docs.py).
# A prefix ending in "/" takes the rest of the path (a chair name, a session id, a patient).
PAGES = {"/": "overview", "/chair/": "bedside", "/sessions": "session list", "/session/": "session chart",
         "/patient/": "patient course"}


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
    routes = [("/chair/", bedside.layout), ("/sessions", review.sessions_layout),
              ("/session/", review.session_layout), ("/patient/", review.patient_layout)]
    assert {p for p, _ in routes} | {"/"} == set(PAGES)
    for module in (bedside, overview, review):
        module.register(app, store, protocol)

    @app.callback(Output("page", "children"), Input("url", "pathname"))
    def route(pathname):
        path = unquote(pathname or "/")
        for prefix, layout in routes:
            if path == prefix or (prefix.endswith("/") and path.startswith(prefix) and prefix != "/"):
                return layout(store, protocol, path[len(prefix):])
        if path in ("/", ""):
            return overview.layout(store, protocol, "")
        return html.Div(className="page-error", children=[html.H2("Page not found"), html.A("All chairs", href="/")])

    app.server.config["infusion_store"] = store
    return app

