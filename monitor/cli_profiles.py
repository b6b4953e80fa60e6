"""`profiles`: the alarm protocol profiles shipped with the package, to pick by name with
`--protocol NAME` or to copy and edit (`--show NAME > mine.toml`, then `--protocol mine.toml`).

A plain click command; cli.py adds it to the `infusion-monitor` group. It reads no database.
"""
from __future__ import annotations

import json
from typing import Optional

import click

from .cli_context import InputError


@click.command()
@click.option("--show", "show", default=None, metavar="NAME",
              help="Print this shipped profile's TOML (to copy and edit).")
@click.option("--json", "as_json", is_flag=True, help="List as JSON: [{name, description, file, default}].")
def profiles(show: Optional[str], as_json: bool):
    """List the shipped alarm protocol profiles, or print one (--show NAME)."""
    from .protocol import DEFAULT_PROFILE, SHIPPED_PROFILES, ProtocolError, load_protocol, shipped_profile_path
    if show is not None:
        if show not in SHIPPED_PROFILES:
            raise InputError(f"--show {show}: no shipped profile of that name ({', '.join(SHIPPED_PROFILES)})")
        click.echo(shipped_profile_path(show).read_text(encoding="utf-8"), nl=False)
        return
    rows = []
    for name in SHIPPED_PROFILES:
        try:
            p = load_protocol(name)
        except ProtocolError as e:  # a damaged installation: say which file, keep listing
            raise InputError(str(e)) from None
        rows.append({"name": p.name, "description": p.description, "file": str(shipped_profile_path(name)),
                     "default": name == DEFAULT_PROFILE})
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    width = max(len(r["name"]) for r in rows)
    for r in rows:
        click.echo(f"{r['name']:<{width}}  {r['description']}{'  (default)' if r['default'] else ''}")
