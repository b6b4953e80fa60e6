"""Sign-in for the dashboard: the login page, the session cookie, CSRF, and the gate in front
of every page and callback (docs/ARCHITECTURE.md, "Who may do what").

- Logins are Flask-Login sessions in Flask's signed cookie (key kept in the database,
  store/people.secret), `HttpOnly`, `SameSite=Strict`, and `Secure` when served behind TLS.
  A login ends after SESSION_HOURS without a request, or at once when the user's password,
  role or access changes (users.login_version).
- CSRF: Flask-WTF's CSRFProtect checks every POST. Dash's renderer sends the token in its
  `X-CSRFToken` header from the `_csrf_token` cookie set here; the login form carries it.
- The gate: anything but the login page and the static assets answers an anonymous client
  with the login page (a page) or 401 (a callback); a callback is let through only for the
  role its outputs belong to (CALLBACK_ACTIONS), and the pages ask `access.permits` again.
- Passwords are checked by store/people (argon2); failed tries are throttled by
  access.login_wait over the audit trail's failed logins, so a restart does not reset it.
"""
from __future__ import annotations

import hmac
import ipaddress
import json
import threading
import time
from datetime import timedelta
from typing import Optional
from urllib.parse import urlsplit

from flask import Response, redirect, request, session
from flask_login import LoginManager, UserMixin, current_user, login_user, logout_user
from flask_wtf.csrf import CSRFError, CSRFProtect, generate_csrf
from jinja2 import Environment, PackageLoader

from .. import access
from ..access import Actor
from ..sessions import RuleError
from ..store import StoreError
from ..store import people

SESSION_HOURS = 12  # one clinic shift
CSRF_COOKIE = "_csrf_token"  # the name dash-renderer reads (its default csrf_token_name)
# Served to anyone: the login page and the static files (no patient data in any of them).
PUBLIC_PATHS = ("/login", "/setup", "/_favicon.ico")
PUBLIC_PREFIXES = ("/assets/", "/_dash-component-suites/")
# Dash's own JSON endpoints and the live pages' push channel (web/live.py): an anonymous
# request gets 401, not the login page.
DASH_PREFIX = "/_dash-"
LIVE_PREFIX = "/live/"

# A callback is let through for the action its outputs' ids belong to (the text before the
# first "-", or the pattern id's "type"). An id not listed is refused: every new page names
# its prefix here (tests/test_access.py checks every registered callback has one).
CALLBACK_ACTIONS = {
    "page": "view", "bed": "view", "act": "view", "open": "view", "note": "view", "strike": "view",
    "chart": "view", "med": "view", "dose": "view", "mv": "view", "bl": "view", "limit": "view", "ald": "view",
    "ov": "view", "obs": "view", "padss": "view", "dis": "view", "esc": "view", "escalation": "view",
    "sl": "review", "sv": "review", "pc": "review", "ab": "review",
    "adm": "audit",
}

_templates = Environment(loader=PackageLoader("monitor.web", "templates"), autoescape=True)


class WebUser(UserMixin):
    def __init__(self, row: dict, token: str):
        self.row = row
        # which sign-in (store.people logins) under which login version: signing out, a new
        # password, a new role or a disabled account ends it on the server, not only in this browser
        self.id = f"{row['id']}:{row['login_version']}:{token}"
        self.token = token
        self.name = row["name"]
        self.role = row["role"]
        self.initials = row["initials"]


def current_actor() -> Actor:
    """The signed-in user behind this request, as the store's writes take it."""
    if not current_user.is_authenticated:
        raise access.AccessError("Not signed in: sign in again")
    return Actor(current_user.name, current_user.role, current_user.initials, client_address())


def current_role() -> Optional[str]:
    return current_user.role if current_user.is_authenticated else None


def client_address() -> str:
    return request.remote_addr or ""


def is_loopback(host: str) -> bool:
    """Does listening on `host` keep the dashboard to this machine?"""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host[1:-1] if host.startswith("[") and host.endswith("]") else host).is_loopback
    except ValueError:
        return False


