"""``yinxin apikey …``: the API keys integrations and desk staff call the HTTP API with.

The first administrator key is made here (nobody can call the API before one exists); the
secret is printed once and cannot be shown again.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from yinxin.adapters.cli.common import (
    AFTER,
    HOME,
    JSON,
    LIMIT,
    OPERATOR,
    Platform,
    as_options,
    emit,
    on_platform,
    page_of,
    parse_time,
    platform,
    read_secret,
    run,
    say,
    show_once,
)

if TYPE_CHECKING:
    from yinxin.access.staff import StaffView

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
    actor: str = OPERATOR,
    as_json: bool = JSON,
) -> None:
    """Make a key; the secret is printed once — store it now."""

    def make():
        p = platform(home)
        return as_options(
            {"expires_at": "expires", "organization_id": "organization"},
            lambda: p.api_keys.create(
                name=name,
                role=role,
                organization_id=organization,
                expires_at=parse_time(expires, "expires"),
                actor=actor,
            ),
        )

    def show(issued) -> None:
        k = issued.key
        bound = f", organization {k.organization_id}" if k.organization_id else ""
        show_once(f"API key {k.id} ({k.role}{bound})", issued.secret)

    run(as_json, make, show)


@apikey_app.command("list")
@on_platform()
def apikey_list(limit: int = LIMIT, after: int | None = AFTER, p: Platform = HOME) -> object:
    """Keys in id order, revoked ones included, a page at a time (never the secrets)."""
    return page_of(p.api_keys.list, limit, after)


@apikey_app.command("revoke")
@on_platform()
def apikey_revoke(
    key_id: int = typer.Argument(..., help="The key's id (apikey list)."),
    p: Platform = HOME,
    actor: str = OPERATOR,
) -> object:
    """Stop a key at once."""
    return p.api_keys.revoke(key_id, actor=actor)


staff_app = typer.Typer(
    no_args_is_help=True, help="Staff accounts for the web desk (password + TOTP)."
)


USERNAME = typer.Argument(..., help="The account's login name (staff list).")


@staff_app.command("add")
def staff_add(
    username: str = typer.Argument(..., help="Login name: lower-case letters, digits, _ . -"),
    role: str = typer.Option(..., help="ra_officer or administrator."),
    display_name: str = typer.Option(
        "", "--name", help="The name shown on pages and in audit (default: the username)."
    ),
    home: Path | None = HOME,
    actor: str = OPERATOR,
    as_json: bool = JSON,
) -> None:
    """Make an account; asks for the password, prints the TOTP provisioning URI once — scan it
    into the officer's authenticator app (or type its secret) now."""

    def make():
        staff = platform(home).staff
        # a wrong username, role or name is told before the password is asked for (twice)
        as_options(
            {"display_name": "name"},
            lambda: staff.check_new(username, role=role, display_name=display_name),
        )
        password = read_secret(
            "password (10 characters at least)",
            env="YINXIN_STAFF_PASSWORD",
            field="password",
            confirm=True,
            stdin_flag=None,  # not a terminal: the first line of standard input
        )
        return as_options(
            {"display_name": "name"},
            lambda: staff.add(
                username, password=password, role=role, display_name=display_name, actor=actor
            ),
        )

    def show(new) -> None:
        show_once(
            f"staff user {new.staff.username} ({new.staff.role})",
            new.totp_uri,
            "Scan this TOTP URI into the authenticator app now",
        )

    run(as_json, make, show)


@staff_app.command("list")
@on_platform()
def staff_list(p: Platform = HOME) -> object:
    """Every staff account (never the password or the TOTP secret)."""
    return p.staff.list()


def _unlocked(view: StaffView) -> None:
    emit(view, False)
    if view.disabled_at is not None:  # exit 0 showing disabled_at read as if it could sign in
        say(
            "[yellow]note:[/] {} is disabled: unlock lifts a lockout only; "
            "yinxin staff enable {} lets it sign in again",
            view.username,
            view.username,
            err=True,
        )


@staff_app.command("unlock")
@on_platform(_unlocked)
def staff_unlock(username: str = USERNAME, p: Platform = HOME, actor: str = OPERATOR) -> object:
    """Lift a lockout after too many wrong attempts (a disabled account stays disabled)."""
    return p.staff.unlock(username, actor=actor)


@staff_app.command("disable")
@on_platform()
def staff_disable(username: str = USERNAME, p: Platform = HOME, actor: str = OPERATOR) -> object:
    """Stop an account at once (its sessions end with it); staff enable undoes it."""
    return p.staff.disable(username, actor=actor)


@staff_app.command("enable")
@on_platform()
def staff_enable(username: str = USERNAME, p: Platform = HOME, actor: str = OPERATOR) -> object:
    """Let a disabled account sign in again (its old sessions stay ended; audited)."""
    return p.staff.enable(username, actor=actor)
