"""``yinxin keys …``: which cipher the sealed secrets are under, and moving them to another
(``yinxin.recrypt``; docs/national-algorithms.md, "SM4 for data at rest")."""

from __future__ import annotations

from pathlib import Path

import typer

from yinxin.adapters.cli.common import HOME, JSON, console, err_console, platform, run, say

keys_app = typer.Typer(
    no_args_is_help=True, help="Sealed secrets at rest: their ciphers, and re-encryption."
)


@keys_app.command("recrypt")
def keys_recrypt(
    cipher: str = typer.Option(
        ..., "--cipher", help="aes-256-gcm, sm4-gcm or sm4-cbc-hmac-sm3: the target cipher."
    ),
    actor: str = typer.Option("operator", "--actor", help="Who does it (recorded in audit)."),
    home: Path | None = HOME,
    as_json: bool = JSON,
) -> None:
    """Re-encrypt every sealed secret under --cipher, in one transaction: all or nothing.

    Needs the key store (CA passphrase or HSM), never a PIN. The PIN layer of a platform-held
    key moves at the key's next signature or PIN change; the KEK layer moves now. Set
    YINXIN_DATA_CIPHER to the same cipher so new secrets are sealed with it too. Progress
    ([n/total] kind what) is drawn on standard error when it is a terminal.
    """

    def progress(kind: str, what: str, done: int, total: int) -> None:
        # on stderr, and only on a terminal: a line a secret filled a cron job's mail
        if as_json or not err_console.is_terminal:
            return
        if kind == "done":
            err_console.print(f"[{total}/{total}] committing")
        elif kind == "kek_file":
            err_console.print(f"committed; sealing the key store's {what}.kek file")
        else:
            err_console.print(f"[{done + 1}/{total}] {kind.replace('_', ' ')} {what}")

    def show(r) -> None:
        changed = sum(r.recrypted.values())
        say("[green]Recrypted[/] {} sealed secret(s) to {}", changed, r.cipher)
        for kind, n in r.recrypted.items():
            console.print(f"  {kind:18} {n} re-encrypted, {r.unchanged[kind]} already {r.cipher}")
        if r.pin_layer_pending:
            console.print(
                f"  {len(r.pin_layer_pending)} platform key(s) keep their PIN layer under the "
                "old cipher until their next signature or PIN change: "
                + ", ".join(r.pin_layer_pending)
            )
        if r.note:
            say("[yellow]note:[/] {}", r.note, err=True)

    run(as_json, lambda: platform(home).recrypt.run(cipher, actor=actor, progress=progress), show)


@keys_app.command("ciphers")
def keys_ciphers(home: Path | None = HOME, as_json: bool = JSON) -> None:
    """Count the sealed secrets by kind and cipher (reads headers, needs no PIN)."""

    def show(c) -> None:
        console.print(f"YINXIN_DATA_CIPHER: {c.setting}")
        for kind, counts in c.counts.items():
            line = ", ".join(f"{n} {name}" for name, n in sorted(counts.items())) or "none"
            console.print(f"  {kind:18} {line}")

    run(as_json, lambda: platform(home).recrypt.census(), show)