def _safe_next(target: Optional[str]) -> str:
    """Back to the page asked for, never off this site."""
    target = target or "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def page(template: str, status: int = 200, **values) -> Response:
    html = _templates.get_template(template).render(csrf_token=generate_csrf(), **values)
    return Response(html, status=status, mimetype="text/html")


def install(app, store, behind_tls: bool = False, setup_token: Optional[str] = None) -> None:
    """Put sign-in in front of the Dash app's Flask server."""
    server = app.server
    server.secret_key = people.secret(store, "cookie-key")
    server.config.update(
        SESSION_COOKIE_NAME="infusion_monitor_session", SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Strict", SESSION_COOKIE_SECURE=behind_tls,
        PERMANENT_SESSION_LIFETIME=timedelta(hours=SESSION_HOURS), SESSION_REFRESH_EACH_REQUEST=True,
        WTF_CSRF_TIME_LIMIT=None,  # the token lives as long as the login it belongs to
        WTF_CSRF_SSL_STRICT=True)
    # behind_tls: the proxy's X-Forwarded-* are applied by the WSGI server, which trusts them
    # only from the proxy's address (cli_web.serve_dashboard, waitress trusted_proxy)
    manager = LoginManager(server)
    signing_in = threading.Lock()  # one password check at a time: the throttle counts every try

    @manager.user_loader
    def load(user_id: str):
        try:
            uid, version, token = user_id.split(":", 2)
            uid, version = int(uid), int(version)
        except ValueError:
            return None
        # a StoreError propagates (503 below): a database that cannot answer is not a sign-out
        row = people.signed_in_user(store, uid, version, token)
        return WebUser(row, token) if row is not None else None

    @server.errorhandler(StoreError)
    def database_unavailable(e):
        """The database could not say who is signed in (busy, full, gone): 503, which a live page
        shows as the monitor answering with an error (connection-watch.js), not as signed out."""
        return Response(json.dumps({"error": f"the monitor's database cannot answer: {e}"}), status=503,
                        mimetype="application/json")

    def anonymous_answer():
        if request.path.startswith((DASH_PREFIX, LIVE_PREFIX)):
            return Response(json.dumps({"error": "signed out: sign in again"}), status=401,
                            mimetype="application/json")
        if request.method not in ("GET", "HEAD"):
            return Response("Sign in first.", status=401, mimetype="text/plain")
        return login_page(next_path=request.full_path.rstrip("?"))

    def login_page(status: int = 200, message: str = "", next_path: str = "/", name: str = ""):
        first_run = setup_token is not None and not people.has_admin(store)
        return page("login.html.j2", status=status, message=message, next_path=_safe_next(next_path), name=name,
                    first_run=first_run)

    @server.before_request
    def gate():
        path = request.path
        if path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES):
            return None
        if not current_user.is_authenticated:
            return anonymous_answer()
        if path == "/_dash-update-component" and request.method == "POST":
            action = callback_action(request.get_json(silent=True))
            if action is None or not access.permits(current_user.role, action):
                return Response(json.dumps({"error": "not permitted for your role"}), status=403,
                                mimetype="application/json")
        return None

    CSRFProtect(server)  # after the gate: an anonymous request is told to sign in, not "CSRF token missing"

    @server.after_request
    def csrf_cookie(response):
        """The CSRF token where dash-renderer reads it (not HttpOnly: the page's script must)."""
        if current_user.is_authenticated and response.mimetype == "text/html":
            response.set_cookie(CSRF_COOKIE, generate_csrf(), samesite="Strict", secure=behind_tls, httponly=False)
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        return response

    @server.errorhandler(CSRFError)
    def csrf_refused(e):
        if request.path == "/login":
            return login_page(400, "The sign-in form had expired: try again.")
        return Response(json.dumps({"error": f"refused: {e.description}"}), status=400, mimetype="application/json")

    @server.route("/login", methods=["GET", "POST"])
    def login():
        if request.method != "POST":  # GET and HEAD
            if current_user.is_authenticated:
                return redirect(_safe_next(request.args.get("next")))
            return login_page(next_path=request.args.get("next", "/"))
        typed = (request.form.get("name") or "").strip()[:80]
        name = typed if access.USER_NAME.match(typed) else "(not a user name)"  # the trail keeps no junk
        password = request.form.get("password") or ""
        next_path = request.form.get("next", "/")
        address = client_address()
        try:
            with signing_in:
                now = time.time()
                by_name, by_address = people.failed_logins(store, name, address, now - access.LOGIN_WINDOW_S)
                wait = access.sign_in_wait(by_name, by_address, now)
                if wait > 0:
                    if not people.recently_refused(store, address, now - access.REFUSED_SIGN_IN_AUDIT_S):
                        people.record(store, None, "login", "refused", user=name, address=address,
                                      detail=f"too many failed tries: wait {wait:.0f} s")
                    return login_page(429, f"Too many failed sign-ins: try again in {_wait_text(wait)}.",
                                      next_path, typed)
                row = people.verify_password(store, typed, password)
                if row is None:
                    people.record(store, None, "login", "failed", user=name, address=address)
                    return login_page(401, "Wrong name or password.", next_path, typed)
                token = people.login_succeeded(store, row, address)
            session.clear()  # no state carried over from before the login (session fixation)
            login_user(WebUser(row, token))
            session.permanent = True
        except StoreError as e:
            return login_page(503, f"The monitor's database cannot answer now ({e}): try again.", next_path, name)
        return redirect(_safe_next(next_path))

    @server.route("/logout", methods=["POST"])
    def logout():
        if current_user.is_authenticated:
            try:
                people.end_login(store, current_user.token, current_actor())
            except StoreError:
                pass  # the browser forgets the cookie even when the database cannot answer now
            logout_user()
        session.clear()
        return redirect("/login")

    @server.route("/setup", methods=["GET", "POST"])
    def setup():
        """The first administrator, made from this machine with the token `run`/`serve` printed."""
        if setup_token is None or people.has_admin(store):
            return redirect("/login")
        token = request.values.get("token", "")
        if not hmac.compare_digest(token.encode(), setup_token.encode()):
            return login_page(403, "This setup link is not valid: use the one the monitor printed when it started.")
        if request.method == "GET":
            return page("setup.html.j2", token=token, message="", name="")
        name = request.form.get("name", "")
        password = request.form.get("password", "")
        if password != request.form.get("again", ""):
            return page("setup.html.j2", status=400, token=token, message="The two passwords differ.", name=name)
        try:
            row = people.add_user(store, name, "admin", password, request.form.get("initials") or None)
            people.record(store, Actor(row["name"], "admin", row["initials"], client_address()), "users",
                          detail=f"first administrator {row['name']} made with the setup link")
        except RuleError as e:
            return page("setup.html.j2", status=400, token=token, message=str(e), name=name)
        except StoreError as e:
            return page("setup.html.j2", status=503, token=token, message=str(e), name=name)
        return redirect("/login")


