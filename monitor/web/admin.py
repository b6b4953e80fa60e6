"""The administrator's page (/admin): the users (role, initials, last sign-in) with a small
form to add one, change a role, disable or enable a login; the audit trail, newest first,
with filters, paging and a CSV download of every matching entry.

Every function here takes the signed-in Actor and asks `access.check` itself, so the page
and its callbacks refuse a nurse or clinician server-side whatever the gate let through
(docs/ARCHITECTURE.md, "Who may do what"). The rules (user names, passwords, the last
administrator) are access.py's and store/people.py's: this page shows their messages.
Passwords are passed to store/people.py and never shown, echoed or logged.
"""
from __future__ import annotations

import time
from datetime import datetime, timedelta
from typing import Optional

from dash import Input, Output, State, ctx, dcc, html

from .. import access
from ..access import ROLE_LABELS, ROLES, AccessError, Actor
from ..exports import audit_csv
from ..formatting import fmt_date, fmt_datetime
from ..sessions import RuleError
from ..store import StoreError, people, queries
from . import auth, outbox_panel
from .review import review_table, session_href, turned_page

PAGE_SIZE = 100
OUTCOMES = ("ok", "refused", "failed")
FILTERS = ("user", "action", "outcome", "chair", "session_id", "date_from", "date_to")
AUDIT_HEAD = ["Time", "User", "Role", "Action", "Outcome", "Chair", "Session", "Detail", "Address"]
USERS_HEAD = ["Name", "Role", "Initials", "Login", "Created", "Last sign-in"]
ROLE_OPTIONS = [{"label": ROLE_LABELS[r], "value": r} for r in ROLES]


# ------------------------------------------------------------------ the audit trail
def _local_day(raw, label: str) -> Optional[datetime]:
    """A local date 'YYYY-MM-DD' (the date picker's value) as local midnight; None when empty."""
    if not raw:
        return None
    try:
        return datetime.strptime(str(raw)[:10], "%Y-%m-%d")
    except ValueError:
        raise RuleError(f"{label}: a date as YYYY-MM-DD") from None


def audit_query(filters: Optional[dict]) -> dict:
    """people.audit_rows' keywords from the page's filters (FILTERS; dates local, the 'to'
    day included); RuleError naming the field for a value that cannot be one."""
    f = filters or {}
    query: dict = {}
    for key in ("user", "action", "outcome", "chair"):
        value = str(f.get(key) or "").strip()
        if value:
            query[key] = value
    if query.get("outcome") not in (None, *OUTCOMES):
        raise RuleError(f"Outcome: one of {', '.join(OUTCOMES)}")
    sid = str(f.get("session_id") or "").strip()
    if sid:
        if not (sid.isascii() and sid.isdigit() and 0 < int(sid) <= queries.MAX_ID):
            raise RuleError("Session id: a whole number from 1")
        query["session_id"] = int(sid)
    start, end = _local_day(f.get("date_from"), "Date from"), _local_day(f.get("date_to"), "Date to")
    if start is not None:
        query["since"] = start.timestamp()
    if end is not None:
        query["until"] = (end + timedelta(days=1)).timestamp()
    return query


def filters_text(filters: Optional[dict]) -> str:
    """The filters as one line for the audit row of a download: 'action=login; outcome=failed'."""
    parts = [f"{k}={str((filters or {}).get(k)).strip()}" for k in FILTERS
             if str((filters or {}).get(k) or "").strip()]
    return "; ".join(parts) if parts else "all entries"


def _audit_tr(row: dict):
    sid = row["session_id"]
    return html.Tr(className=f"audit-row outcome-{row['outcome']}",
                   **{"data-action": row["action"], "data-user": row["user"] or ""}, children=[
        html.Td(fmt_datetime(row["ts"]), className="num"),
        html.Td(row["user"] or "–", className="cell-user"),
        html.Td(ROLE_LABELS.get(row["role"] or "", row["role"] or "–")),
        html.Td(row["action"], className="cell-action"),
        html.Td(row["outcome"], className="cell-outcome"),
        html.Td(row["chair"] or "–"),
        html.Td(dcc.Link(str(sid), href=session_href(sid)) if sid is not None else "–"),
        html.Td(row["detail"] or ""),
        html.Td(row["address"] or "")])


