"""Schemathesis against the live server, driven by the server's own OpenAPI document.

Every operation is sent generated requests, valid and invalid: examples, boundary coverage,
random fuzzing repeated until the time budget is spent, and stateful sequences that feed one
answer's ids into the next call. Any 5xx, or an answer whose status, content type, headers or
body the document does not describe, fails the test. At least 5,000 requests, bounded by
``--max-time``.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.api_world import api_world
from tests.integration.server import running_server

CHECKS = ",".join(
    [
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_headers_conformance",
        "response_schema_conformance",
    ]
)
MIN_REQUESTS = 5000


def _schemathesis() -> str:
    found = shutil.which("schemathesis", path=str(Path(sys.executable).parent))
    if found is None:
        pytest.fail("schemathesis is a test dependency (pip install -e .[test])")
    return found


@pytest.mark.slow
def test_generated_requests_find_no_server_error_and_no_schema_violation(tmp_path):
    home = tmp_path / "home"
    world = api_world(home)
    with running_server(home, env={"YINXIN_API_RATE": "0"}) as srv:
        out = subprocess.run(
            [
                _schemathesis(),
                "run",
                srv.url("/api/v1/openapi.json"),
                "-H",
                f"Authorization: Bearer {world.keys['admin']}",
                "--checks",
                CHECKS,
                "--max-examples",
                "45",
                "--max-time",
                "90",
                "--seed",
                "20261201",
                "--no-color",
                # one worker: CPython 3.11's ast.parse is not thread-safe (gh-106905), and
                # Hypothesis parses lambdas while generating, so two threads crash the run
                "--workers",
                "1",
                # revoking its own key would turn the rest of the run into 401s
                "--exclude-path-regex",
                r"^/api/v1/api-keys/\{key_id\}/revoke$",
            ],
            capture_output=True,
            text=True,
            timeout=400,
            cwd=tmp_path,  # its own .schemathesis/ cache stays out of the checkout
            # the client runs on the real clock (the server keeps the suite's): under
            # libfaketime its timed waits never return and --max-time is never reached
            env={k: v for k, v in os.environ.items() if k != "LD_PRELOAD" and "FAKETIME" not in k},
        )
        log = srv.log()
    world.platform.close()
    text = out.stdout + out.stderr
    assert out.returncode == 0, text[:12000] + "\n--- server log ---\n" + log[-3000:]
    assert "Traceback" not in log, log[-3000:]
    m = re.search(r"(\d+) generated, (\d+) passed", text)
    assert m, text[-3000:]
    generated, passed = int(m.group(1)), int(m.group(2))
    assert generated == passed and generated >= MIN_REQUESTS, text[-3000:]
    # the key worked throughout: only the browser-session routes may refuse it
    assert all("/sessions" in op for op in refused_only(text)), text[-6000:]
    print(f"schemathesis: {generated} requests, all passed")


def refused_only(text: str) -> list[str]:
    """The operations Schemathesis saw answer nothing but 401/403 ("Authentication failed")."""
    ops, inside = [], False
    for line in text.splitlines():
        s = line.strip()
        if s.startswith(("401 Unauthorized", "403 Forbidden")):
            inside = True
        elif inside and s.startswith("- "):
            ops.append(s[2:])
        elif inside and s and not s.startswith("- "):
            inside = False
    return ops
