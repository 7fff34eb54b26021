"""What each competing process runs: its own ``Platform`` on the shared database, one verb.

Kept in a module of its own so ``multiprocessing`` with the ``spawn`` start method can import it
in a fresh interpreter: every worker is a real, separate process with its own engine and
connection pool, as parallel CLI invocations or server workers would be.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from yinxin.app import Platform
from yinxin.clock import FrozenClock
from yinxin.errors import YinxinError
from yinxin.settings import Settings

_platforms: dict[tuple[str, str], Platform] = {}


def _platform(home: str, url: str, at: str, passphrase: str) -> Platform:
    """One platform per (home, database) per worker process, built on first use."""
    key = (home, url)
    p = _platforms.get(key)
    if p is None:
        p = Platform(
            Settings(home=Path(home), database_url=url, base_url="http://127.0.0.1:8000"),
            clock=FrozenClock(dt.datetime.fromisoformat(at)),
            passphrase=passphrase,
        )
        _platforms[key] = p
    else:
        p.clock.set(dt.datetime.fromisoformat(at))  # type: ignore[attr-defined]
    return p


def warm() -> bool:
    """Imports are done at module load; this only proves the worker is up."""
    return True


def run(
    home: str, url: str, at: str, passphrase: str, barrier: Any, verb: str, kwargs: dict
) -> dict:
    """Build the platform, wait until every competitor is ready, then act once.

    Returns ``{"ok": result}`` or ``{"error": code, "message": …, "field": …}``: refusals are
    data here, so the test can count winners and losers exactly.
    """
    p = _platform(home, url, at, passphrase)
    if verb in ("approve", "seal_create", "sign"):
        p.ca.issuer("issuing")  # load the CA key before the start line, as a warm server would
    barrier.wait(timeout=60)
    try:
        if verb == "approve":
            out = p.certificates.approve(kwargs["application_id"], officer=kwargs["officer"])
            return {"ok": {"serial": out.serial}}
        if verb == "pay":
            out = p.certificates.pay(
                application_id=kwargs["application_id"], years=1, reference=kwargs.get("reference")
            )
            return {"ok": {"id": out.id}}
        if verb == "seal_create":
            out = p.seals.create(**kwargs)
            return {"ok": {"es_id": out.es_id}}
        if verb == "sign":
            from yinxin.pdf.sign import Placement

            signed = p.signing.sign(
                Path(kwargs["pdf"]).read_bytes(),
                seal=kwargs["seal"],
                pin=kwargs["pin"],
                signer_subscriber_id=kwargs["signer"],
                confirmation_token=kwargs["token"],
                placement=Placement(page=1, x_mm=120, y_mm=40),
            )
            return {
                "ok": {
                    "record": signed.record.id,
                    "replayed": signed.replayed,
                    "sha256": signed.record.sha256_after,
                }
            }
        if verb == "unlock":
            u = p.seals.unlock_for_signing(kwargs["seal"], kwargs["pin"])
            return {"ok": {"es_id": u.stamp.es_id}}
        raise ValueError(f"unknown verb {verb}")
    except YinxinError as e:
        return {"error": e.code, "message": e.message, "field": e.field, "type": type(e).__name__}
