"""A function a web page's ES module exports, run by node over values the server makes: what
a Chinese page shows for them, by the page's own code (``chineseDetail`` of static/api.js, the
start page's ``explainSigners`` …)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

STATIC = Path(__file__).parents[1] / "src/yinxin/adapters/web/static"


def run_page_function(tmp_path: Path, module: str, name: str, values: list, call: str) -> list:
    """``call`` — a JS expression of ``f`` (the function ``name`` that ``module``, a path
    under static/, exports) and ``x`` — of each of ``values``, run by node. api.js and the
    module are copied as .mjs (node reads ES modules so), the module's import of
    /static/api.js pointed at the copy; they bind their page handlers as they load: a page
    still loading, no window."""
    api = tmp_path / "api.mjs"
    api.write_text((STATIC / "api.js").read_text("utf-8"), "utf-8")
    target = api
    if module != "api.js":
        target = tmp_path / (Path(module).stem + ".mjs")
        target.write_text(
            (STATIC / module)
            .read_text("utf-8")
            .replace('"/static/api.js"', json.dumps(api.as_uri())),
            "utf-8",
        )
    script = (
        "const none = { addEventListener() {} };\n"
        "globalThis.document = { ...none, readyState: 'loading', cookie: '' };\n"
        "globalThis.window = none;\n"
        f"const {{ {name}: f }} = await import({json.dumps(target.as_uri())});\n"
        "let input = '';\n"
        "for await (const chunk of process.stdin) input += chunk;\n"
        f"process.stdout.write(JSON.stringify(JSON.parse(input).map((x) => {call})));\n"
    )
    run = subprocess.run(
        ["node", "--input-type=module", "-e", script],
        input=json.dumps(values),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout)
