"""Shared fixtures: a real SQLite file per test, the shipped protocol, the CLI."""
from __future__ import annotations

import atexit
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Optional

import pytest

from monitor.access import Actor
from monitor.protocol import load_protocol
from monitor.store import Store, people

ROOT = Path(__file__).resolve().parent.parent


# --- test layers ---
# Markers (registered in pyproject.toml): `browser` drives headless Chromium, `serial` does real
# serial I/O over pseudo-terminals, `postgres` runs against a real PostgreSQL server the tests
# start, `slow` is anything else over about a quarter second (the CLI in a
# subprocess, a real server, a whole simulated session, big property runs). `make quick` runs the rest,
# the in-process layer. A test that reaches one of these fixtures cannot be in that layer, so a
# missing marker is a collection error rather than a slow inner loop.
LAYER_OF_FIXTURE = {
    "browser": {"browser"},
    "emulators": {"serial"},
    "suntech_emulator": {"serial"},
    "live_chairs": {"serial", "slow"},
    "cli": {"slow", "browser"},
    "server": {"slow", "browser"},
    "pg_server": {"postgres"},
    "pg_url": {"postgres"},
}


def pytest_collection_modifyitems(config, items):
    missing = []
    for item in items:
        marks = {m.name for m in item.iter_markers()}
        for fixture in getattr(item, "fixturenames", ()):
            layers = LAYER_OF_FIXTURE.get(fixture)
            if layers and not layers & marks:
                missing.append(f"{item.nodeid} uses the {fixture} fixture: mark it {' or '.join(sorted(layers))}")
    if missing:
        raise pytest.UsageError("\n".join(missing))


# --- who is signed in ---
# One user per role, as the page's writes take them (access.Actor) and as the test servers
# know them (add_test_users): their initials are what their entries are signed with.
TEST_PASSWORD = "correct horse battery"
NURSE = Actor("nurse1", "nurse", "RN", "test")
CLINICIAN = Actor("doc1", "clinician", "DR", "test")
ADMIN = Actor("admin1", "admin", "AD", "test")
TEST_USERS = {"nurse": NURSE, "clinician": CLINICIAN, "admin": ADMIN}


_TEST_USER_ROWS: list[dict] = []


def add_test_users(store) -> None:
    """The three test users (TEST_USERS, password TEST_PASSWORD), unless already there.

    They are made once per test run through people.add_user (argon2 at its real cost, a few
    tenths of a second each) and copied as rows into every other database, so a hundred
    test servers do not spend minutes hashing the same three passwords."""
    if not _TEST_USER_ROWS:
        import tempfile
        with tempfile.TemporaryDirectory() as d:
            template = Store(Path(d) / "users.db")
            for role, a in TEST_USERS.items():
                people.add_user(template, a.name, role, TEST_PASSWORD, a.initials)
            _TEST_USER_ROWS.extend(template._query("SELECT name, role, initials, password_hash, created_at FROM users"))
            template.close()
    with store._transaction() as conn:
        for r in _TEST_USER_ROWS:
            conn.execute("INSERT INTO users (name, role, initials, password_hash, created_at) "
                         "VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING", tuple(r.values()))


@pytest.fixture(autouse=True)
def profiles_known_afresh():
    """The profiles a process knows by name (monitor/profile_choice.py) are process-wide: each
    test starts from none, as a process does."""
    from monitor import profile_choice
    profile_choice.forget_all()
    yield


@pytest.fixture(scope="session")
def protocol():
    return load_protocol()


# --- which database ---
# A test module marked `both_engines` runs each of its tests twice: on a SQLite file and on a
# fresh database of the real PostgreSQL server (pg_server below); `db_path` is then the file's
# path or the database's URL, and `store` opens either. A test about the SQLite file itself
# (its locks, its -wal, a full disk under it) is marked `sqlite_only`.
def pytest_generate_tests(metafunc):
    if ("engine" in metafunc.fixturenames and metafunc.definition.get_closest_marker("both_engines")
            and not metafunc.definition.get_closest_marker("sqlite_only")):
        metafunc.parametrize("engine", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)],
                             indirect=True)


@pytest.fixture
def engine(request) -> str:
    """The database engine this test runs on: "sqlite" unless parametrized (both_engines)."""
    return getattr(request, "param", "sqlite")


@pytest.fixture
def db_path(tmp_path, engine, request):
    if engine == "postgresql":
        return request.getfixturevalue("pg_url")
    return tmp_path / "monitor.db"


def nothing_written(db) -> bool:
    """Was nothing written to this database? A SQLite file: it does not exist; a PostgreSQL
    database: it has no tables (not even the schema's version)."""
    if str(db).startswith("postgresql://"):
        import psycopg
        with psycopg.connect(str(db)) as conn:
            return conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").fetchone()[0] == 0
    return not Path(db).exists()


