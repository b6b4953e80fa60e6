"""The administrator's view of the integrations outbox (on /admin): per destination, how many
messages wait, how old the oldest is, why the head is not delivered and when it is tried
again, and how many were delivered. A receiver that refuses or is gone must not look like
a quiet one, so a destination with a failing head is shown as a problem, not as a number.

A first message the receiver will never take holds everything behind it: the administrator
may set it aside here, naming why (store.outbox.set_aside decides and audits; the message is
kept whole and listed below the form).

Renders store.outbox.queue_status; decides nothing (whether anybody sends a queue is
integrations.delivery.nobody_sending). Refreshed every OUTBOX_REFRESH_S.
"""
from __future__ import annotations

import time
from typing import Optional

from dash import Input, Output, State, ctx, dcc, html, no_update

from .. import access
from ..access import AccessError, Actor
from ..formatting import fmt_datetime
from ..integrations.delivery import nobody_sending
from ..sessions import RuleError
from ..store import Conflict, NotFound, StoreError, outbox
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


ASIDE_HEAD = ["Set aside", "Destination", "Message", "Tries", "Last reason", "By", "Why"]


def refused_heads(store, actor: Actor, now: Optional[float] = None) -> dict[str, dict]:
    """The destinations whose first waiting message the receiver refused at its last try: what
    may be set aside (store.outbox.set_aside decides; this only offers)."""
    access.check(actor, "audit")
    now = time.time() if now is None else now
    return {r["destination"]: r for r in outbox.queue_status(store, now) if r["depth"] and r.get("head_answered")}


def head_text(r: Optional[dict]) -> str:
    if not r:
        return "Choose a destination whose first message the receiver refused."
    return (f"First waiting: message {r['head_id']} ({r['head_message_key']}, control id "
            f"{r['head_control_id'] or '–'}), tried {r['head_attempts']} times: {r['head_last_error'] or 'no reason'}")


def confirm_text(r: Optional[dict]) -> str:
    if not r:
        return "Choose a destination first."
    return (f"Set aside message {r['head_id']} ({r['head_message_key']}) of {r['destination']}? It will not be "
            "sent unless somebody sends it again by hand.")


def drift_text(destination: str, pinned: int, r: Optional[dict]) -> Optional[str]:
    """What the form says when the first waiting message is no longer the one it shows, else None."""
    now_first = r["head_id"] if r else None
    if now_first == pinned:
        return None
    return (f"Message {pinned} is no longer the first of {destination} waiting for a refusal to be set aside"
            + (f" (message {now_first} is)" if now_first else "") + ": choose the destination again.")


def set_aside_action(store, actor: Actor, destination, head_id, reason,
                     now: Optional[float] = None) -> tuple[str, bool, bool]:
    """The form's button: (message, done, read again). The store checks the role, the head and
    the reason; "read again" when the head the form showed is not the head any more (the form
    then forgets it, and its reason, so a reason is never given to a message it was not written for)."""
    if not destination or head_id is None:
        return "Not set aside: choose a destination whose first message the receiver refused", False, False
    try:
        row = outbox.set_aside(store, str(destination), head_id, actor, str(reason or ""),
                               time.time() if now is None else now)
    except (Conflict, NotFound) as e:
        return f"Not set aside: {e}", False, True
    except (RuleError, StoreError) as e:
        return f"Not set aside: {e}", False, False
    return (f"{row['destination']}: message {row['outbox_id']} ({row['message_key']}) set aside; "
            "the messages behind it go next.", True, True)


SET_ASIDE_SHOWN = 50


def set_aside_view(store, actor: Actor):
    """The messages set aside, newest first, each with its text (for the interface team)."""
    access.check(actor, "audit")
    try:
        rows = outbox.set_aside_messages(store, limit=SET_ASIDE_SHOWN)
    except StoreError as e:
        return html.P(f"The messages set aside cannot be read: {e}", className="empty form-error")
    if not rows:
        return html.P("No message has been set aside.", className="empty")
    table = review_table(ASIDE_HEAD, [html.Tr(className="aside-row", **{"data-outbox-id": str(r["outbox_id"])}, children=[
        html.Td(fmt_datetime(r["set_aside_at"])), html.Td(r["destination"]),
        html.Td([f"{r['outbox_id']} ({r['message_key']}, control id {r['control_id'] or '–'})",
                 html.Details([html.Summary("its text"), html.Pre(r["payload"].replace("\r", "\n"),
                                                                  className="aside-payload")])]),
        html.Td(str(r["attempts"]), className="num"), html.Td(r["last_error"] or ""),
        html.Td(r["set_aside_by"]),
        html.Td(r["reason"] + (f" (delivered after all, {fmt_datetime(r['delivered_at'])}: the try on its way "
                               "was taken)" if r.get("delivered_at") else ""))]) for r in rows], "aside-table")
    if len(rows) < SET_ASIDE_SHOWN:
        return table
    return html.Div([html.P(f"The {SET_ASIDE_SHOWN} newest; all of them: infusion-monitor integrate "
                            "--set-aside-list --json.", className="muted"), table])


