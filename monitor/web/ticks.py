"""A live page's once-a-second tick, never replaced by the next one before it is answered.

Dash keeps only the newest request of a callback: when a `dcc.Interval` fires again while the
callback it drives is still on its way, the answer to the older request is thrown away. A
server that needs more than a second for a tick (a busy machine, a long session's first tick)
would then answer every request, each "ok", while the page never changed: a calm screen that
has stopped watching. So the interval (`<page>-tick`) drives a clientside gate
(`dash_clientside.infusionTicks`, assets/connection-watch.js) that writes the page's beat
(`<page>-beat`) only when no tick of that page is on its way; the server's tick callbacks take
the beat as their input, never the interval. A held beat is owed and goes as soon as the answer
on its way is in, so pushes that keep a page busy cannot starve what only the beat runs (the
overview's new chairs). A tick counts as answered when its body is read; an answer Dash throws
away (a tick on its way over 10 s is replaced) never tells the connection watch the page is
current. The push channel (assets/live-push.js) waits the same way.
"""
from __future__ import annotations

from dash import ClientsideFunction, Input, Output, dcc

PAGES = ("bed", "ov", "esc")  # the bedside, the overview, the escalation banner on every page


def interval(page: str, interval_ms: int = 1000) -> list:
    """The page's interval and the beat store the gate writes; the server's tick reads `beat(page)`."""
    assert page in PAGES, page
    return [dcc.Interval(id=f"{page}-tick", interval=interval_ms), dcc.Store(id=f"{page}-beat")]


def beat(page: str) -> Input:
    """The input a server-side tick callback of this page takes (in place of the interval's)."""
    assert page in PAGES, page
    return Input(f"{page}-beat", "data")


def register(app, page: str) -> None:
    """The gate between the page's interval and its beat (once per page, at app creation)."""
    assert page in PAGES, page
    app.clientside_callback(ClientsideFunction(namespace="infusionTicks", function_name=page),
                            Output(f"{page}-beat", "data"), Input(f"{page}-tick", "n_intervals"),
                            prevent_initial_call=True)