@pytest.fixture
def store(db_path):
    s = Store(db_path)
    yield s
    s.close()


def wait_until(predicate, timeout: float = 15.0, interval: float = 0.05):
    """Poll until predicate() returns something truthy; returns it (or fails the test)."""
    end = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > end:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(interval)


def watched(store, *chairs, problem=None) -> None:
    """One heartbeat now, as an acquisition process watching these chairs writes each second
    (fresh for sessions.MONITORING_STALE_S): for tests of a page over a chair being monitored."""
    store.heartbeat(chairs, time.time(), os.getpid(), "test", time.time(), problem=problem)


class Watching:
    """Beats for chairs every half second, as a running acquisition process does, until stopped:
    for page tests over chairs no real acquisition runs for (`add` more chairs at any time)."""

    def __init__(self, store):
        import threading
        self.store, self.chairs, self.stop_event = store, [], threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def add(self, *chairs) -> None:
        self.chairs += chairs
        watched(self.store, *self.chairs)

    def _run(self):
        while not self.stop_event.wait(0.5):
            if self.chairs:
                watched(self.store, *self.chairs)

    def stop(self):
        self.stop_event.set()
        self.thread.join(timeout=5)


@pytest.fixture
def watching():
    """`watching(store, *chairs)`: those chairs count as watched by an acquisition process
    (sessions.acquisition_alive) until the test ends."""
    made = []

    def start(store, *chairs):
        w = Watching(store)
        w.add(*chairs)
        made.append(w)
        return w

    yield start
    for w in made:
        w.stop()


def interrupt(proc: subprocess.Popen, timeout: float = 15) -> bool:
    """Ctrl-C a command (continuing it first if a test froze it with SIGSTOP); True when it
    stopped by itself, False when it had to be killed."""
    import signal
    if proc.poll() is None:
        proc.send_signal(signal.SIGCONT)
        proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=timeout)
        return True
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        return False


def run_cli(*args, db=None, check=False, timeout=120, **kw) -> subprocess.CompletedProcess:
    """Run the installed console script as a user would."""
    cmd = [str(Path(sys.executable).parent / "infusion-monitor")]
    if db is not None:
        cmd += ["--db", str(db)]
    cmd += [str(a) for a in args]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=kw.pop("cwd", ROOT),
                          env={**os.environ, **kw.pop("env", {})})
    if check and proc.returncode != 0:
        raise AssertionError(f"{cmd} failed ({proc.returncode}): {proc.stderr}")
    return proc


@pytest.fixture
def cli(db_path):
    def _run(*args, **kw):
        return run_cli(*args, db=db_path, **kw)
    return _run


# --- suntech ---
@pytest.fixture
def suntech_emulator():
    """Factory for started SunTech NIBP emulators on ptys (fast by default); stopped at teardown."""
    from adapters.emulators.suntech import SunTechEmulator
    made = []

    def make(**options):
        options.setdefault("speed", 10.0)
        options.setdefault("measurement_s", 10.0)  # 1 s of wall time at speed 10
        emulator = SunTechEmulator(**options).start()
        made.append(emulator)
        return emulator

    yield make
    for emulator in made:
        emulator.stop()


# --- browser and server ---
def free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """`infusion-monitor serve|run` in a subprocess on a free port (real waitress)."""

    def __init__(self, db, command="serve", extra=(), port=None, protocol=None):
        import urllib.request
        s = Store(db)  # serve shows an existing database (start it empty); the test users can sign in
        add_test_users(s)
        s.close()
        self.port = port or free_port()  # a port again: the same server restarted
        self.url = f"http://127.0.0.1:{self.port}"
        cmd = [str(Path(sys.executable).parent / "infusion-monitor"), "--db", str(db),
               *(["--protocol", str(protocol)] if protocol else []), command,
               "--port", str(self.port), *extra]
        # its output to a file, not a pipe nobody reads while it runs: a full pipe would block
        # the server at its next log line, and the test would see a hung page
        fd, self.log_path = tempfile.mkstemp(prefix="im-serve-", suffix=".log")
        os.close(fd)
        atexit.register(os.unlink, self.log_path)
        with open(self.log_path, "ab") as log:  # the server's own descriptor: ours reads the path
            self.proc = subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)

        def up():
            if self.proc.poll() is not None:
                raise AssertionError(f"server exited: {self.output()}")
            try:
                with urllib.request.urlopen(self.url + "/", timeout=2):
                    return True
            except OSError:
                return False
        wait_until(up, timeout=30)

    def login(self, driver, role: str = "clinician", path: str = "/"):
        """Sign the browser in as the test user of this role, then open `path` (login.html.j2)."""
        return sign_in_browser(driver, self.url, role, path)

    def http(self, role: Optional[str] = "clinician"):
        """A requests.Session signed in as the test user of this role (None: anonymous), sending
        the CSRF header the page's script sends (X-CSRFToken from the _csrf_token cookie)."""
        return signed_in_http(self.url, role)

    def output(self) -> str:
        """What the server has printed so far (stdout and stderr)."""
        return Path(self.log_path).read_text(errors="replace")

    def stop(self):
        interrupt(self.proc)


