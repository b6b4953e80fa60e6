"""Review pages: the session list (/sessions), one session's chart (/session/<id>) and a
patient's course (/patient/<ref>), with downloads of the exports.

Everything is read through monitor.store (summaries come from
monitor/store/summaries.py); these pages never decide alarms, they show the ones
the engine recorded.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Optional
from urllib.parse import quote

from dash import Input, Output, State, ctx, dcc, html, no_update

from .. import access, exports, profile_choice, sessions
from ..access import Actor
from ..formatting import fmt_bp, fmt_date, fmt_duration, fmt_min, fmt_num, fmt_time
from ..model import PRIORITIES, PRIORITY, TOP_PRIORITY, Event, entry_label, priority_mark, struck_entries
from ..session_review import escalation_text, load, summary_items
from ..sessions import PATIENT_REF_MAX, SIGNOFF_STATEMENT
from ..store import StoreError, people, queries, summaries
from . import auth, review_figures
from .forms import not_stored, session_now

PAGE_SIZE = 50
MIME = {"csv": "text/csv", "html": "text/html", "fhir": "application/fhir+json", "rems": "text/html"}


# ------------------------------------------------------------------ shared pieces
def session_href(sid: int) -> str:
    return f"/session/{sid}"


def patient_href(ref: str) -> str:
    return f"/patient/{quote(ref, safe='')}"


def _at(row: dict, col: str) -> str:
    """'186 at +20.0 min': a peak and when, on the infusion axis."""
    value = row.get(col)
    if value is None:
        return "–"
    at = row.get(f"{col}_at")
    origin = row["infusion_start"] if row["infusion_start"] is not None else row["started_at"]
    return f"{value:.0f} at {fmt_min((at - origin) / 60.0)}" if at is not None else f"{value:.0f}"


def alarm_counts(row: dict):
    parts = []
    for p in PRIORITIES:
        n = row.get(f"alarms_{p}") or 0
        parts.append(html.Span(f"{PRIORITY[p].symbol} {n}", className=f"count count-{p}" + (" count-zero" if not n else ""),
                               title=f"{n} {p}-priority alarm(s)"))
    tech = row.get("alarms_technical") or 0
    parts.append(html.Span(f"tech {tech}", className="count count-technical" + (" count-zero" if not tech else ""),
                           title=f"{tech} technical alarm(s)"))
    return parts


def _cells(row: dict) -> list:
    return [html.Td(fmt_duration(row.get("duration_s")), className="num"),
            html.Td(fmt_bp(row.get("baseline_sbp"), row.get("baseline_dbp")), className="num"),
            html.Td(_at(row, "peak_sbp"), className="num cell-peak-sbp"),
            html.Td(_at(row, "peak_dbp"), className="num cell-peak-dbp"),
            html.Td(_at(row, "peak_hr"), className="num cell-peak-hr"),
            html.Td(_at(row, "min_spo2"), className="num cell-min-spo2"),
            html.Td(alarm_counts(row), className="cell-alarms")]


SUMMARY_HEAD = ["Duration", "Baseline BP", "Peak SBP", "Peak DBP", "Peak HR", "Lowest SpO₂", "Alarms"]


def review_table(head: list[str], rows: list, cls: str):
    """A table of the review and admin pages: a heading row, then the rows given."""
    return html.Table(className=f"review-table {cls}", children=[
        html.Thead(html.Tr([html.Th(h) for h in head])), html.Tbody(rows)])


def _not_found(what: str):
    return html.Div(className="page-error review", children=[
        html.H2(what), dcc.Link("All sessions", href="/sessions")])


# ------------------------------------------------------------------ /sessions
def _day_start(date: Optional[str]) -> Optional[float]:
    if not date:
        return None
    try:
        return datetime.strptime(date[:10], "%Y-%m-%d").timestamp()  # local midnight
    except ValueError:
        return None


def session_rows(store, patient=None, chair=None, start_date=None, end_date=None, high=False, page=0, site=None):
    """(table rows, total) for the list; dates are local YYYY-MM-DD, end date inclusive."""
    start = _day_start(start_date)
    end = _day_start(end_date)
    end = None if end is None else (datetime.fromtimestamp(end) + timedelta(days=1)).timestamp()
    rows, total = summaries.list_sessions(store, patient=(patient or "").strip() or None, chair=chair or None,
                                          start=start, end=end, high_only=bool(high), site=site or None,
                                          limit=PAGE_SIZE, offset=page * PAGE_SIZE)
    out = []
    for r in rows:
        high_alarm = (r.get("alarms_high") or 0) > 0
        out.append(html.Tr(className="session-row" + (" had-high" if high_alarm else ""),
                           **{"data-session": str(r["id"])}, children=[
            html.Td(dcc.Link(fmt_date(r["started_at"]), href=session_href(r["id"]))),
            html.Td(dcc.Link(r["patient_ref"] or "–", href=patient_href(r["patient_ref"] or ""))
                    if r["patient_ref"] else "–", className="cell-patient"),
            html.Td(r["chair"] or "–", className="cell-chair"),
            html.Td(r["state"], className=f"cell-state state-{r['state']}"),
            *_cells(r)]))
    return out, total


def _list_view(store, page: int = 0, **filters):
    rows, total = session_rows(store, page=page, **filters)
    first = page * PAGE_SIZE
    if total == 0:
        count = "No sessions match."
    else:
        count = f"{first + 1}–{first + len(rows)} of {total} sessions"
    table = review_table(["Started", "Patient", "Chair", "State", *SUMMARY_HEAD], rows, "session-list") if rows \
        else html.P("No sessions match these filters.", className="empty")
    return table, count, total


def sessions_layout(store, protocol, rest: str):
    table, count, total = _list_view(store)
    sites = queries.sites(store)
    return html.Div(className="review review-list", children=[
        html.H1("Sessions", className="page-title"),
        html.Div(className="filters", children=[
            html.Label(["Patient ", dcc.Input(id="sl-patient", type="text", debounce=0.4, placeholder="ref contains…",
                                              maxLength=PATIENT_REF_MAX)]),
            html.Label(["Chair ", dcc.Dropdown(id="sl-chair", options=queries.chairs(store), placeholder="any",
                                               clearable=True, className="chair-select")]),
            # a central database (store/forwarding.py): which site's sessions; hidden where there are none
            html.Label(["Site ", dcc.Dropdown(id="sl-site", options=sites, placeholder="any", clearable=True,
                                              className="site-select")],
                       style=None if sites else {"display": "none"}),
            html.Div(["Started ", dcc.DatePickerRange(id="sl-dates", display_format="YYYY-MM-DD", clearable=True,
                                                      start_date_placeholder_text="from",
                                                      end_date_placeholder_text="to")], className="date-filter"),
            dcc.Checklist(id="sl-high", options=[{"label": f" had a {TOP_PRIORITY}-priority alarm "
                                                          f"({PRIORITY[TOP_PRIORITY].symbol})", "value": "high"}],
                          value=[], className="high-filter"),
        ]),
        html.Div(className="pager", children=[
            html.Button("◀ Newer", id="sl-prev", className="btn"),
            html.Span(count, id="sl-count", className="count-text", role="status"),
            html.Button("Older ▶", id="sl-next", className="btn"),
        ]),
        dcc.Store(id="sl-page", data={"page": 0, "total": total}),
        html.Div(table, id="sl-table"),
    ])


# ------------------------------------------------------------------ /session/<id>
def session_id(rest: str) -> Optional[int]:
    """The id in /session/<id>; None for anything that cannot name a stored session
    (not plain digits, zero, beyond what the database holds)."""
    raw = rest.strip("/")
    if not (raw.isascii() and raw.isdigit() and len(raw) <= len(str(queries.MAX_ID))):
        return None
    sid = int(raw)
    return sid if 0 < sid <= queries.MAX_ID else None


def session_found(store, rest: str) -> bool:
    sid = session_id(rest)
    return sid is not None and queries.session(store, sid) is not None


def session_layout(store, protocol, rest: str):
    sid = session_id(rest)
    if sid is None:
        return _not_found(f"No session {rest.strip('/')[:40]!r}")
    review = load(store, sid)
    if review is None:
        return _not_found(f"No session {sid}")
    s = review.session
    protocol = profile_choice.session_profile(protocol, s["protocol"])  # its limit lines are its own profile's
    chart = review_figures.session_figure(review, protocol)
    resp = review_figures.respiration_figure(review, protocol, chart)
    cards = [html.Div(className="card", **{"data-item": label}, children=[
        html.Div(label, className="card-label"), html.Div(value, className="card-value"),
        html.Div(detail, className="card-detail")]) for label, value, detail in summary_items(review)]
    return html.Div(className="review review-session", children=[
        dcc.Store(id="sv-session", data=sid),
        html.H1(className="page-title", children=[
            f"Session {sid} · ",
            dcc.Link(s["patient_ref"] or "–", href=patient_href(s["patient_ref"] or ""), className="patient-link")]),
        html.P(className="review-meta", children=(
            f"Chair {s['chair'] or '–'} · started {fmt_date(s['started_at'])} · infusion "
            f"{fmt_time(s['infusion_start'])}–{fmt_time(s['infusion_end'])} · ended {fmt_time(s['ended_at'])} · "
            f"{s['state']} · protocol {s['protocol'] or '–'}")),
        html.Div(cards, className="cards", id="sv-summary"),
        html.Div(className="downloads", children=[
            html.Span("Download:", className="dl-label"),
            html.Button("CSV", id="sv-dl-csv", className="btn"),
            html.Button("Report (HTML, prints to PDF)", id="sv-dl-html", className="btn"),
            html.Button("FHIR R4 (JSON)", id="sv-dl-fhir", className="btn"),
            html.Button("REMS form facts (esketamine, HTML)", id="sv-dl-rems", className="btn",
                        title="The REMS patient monitoring form's facts from this record, to check and submit yourself"),
            dcc.Download(id="sv-download"),
            html.Span(id="sv-dl-status", className="form-status", role="status"),
            dcc.Link("All sessions", href="/sessions", className="back-link"),
        ]),
        dcc.Graph(id="sv-chart", figure=chart, config={"displaylogo": False, "scrollZoom": True},
                  className="review-chart"),
        *([dcc.Graph(id="sv-resp-chart", figure=resp, config={"displaylogo": False, "scrollZoom": True},
                     className="review-chart review-resp-chart")] if resp else []),
        html.H2("Alarms"),
        _alarm_table(review),
        html.H2("Events"),
        _event_table(review),
        html.H2("Reviewer sign-off"),
        html.Div(_signoffs(review), id="sv-signoffs"),
        html.Div(className="signoff-form", children=[
            html.P(SIGNOFF_STATEMENT),
            html.P("Signed with your login.", className="muted"),
            html.Button("Sign the record", id="sv-signoff", className="btn btn-go",
                        disabled=sessions.refusal("review_signoff", s["state"]) is not None,
                        title=sessions.refusal("review_signoff", s["state"]) or ""),
            html.Span(id="sv-signoff-status", className="form-status", role="status"),
        ]),
    ])


def _signoffs(review) -> list:
    signed = [e for e in review.events if e["type"] == "review_signoff"]
    if not signed:
        return [html.P("Not signed yet.", className="muted")]
    return [html.P(f"{e['text']} {e['data'].get('name', '')} ({e['author']}), {fmt_date(e['ts'])}",
                   className="signed") for e in signed]


def sign_off_action(store, session_id: int, actor: Actor) -> tuple[str, bool]:
    """The signed-in clinician signs the reviewed record: their login name and initials, the
    statement, the time (their role checked and the signature audited by the store)."""
    if not isinstance(session_id, int) or isinstance(session_id, bool):
        return "Not signed: no session on this page.", False
    try:
        store.record_event(session_id, Event(session_now(store, session_id), "review_signoff", SIGNOFF_STATEMENT,
                                             actor.initials), {"name": actor.name}, actor=actor)
    except (sessions.RuleError, StoreError) as e:
        return f"Not signed: {e}", False
    return f"Signed by {actor.name} ({actor.initials}).", True


def export_action(store, protocol, session_id, fmt: str, actor: Actor) -> tuple[Optional[dict], str]:
    """(the download, or None; what the page says) for one session's export in `fmt`. An export
    needs the `export` action (access.check); it and a refusal are both written to the audit trail."""
    s = queries.session(store, session_id) if isinstance(session_id, int) and fmt in MIME else None
    if s is None:
        return None, "No such session to export."
    try:
        with people.refusals_recorded(store, actor, "export", chair=s["chair"], session_id=session_id):
            access.check(actor, "export")
        text = exports.render(store, session_id, fmt, protocol)
        people.record(store, actor, "export", chair=s["chair"], session_id=session_id, detail=fmt)
    except (sessions.RuleError, exports.ExportError) as e:  # ExportError: e.g. FHIR without a patient
        return None, f"Not exported: {e}"
    except StoreError as e:
        return None, not_stored("Not exported", e)
    return ({"content": text, "filename": exports.default_filename(s, fmt), "type": MIME[fmt], "base64": False},
            f"Exported {fmt.upper()} ({actor.initials}).")


def _alarm_table(review):
    rows = []
    for a in review.alarm_rows():
        p = a["priority"]
        rows.append(html.Tr(className=f"alarm-row alarm-row-{p}", **{"data-rule": a["rule"]}, children=[
            html.Td(priority_mark(p), className=f"prio prio-{p}"),
            html.Td(a["rule"]), html.Td(a["kind"]),
            html.Td(f"{fmt_min(a['start_min'])} ({fmt_time(a['started_at'])})"),
            html.Td("active at end" if a["ended_at"] is None else fmt_min(a["end_min"])),
            html.Td(fmt_duration(a["duration_s"]), className="num"),
            html.Td(fmt_num(a["value"], 1).removesuffix(".0"), className="num"),
            html.Td(a["message"] or ""),
            html.Td(fmt_duration(a["ack_delay_s"]) if a["ack_delay_s"] is not None else "not acknowledged"),
            html.Td(a["acknowledged_by"] or "–"), html.Td(escalation_text(a), className="escalated")]))
    if not rows:
        return html.P("No alarms in this session.", className="empty", id="sv-alarms")
    return html.Div(review_table(["Priority", "Rule", "Kind", "Start", "End", "Duration", "Worst", "Message",
                            "Time to ack", "By", "Escalated"], rows, "alarm-table"), id="sv-alarms")


def _event_table(review):
    struck = struck_entries(review.events)
    rows = [html.Tr(**{"data-type": e["type"]}, children=[
        html.Td(fmt_min(review.minutes(e["ts"]))), html.Td(fmt_time(e["ts"])), html.Td(entry_label(e, struck)),
        html.Td(e["text"] or ""), html.Td(e["author"] or "")]) for e in review.events]
    if not rows:
        return html.P("No events charted.", className="empty", id="sv-events")
    return html.Div(review_table(["Minute", "Time", "Event", "Text", "By"], rows, "event-table"), id="sv-events")


# ------------------------------------------------------------------ /patient/<ref>
def patient_found(store, rest: str) -> bool:
    ref = rest.strip("/")
    return bool(ref) and queries.has_patient(store, ref)


def patient_layout(store, protocol, rest: str):
    ref = rest.strip("/")
    rows = summaries.patient_sessions(store, ref) if ref else []
    if not rows:
        return _not_found(f"No sessions for patient {ref[:40]!r}")
    table_rows = [html.Tr(className="session-row", **{"data-session": str(r["id"])}, children=[
        html.Td(f"#{i + 1}"), html.Td(dcc.Link(fmt_date(r["started_at"]), href=session_href(r["id"]))),
        html.Td(r["chair"] or "–"), *_cells(r)]) for i, r in enumerate(rows)]
    series = summaries.bp_series(store, [r["id"] for r in rows])
    return html.Div(className="review review-patient", children=[
        html.H1(f"Patient {ref} · {len(rows)} session{'s' if len(rows) != 1 else ''}", className="page-title"),
        html.P("Oldest first: read left to right to see whether the response changes over the course.",
               className="review-meta"),
        dcc.Graph(id="pv-course", figure=review_figures.course_figure(rows), config={"displaylogo": False}),
        html.H2("Blood pressure, every session on one axis"),
        dcc.Graph(id="pv-bp", figure=review_figures.bp_overlay_figure(rows, series),
                  config={"displaylogo": False, "scrollZoom": True}),
        html.H2("Sessions"),
        review_table(["#", "Started", "Chair", *SUMMARY_HEAD], table_rows, "patient-sessions"),
        dcc.Link("All sessions", href="/sessions", className="back-link"),
    ])


def turned_page(state: Optional[dict], trigger, prefix: str, page_size: int) -> int:
    """The page of a paged table after a click on its `<prefix>-prev`/`-next` button; any other
    trigger (a filter changed) goes back to the first page."""
    page, total = (state or {}).get("page", 0), (state or {}).get("total", 0)
    if trigger == f"{prefix}-prev":
        return max(0, page - 1)
    if trigger == f"{prefix}-next":
        return page + 1 if (page + 1) * page_size < total else page
    return 0


# ------------------------------------------------------------------ callbacks
def register(app, store, protocol) -> None:
    @app.callback(Output("sl-table", "children"), Output("sl-count", "children"), Output("sl-page", "data"),
                  Input("sl-patient", "value"), Input("sl-chair", "value"), Input("sl-dates", "start_date"),
                  Input("sl-dates", "end_date"), Input("sl-high", "value"), Input("sl-site", "value"),
                  Input("sl-prev", "n_clicks"), Input("sl-next", "n_clicks"), State("sl-page", "data"),
                  prevent_initial_call=True)
    def filter_sessions(patient, chair, start_date, end_date, high, site, _prev, _next, state):
        access.check(auth.current_actor(), "review")  # the gate let it through for review; ask again
        page = turned_page(state, ctx.triggered_id, "sl", PAGE_SIZE)
        table, count, total = _list_view(store, page, patient=patient, chair=chair, start_date=start_date,
                                         end_date=end_date, high="high" in (high or []), site=site)
        return table, count, {"page": page, "total": total}

    @app.callback(Output("sv-signoff-status", "children"), Output("sv-signoffs", "children"),
                  Input("sv-signoff", "n_clicks"), State("sv-session", "data"), prevent_initial_call=True)
    def sign_off(_n, sid):
        msg, ok = sign_off_action(store, sid, auth.current_actor())
        return msg, (_signoffs(load(store, sid)) if ok else no_update)

    @app.callback(Output("sv-download", "data"), Output("sv-dl-status", "children"),
                  Input("sv-dl-csv", "n_clicks"), Input("sv-dl-html", "n_clicks"),
                  Input("sv-dl-fhir", "n_clicks"), Input("sv-dl-rems", "n_clicks"), State("sv-session", "data"),
                  prevent_initial_call=True)
    def download(_csv, _html, _fhir, _rems, sid):
        fmt = {"sv-dl-csv": "csv", "sv-dl-html": "html", "sv-dl-fhir": "fhir",
               "sv-dl-rems": "rems"}.get(ctx.triggered_id)
        if fmt is None:
            return no_update, no_update
        data, msg = export_action(store, protocol, sid, fmt, auth.current_actor())
        return (no_update if data is None else data), msg
