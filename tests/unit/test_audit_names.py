"""Every audit action the platform writes has a Chinese name on the desk's 审计日志
(static/pages/desk_audit.js ACTIONS): one without is listed as 其他操作 with its English code.
Every subject type too (SUBJECTS): one without is listed as a 记录.

The actions are read from the source (``ast``): every call of an audit helper — ``event`` /
``record`` of ``yinxin.store.audit`` and each module's wrapper around them (``_audit``,
``_event``, ``audit_seal``…, found as a function whose ``action`` or ``verb`` parameter the
call fills) — and its action argument: a literal, a literal wrapped by the helper
(``audit_seal`` writes ``seal.<verb>``), or a name or choice the source spells out (a local
assigned literals, a module constant, a dict of them looked up). An action made at run time
(``f"certificate.{verb}"``) is enumerated in ``BUILT`` from the table it is checked against; a
new one of those fails here until it is."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

from yinxin.contracts.obligations import EventKind
from yinxin.recrypt import KINDS as RECRYPT_KINDS
from yinxin.registry import lifecycle as cert_lifecycle
from yinxin.registry.views import PaymentKind
from yinxin.seals import lifecycle as seal_lifecycle

SRC = Path(__file__).resolve().parents[2] / "src" / "yinxin"
AUDIT_JS = SRC / "adapters" / "web" / "static" / "pages" / "desk_audit.js"

HELPERS = {"event", "record", "_audit", "_audit_registration", "_event", "_record", "audit_seal"}
# store.audit's own: event(s, now, actor, action, …); record(…, action=…)
STORE_INDEX = {"event": 3, "_audit": 3}  # obligations' _audit is a partial of event

_GRANT_VERBS = set(
    re.findall(r'self\._write\(\s*"([a-z_]+)"', (SRC / "seals/grants.py").read_text())
)
_SEAL_MOVES = set(seal_lifecycle.MOVES)
_CERT_MOVES = {f"certificate.{v}" for v in cert_lifecycle.MOVES}

# the actions built at run time, per file and argument as written: every value the argument
# takes (a helper's prefix, such as audit_seal's seal., is added to it)
BUILT: dict[tuple[str, str], set[str]] = {
    ("registry/certificates.py", "f'payment.{pay.kind}'"): {f"payment.{k}" for k in PaymentKind},
    ("registry/certificates.py", "f'certificate.{verb}'"): _CERT_MOVES,
    # audit_seal's verb (written seal.<verb>): a move of the seal's lifecycle table (holds,
    # and create/renew/change), or a grant's
    ("seals/holds.py", "verb"): _SEAL_MOVES,
    ("seals/issuance.py", "verb"): _SEAL_MOVES,
    ("seals/grants.py", "verb"): _GRANT_VERBS,
    ("contracts/obligations.py", "f'obligation.{event}'"): {f"obligation.{e}" for e in EventKind},
}


def _params(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> list[str]:
    a = fn.args
    return [x.arg for x in (*a.posonlyargs, *a.args)]


def _helpers(tree: ast.Module) -> dict[str, tuple[int, str]]:
    """The module's audit helpers: name → (index of the action parameter among the call's
    positional arguments, the prefix the helper puts before it: ``seal.`` for audit_seal)."""
    out: dict[str, tuple[int, str]] = {}
    for fn in ast.walk(tree):
        if not isinstance(fn, ast.FunctionDef) or fn.name not in HELPERS:
            continue
        names = _params(fn)
        for p in ("action", "verb"):
            if p not in names:
                continue
            i = names.index(p) - (1 if names and names[0] in ("self", "cls") else 0)
            prefix = ""
            for f in ast.walk(fn):
                if (
                    isinstance(f, ast.JoinedStr)
                    and len(f.values) == 2
                    and isinstance(f.values[0], ast.Constant)
                    and isinstance(f.values[1], ast.FormattedValue)
                    and isinstance(f.values[1].value, ast.Name)
                    and f.values[1].value.id == p
                ):
                    prefix = f.values[0].value
            out[fn.name] = (i, prefix)
    return out


def _module_values(tree: ast.Module) -> dict[str, ast.expr]:
    return {
        t.id: node.value
        for node in tree.body
        if isinstance(node, ast.Assign)
        for t in node.targets
        if isinstance(t, ast.Name)
    }


def _resolve(e: ast.expr, scope: ast.AST | None, consts: dict[str, ast.expr]) -> set[str] | None:
    """The strings ``e`` can be as the source spells them out, or None if built at run time."""
    if isinstance(e, ast.Constant) and isinstance(e.value, str):
        return {e.value}
    if isinstance(e, ast.IfExp):
        a, b = _resolve(e.body, scope, consts), _resolve(e.orelse, scope, consts)
        return None if a is None or b is None else a | b
    if isinstance(e, ast.Dict):
        out: set[str] = set()
        for v in e.values:
            r = _resolve(v, scope, consts)
            if r is None:
                return None
            out |= r
        return out
    if isinstance(e, ast.Subscript):  # a dict of literals looked up
        return _resolve(e.value, scope, consts)
    if isinstance(e, ast.Name):
        assigned = [
            n.value
            for n in (ast.walk(scope) if scope is not None else ())
            if isinstance(n, ast.Assign)
            and any(isinstance(t, ast.Name) and t.id == e.id for t in n.targets)
        ]
        if assigned:
            out = set()
            for v in assigned:
                r = _resolve(v, scope, consts)
                if r is None:
                    return None
                out |= r
            return out
        if e.id in consts:
            return _resolve(consts[e.id], None, consts)
    return None


def _calls(tree: ast.Module) -> Iterator[tuple[ast.Call, str, ast.AST | None]]:
    """Each call with the function it is in (None at module level)."""

    def walk(node: ast.AST, fn: ast.AST | None) -> Iterator[tuple[ast.Call, str, ast.AST | None]]:
        for child in ast.iter_child_nodes(node):
            inner = child if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef) else fn
            if isinstance(child, ast.Call):
                f = child.func
                name = (
                    f.id
                    if isinstance(f, ast.Name)
                    else f.attr
                    if isinstance(f, ast.Attribute)
                    else ""
                )
                yield child, name, fn
            yield from walk(child, inner)

    yield from walk(tree, None)


def audit_writes() -> tuple[set[str], set[str], dict[tuple[str, str], int]]:
    """(actions written, subject types written, the built actions found: site → calls)."""
    actions: set[str] = set()
    subjects: set[str] = set()
    built: dict[tuple[str, str], int] = {}
    paths = [
        p
        for p in sorted(SRC.rglob("*.py"))
        if not (p.name == "audit.py" and p.parent.name == "store")  # the helpers themselves
    ]
    trees = {p: ast.parse(p.read_text("utf-8")) for p in paths}
    # a public helper (audit_seal) is imported where it is used; a private one is the module's
    shared = {k: v for t in trees.values() for k, v in _helpers(t).items() if not k.startswith("_")}
    for path, tree in trees.items():
        rel = path.relative_to(SRC).as_posix()
        own = _helpers(tree)
        helpers, consts = {**shared, **own}, _module_values(tree)
        for call, name, fn in _calls(tree):
            if name not in HELPERS:
                continue
            kw = {k.arg: k.value for k in call.keywords if k.arg}
            prefix = ""
            if "action" in kw:
                arg = kw["action"]
            elif name in helpers and helpers[name][0] < len(call.args):
                i, prefix = helpers[name]
                arg = call.args[i]
            elif name in STORE_INDEX and len(call.args) > 3:
                arg = call.args[STORE_INDEX[name]]
            else:
                continue  # not an audit write (obligations.record(contract_id, event, on)…)
            st = kw.get("subject_type")
            if st is not None:
                subjects |= _resolve(st, fn, consts) or set()
            # a helper handing its own action parameter on: its callers are the writes
            used = {n.id for n in ast.walk(arg) if isinstance(n, ast.Name)}
            if fn is not None and getattr(fn, "name", "") in own and used:
                if used <= set(_params(fn)):  # type: ignore[arg-type]
                    continue
            values = _resolve(arg, fn, consts)
            if values is None:
                site = (rel, ast.unparse(arg))
                built[site] = built.get(site, 0) + 1
                values = BUILT.get(site, set())
            written = {prefix + v for v in values}
            actions |= written
            if st is None and name == "event" and name not in helpers:
                subjects |= {a.split(".", 1)[0] for a in written}
    return actions, subjects, built


def _js_block(name: str) -> str:
    text = AUDIT_JS.read_text("utf-8")
    start = text.index(f"const {name} = {{")
    return text[start : text.index("};", start)]


def named() -> set[str]:
    return set(re.findall(r'"([a-z_]+\.[a-z_]+)":', _js_block("ACTIONS")))


def named_subjects() -> set[str]:
    return set(re.findall(r"\b([a-z_]+):\s*\"", _js_block("SUBJECTS")))


def test_every_audit_action_written_has_a_chinese_name():
    actions, _subjects, _built = audit_writes()
    assert {
        "registration.code_requested",
        "registration.code_withheld",  # a local assigned one of two literals
        "seal.pin_changed",  # audit_seal's verb
        "signing.batch_signed",
        "document.status_refreshed",  # one of a choice
        "notice.skipped",  # a module constant
        "webhook.deleted",  # a dict of literals looked up
        "service_request.responded",  # desk's _event("…") and _PAST[verb]
        "authorization.granted",
        "authorization.expired",
        "seal.report_pin_leak",  # a move of the seal's table
        "certificate.suspend_unpaid",
        "obligation.went_live",
    } <= actions
    assert sorted(actions - named()) == []


def test_every_action_built_at_run_time_is_enumerated():
    """An action the source builds (an f-string, a parameter) is not seen as written text: each
    such call must be in BUILT with the values it takes, or its actions go unchecked."""
    _actions, _subjects, built = audit_writes()
    assert sorted(set(built) - set(BUILT)) == []
    assert sorted(set(BUILT) - set(built)) == []  # a site gone or respelled: update BUILT


def test_every_subject_type_written_has_a_chinese_name():
    _actions, subjects, _built = audit_writes()
    assert {"sign_flow", "platform_kek", "registration_code", "certificate"} <= subjects
    assert sorted(subjects - named_subjects()) == []


def test_every_system_job_that_acts_has_a_chinese_name():
    """审计日志 (and every page naming who acted) reads ``system:<job>`` as 系统（<the job>）;
    a job missing from api.js SYSTEM_JOBS was said 系统（自动任务）, naming none."""
    jobs: set[str] = set()
    for path in SRC.rglob("*.py"):
        jobs |= set(re.findall(r'"system:([a-z_]+)"', path.read_text("utf-8")))
    api = (SRC / "adapters" / "web" / "static" / "api.js").read_text("utf-8")
    start = api.index("const SYSTEM_JOBS = {")
    named_jobs = set(re.findall(r"\b([a-z_]+):\s*\"", api[start : api.index("};", start)]))
    assert {"obligations", "desk", "flow", "webhooks"} <= jobs
    assert sorted(jobs - named_jobs) == []


def test_every_authority_role_has_a_chinese_name():
    """An authority certificate's events are about its role: 审计日志 said 认证机构 root,
    认证机构 sm2-issuing (the codes); each role is named (desk_audit.js AUTHORITY_ROLES)."""
    from yinxin.registry.ca import ROLES

    roles = set(re.findall(r'"?([a-z-]+)"?:\s*"', _js_block("AUTHORITY_ROLES")))
    assert sorted(set(ROLES) - roles) == []


# an actor the source writes as it is: a parameter's default, a keyword given, the CLI's --actor
BARE_ACTOR = re.compile(
    r"""\b(?:actor|by)(?::\s*str)?\s*=\s*"([a-z][a-z_-]*)"|Option\(\s*"([a-z][a-z_-]*)",\s*"--actor\""""
)


