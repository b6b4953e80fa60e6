"""`infusion-monitor serve`, and what `serve` and `run` share: the listen options, the check
that serving beyond this machine has an administrator, and the WSGI server (waitress).
"""
from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click

from .cli_context import Context, InputError, pass_ctx

if TYPE_CHECKING:
    from .store import Store


def _max_streams() -> int:
    from .web.live import MAX_STREAMS  # asked only when serving: --help stays light (test_cli_startup)
    return MAX_STREAMS


def listen_options(f):
    f = click.option("--live-streams", default=_max_streams, type=click.IntRange(0, 1000),
                     help="Pages that may hold an instant-update channel at once (each holds a server thread); "
                          "the others, and every page with 0, update every second.  [default: 48]")(f)
    f = click.option("--behind-tls", is_flag=True, envvar="INFUSION_MONITOR_BEHIND_TLS",
                     help="Served through a TLS reverse proxy on this machine: trust its X-Forwarded-* "
                          "headers and send cookies only over HTTPS (README, Security).")(f)
    f = click.option("--port", default=8050, show_default=True, type=click.IntRange(1, 65535),
                     help="Port to listen on.")(f)
    return click.option("--host", default="127.0.0.1", show_default=True,
                        help="Address to listen on; beyond loopback only once an administrator exists.")(f)


@click.command()
@listen_options
@pass_ctx
def serve(c: Context, host: str, port: int, behind_tls: bool, live_streams: int):
    """Serve the dashboard over an existing database (no acquisition)."""
    store = c.store(existing=True)
    check_listen_host(store, host)
    serve_dashboard(c, store, host, port, behind_tls, live_streams)


def serve_dashboard(c: Context, store: "Store", host: str, port: int, behind_tls: bool,
                    live_streams: int) -> None:
    import secrets
    from waitress import create_server
    from .store import people
    from .web import create_app
    from .web.auth import is_loopback
    setup_token = None if people.has_admin(store) else secrets.token_urlsafe(24)
    app = create_app(store, c.protocol, behind_tls=behind_tls, setup_token=setup_token, live_streams=live_streams)
    proxy = {}
    if behind_tls:  # X-Forwarded-For/Proto/Host believed only from the proxy on this machine
        proxy = {"trusted_proxy": "127.0.0.1", "trusted_proxy_count": 1, "clear_untrusted_proxy_headers": True,
                 "trusted_proxy_headers": {"x-forwarded-for", "x-forwarded-proto", "x-forwarded-host"}}
    elif not is_loopback(host):
        click.echo(f"infusion-monitor: warning: serving on {host} without TLS: passwords and patient data cross "
                   "the network in clear; put a TLS proxy in front and use --behind-tls (README, Security)", err=True)
    try:
        # threads: the pages' requests, plus one for each open push channel (web/live.py);
        # poll(), not select(): select() refuses a descriptor numbered 1024 or more, and a process
        # watching many chairs (serial ports, the database) gets there (README, "Many chairs")
        server = create_server(app.server, host=host, port=port, threads=8 + live_streams, asyncore_use_poll=True,
                               **proxy)
    except OSError as e:
        raise InputError(f"cannot listen on {host}:{port}: {e.strerror or e}") from None
    url = f"http://{host}:{server.effective_port}/"
    click.echo(f"infusion-monitor: dashboard at {url}", err=True)
    if setup_token:
        click.echo(f"infusion-monitor: no administrator yet: make the first one at {url}setup?token={setup_token} "
                   "(or: infusion-monitor users add NAME --role admin)", err=True)
    sys.stderr.flush()
    try:  # Ctrl-C or SIGTERM (_stop_like_ctrl_c): leave the loop, then close
        # waitress's own run() would wait up to 5 s on shutdown for the threads the open push
        # channels hold: its loop is run here, so the channels are ended first
        server.asyncore.loop(timeout=server.adj.asyncore_loop_timeout, map=server._map,
                             use_poll=server.adj.asyncore_use_poll)
    except KeyboardInterrupt:
        pass
    finally:
        app.server.config["infusion_live"].close()
        server.task_dispatcher.shutdown()
        server.close()


def check_listen_host(store, host: str) -> None:
    """Serving beyond this machine needs someone who can sign in and manage it: refuse a
    non-loopback --host while no administrator exists (one line, exit 2)."""
    from .store import people
    from .web.auth import is_loopback
    if host != host.strip() or not host:
        raise InputError(f"--host {host!r}: an address or host name without spaces")
    if not is_loopback(host) and not people.has_admin(store):
        raise InputError(f"--host {host}: refusing to serve beyond this machine while no administrator exists; "
                         "add one first: infusion-monitor users add NAME --role admin")