def section(store, actor: Actor) -> list:
    heads = refused_heads(store, actor)
    return [html.H2("Integrations outbox"), html.Div(outbox_view(store, actor), id="adm-outbox"),
            dcc.Interval(id="adm-outbox-tick", interval=OUTBOX_REFRESH_S * 1000),
            html.H3("Set aside a message the receiver will not take"),
            html.P("Everything behind the first waiting message waits for it. When its receiver refuses it for "
                   "good, set it aside here: it is kept whole, with your name and reason, for the interface "
                   "team to mend and send again, and the messages behind it go.", className="muted"),
            html.Div(className="form-row", children=[
                dcc.Dropdown(id="adm-aside-dest", options=sorted(heads), placeholder="Destination",
                             className="adm-aside-dest"),
                dcc.Input(id="adm-aside-reason", type="text", placeholder="Why (kept with the message)",
                          maxLength=outbox.REASON_MAX, className="adm-aside-reason"),
                dcc.ConfirmDialogProvider(html.Button("Set aside the first message", className="btn btn-stop"),
                                          id="adm-aside", message=confirm_text(None))]),
            html.P(head_text(None), id="adm-aside-head-text", className="muted"),
            dcc.Store(id="adm-aside-head"),
            html.P(id="adm-aside-status", className="form-status", role="status"),
            html.Div(set_aside_view(store, actor), id="adm-aside-list")]


def register(app, store) -> None:
    @app.callback(Output("adm-outbox", "children"), Output("adm-aside-dest", "options"),
                  Output("adm-aside-list", "children"), Input("adm-outbox-tick", "n_intervals"),
                  prevent_initial_call=True)
    def refresh(_n):
        actor = auth.current_actor()
        try:
            options = sorted(refused_heads(store, actor))
        except StoreError:
            options = no_update
        return outbox_view(store, actor), options, set_aside_view(store, actor)

    @app.callback(Output("adm-aside-head-text", "children"), Output("adm-aside-head", "data"),
                  Output("adm-aside", "message"),
                  Input("adm-aside-dest", "value"), Input("adm-outbox-tick", "n_intervals"),
                  State("adm-aside-head", "data"))
    def show_head(destination, _n, pinned):
        """The message the button would set aside is the one read when the destination was
        chosen (its id goes with the button; the store refuses if the head has changed since).
        The tick only says so when it has: it never swaps in another message under a reason."""
        try:
            r = refused_heads(store, auth.current_actor()).get(destination) if destination else None
        except StoreError as e:
            return f"The outbox cannot be read: {e}", no_update, no_update
        if ctx.triggered_id == "adm-outbox-tick":
            if not destination or pinned is None:
                return no_update, no_update, no_update
            drift = drift_text(destination, pinned, r)
            return (drift, no_update, no_update) if drift else (no_update, no_update, no_update)
        return head_text(r), (r["head_id"] if r else None), confirm_text(r)

    @app.callback(Output("adm-aside-status", "children"), Output("adm-aside-status", "className"),
                  Output("adm-aside-list", "children", allow_duplicate=True), Output("adm-aside-reason", "value"),
                  Output("adm-aside-dest", "value"),
                  Input("adm-aside", "submit_n_clicks"), State("adm-aside-dest", "value"),
                  State("adm-aside-head", "data"), State("adm-aside-reason", "value"), prevent_initial_call=True)
    def set_aside(_n, destination, head_id, reason):
        actor = auth.current_actor()
        message, ok, read_again = set_aside_action(store, actor, destination, head_id, reason)
        return (message, "form-status" + ("" if ok else " form-error"), set_aside_view(store, actor),
                "" if read_again else no_update, None if read_again else no_update)
