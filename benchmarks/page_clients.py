"""Browser tabs for the load harness (benchmarks/load_harness.py), in their own process.

Each tab loads a page (`/chair/N` or `/`), asks for the page's layout through the routing
callback as the Dash renderer does, and then once a second POSTs every server-side
callback the page's `dcc.Interval` drives to `/_dash-update-component`, with the payload
the renderer builds from `/_dash-dependencies` and the page's current props (the
bedside's `bed-state` cursor comes back in each answer and goes out in the next request).
Only the standard library: the clients cost the machine as little as a browser's
network stack would. The tabs share one login, as a browser's tabs do: signed in through
the login form with the user named in PAGE_CLIENTS_USER / PAGE_CLIENTS_PASSWORD, every
request carries the session cookie and the CSRF header the renderer sends (X-CSRFToken).

    python benchmarks/page_clients.py URL PAGE...   (stops when stdin closes; JSON records on stdout)
"""
from __future__ import annotations

import http.client
import json
import os
import re
import subprocess
import sys
import threading
import time
from http.cookies import SimpleCookie
from typing import Optional
from urllib.parse import urlencode

TICK_INPUTS = ("bed-beat", "ov-beat")  # the pages' beats (web/ticks.py): what a browser tab's interval sets each second


class PageClients:
    """The browser tabs, in a separate process so they never share the server's GIL.

    pages: e.g. ["/chair/1", "/chair/2", "/"]. `stop()` ends the polling and returns one
    record per request: {page, callback, t (wall clock at send), ms, status, ok, error}.
    """

    def __init__(self, url: str, pages: list[str], user: str, password: str):
        self.proc = subprocess.Popen([sys.executable, __file__, url, *pages],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True, env={**os.environ, "PAGE_CLIENTS_USER": user,
                                                     "PAGE_CLIENTS_PASSWORD": password})

    def stop(self) -> list[dict]:
        out, err = self.proc.communicate(input="", timeout=60)  # stdin closed: stop polling
        if self.proc.returncode != 0:
            raise RuntimeError(f"page clients failed ({self.proc.returncode}): {err.strip()}")
        return json.loads(out)


def sign_in(host: str, port: int, user: str, password: str) -> dict:
    """The headers a signed-in tab sends: the login's cookies and the CSRF token (the login
    form's token to sign in, then the _csrf_token cookie the page sets, as the renderer reads it)."""
    jar = SimpleCookie()
    conn = http.client.HTTPConnection(host, port, timeout=30)

    def send(method, path, body=None, headers=None):
        cookie = "; ".join(f"{k}={m.value}" for k, m in jar.items())
        conn.request(method, path, body=body, headers={**(headers or {}), **({"Cookie": cookie} if cookie else {})})
        resp = conn.getresponse()
        text = resp.read().decode("utf-8", "replace")
        for header in resp.headers.get_all("Set-Cookie") or ():
            jar.load(header)
        return resp.status, text
    try:
        _, form = send("GET", "/login")
        token = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
        status, _ = send("POST", "/login", urlencode({"name": user, "password": password, "csrf_token": token,
                                                      "next": "/"}),
                         {"Content-Type": "application/x-www-form-urlencoded"})
        if status != 302:
            raise RuntimeError(f"page clients: signing in as {user} answered HTTP {status}")
        send("GET", "/")  # the page sets the CSRF cookie
    finally:
        conn.close()
    return {"Cookie": "; ".join(f"{k}={m.value}" for k, m in jar.items()),
            "X-CSRFToken": jar["_csrf_token"].value}


def _components(node):
    """Every component in a serialised Dash layout."""
    if isinstance(node, dict):
        if "type" in node and "props" in node:
            yield node
        for value in (node.get("props", {}) if "props" in node else node).values():
            yield from _components(value)
    elif isinstance(node, list):
        for item in node:
            yield from _components(item)


def _id_key(cid) -> str:
    """A component id as Dash writes it in outputs and responses."""
    return json.dumps(cid, sort_keys=True, separators=(",", ":")) if isinstance(cid, dict) else cid