def audit_table_rows(store, actor: Actor, filters: Optional[dict], page: int = 0) -> tuple[list, int]:
    """(table rows of one page, how many entries match) for an administrator."""
    access.check(actor, "audit")
    query = audit_query(filters)
    total = people.audit_count(store, **query)
    rows = people.audit_rows(store, **query, limit=PAGE_SIZE, offset=max(0, page) * PAGE_SIZE)
    return [_audit_tr(r) for r in rows], total


def audit_view(store, actor: Actor, filters: Optional[dict], page: int = 0):
    """(the table or a message, the count line, how many match) for the page."""
    try:
        rows, total = audit_table_rows(store, actor, filters, page)
    except (RuleError, StoreError) as e:
        return html.P(str(e), className="empty form-error"), "No entries shown.", 0
    if not rows:
        return html.P("No audit entries match these filters.", className="empty"), "No entries match.", total
    first = page * PAGE_SIZE
    count = f"Entries {first + 1}–{first + len(rows)} of {total} matching, newest first"
    return review_table(AUDIT_HEAD, rows, "audit-table"), count, total


def audit_csv_text(store, actor: Actor, filters: Optional[dict]) -> str:
    """Every entry matching the filters as CSV (exports/audit_csv.py), for an administrator."""
    access.check(actor, "audit")
    return audit_csv.to_csv(people.audit_rows(store, **audit_query(filters), limit=None))


def audit_download(store, actor: Actor, filters: Optional[dict]) -> dict:
    """The CSV as dcc.Download data; the download is itself an audit entry (a refused one too)."""
    with people.refusals_recorded(store, actor, "audit_export"):
        text = audit_csv_text(store, actor, filters)
    people.record(store, actor, "audit_export", detail=filters_text(filters))
    stamp = fmt_datetime(time.time()).replace(" ", "-").replace(":", "")
    return {"content": text, "filename": f"audit-{stamp}.csv", "type": "text/csv", "base64": False}


# ------------------------------------------------------------------ the users
def users_table_rows(store, actor: Actor) -> list:
    access.check(actor, "users")
    return [html.Tr(className="user-row" + ("" if u["active"] else " user-disabled"), **{"data-user": u["name"]},
                    children=[
        html.Td(u["name"], className="cell-name"),
        html.Td(ROLE_LABELS[u["role"]], className="cell-role"),
        html.Td(u["initials"]),
        html.Td("active" if u["active"] else "disabled", className="cell-login"),
        html.Td(fmt_date(u["created_at"]) + (f" by {u['created_by']}" if u["created_by"] else "")),
        html.Td(fmt_date(u["last_login_at"]) if u["last_login_at"] else "never", className="cell-last-login")])
        for u in people.users(store)]


def _users_table(store, actor: Actor):
    return review_table(USERS_HEAD, users_table_rows(store, actor), "user-table")


def add_user_action(store, actor: Actor, name, role, initials, password, again) -> tuple[str, bool]:
    """Add a user from the form: (message, added). The rules' own messages on refusal."""
    try:
        with people.refusals_recorded(store, actor, "users"):
            access.check(actor, "users")
            if role not in ROLES:
                raise RuleError(f"Role: one of {', '.join(ROLE_LABELS[r] for r in ROLES)}")
            if (password or "") != (again or ""):
                raise RuleError("Password: the two passwords differ")
            row = people.add_user(store, str(name or ""), role, str(password or ""),
                                  str(initials or "").strip() or None, by=actor)
    except (RuleError, StoreError) as e:
        return f"Not added: {e}", False
    return f"Added {row['name']} ({row['initials']}, {ROLE_LABELS[row['role']]}).", True


def change_user_action(store, actor: Actor, name, role: Optional[str] = None,
                       active: Optional[bool] = None, password: Optional[str] = None,
                       again: Optional[str] = None) -> tuple[str, bool]:
    """Change a user's role or password, or disable/enable their login: (message, changed)."""
    try:
        with people.refusals_recorded(store, actor, "users"):
            access.check(actor, "users")
            current = people.user(store, name) if name else None
            if current is None:
                raise RuleError("User: choose one from the list")
            if password is not None:
                if password != (again or ""):
                    raise RuleError("Password: the two entries differ")
                people.change_user(store, current["name"], by=actor, password=password)
                return f"New password set for {current['name']}; their current sign-in has ended.", True
            if role is not None and role not in ROLES:
                raise RuleError(f"Role: one of {', '.join(ROLE_LABELS[r] for r in ROLES)}")
            if role is not None and role == current["role"]:
                return f"{current['name']} is already a {ROLE_LABELS[role]}.", False
            if active is not None and bool(current["active"]) == active:
                return f"{current['name']} is already {'enabled' if active else 'disabled'}.", False
            row = people.change_user(store, current["name"], by=actor, role=role, active=active)
    except (RuleError, StoreError) as e:
        return f"Not changed: {e}", False
    if role is not None:
        return f"{row['name']} is now a {ROLE_LABELS[row['role']]}; their current sign-in has ended.", True
    if active:
        return f"{row['name']} may sign in again.", True
    return f"{row['name']} is disabled: they can no longer sign in.", True


