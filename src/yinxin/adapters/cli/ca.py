"""``yinxin ca …``: the authority's hierarchies — what is there, and adding the SM2 one beside
the default (docs/national-algorithms.md, "Side by side")."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from yinxin.adapters.cli.common import HOME, JSON, console, platform, run, say
from yinxin.clock import beijing_date

if TYPE_CHECKING:
    from yinxin.registry.views import AuthorityInit, AuthorityRoleView

ca_app = typer.Typer(
    no_args_is_help=True, help="The certificate authority's hierarchies (default, SM2)."
)


@ca_app.command("status")
def ca_status(home: Path | None = HOME, as_json: bool = JSON) -> None:
    """Every active authority certificate, hierarchy by hierarchy: role, algorithm, serial,
    subject, expiry, and where its certificate and CRL are published. Needs no passphrase."""

    def show(rows: list[AuthorityRoleView]) -> None:
        current = None
        for r in rows:
            if r.hierarchy != current:
                current = r.hierarchy
                say("[bold]{}[/] hierarchy ({})", r.hierarchy, r.algorithm)
            crl = f"  CRL {r.crl_url}" if r.crl_url else ""
            console.print(
                f"  {r.role:14} {r.serial}  {r.subject}  valid to {beijing_date(r.not_after)}{crl}"
            )

    run(
        as_json,
        lambda: platform(home).ca.overview(),
        show,
        empty="not initialised (run `yinxin init`)",
    )


@ca_app.command("add-hierarchy")
def add_hierarchy(
    algorithm: str = typer.Option(
        ..., "--algorithm", help="sm2: an SM2/SM3 hierarchy beside the P-256/RSA default."
    ),
    home: Path | None = HOME,
    actor: str = typer.Option("operator", "--actor", help="Who does it (recorded in audit)."),
    as_json: bool = JSON,
) -> None:
    """Add a second hierarchy — root, issuing CA, OCSP responders, TSA — beside the one
    `yinxin init` made, which stays as it is. SM2 CSRs and platform-held SM2 keys are then
    issued by its issuing CA, everything else by the default one."""

    def show(r: AuthorityInit) -> None:
        say("[green]Added[/] the {} hierarchy (keys in {} store)", r.algorithm, r.keystore)
        for role, c in r.certificates.items():
            console.print(f"  {role:14} {c.serial}  {c.subject}")

    run(as_json, lambda: platform(home).ca.add_hierarchy(algorithm, actor=actor), show)