def text_of(browser, css: str) -> str:
    """An element's innerText, read in one script call (a re-render in between cannot go stale); "" if none."""
    return browser.execute_script("const e = document.querySelector(arguments[0]); return e ? e.innerText : '';",
                                  css) or ""


def sign_in_browser(driver, url: str, role: str = "clinician", path: str = "/"):
    """Sign the browser in, on the server at `url`, as the test user of this role, then open
    `path` (login.html.j2)."""
    from urllib.parse import quote
    from selenium.webdriver.common.by import By
    user = TEST_USERS[role]
    # cookies are per host, not per port: whoever this browser was signed in as, on any
    # test server, is forgotten first (else /login sends a signed-in browser on to `path`).
    # The page left goes first: a tick of a live page still in flight when the cookies are
    # cleared comes back with the session cookie refreshed, signing the browser in again.
    # A response can still land after that (a page kept frozen in the back-forward cache is not
    # always gone): when /login still sends the browser on, signed in, the cookies go again.
    for _ in range(3):
        driver.get("about:blank")
        driver.execute_cdp_cmd("Network.clearBrowserCookies", {})
        driver.get(url + "/login?next=" + quote(path, safe="/"))
        try:
            form = wait_until(lambda: driver.find_elements(By.ID, "login-name") or (
                "/login" not in driver.current_url and ["signed in again"]), timeout=15)
        except AssertionError:
            raise AssertionError(f"no login form at {driver.current_url}: {driver.page_source[:300]!r}") from None
        if form != ["signed in again"]:
            break
    else:
        raise AssertionError(f"/login kept sending the browser on to {driver.current_url}: cookies not cleared")
    form[0].send_keys(user.name)
    driver.find_element(By.ID, "login-password").send_keys(TEST_PASSWORD)
    driver.find_element(By.ID, "login-submit").click()
    wait_until(lambda: "/login" not in driver.current_url, timeout=15)
    # and the page asked for has drawn its layout (Dash replaces its "Loading..." placeholder):
    # a test looking for the page's elements at once does not race the script
    wait_until(lambda: driver.execute_script(
        "return document.readyState === 'complete' && !document.querySelector('#react-entry-point ._dash-loading');"),
        timeout=30)
    return driver


def signed_in_http(url: str, role: Optional[str] = "clinician"):
    """A requests.Session on the server at `url`, signed in as the test user of this role
    (None: anonymous), sending the CSRF header the page's script sends (X-CSRFToken from the
    _csrf_token cookie). The server's database needs add_test_users."""
    import requests
    client = requests.Session()
    if role is None:
        return client
    token = login_form_token(client.get(url + "/login", timeout=10).text)
    r = client.post(url + "/login", timeout=10, data={
        "name": TEST_USERS[role].name, "password": TEST_PASSWORD, "csrf_token": token, "next": "/"})
    assert r.ok and "/login" not in r.url, f"test login as {role} failed: {r.status_code}"
    client.get(url + "/", timeout=10)  # the page sets the CSRF cookie
    client.headers["X-CSRFToken"] = client.cookies.get("_csrf_token")
    return client


def login_form_token(html: str) -> str:
    """The CSRF token the login form carries (login.html.j2)."""
    import re
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def sign_in_test_client(client, role: str = "clinician"):
    """Sign a Flask test client (create_app(...).server.test_client()) in as the test user of
    this role (the app's store needs add_test_users), sending the CSRF header from then on."""
    from monitor.web.auth import CSRF_COOKIE
    token = login_form_token(client.get("/login").get_data(as_text=True))
    r = client.post("/login", data={"name": TEST_USERS[role].name, "password": TEST_PASSWORD,
                                    "csrf_token": token, "next": "/"})
    assert r.status_code == 302 and "/login" not in r.headers["Location"], f"test login as {role} failed"
    client.get("/")  # the page sets the CSRF cookie
    client.environ_base["HTTP_X_CSRFTOKEN"] = client.get_cookie(CSRF_COOKIE).value
    return client


@pytest.fixture
def server(db_path):
    started = []

    def _start(command="serve", *extra, db=None):
        s = Server(db or db_path, command, extra)
        started.append(s)
        return s
    yield _start
    for s in started:
        s.stop()