def callback_action(body) -> Optional[str]:
    """The action a Dash callback request belongs to, from its outputs' ids; None: unknown.

    Dash runs the callback its `output` string names (its callback_map key), so that string
    decides; the `outputs` list (what the answer is keyed by) must name the same action."""
    if not isinstance(body, dict) or not isinstance(body.get("output"), str):
        return None
    key = body["output"]
    ids = [part.rsplit(".", 1)[0] for part in (key[2:-2].split("...") if key.startswith("..") else [key])]
    outputs = body.get("outputs")
    outputs = outputs if isinstance(outputs, list) else [outputs]
    for out in outputs:
        for o in (out if isinstance(out, list) else [out]):
            ids.append(o.get("id") if isinstance(o, dict) else None)
    actions = set()
    for cid in ids:
        if isinstance(cid, str) and cid.startswith("{"):
            try:
                cid = json.loads(cid)
            except ValueError:
                return None
        if isinstance(cid, dict):
            cid = cid.get("type")
        if not isinstance(cid, str) or not cid:
            return None
        action = CALLBACK_ACTIONS.get(cid.split("-", 1)[0])
        if action is None:
            return None
        actions.add(action)
    if len(actions) != 1:
        return None
    return actions.pop()


def _wait_text(seconds: float) -> str:
    if seconds < 90:
        return f"{int(seconds + 0.999)} seconds"
    m = int((seconds + 59) // 60)
    return f"{m} minutes"
