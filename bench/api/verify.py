#!/usr/bin/env python3
"""Verification over the API next to the verifier called in-process, in one run.

Run as ``.venv/bin/python bench/api/verify.py``. A B-LT contract (signed on a fresh platform
with the test world: a person's seal, timestamp, OCSP in the DSS) is verified ``--n`` times a
round, for ``--rounds`` rounds, interleaved:

  * "in-process": ``verify_pdf(pdf, trust_roots=[root])`` — what a relying party's script
    pays for the verdict alone;
  * "HTTP, 1 client": ``POST /api/v1/verifications`` on the real ``yinxin serve`` (one
    worker), one keep-alive client sending one request after another: authentication, the
    rate limiter, the upload, the verifier and the JSON report on the way back;
  * "HTTP, 4 clients": the same with four clients at once (throughput under concurrency).

Rates are verifications per second from the median round (wall time: the HTTP path spans two
processes). The ratio says what the API costs on top of the verifier.
"""

from __future__ import annotations

# first: runs this under the repo's .venv, with src/ and tests.… importable
import _repo  # noqa: F401

# isort: split
import argparse
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from tests.fixtures.samples import contract_pdf
from tests.integration.server import running_server
from tests.integration.signing_flow import build_world, new_platform, sign_as

from yinxin.pdf.verify import verify_pdf


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=40, help="verifications per round and side")
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        p = new_platform(home)
        w = build_world(p)
        pdf = sign_as(w, w.yi, contract_pdf()).pdf
        root = p.ca.certificate("root")
        key = p.api_keys.create(name="bench", role="integration", actor="bench").secret
        p.close()
        assert verify_pdf(pdf, trust_roots=[root]).valid

        with running_server(home, env={"YINXIN_API_RATE": "0"}) as srv:
            url = srv.url("/api/v1/verifications")
            headers = {"Authorization": f"Bearer {key}", "content-type": "application/pdf"}

            def http_run(clients: int) -> float:
                per = args.n // clients

                def one(_):
                    with httpx.Client(headers=headers, timeout=60) as c:
                        for _ in range(per):
                            r = c.post(url, content=pdf)
                            assert r.status_code == 200 and r.json()["valid"], r.text[:300]

                t = time.perf_counter()
                with ThreadPoolExecutor(clients) as pool:
                    list(pool.map(one, range(clients)))
                return (per * clients) / (time.perf_counter() - t)

            def local_run() -> float:
                t = time.perf_counter()
                for _ in range(args.n):
                    assert verify_pdf(pdf, trust_roots=[root]).valid
                return args.n / (time.perf_counter() - t)

            http_run(1)  # warm both sides: imports, caches, connections
            local_run()
            rates: dict[str, list[float]] = {"local": [], "http1": [], "http4": []}
            for _ in range(args.rounds):
                rates["local"].append(local_run())
                rates["http1"].append(http_run(1))
                rates["http4"].append(http_run(4))

    med = {k: statistics.median(v) for k, v in rates.items()}
    print(f"verification of a B-LT contract, {args.n} a round, median of {args.rounds} rounds")
    print(f"  in-process verify_pdf        {med['local']:7.1f} /s")
    print(
        f"  POST /api/v1/verifications   {med['http1']:7.1f} /s  (1 client)   "
        f"= {med['http1'] / med['local']:.2f}× in-process"
    )
    print(
        f"  POST /api/v1/verifications   {med['http4']:7.1f} /s  (4 clients)  "
        f"= {med['http4'] / med['local']:.2f}× in-process"
    )


if __name__ == "__main__":
    main()