@pytest.fixture(scope="session")
def browser():
    """Headless Debian Chromium through its chromedriver (installed by `make test`; tests/headless_chromium.py)."""
    import shutil
    from headless_chromium import start
    drv, profile = start("im-chromium-")
    drv.set_page_load_timeout(30)
    yield drv
    drv.quit()
    shutil.rmtree(profile, ignore_errors=True)


# --- HL7 receivers ---
@pytest.fixture
def mllp_listener():
    """A real MLLP listener on 127.0.0.1 and a free port (tests/mllp_listener.py), answering AA
    until told otherwise (`behaviour`); `stop()`/`start()` for an outage on the same port."""
    from mllp_listener import MllpListener
    with MllpListener() as listener:
        yield listener


@pytest.fixture
def fhir_receiver():
    """A real FHIR server (and webhook) on 127.0.0.1 and a free port (tests/fhir_receiver.py):
    validates Bundles with fhir.resources, applies conditional updates, answers as `behaviour`
    says; `stop()`/`start()` for an outage on the same port."""
    from fhir_receiver import FhirReceiver
    with FhirReceiver() as receiver:
        yield receiver


# --- PostgreSQL ---
@pytest.fixture(scope="session")
def pg_server():
    """One real PostgreSQL server for the whole run (tests/pg_server.py: initdb and pg_ctl in a
    temporary directory, Debian's `postgresql` binaries, installed by `make test`); about 1.4 s
    to start, so it is started once, on the first test that asks, and removed at the end.
    Tests that stop or crash a server start their own, so this one stays up for the others."""
    from pg_server import PostgresServer
    server = PostgresServer().start()
    yield server
    server.close()


@pytest.fixture
def pg_url(pg_server, request):
    """The URL of a fresh, empty database on pg_server for this test alone (a CREATE DATABASE is
    about 0.05 s), dropped afterwards even with connections left open."""
    import re
    import uuid
    name = "t_" + re.sub(r"\W", "_", request.node.name.lower())[:40] + "_" + uuid.uuid4().hex[:8]
    url = pg_server.create_database(name)
    yield url
    pg_server.drop_database(name)


# --- serial devices ---
OXIMETER_KINDS = ("nonin", "nonin-df8", "masimo", "contec")


@pytest.fixture
def emulators():
    """`start(kind, **options)` starts a device emulator on a pty; all are stopped after the test."""
    from adapters.emulators import emulator_class
    started = []

    def start(kind: str, **options):
        emulator = emulator_class(kind)(**options).start()
        started.append(emulator)
        return emulator

    yield start
    for emulator in started:
        emulator.stop()


@pytest.fixture
def live_chairs(store, protocol):
    """`start({chair: [device spec, ...]})` builds the chairs, opens a session on each and
    runs live acquisition into the test's SQLite file; returns {chair: (Chair, session id)}.
    Acquisition is stopped after the test."""
    from monitor.acquisition import Acquisition
    from monitor.clinic_config import build_chair
    running = []

    def start(specs: dict, configure=None) -> dict:
        chairs = {}
        for name, devices in specs.items():
            chair = build_chair(store, protocol, name, devices)
            if configure is not None:
                for device in chair.devices:
                    configure(device)
            chairs[name] = (chair, chair.open_session(f"P-{name}"))
        acquisition = Acquisition(store, [c for c, _ in chairs.values()])
        acquisition.start()
        running.append(acquisition)
        return chairs

    yield start
    for acquisition in running:
        acquisition.stop()


class RecordingContext:
    """A DeviceContext that keeps what an adapter reports, on a clock the test sets."""

    def __init__(self):
        self.items: list = []
        self.t = 0.0

    def reading(self, r):
        self.items.append(r)

    def signal(self, sig):
        self.items.append(sig)

    def now(self):
        return self.t

    @property
    def readings(self):
        from monitor.model import Reading
        return [i for i in self.items if isinstance(i, Reading)]

    @property
    def signals(self):
        from monitor.model import DeviceSignal
        return [i for i in self.items if isinstance(i, DeviceSignal)]


# --- storage failures ---
class SmallDisk:
    """A real, tiny filesystem (tmpfs) that a test can fill to the last byte and free again."""

    def __init__(self, path: Path):
        self.path = path
        self._filler = path / "filler"

    def fill(self) -> None:
        fd = os.open(self._filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
        try:
            for size in (65536, 4096, 1):  # big blocks, then the last few bytes too
                try:
                    while True:
                        os.write(fd, b"\0" * size)
                except OSError:
                    pass
        finally:
            os.close(fd)

    def free(self) -> None:
        self._filler.unlink(missing_ok=True)


@pytest.fixture
def small_disk(tmp_path):
    """An 8 MB tmpfs mounted for the test (needs root, as `make test` has for Chromium)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(mount)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small filesystem for the full-disk tests: {done.stderr.strip()}")
    try:
        yield SmallDisk(mount)
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True)