def test_every_actor_the_platform_writes_has_a_chinese_name():
    """审计日志 shows who acted by api.js ACTORS; one missing was shown as its code, such as
    ra-officer, what every CLI command without --actor records."""
    actors: set[str] = set()
    for path in SRC.rglob("*.py"):
        for m in BARE_ACTOR.finditer(path.read_text("utf-8")):
            actors.add(m.group(1) or m.group(2))
    api = (SRC / "adapters" / "web" / "static" / "api.js").read_text("utf-8")
    start = api.index("const ACTORS = {")
    block = api[start : api.index("};", start)]
    named_actors = set(re.findall(r'"?([a-z][a-z_-]*)"?:\s*"', block))
    assert {"operator", "ra-officer", "scheduler", "batch-signing"} <= actors
    assert sorted(actors - named_actors) == []


# --- the data each event records (its 内容 column) ---------------------------------------------

# the keys a write's data takes that the source does not spell out where it is written, per file
# and data argument as written: every key it can hold
BUILT_DATA: dict[tuple[str, str], set[str]] = {
    # a seal move's extra check answers more data: cancel's the form handed in (issuance.with_form)
    ("seals/holds.py", "data"): {"application_id"},
    # document.signed: the record's details as the signing paths make them (service's own lock
    # and cross_page left out): a batch's, an OFD signature's
    (
        "signing/service.py",
        "{'document': e.document_name, 'sha256_before': e.digest, 'sha256_after': "
        "rec.sha256_after, 'es_id': stamp.es_id, 'certificate': stamp.certificate_serial, "
        "'role': e.role, 'level': level, 'field_name': e.field_name, 'intent_challenge': "
        "challenge_id, **{k: v for k, v in e.details.items() if k not in ('lock', 'cross_page')}}",
    ): {
        "batch_id",
        "batch_position",
        "batch_size",
        "authorization_id",
        "client_ip",
        "actor",
        "context",
        "format",
        "signature_xml",
        "page",
        "boundary",
    },
}
# the keys of a value that is itself a mapping keyed by codes (data.recrypted's counts by kind of
# secret, yinxin.recrypt)
NESTED_KEYS = set(RECRYPT_KINDS)


