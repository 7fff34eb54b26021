"""``yinxin apikey …``: the API keys integrations and desk staff call the HTTP API with.

The first administrator key is made here (nobody can call the API before one exists); the
secret is printed once and cannot be shown again.
"""

from __future__ import annotations

from pathlib import Path

import typer

from yinxin.adapters.cli.common import HOME, JSON, parse_time, platform, run

apikey_app = typer.Typer(no_args_is_help=True, help="API keys for the HTTP API.")


@apikey_app.command("create")
def apikey_create(
    name: str = typer.Option(..., help="Who or what the key is for (shown in the audit trail)."),
    role: str = typer.Option(
        ..., help="administrator, ra_officer, organization_admin or integration."
    ),
    organization: int | None = typer.Option(
        None, help="Bind the key to this organization subscriber (sees only its data)."
    ),
    expires: str | None = typer.Option(None, help="ISO time the key stops working."),
    home: Path | None = HOME,
    as_json: bool = JSON,
) -> None:
    """Make a key; the secret is printed once — store it now."""

    def make():
        return platform(home).api_keys.create(
            name=name,
            role=role,
            organization_id=organization,
            expires_at=parse_time(expires, "expires"),
            actor="operator",
        )

    def show(issued) -> None:
        k = issued.key
        bound = f", organization {k.organization_id}" if k.organization_id else ""
        typer.echo(f"API key {k.id} ({k.role}{bound})")
        typer.echo(issued.secret)
        typer.echo("Store the secret now: it is not shown again.", err=True)

    run(as_json, make, show)


@apikey_app.command("list")
def apikey_list(home: Path | None = HOME, as_json: bool = JSON) -> None:
    """Every key (never the secrets)."""
    run(as_json, lambda: platform(home).api_keys.list())


@apikey_app.command("revoke")
def apikey_revoke(key_id: int, home: Path | None = HOME, as_json: bool = JSON) -> None:
    """Stop a key at once."""
    run(as_json, lambda: platform(home).api_keys.revoke(key_id, actor="operator"))
