"""What the API benchmarks beside this file import first: run under the repo's virtualenv, with
``src/`` and the repo itself (for ``tests.…`` helpers) importable.

Each script is run as ``.venv/bin/python bench/api/NAME.py`` or with any other Python: then
importing this module re-executes the script with ``.venv/bin/python`` (once; ``YX_REEXEC``
stops a loop), or, without a virtualenv, puts ``src/`` on the path and hopes for the best.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
VENV_PY = ROOT / ".venv" / "bin" / "python"

try:
    import yinxin  # noqa: F401
except ImportError:
    if VENV_PY.exists() and Path(sys.executable) != VENV_PY and not os.environ.get("YX_REEXEC"):
        os.environ["YX_REEXEC"] = "1"
        os.execv(str(VENV_PY), [str(VENV_PY), *sys.argv])
    sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))