def _kwargs_dict(call: ast.Call, fn: ast.FunctionDef) -> ast.Dict:
    """The keywords a call hands a function's ``**data`` as the dict it becomes."""
    named = set(_params(fn)) | {a.arg for a in fn.args.kwonlyargs}
    extra = [k for k in call.keywords if k.arg not in named]
    return ast.Dict(
        keys=[ast.Constant(k.arg) if k.arg else None for k in extra],  # type: ignore[misc]
        values=[k.value for k in extra],
    )


def _data_arg(call: ast.Call, name: str, fns: dict[str, ast.FunctionDef]) -> ast.expr | None:
    """The data an audit write is handed: ``data=``, or its place among the arguments."""
    kw = {k.arg: k.value for k in call.keywords if k.arg}
    if "data" in kw:
        return kw["data"]
    fn = fns.get(name)
    if fn is not None:
        ps = _params(fn)
        off = 1 if ps and ps[0] in ("self", "cls") else 0
        if "data" in ps and 0 <= ps.index("data") - off < len(call.args):
            return call.args[ps.index("data") - off]
        return _kwargs_dict(call, fn) if fn.args.kwarg is not None else None
    # store.audit's event(s, now, actor, action, subject_id, data), obligations' partial of it,
    # audit_seal(s, es_id, verb, actor, now, data)
    return call.args[5] if len(call.args) > 5 else None


