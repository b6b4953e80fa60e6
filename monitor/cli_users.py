"""`infusion-monitor users`: the people who may sign in to the dashboard, and their roles
(monitor/access.py). Every change is in the audit trail, made by the command line's
operator (`cli:<login name>`): whoever can run this can already write the database file.
"""
from __future__ import annotations

import dataclasses
import getpass
import json
import sys
from typing import Optional

import click

from .cli_context import Context, InputError, pass_ctx

ROLE_CHOICE = click.Choice(["nurse", "clinician", "admin"])


def operator():
    """The command line's operator as an audit actor."""
    from .access import Actor
    try:
        who = getpass.getuser()
    except Exception:  # no login name (a container without a passwd entry)
        who = "unknown"
    return Actor(f"cli:{who}", "admin", "CLI", "cli")


def signer(store, by: str):
    """Who signs a command-line entry with --by: once the clinic has users, the active user
    with those initials, whose role the store checks (an entry is never signed as someone
    who could not have made it); the audit names the command line's operator too."""
    from .store import people
    op = operator()
    if not people.has_users(store):
        return dataclasses.replace(op, initials=by)
    u = people.user_by_initials(store, by)
    if u is None or not u["active"]:
        raise InputError(f"--by {by}: no active user signs with {by} (see: infusion-monitor users list)")
    return dataclasses.replace(op, name=f"{u['name']} ({op.name})", role=u["role"], initials=by)


def _password(password_stdin: bool) -> str:
    if password_stdin:
        line = sys.stdin.readline()
        if not line:
            raise InputError("--password-stdin: no password on standard input")
        return line.rstrip("\r\n")
    if not sys.stdin.isatty():
        raise InputError("no terminal to ask for the password on: give it with --password-stdin")
    return click.prompt("Password", hide_input=True, confirmation_prompt=True)


def _rules(call):
    from .sessions import RuleError
    from .store import Conflict, NotFound
    try:
        return call()
    except (RuleError, Conflict, NotFound) as e:
        raise InputError(str(e)) from None


@click.group()
def users():
    """Manage who may sign in to the dashboard (nurse, clinician, admin)."""


@users.command("add")
@click.argument("name")
@click.option("--role", required=True, type=ROLE_CHOICE, help="nurse, clinician or admin.")
@click.option("--initials", default=None, help="2-4 letters signed on entries; default: from the name.")
@click.option("--password-stdin", is_flag=True, help="Read the password from the first line of standard input.")
@pass_ctx
def add(c: Context, name: str, role: str, initials: Optional[str], password_stdin: bool):
    """Add a user who may sign in with NAME and a password (asked for, or --password-stdin)."""
    from .store import people
    store = c.store()
    password = _password(password_stdin)
    row = _rules(lambda: people.add_user(store, name, role, password, initials, by=operator()))
    click.echo(f"added {row['name']} ({row['initials']}) as {role}", err=True)


@users.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list.")
@pass_ctx
def list_(c: Context, as_json: bool):
    """List the users, their roles and last sign-in."""
    from .formatting import iso_utc
    from .store import people
    rows = people.users(c.store(readonly=True, existing=True))
    if as_json:
        click.echo(json.dumps([{**r, "active": bool(r["active"]),
                                "last_login_at": iso_utc(r["last_login_at"]) if r["last_login_at"] else None,
                                "created_at": iso_utc(r["created_at"])} for r in rows], indent=1))
        return
    if not rows:
        click.echo("no users", err=True)
    for r in rows:
        last = iso_utc(r["last_login_at"]) if r["last_login_at"] else "never"
        click.echo(f"{r['name']:<20} {r['role']:<9} {r['initials']:<4} "
                   f"{'active' if r['active'] else 'disabled':<8} last sign-in {last}")


@users.command("set-role")
@click.argument("name")
@click.argument("role", type=ROLE_CHOICE)
@pass_ctx
def set_role(c: Context, name: str, role: str):
    """Give NAME another role (ends their current sign-ins)."""
    from .store import people
    store = c.store(existing=True)
    _rules(lambda: people.change_user(store, name, by=operator(), role=role))
    click.echo(f"{name} is now {role}", err=True)


@users.command("password")
@click.argument("name")
@click.option("--password-stdin", is_flag=True, help="Read the password from the first line of standard input.")
@pass_ctx
def password(c: Context, name: str, password_stdin: bool):
    """Set a new password for NAME (ends their current sign-ins)."""
    from .store import people
    store = c.store(existing=True)
    new = _password(password_stdin)
    _rules(lambda: people.change_user(store, name, by=operator(), password=new))
    click.echo(f"new password set for {name}", err=True)


@users.command("disable")
@click.argument("name")
@pass_ctx
def disable(c: Context, name: str):
    """Stop NAME signing in (their entries and audit rows stay; ends their current sign-ins)."""
    _set_active(c, name, False)


@users.command("enable")
@click.argument("name")
@pass_ctx
def enable(c: Context, name: str):
    """Let a disabled NAME sign in again."""
    _set_active(c, name, True)


def _set_active(c: Context, name: str, active: bool) -> None:
    from .store import people
    store = c.store(existing=True)
    _rules(lambda: people.change_user(store, name, by=operator(), active=active))
    click.echo(f"{name} can sign in again" if active else f"{name} can no longer sign in", err=True)