# ------------------------------------------------------------------ the page
def _user_options(store) -> list:
    return [u["name"] for u in people.users(store)]


def layout(store, protocol, rest: str):
    return page(store, auth.current_actor())


def page(store, actor: Actor):
    """The whole page for this actor; a role that may not see it gets only the refusal."""
    try:
        access.check(actor, "audit")
        users = _users_table(store, actor)
    except AccessError as e:
        return html.Div(className="page-error", children=[html.H2("Not for your role"), html.P(str(e))])
    table, count, total = audit_view(store, actor, {})
    password = {"type": "password", "maxLength": access.PASSWORD_MAX, "autoComplete": "new-password",
                "className": "text-input"}
    return html.Div(className="review review-admin", children=[
        html.H1("Administration", className="page-title"),
        html.H2("Users"),
        html.Div(users, id="adm-users"),
        html.Div(className="filters admin-form", id="adm-add-form", children=[
            html.Strong("Add a user:"),
            html.Label(["Name ", dcc.Input(id="adm-new-name", type="text", maxLength=40, className="text-input")]),
            html.Label(["Role ", dcc.Dropdown(id="adm-new-role", options=ROLE_OPTIONS, value="nurse",
                                              clearable=False, className="admin-select")]),
            html.Label(["Initials ", dcc.Input(id="adm-new-initials", type="text", maxLength=4,
                                               placeholder="from the name", className="text-input")]),
            html.Label(["Password ", dcc.Input(id="adm-new-password", **password)]),
            html.Label(["Again ", dcc.Input(id="adm-new-again", **password)]),
            html.Button("Add user", id="adm-add", className="btn btn-go"),
        ]),
        html.Div(className="filters admin-form", id="adm-change-form", children=[
            html.Strong("Change a user:"),
            dcc.Dropdown(id="adm-target", options=_user_options(store), placeholder="user…",
                         className="admin-select"),
            dcc.Dropdown(id="adm-target-role", options=ROLE_OPTIONS, placeholder="role…", className="admin-select"),
            html.Button("Set role", id="adm-set-role", className="btn"),
            html.Button("Disable", id="adm-disable", className="btn"),
            html.Button("Enable", id="adm-enable", className="btn"),
            html.Label(["New password ", dcc.Input(id="adm-target-password", **password)]),
            html.Label(["Again ", dcc.Input(id="adm-target-again", **password)]),
            html.Button("Set password", id="adm-set-password", className="btn"),
        ]),
        html.P(id="adm-user-status", className="form-status", role="status"),
        dcc.Store(id="adm-changed", data=0),
        *outbox_panel.section(store, actor),
        html.H2("Audit trail"),
        html.Div(className="filters", children=[
            html.Label(["User ", dcc.Dropdown(id="adm-f-user", options=_user_options(store), placeholder="any",
                                              className="admin-select")]),
            html.Label(["Action ", dcc.Dropdown(id="adm-f-action", options=people.audit_actions(store),
                                                placeholder="any", className="admin-select")]),
            html.Label(["Outcome ", dcc.Dropdown(id="adm-f-outcome", options=list(OUTCOMES), placeholder="any",
                                                 className="admin-select")]),
            html.Label(["Chair ", dcc.Dropdown(id="adm-f-chair", options=queries.chairs(store), placeholder="any",
                                               className="admin-select")]),
            html.Label(["Session id ", dcc.Input(id="adm-f-session", type="text", debounce=0.4, maxLength=20,
                                                 className="text-input")]),
            html.Div(["Date ", dcc.DatePickerRange(id="adm-f-dates", display_format="YYYY-MM-DD", clearable=True,
                                                   start_date_placeholder_text="from",
                                                   end_date_placeholder_text="to")], className="date-filter"),
        ]),
        html.Div(className="pager", children=[
            html.Button("◀ Newer", id="adm-prev", className="btn"),
            html.Span(count, id="adm-count", className="count-text", role="status"),
            html.Button("Older ▶", id="adm-next", className="btn"),
            html.Button("Download CSV", id="adm-dl-csv", className="btn",
                        title="every entry matching the filters, not only this page"),
            html.Span(id="adm-dl-status", className="form-status", role="status"),
            dcc.Download(id="adm-download"),
        ]),
        dcc.Store(id="adm-page", data={"page": 0, "total": total}),
        html.Div(table, id="adm-audit"),
    ])