class _Keys:
    """The keys a data expression can hold, as the source spells them out: a dict literal's
    (and those of the dicts inside its values), a local it is assigned to (and its ``[key] =``,
    ``update``, ``|=``), a function parameter as every call in the module fills it, a local
    function's returned dict. ``whole`` turns False when some part is built at run time."""

    def __init__(self, tree: ast.Module, funcs: dict[str, ast.FunctionDef]):
        self.tree, self.funcs = tree, funcs
        self.keys: set[str] = set()
        self.whole = True
        self.seen: set[tuple[str, int]] = set()

    def nested(self, v: ast.AST) -> None:
        for n in ast.walk(v):
            if isinstance(n, ast.Dict):
                self.keys |= {
                    k.value
                    for k in n.keys
                    if isinstance(k, ast.Constant) and isinstance(k.value, str)
                }

    def callers(self, fn: ast.FunctionDef, p: str) -> Iterator[tuple[ast.expr, ast.AST | None]]:
        ps = _params(fn)
        off = 1 if ps and ps[0] in ("self", "cls") else 0
        for call, name, caller in _calls(self.tree):
            if name != fn.name:
                continue
            kw = {k.arg: k.value for k in call.keywords if k.arg}
            if fn.args.kwarg is not None and p == fn.args.kwarg.arg:
                yield _kwargs_dict(call, fn), caller
            elif p in kw:
                yield kw[p], caller
            elif p in ps and 0 <= ps.index(p) - off < len(call.args):
                yield call.args[ps.index(p) - off], caller

    def add(self, e: ast.expr | None, scope: ast.AST | None) -> None:
        if e is None or (isinstance(e, ast.Constant) and e.value is None):
            return
        if isinstance(e, ast.Dict):
            for k, v in zip(e.keys, e.values, strict=True):
                if k is None:
                    self.add(v, scope)
                elif isinstance(k, ast.Constant) and isinstance(k.value, str):
                    self.keys.add(k.value)
                    self.nested(v)
                else:
                    self.whole = False
        elif isinstance(e, ast.IfExp):
            self.add(e.body, scope)
            self.add(e.orelse, scope)
        elif isinstance(e, ast.BoolOp):
            for v in e.values:
                self.add(v, scope)
        elif isinstance(e, ast.Name):
            self.name(e.id, scope)
        elif isinstance(e, ast.Call) and isinstance(e.func, ast.Name) and e.func.id == "dict":
            for a in e.args:
                self.add(a, scope)
            for k in e.keywords:
                if k.arg:
                    self.keys.add(k.arg)
                else:
                    self.add(k.value, scope)
        elif isinstance(e, ast.Call) and isinstance(e.func, ast.Name) and e.func.id in self.funcs:
            fn = self.funcs[e.func.id]
            for r in ast.walk(fn):
                if isinstance(r, ast.Return):
                    self.add(r.value, fn)
        else:
            self.whole = False

    def name(self, n: str, scope: ast.AST | None) -> None:
        if (n, id(scope)) in self.seen:
            return
        self.seen.add((n, id(scope)))
        found = False
        if isinstance(scope, ast.FunctionDef):
            a = scope.args
            given = {x.arg for x in (*a.posonlyargs, *a.args, *a.kwonlyargs)}
            if n in given or (a.kwarg is not None and a.kwarg.arg == n):
                found = True
                for d, caller in self.callers(scope, n):
                    self.add(d, caller)
        for node in ast.walk(scope) if scope is not None else ():
            if isinstance(node, ast.Assign | ast.AnnAssign | ast.AugAssign):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                for t in targets:
                    if isinstance(t, ast.Name) and t.id == n and node.value is not None:
                        found = True
                        self.add(node.value, scope)
                    elif (
                        isinstance(t, ast.Subscript)
                        and isinstance(t.value, ast.Name)
                        and t.value.id == n
                    ):
                        found = True
                        if isinstance(t.slice, ast.Constant) and isinstance(t.slice.value, str):
                            self.keys.add(t.slice.value)
                            self.nested(node.value)  # type: ignore[arg-type]
                        else:
                            self.whole = False
            elif (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "update"
                and isinstance(node.func.value, ast.Name)
                and node.func.value.id == n
            ):
                found = True
                for a in node.args:
                    self.add(a, scope)
                self.keys |= {k.arg for k in node.keywords if k.arg}
        if not found:
            self.whole = False