class Tab:
    """One browser tab on one page: its props, and the callbacks its interval fires."""

    def __init__(self, url: str, page: str, dependencies: list[dict], login: dict):
        host, port = url.removeprefix("http://").split(":")
        self.conn = http.client.HTTPConnection(host, int(port), timeout=30)  # keep-alive, as a browser
        self.login = login  # the signed-in headers (sign_in)
        self.page = page
        self.deps = dependencies
        self.props: dict[tuple[str, str], object] = {}
        self.ids: list = []
        self.ticking: list[dict] = []  # the server-side callbacks the page's interval drives

    def request(self, method: str, path: str, body: Optional[dict] = None) -> tuple[int, bytes]:
        data = None if body is None else json.dumps(body).encode()
        self.conn.request(method, path, body=data, headers={"Content-Type": "application/json", **self.login})
        resp = self.conn.getresponse()
        return resp.status, resp.read()

    def open(self) -> None:
        """Load the page: its HTML, then the routing callback that returns its layout."""
        status, _ = self.request("GET", self.page)
        assert status == 200, f"GET {self.page}: {status}"
        (route,) = [d for d in self.deps if d["inputs"] == [{"id": "url", "property": "pathname"}]]
        status, raw = self.call(route, {("url", "pathname"): self.page}, ["url.pathname"])
        assert status == 200, f"{self.page}: layout callback answered {status}"
        layout = json.loads(raw)["response"]["page"]["children"]
        for comp in _components(layout):
            cid = comp["props"].get("id")
            if cid is not None:
                self.ids.append(cid)
                for prop, value in comp["props"].items():
                    self.props[(_id_key(cid), prop)] = value
        self.ticking = [d for d in self.deps if d["clientside_function"] is None
                        and any(i["id"] in TICK_INPUTS and i["id"] in self.ids for i in d["inputs"])]
        assert self.ticking, f"{self.page}: no server-side callback on its interval"

    def _expand(self, id_text: str) -> list:
        """The page's ids an id pattern (`{"chair":["ALL"],"type":"ov-link"}`) stands for."""
        pattern = json.loads(id_text)
        return [i for i in self.ids if isinstance(i, dict) and i.keys() == pattern.keys()
                and all(isinstance(v, list) or i[k] == v for k, v in pattern.items())]

    def _spec(self, id_text: str, prop: str, with_value: bool):
        def one(cid):
            item = {"id": cid, "property": prop}
            if with_value:
                item["value"] = self.props.get((_id_key(cid), prop), cid if prop == "id" else None)
            return item
        if id_text.startswith("{"):
            return [one(cid) for cid in self._expand(id_text)]
        return one(id_text)

    def call(self, dep: dict, values: dict, changed: list[str]) -> tuple[int, bytes]:
        """POST one callback as the renderer does; the answer's props become the page's."""
        output = dep["output"]
        parts = output[2:-2].split("...") if output.startswith("..") else [output]
        outputs = [self._spec(*p.rsplit(".", 1), with_value=False) for p in parts]
        self.props.update(values)
        body = {"output": output, "outputs": outputs if output.startswith("..") else outputs[0],
                "inputs": [self._spec(i["id"], i["property"], True) for i in dep["inputs"]],
                "state": [self._spec(s["id"], s["property"], True) for s in dep["state"]],
                "changedPropIds": changed}
        status, raw = self.request("POST", "/_dash-update-component", body)
        try:
            answer = json.loads(raw) if status == 200 else {}
        except ValueError:
            return status, raw  # reported by _invalid
        for cid, props in (answer.get("response") or {}).items():
            for prop, value in props.items():
                if not (isinstance(value, dict) and "__dash_patch_update" in value):
                    self.props[(cid, prop)] = value
        return status, raw

    def tick(self, n: Optional[int], records: list, lock: threading.Lock) -> None:
        """One second of the page: every server-side callback its interval drives."""
        for dep in self.ticking:
            interval = next(i["id"] for i in dep["inputs"] if i["id"] in TICK_INPUTS)
            if n is None and dep["prevent_initial_call"]:
                continue
            t, started = time.time(), time.perf_counter()
            try:
                status, raw = self.call(dep, {(interval, "data"): n}, [f"{interval}.data"])
            except (OSError, http.client.HTTPException) as e:  # no answer at all
                status, error = 0, f"{type(e).__name__}: {e}"
                self.conn.close()
            else:
                error = _invalid(dep, self.page, status, raw)
            record = {"page": self.page, "callback": dep["output"][:40], "t": t,
                      "ms": (time.perf_counter() - started) * 1000, "status": status, "ok": error is None,
                      "error": error}
            with lock:
                records.append(record)