# ------------------------------------------------------------------ callbacks
FILTER_STATES = [("adm-f-user", "value"), ("adm-f-action", "value"), ("adm-f-outcome", "value"),
                 ("adm-f-chair", "value"), ("adm-f-session", "value"), ("adm-f-dates", "start_date"),
                 ("adm-f-dates", "end_date")]


def _filters(*values) -> dict:
    return dict(zip(FILTERS, values))


def register(app, store, protocol) -> None:
    outbox_panel.register(app, store)

    @app.callback(Output("adm-audit", "children"), Output("adm-count", "children"), Output("adm-page", "data"),
                  *[Input(i, p) for i, p in FILTER_STATES], Input("adm-prev", "n_clicks"),
                  Input("adm-next", "n_clicks"), Input("adm-changed", "data"), State("adm-page", "data"),
                  prevent_initial_call=True)
    def filter_audit(user, action, outcome, chair, sid, start, end, _prev, _next, _changed, state):
        page_no = turned_page(state, ctx.triggered_id, "adm", PAGE_SIZE)
        actor = auth.current_actor()
        access.check(actor, "audit")
        table, count, total = audit_view(store, actor, _filters(user, action, outcome, chair, sid, start, end),
                                         page_no)
        return table, count, {"page": page_no, "total": total}

    @app.callback(Output("adm-download", "data"), Output("adm-dl-status", "children"),
                  Input("adm-dl-csv", "n_clicks"), *[State(i, p) for i, p in FILTER_STATES],
                  prevent_initial_call=True)
    def download(_n, *values):
        actor = auth.current_actor()
        access.check(actor, "audit")
        try:
            return audit_download(store, actor, _filters(*values)), ""
        except (RuleError, StoreError) as e:
            return None, f"Not downloaded: {e}"

    @app.callback(Output("adm-users", "children"), Output("adm-user-status", "children"),
                  Output("adm-user-status", "className"), Output("adm-new-password", "value"),
                  Output("adm-new-again", "value"), Output("adm-target", "options"), Output("adm-f-user", "options"),
                  Output("adm-changed", "data"), Output("adm-target-password", "value"),
                  Output("adm-target-again", "value"),
                  Input("adm-add", "n_clicks"), Input("adm-set-role", "n_clicks"), Input("adm-disable", "n_clicks"),
                  Input("adm-enable", "n_clicks"), Input("adm-set-password", "n_clicks"),
                  State("adm-new-name", "value"), State("adm-new-role", "value"),
                  State("adm-new-initials", "value"), State("adm-new-password", "value"),
                  State("adm-new-again", "value"), State("adm-target", "value"), State("adm-target-role", "value"),
                  State("adm-target-password", "value"), State("adm-target-again", "value"),
                  State("adm-changed", "data"), prevent_initial_call=True)
    def change_users(_add, _role, _disable, _enable, _password, name, role, initials, password, again, target,
                     target_role, target_password, target_again, changed):
        actor = auth.current_actor()
        access.check(actor, "users")
        if ctx.triggered_id == "adm-add":
            message, ok = add_user_action(store, actor, name, role, initials, password, again)
        elif ctx.triggered_id == "adm-set-password":
            message, ok = change_user_action(store, actor, target, password=target_password or "",
                                             again=target_again)
        elif ctx.triggered_id == "adm-set-role":
            message, ok = change_user_action(store, actor, target, role=target_role or "")
        else:
            message, ok = change_user_action(store, actor, target, active=ctx.triggered_id == "adm-enable")
        names = _user_options(store)
        return (_users_table(store, actor), message, "form-status" + ("" if ok else " form-error"), "", "",
                names, names, (changed or 0) + 1, "", "")
