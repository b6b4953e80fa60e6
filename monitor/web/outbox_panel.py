"""The administrator's view of the integrations outbox (on /admin): per destination, how many
messages wait, how old the oldest is, why the head is not delivered and when it is tried
again, and how many were delivered. A receiver that refuses or is gone must not look like
a quiet one, so a destination with a failing head is shown as a problem, not as a number.

Renders store.outbox.queue_status; decides nothing (whether anybody sends a queue is
integrations.delivery.nobody_sending). Refreshed every OUTBOX_REFRESH_S.
"""
from __future__ import annotations

import time
from typing import Optional

from dash import Input, Output, dcc, html

from .. import access
from ..access import AccessError, Actor
from ..formatting import fmt_datetime
from ..integrations.delivery import nobody_sending
from ..store import StoreError, outbox
from . import auth
from .review import review_table

OUTBOX_REFRESH_S = 5
HEAD = ["Destination", "Waiting", "Oldest waiting", "Tries of the first", "Why not delivered", "Next try",
        "Delivered", "Last delivered", "Sent by"]


def _age(seconds: Optional[float]) -> str:
    if seconds is None:
        return "–"
    s = int(max(0, seconds))
    return f"{s} s" if s < 120 else (f"{s // 60} min" if s < 7200 else f"{s // 3600} h {s % 3600 // 60} min")


def _sender_cell(r: dict, now: float):
    if nobody_sending(r, now):
        return html.Td("NOBODY IS SENDING — start `infusion-monitor integrate`" if not r.get("sender")
                       else f"{r['sender']}: silent for {_age(now - r['sender_beat'])}", className="cell-sender sender-silent")
    return html.Td(f"{r['sender']}" if r.get("sender") else "–", className="cell-sender")


def outbox_rows(store, actor: Actor, now: Optional[float] = None) -> list:
    """The table's rows, one per destination, for an administrator."""
    access.check(actor, "audit")
    now = time.time() if now is None else now
    rows = []
    for r in outbox.queue_status(store, now):
        failing = bool(r["depth"] and r.get("head_attempts")) or nobody_sending(r, now)
        rows.append(html.Tr(className="outbox-row" + (" outbox-failing" if failing else ""),
                            **{"data-destination": r["destination"], "data-depth": str(r["depth"])}, children=[
            html.Td(r["destination"], className="cell-destination"),
            html.Td(str(r["depth"]), className="num cell-depth"),
            html.Td(_age(r["oldest_age_s"]) if r["depth"] else "–", className="num cell-oldest"),
            html.Td(str(r.get("head_attempts") or 0) if r["depth"] else "–", className="num"),
            html.Td(r.get("head_last_error") or "" if failing else "", className="cell-error"),
            html.Td(fmt_datetime(r["head_next_try"]) if failing and r.get("head_next_try") else "–"),
            html.Td(str(r.get("sent") or 0), className="num cell-sent"),
            html.Td(fmt_datetime(r["last_sent_at"]) if r.get("last_sent_at") else "never"),
            _sender_cell(r, now)]))
    return rows


def outbox_view(store, actor: Actor, now: Optional[float] = None):
    try:
        rows = outbox_rows(store, actor, now)
    except AccessError:
        raise
    except StoreError as e:
        return html.P(f"The outbox cannot be read: {e}", className="empty form-error")
    if not rows:
        return html.P("No integration has queued anything (clinic.toml [integrations]; "
                      "`infusion-monitor integrate`).", className="empty")
    return review_table(HEAD, rows, "outbox-table")


def section(store, actor: Actor) -> list:
    return [html.H2("Integrations outbox"), html.Div(outbox_view(store, actor), id="adm-outbox"),
            dcc.Interval(id="adm-outbox-tick", interval=OUTBOX_REFRESH_S * 1000)]


def register(app, store) -> None:
    @app.callback(Output("adm-outbox", "children"), Input("adm-outbox-tick", "n_intervals"),
                  prevent_initial_call=True)
    def refresh(_n):
        return outbox_view(store, auth.current_actor())