# What each page's ticking callback always answers with: the bedside's cursor, the overview's alarm data.
ALWAYS_ANSWERED = {"bed-state": "data", "ov-alarm-data": "data"}


def _invalid(dep: dict, page: str, status: int, raw: bytes) -> Optional[str]:
    """Why an answer is not what the page needs, or None.

    An empty `response` is Dash's "nothing changed" (the overview's grid callback, most
    seconds), except for the outputs in ALWAYS_ANSWERED. A bedside answer must carry the
    chair's open session.
    """
    if status != 200:
        return f"HTTP {status}: {raw[:200]!r}"
    try:
        answer = json.loads(raw)
    except ValueError:
        return f"not JSON: {raw[:200]!r}"
    response = answer.get("response")
    multi_output = dep["output"].startswith("..")
    if not isinstance(response, dict) or (multi_output and answer.get("multi") is not True):
        return f"not a Dash callback answer: {raw[:200]!r}"
    for cid, prop in ALWAYS_ANSWERED.items():
        if f"..{cid}.{prop}.." in dep["output"] and prop not in response.get(cid, {}):
            return f"no {cid}.{prop} in the answer: {raw[:200]!r}"
    if page.startswith("/chair/"):
        state = response["bed-state"]["data"]
        if state.get("chair") != page.removeprefix("/chair/") or not isinstance(state.get("session_id"), int):
            return f"bed-state does not show the chair's open session: {state!r}"
    return None


def _clients_main(url: str, pages: list[str]) -> None:
    """Each page in its own thread, ticking once a second (tab i of n at i/n into the second)
    until stdin closes; the records go to stdout as JSON."""
    records: list[dict] = []
    lock = threading.Lock()
    stop = threading.Event()
    host, port = url.removeprefix("http://").split(":")
    login = sign_in(host, int(port), os.environ["PAGE_CLIENTS_USER"], os.environ["PAGE_CLIENTS_PASSWORD"])
    setup = http.client.HTTPConnection(host, int(port), timeout=30)
    setup.request("GET", "/_dash-dependencies", headers=login)
    dependencies = json.loads(setup.getresponse().read())
    setup.close()

    def run(page: str, phase: float) -> None:
        tab = Tab(url, page, dependencies, login)
        try:
            tab.open()
        except (AssertionError, OSError, http.client.HTTPException, ValueError, KeyError) as e:
            with lock:
                records.append({"page": page, "callback": "(page load)", "t": time.time(), "ms": 0.0,
                                "status": 0, "ok": False, "error": f"{type(e).__name__}: {e}"})
            return
        tab.tick(None, records, lock)  # the renderer's initial call, as the layout arrives
        start, n = time.monotonic() + phase, 0
        while not stop.wait(max(0.0, start + n + 1 - time.monotonic())):
            n += 1
            tab.tick(n, records, lock)

    # tabs opened at different moments tick at different points of the second
    threads = [threading.Thread(target=run, args=(p, i / len(pages)), daemon=True) for i, p in enumerate(pages)]
    for t in threads:
        t.start()
    sys.stdin.read()
    stop.set()
    for t in threads:
        t.join(timeout=60)
    json.dump(records, sys.stdout)


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit("usage: page_clients.py URL PAGE...")
    _clients_main(sys.argv[1], sys.argv[2:])