def data_keys() -> tuple[set[str], dict[tuple[str, str], int]]:
    """(the keys audit events' data is written with, the writes whose keys are built: site →
    calls)."""
    keys: set[str] = set()
    built: dict[tuple[str, str], int] = {}
    paths = [
        p
        for p in sorted(SRC.rglob("*.py"))
        if not (p.name == "audit.py" and p.parent.name == "store")
    ]
    trees = {p: ast.parse(p.read_text("utf-8")) for p in paths}
    shared = {k: v for t in trees.values() for k, v in _helpers(t).items() if not k.startswith("_")}
    for path, tree in trees.items():
        rel = path.relative_to(SRC).as_posix()
        own = _helpers(tree)
        helpers = {**shared, **own}
        funcs = {f.name: f for f in ast.walk(tree) if isinstance(f, ast.FunctionDef)}
        fns = {k: v for k, v in funcs.items() if k in HELPERS}
        for call, name, fn in _calls(tree):
            if name not in HELPERS:
                continue
            kw = {k.arg for k in call.keywords if k.arg}
            if not (
                "action" in kw
                or (name in helpers and helpers[name][0] < len(call.args))
                or (name in STORE_INDEX and len(call.args) > 3)
            ):
                continue  # not an audit write
            d = _data_arg(call, name, fns if name in own or name in shared else {})
            k = _Keys(tree, funcs)
            if isinstance(fn, ast.FunctionDef) and fn.name in fns:
                # a helper handing its own data parameter on: its callers are the writes
                a = fn.args
                k.seen |= {(p, id(fn)) for p in _params(fn)}
                if a.kwarg is not None:
                    k.seen.add((a.kwarg.arg, id(fn)))
            k.add(d, fn)
            keys |= k.keys
            if not k.whole:
                site = (rel, ast.unparse(d) if d is not None else "")
                built[site] = built.get(site, 0) + 1
                keys |= BUILT_DATA.get(site, set())
    return keys, built


def named_fields() -> set[str]:
    return set(re.findall(r"\b([a-z_0-9]+):\s*\"", _js_block("FIELDS")))


def test_every_data_field_written_has_a_chinese_name():
    """审计日志's 内容 named the data by the platform's English keys (from: active；to: on_hold,
    reason: key_compromise); each key the source writes has a Chinese name (FIELDS)."""
    keys, _built = data_keys()
    assert {
        "from",
        "to",
        "reason",
        "serial",
        "hold_kind",  # added to a parameter's dict
        "same_key_as",  # a keyword handed to a **data helper
        "hierarchy",  # **extra handed on
        "application_id",  # a seal move's extra check (BUILT_DATA)
        "purpose",  # a local function's returned dict (intent._about)
        "given_up",  # data["given_up"] = …
        "recrypted",
        "sha256_before",  # inside a list of dicts
    } <= keys
    assert sorted((keys | NESTED_KEYS) - named_fields()) == []


def test_every_data_built_at_run_time_is_enumerated():
    _keys, built = data_keys()
    assert sorted(set(built) - set(BUILT_DATA)) == []
    assert sorted(set(BUILT_DATA) - set(built)) == []  # a site gone or respelled
