"""The layers of ``src/yinxin`` and the direction of their imports, checked by reading the source.

    core      clock, settings, errors, transitions, identity, agreements,
              indication                                                          imports nothing
    store     store/ (models, unit of work, audit chain, files, migrations)
    pki       pki/ (keys, profiles, authority, CRL, OCSP, TSA)
    pdf       pdf/ (signing engine, cross-page seal, anchors, verifier, report), ofd/: no database
    services  registry/, seals/, signing/, notify/, archive/, contracts/, handover/
    app       app.py (the only wiring), demo.py, jobs/ (the scheduler over the services), recrypt.py
              (re-encrypts every service's sealed secrets)
    adapters  adapters/cli/, adapters/http/

A module may import its own layer and the layers below it, never one above; and no two units
(a top-level package or module, or one adapter) import each other, directly or round a longer
loop, nor do two modules anywhere. Every import counts, also one inside a function or under
``TYPE_CHECKING``: it is a dependency all the same. A failure names the importing module and line.

The CLI is also checked to load no service when it starts, so ``yinxin --help`` stays fast.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"
PACKAGE = "yinxin"

LAYERS: dict[str, list[str]] = {
    "core": [
        "yinxin",
        "yinxin.clock",
        "yinxin.context",
        "yinxin.settings",
        "yinxin.errors",
        "yinxin.transitions",
        "yinxin.identity",
        "yinxin.agreements",
        "yinxin.results",
        "yinxin.indication",
    ],
    "store": ["yinxin.store"],
    "pki": ["yinxin.pki"],
    "pdf": ["yinxin.pdf", "yinxin.ofd"],
    "services": [
        "yinxin.access",
        "yinxin.registry",
        "yinxin.seals",
        "yinxin.signing",
        "yinxin.notify",
        "yinxin.archive",
        "yinxin.contracts",
        "yinxin.handover",
    ],
    "app": ["yinxin.app", "yinxin.demo", "yinxin.jobs", "yinxin.recrypt"],
    "adapters": ["yinxin.adapters"],
}
ORDER = list(LAYERS)


@dataclass(frozen=True)
class Import:
    module: str  # the importing module
    line: int
    target: str  # the imported module (or package)

    def __str__(self) -> str:
        return f"{self.module}:{self.line} imports {self.target}"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> set[str]:
    """Every module and package of the source, data packages (``agreements/``) included."""
    found = {module_name(p) for p in (SRC / PACKAGE).rglob("*.py")}
    return found | {
        module_name(p / "__init__.py")
        for p in (SRC / PACKAGE).rglob("*")
        if p.is_dir() and p.name != "__pycache__"
    }


def imports() -> list[Import]:
    """Every import of a ``yinxin`` module in the source, relative ones resolved; ``from a
    import b`` counts as an import of ``a.b`` when that is a module."""
    known = modules()
    found = []
    for path in sorted((SRC / PACKAGE).rglob("*.py")):
        module = module_name(path)
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text("utf-8"), str(path))):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parts = package.split(".")
                    base = ".".join(
                        [
                            *parts[: len(parts) - node.level + 1],
                            *([node.module] if node.module else []),
                        ]
                    )
                targets = [
                    f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names
                ]
            else:
                continue
            found += [
                Import(module, node.lineno, t)
                for t in dict.fromkeys(targets)
                if t == PACKAGE or t.startswith(PACKAGE + ".")
            ]
    return found


def layer(module: str) -> str | None:
    """The layer of a module: the one listing it or its top-level package (``yinxin`` itself
    is core, but only the package's ``__init__``: a new ``yinxin.x`` must be given a layer)."""
    for name, prefixes in LAYERS.items():
        for prefix in prefixes:
            if module == prefix or (prefix != PACKAGE and module.startswith(prefix + ".")):
                return name
    return None


def unit(module: str) -> str:
    """The unit cycles are looked for between: ``yinxin.X``, or ``yinxin.adapters.X``."""
    parts = module.split(".")
    return ".".join(parts[:3] if parts[1:2] == ["adapters"] else parts[:2])


def test_every_module_has_a_layer() -> None:
    lost = sorted(m for m in modules() if layer(m) is None)
    assert not lost, f"put these in a layer of tests/unit/test_layers.py: {lost}"


def test_imports_point_down() -> None:
    upward = []
    for imp in imports():
        mine, theirs = layer(imp.module), layer(imp.target)
        assert mine is not None and theirs is not None, str(imp)
        if ORDER.index(theirs) > ORDER.index(mine):
            upward.append(f"{imp} ({mine} → {theirs})")
    assert not upward, "imports pointing up a layer:\n  " + "\n  ".join(upward)


def test_the_pdf_engine_needs_no_database() -> None:
    """``pdf/`` is what a relying party runs on a bare machine: it may use ``pki`` (keys, DER)
    but never the store, so verifying a file cannot create or open a data directory."""
    stored = [
        str(imp) for imp in imports() if layer(imp.module) == "pdf" and layer(imp.target) == "store"
    ]
    assert not stored, "the PDF engine reaches the database:\n  " + "\n  ".join(stored)


def _cycles(graph: dict[str, dict[str, Import]]) -> list[str]:
    """Each loop of ``graph`` found by a depth-first search, with the imports that make it."""
    cycles = []
    state: dict[str, int] = {}  # 1 on the current path, 2 finished
    path: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, {})):
            if state.get(nxt) == 1:
                loop = [*path[path.index(nxt) :], nxt]
                cycles.append(
                    " → ".join(loop)
                    + ":\n    "
                    + "\n    ".join(str(graph[x][y]) for x, y in pairwise(loop))
                )
            elif nxt not in state:
                visit(nxt)
        path.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)
    return cycles


def test_no_import_cycle_between_units() -> None:
    graph: dict[str, dict[str, Import]] = {}
    for imp in imports():
        a, b = unit(imp.module), unit(imp.target)
        if a != b and b != PACKAGE:
            graph.setdefault(a, {}).setdefault(b, imp)
    cycles = _cycles(graph)
    assert not cycles, "import cycles:\n  " + "\n  ".join(cycles)


def test_no_import_cycle_between_modules() -> None:
    """Inside a unit too: two modules that need each other (one importing the other inside a
    function to get round it) share something that belongs in a third, below both."""
    graph: dict[str, dict[str, Import]] = {}
    for imp in imports():
        if imp.module != imp.target and imp.target != PACKAGE:
            graph.setdefault(imp.module, {}).setdefault(imp.target, imp)
    cycles = _cycles(graph)
    assert not cycles, "import cycles between modules:\n  " + "\n  ".join(cycles)


def test_the_cli_starts_without_the_services() -> None:
    """``yinxin --help`` imports Typer and rich, not pyHanko, FastAPI, SQLAlchemy, cryptography
    or any service: a command imports those when it runs."""
    heavy = [
        "pyhanko",
        "fastapi",
        "uvicorn",
        "PIL",
        "sqlalchemy",
        "cryptography",
        "asn1crypto",
        "pypdfium2",
        "yinxin.app",
        "yinxin.store",
        "yinxin.pki",
        "yinxin.pdf",
        *LAYERS["services"],
    ]
    code = "import sys, yinxin.adapters.cli\nprint('\\n'.join(sys.modules))"
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()
    early = sorted(m for m in loaded if any(m == h or m.startswith(h + ".") for h in heavy))
    assert not early, f"the CLI loads these before any command runs: {early}"
