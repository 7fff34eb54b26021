"""The O&M service desk of contract 003 on a real platform (SQLite file, the official calendar,
real seals and sign flows).

* the clocks through the service: Friday evening (2 h), Saturday / National Day (4 h), the
  make-up Saturday 2026-10-10 (2 h), a pause waiting on 甲方 that moves the deadline;
* breaches flagged by the ``desk.breaches`` job as a frozen clock passes the deadlines, grown
  while unmet, final once met — and a second run changes nothing;
* refusals (unknown contract, bad dates, illegal moves) naming the field, with every table of
  the database unchanged;
* one service record signed by both parties through a sign flow and verified by pyHanko and
  pdfsig-free means (pyHanko's validator against our root), its text through ``pdftotext``;
* the monthly and yearly reports through ``pdftotext`` and ``pdffonts``;
* the CLI (``yinxin desk … --json``) and the HTTP API.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import subprocess
from decimal import Decimal
from pathlib import Path

import pytest
from asn1crypto import x509 as a_x509
from cryptography.hazmat.primitives.serialization import Encoding
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko_certvalidator import ValidationContext

from tests import dbdump
from tests.integration.signing_flow import build_world, need, outbox_lines, read_code
from yinxin.clock import BEIJING
from yinxin.contracts.desk import BreachKind, ClockState, RequestState
from yinxin.contracts.service import ContractSigner
from yinxin.contracts.templates import get_template
from yinxin.errors import Conflict, IllegalTransition, NotFound, ValidationError
from yinxin.jobs.registry import by_name, default_jobs
from yinxin.store.models import AuditEvent

NUMBER = "ZK-YW-2026-001"
A = "周口市市场监督管理局专业分局"
B = "周口市精创智能科技有限公司"


def bj(*a: int) -> dt.datetime:
    return dt.datetime(*a, tzinfo=BEIJING)


def add_003(p, number: str = NUMBER):
    return p.desk.add_contract(
        number,
        title="周专市监小程序软件运维服务合同",
        party_a=A,
        party_b=B,
        annual_fee="28000.00",
        starts_on=dt.date(2026, 1, 1),
        ends_on=dt.date(2027, 12, 31),
        actor="运维经理",
    )


def job(p):
    return by_name(default_jobs(p), "desk.breaches")


def pdftext(pdf: bytes, tmp_path, name: str) -> str:
    need("pdftotext")
    path = tmp_path / name
    path.write_bytes(pdf)
    return subprocess.run(
        ["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True
    ).stdout


def fonts_embedded(pdf: bytes, tmp_path, name: str) -> list[str]:
    need("pdffonts")
    path = tmp_path / name
    path.write_bytes(pdf)
    out = subprocess.run(["pdffonts", str(path)], capture_output=True, text=True, check=True)
    rows = out.stdout.splitlines()[2:]
    assert rows, out.stdout
    for row in rows:
        cols = row.split()
        # name type [encoding] emb sub uni object ID: emb is the 5th column from the end
        assert cols[-5] == "yes", row
    return rows


# --- the clocks through the service -----------------------------------------------------------
def test_contract_terms_and_penalty_in_decimal(platform) -> None:
    c = add_003(platform)
    assert c.annual_fee == Decimal("28000.00")
    assert c.monthly_fee == Decimal("2333.33")
    assert c.penalty_per_breach == Decimal("11.67")  # 28000 / 12 × 0.005 = 11.666…
    assert (c.workday_response_hours, c.other_response_hours, c.on_site_hours) == (2, 4, 24)


@pytest.mark.parametrize(
    ("notice", "workday", "hours"),
    [
        (bj(2026, 10, 16, 20, 0), True, 2),  # Friday evening
        (bj(2026, 10, 17, 9, 0), False, 4),  # Saturday
        (bj(2026, 10, 1, 10, 0), False, 4),  # National Day
        (bj(2026, 10, 10, 9, 0), True, 2),  # make-up working Saturday
    ],
)
def test_deadlines_on_the_official_calendar(platform, clock, notice, workday, hours) -> None:
    clock.set(notice + dt.timedelta(minutes=5))
    add_003(platform)
    r = platform.desk.open(
        NUMBER,
        channel="phone",
        description="小程序无法登录",
        notice_at=notice,
        reported_by="甲方 付威",
        on_site_requested=True,
    )
    assert r.notice_workday is workday
    assert r.response_due == notice + dt.timedelta(hours=hours)
    assert r.on_site_due == notice + dt.timedelta(hours=24)
    assert r.state == RequestState.OPEN and r.clock == ClockState.RUNNING


def test_job_flags_breaches_as_deadlines_pass(any_platform, clock) -> None:
    """On SQLite and on PostgreSQL."""
    p = any_platform
    clock.set(bj(2026, 10, 16, 20, 0))  # Friday 20:00 Beijing: response due 22:00
    add_003(p)
    r = p.desk.open(
        NUMBER,
        channel="phone",
        description="数据无法同步",
        severity="high",
        reported_by="甲方 付威",
        on_site_requested=True,
    )
    j = job(p)
    clock.advance(hours=1, minutes=59)
    j.run(p)
    assert p.desk.get(r.id).breaches == ()
    clock.advance(minutes=2)  # 22:01: one minute late
    before = dbdump.dump(p)
    summary = j.run(p)
    [b] = p.desk.get(r.id).breaches
    assert (b.kind, b.late_seconds, b.final) == (BreachKind.RESPONSE, 60, False)
    assert b.due_at == bj(2026, 10, 16, 22, 0)
    assert "flagged" in summary
    after = dbdump.dump(p)
    assert after != before
    j.run(p)  # the same moment again: nothing changes
    assert dbdump.dump(p) == after
    clock.advance(hours=1)  # still unanswered: the lateness grows
    j.run(p)
    [b] = p.desk.get(r.id).breaches
    assert b.late_seconds == 3660 and not b.final
    # answered at 23:30: final, 90 minutes late
    clock.advance(minutes=29)
    done = p.desk.respond(r.id, actor="乙方 房舒阳")
    [b] = done.breaches
    assert (b.late_seconds, b.final) == (5400, True)
    assert done.response_minutes == 210.0
    # the on-site clock (due Saturday 20:00) runs on; arriving in time adds no breach
    clock.set(bj(2026, 10, 17, 19, 0))
    j.run(p)
    arrived = p.desk.arrive(r.id)
    assert [x.kind for x in arrived.breaches] == [BreachKind.RESPONSE]
    with p.db.read() as s:
        actions = [e.action for e in s.query(AuditEvent).order_by(AuditEvent.seq)]
    assert actions.count("service_request.breached") == 1
    for a in ("service_request.opened", "service_request.responded", "service_request.arrived"):
        assert a in actions
    assert p.verify_audit().ok


def test_a_pause_stops_the_clock_and_the_job(platform, clock) -> None:
    p = platform
    clock.set(bj(2026, 10, 17, 9, 0))  # Saturday: 4 h, due 13:00
    add_003(p)
    r = p.desk.open(NUMBER, channel="web", description="报表导出失败", reported_by="甲方")
    clock.advance(hours=1)
    paused = p.desk.pause(r.id, "等待甲方提供报错截图")
    assert paused.clock == ClockState.PAUSED and paused.response_due is None
    with pytest.raises(IllegalTransition) as e:  # answering while waiting on 甲方: resume first
        p.desk.respond(r.id)
    assert e.value.field == "clock"
    with pytest.raises(IllegalTransition):
        p.desk.pause(r.id, "again")
    clock.advance(hours=20)  # Sunday 06:00, long past 13:00 — but paused
    job(p).run(p)
    assert p.desk.get(r.id).breaches == ()
    resumed = p.desk.resume(r.id)
    assert resumed.response_due == bj(2026, 10, 18, 9, 0)  # 3 h left of the 4
    clock.advance(hours=3, minutes=30)
    job(p).run(p)
    [b] = p.desk.get(r.id).breaches
    assert b.late_seconds == 1800 and b.due_at == bj(2026, 10, 18, 9, 0)
    r2 = p.desk.respond(r.id)
    assert r2.response_minutes == 270.0  # 1 h + 3.5 h running, the 20 h paused left out


# --- refusals ----------------------------------------------------------------------------------
def test_refusals_leave_the_database_unchanged(any_platform, clock) -> None:
    """On SQLite and on PostgreSQL: every table, every row, unchanged by each refusal."""
    p = any_platform
    clock.set(bj(2026, 10, 16, 20, 0))
    add_003(p)
    r = p.desk.open(NUMBER, channel="phone", description="故障", reported_by="甲方")
    before = dbdump.dump(p)
    cases = [
        (
            NotFound,
            "contract",
            lambda: p.desk.open("NO-SUCH", channel="phone", description="x", reported_by="甲方"),
        ),
        (
            ValidationError,
            "notice_at",
            lambda: p.desk.open(
                NUMBER,
                channel="phone",
                description="x",
                reported_by="甲方",
                notice_at=dt.datetime(2026, 10, 16, 12, 0),
            ),
        ),
        (
            ValidationError,
            "notice_at",
            lambda: p.desk.open(
                NUMBER,
                channel="phone",
                description="x",
                reported_by="甲方",
                notice_at=clock.now() + dt.timedelta(hours=1),
            ),
        ),
        (
            ValidationError,
            "notice_at",
            lambda: p.desk.open(
                NUMBER,
                channel="phone",
                description="x",
                reported_by="甲方",
                notice_at=bj(2025, 12, 31, 10, 0),
            ),
        ),
        (
            ValidationError,
            "channel",
            lambda: p.desk.open(NUMBER, channel="fax", description="x", reported_by="甲方"),
        ),
        (
            ValidationError,
            "description",
            lambda: p.desk.open(NUMBER, channel="phone", description="  ", reported_by="甲方"),
        ),
        (  # several lines are text; a bidi override is not
            ValidationError,
            "description",
            lambda: p.desk.open(
                NUMBER, channel="phone", description="故障\n日志\u202e", reported_by="甲方"
            ),
        ),
        (ValidationError, "at", lambda: p.desk.respond(r.id, at=bj(2026, 10, 16, 19, 0))),
        (
            ValidationError,
            "at",
            lambda: p.desk.respond(r.id, at=clock.now() + dt.timedelta(minutes=1)),
        ),
        (IllegalTransition, "state", lambda: p.desk.resolve(r.id, "已修复")),
        (NotFound, "request_id", lambda: p.desk.respond(9999)),
        (
            ValidationError,
            "annual_fee",
            lambda: p.desk.add_contract(
                "X-1",
                title="t",
                party_a="a",
                party_b="b",
                annual_fee="28000.001",
                starts_on=dt.date(2026, 1, 1),
                ends_on=dt.date(2026, 12, 31),
            ),
        ),
        (
            ValidationError,
            "ends_on",
            lambda: p.desk.add_contract(
                "X-1",
                title="t",
                party_a="a",
                party_b="b",
                annual_fee="1",
                starts_on=dt.date(2026, 1, 1),
                ends_on=dt.date(2025, 12, 31),
            ),
        ),
        (Conflict, "number", lambda: add_003(p)),
        (ValidationError, "period", lambda: p.desk.report(NUMBER, "2026-13")),
        (
            ValidationError,
            "month",
            lambda: p.desk.record_inspection(NUMBER, month="2026/10", inspector="x", findings="y"),
        ),
        # \d and isdigit() took other digits: an inspection filed under "２０２６-10" that no
        # report's month matches, a report of "２０２６-１０" that lists none of its inspections
        (
            ValidationError,
            "month",
            lambda: p.desk.record_inspection(
                NUMBER, month="２０２６-10", inspector="x", findings="y"
            ),
        ),
        (ValidationError, "period", lambda: p.desk.report(NUMBER, "２０２６-１０")),
        (ValidationError, "period", lambda: p.desk.report(NUMBER, "٢٠٢٦")),
        (IllegalTransition, "state", lambda: p.desk.record_pdf(r.id)),
    ]
    for kind, field, call in cases:
        with pytest.raises(kind) as e:
            call()
        assert e.value.field == field, (field, e.value.message)
    assert dbdump.dump(p) == before
    # a finished request refuses every further move
    p.desk.cancel(r.id, "甲方确认非故障")
    after = dbdump.dump(p)
    for call in (
        lambda: p.desk.respond(r.id),
        lambda: p.desk.pause(r.id, "x"),
        lambda: p.desk.cancel(r.id, "again"),
    ):
        with pytest.raises(IllegalTransition):
            call()
    assert dbdump.dump(p) == after


# --- the service record, signed by both parties ------------------------------------------------
def _sign_link(w, token: str, party) -> None:
    w.clock.advance(minutes=7)  # intent confirmation sends one code a minute per signer
    before = outbox_lines(w.outbox)
    ch = w.p.flows.request_code(token)
    code = read_code(w.outbox, party.phone, after=before)
    w.p.flows.sign(token, pin=party.pin, challenge_id=ch.challenge_id, code=code)


def _signed_om_contract(w, clock):
    """An O&M contract of the template library (seed 003), the world's organization 甲方 and
    its person 乙方, signed by both through its flow (each with its own seal); the draft."""
    values = get_template("om-service").example_values() | {
        "client_name": w.org.name,
        "provider_name": w.person.name,
        "start_date": "2026-01-01",
        "end_date": "2027-12-31",
    }
    drafted = w.p.contracts.draft("om-service", values, actor="运维经理")
    sent = w.p.contracts.start_signing(
        drafted.id,
        [
            ContractSigner("乙方", w.yi.id, w.yi.seal.es_id),
            ContractSigner("甲方", w.jia.id, w.jia.seal.es_id),
        ],
        deadline=clock.now() + dt.timedelta(days=3),
    )
    for link in sent.links:
        _sign_link(w, link.token, w.jia if link.role == "甲方" else w.yi)
    return drafted


def test_adoptable_contracts_page_oldest_first(platform, clock) -> None:
    """GET /desk/contracts/adoptable (and ``desk contracts --adoptable``) answered every signed
    O&M contract of the library not yet under service at once, the library walked whole on
    each call; now a page at a time, oldest first, those under service left out by the query
    (every page full): walking the pages gives exactly the contracts waiting, in id order; a
    bad limit or after is refused naming the field."""
    import json

    from starlette.testclient import TestClient
    from typer.testing import CliRunner

    from tests.conftest import cli_env
    from tests.integration.api_world import problem_of
    from yinxin.adapters.cli import app as cli_app
    from yinxin.adapters.http.server import create_app

    w = build_world(platform, clock)
    p = w.p
    signed = [_signed_om_contract(w, clock) for _ in range(4)]
    p.desk.adopt(signed[1].number, actor="运维经理")  # under service: left out
    waiting = [signed[0].id, signed[2].id, signed[3].id]

    def walk(limit: int) -> list[int]:
        seen, after = [], None
        while True:
            page = p.desk.adoptable(after=after, limit=limit)
            assert len(page.items) == limit or page.next_after is None  # full but the last
            seen += [a.contract_id for a in page.items]
            if page.next_after is None:
                return seen
            after = page.next_after

    for limit in (1, 2, 3, 200):
        assert walk(limit) == waiting, limit
    admin = p.api_keys.create(name="admin", role="administrator", actor="test").secret
    h = {"Authorization": f"Bearer {admin}"}
    url = "/api/v1/desk/contracts/adoptable"
    with TestClient(create_app(p, jobs=False), base_url="http://127.0.0.1:8000") as c:
        first = c.get(f"{url}?limit=2", headers=h).json()
        assert [a["contract_id"] for a in first["items"]] == waiting[:2]
        assert first["next"] == str(waiting[1])
        rest = c.get(f"{url}?limit=2&after={first['next']}", headers=h).json()
        assert [a["contract_id"] for a in rest["items"]] == waiting[2:] and rest["next"] is None
        whole = c.get(url, headers=h).json()
        assert [a["contract_id"] for a in whole["items"]] == waiting and whole["next"] is None
        for query, field in (
            ("limit=0", "limit"),
            ("limit=201", "limit"),
            ("after=-1", "after"),
            ("after=x", "after"),
        ):
            problem_of(c.get(f"{url}?{query}", headers=h), 422, field)
    res = CliRunner().invoke(
        cli_app,
        ["desk", "contracts", "--adoptable", "--limit", "2", "--json"],
        env=cli_env(p.settings.home),
    )
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["next_after"] == waiting[1]
    res = CliRunner().invoke(
        cli_app,
        ["desk", "contracts", "--adoptable", "--limit", "2", "--after", str(waiting[1])],
        env=cli_env(p.settings.home),
    )
    assert res.exit_code == 0 and signed[3].number in res.stdout, res.output
    assert "more:" not in res.stdout and signed[1].number not in res.stdout


def test_service_record_signed_by_both_parties_and_reports(platform, clock, tmp_path) -> None:
    need("pdftotext", "pdffonts")
    w = build_world(platform, clock)
    p = w.p
    # the O&M contract drafted from the template library (seed 003) and signed by both parties;
    # the desk reads its terms from it. Its parties are the world's: each seals with its own
    # seal, which must be the party's the contract names
    A, B = w.org.name, w.person.name
    values = get_template("om-service").example_values() | {
        "client_name": A,
        "provider_name": B,
        "system_name": "周专市监小程序软件",
        "start_date": "2026-01-01",
        "end_date": "2027-12-31",
        "date_signed": "2025-12-20",
    }
    drafted = p.contracts.draft("om-service", values, actor="运维经理")
    before = dbdump.dump(p)
    for kind, field, call in [
        (IllegalTransition, "contract", lambda: p.desk.adopt(drafted.number)),  # not signed
        (NotFound, "contract", lambda: p.desk.adopt("HT-NO-SUCH")),
    ]:
        with pytest.raises(kind) as e:
            call()
        assert e.value.field == field
    assert dbdump.dump(p) == before
    assert p.desk.adoptable().items == ()  # drafted, not signed: nothing binds yet
    sent = p.contracts.start_signing(
        drafted.id,
        [
            ContractSigner("乙方", w.yi.id, w.yi.seal.es_id),
            ContractSigner("甲方", w.jia.id, w.jia.seal.es_id),
        ],
        deadline=clock.now() + dt.timedelta(days=3),
        actor="运维经理",
    )
    for link in sent.links:
        _sign_link(w, link.token, w.jia if link.role == "甲方" else w.yi)
    [waiting] = p.desk.adoptable().items  # signed, and no clock watches it yet
    assert (waiting.contract_id, waiting.number, waiting.party_a, waiting.party_b) == (
        drafted.id,
        drafted.number,
        A,
        B,
    )
    assert waiting.signed_at is not None
    c = p.desk.adopt(drafted.number, actor="运维经理")
    assert c.contract_id == drafted.id and c.number == drafted.number
    assert p.desk.adoptable().items == ()
    assert (c.party_a, c.party_b, c.annual_fee) == (A, B, Decimal("28000.00"))
    assert (c.starts_on, c.ends_on) == (dt.date(2026, 1, 1), dt.date(2027, 12, 31))
    assert (c.workday_response_hours, c.other_response_hours, c.on_site_hours) == (2, 4, 24)
    with pytest.raises(Conflict):
        p.desk.adopt(drafted.number)
    before = dbdump.dump(p)
    with pytest.raises(IllegalTransition) as e:  # its names are the signed contract's
        p.desk.correct_parties(c.number, party_a="北京甲方", reason="简称")
    assert e.value.field == "contract"
    assert dbdump.dump(p) == before
    NUMBER = c.number  # noqa: N806 — the library's number stands for the contract from here on
    # a notice in the past, every step back-dated to when it happened (now is later)
    notice = bj(2026, 10, 16, 20, 0)
    r = p.desk.open(
        NUMBER,
        channel="phone",
        description="小程序提交表单时报错 500",
        severity="critical",
        on_site_requested=True,
        notice_at=notice,
        reported_by="甲方 付威",
    )
    p.desk.respond(r.id, at=notice + dt.timedelta(hours=1), actor="乙方 房舒阳")
    paused = p.desk.pause(r.id, "等待甲方开放机房", at=notice + dt.timedelta(hours=2))
    # the response was met against its deadline; the on-site one waits with the clock
    assert paused.response_due == notice + dt.timedelta(hours=2) and paused.on_site_due is None
    resumed = p.desk.resume(r.id, at=notice + dt.timedelta(hours=14))
    assert resumed.on_site_due == notice + dt.timedelta(hours=36)
    p.desk.arrive(r.id, at=notice + dt.timedelta(hours=30))  # 24 h + 12 paused: 6 h early
    p.desk.resolve(r.id, "更换数据库连接池配置，恢复服务", at=notice + dt.timedelta(hours=32))
    late = p.desk.open(
        NUMBER,
        channel="web",
        description="导出报表缓慢",
        notice_at=bj(2026, 10, 17, 9, 0),
        reported_by="甲方",
    )
    p.desk.respond(late.id, at=bj(2026, 10, 17, 14, 0))  # 4 h allowed: 1 h late
    p.desk.record_inspection(
        NUMBER,
        month="2026-10",
        performed_at=bj(2026, 10, 20, 10, 0),
        inspector="乙方 房舒阳",
        findings="系统运行正常，数据库备份完好",
    )

    record = p.desk.record_pdf(r.id)
    text = pdftext(record, tmp_path, "record.pdf")
    for s in (
        "运维服务记录单",
        NUMBER,
        A,
        B,
        "小程序提交表单时报错 500",
        "等待甲方开放机房",
        "甲方（签章）",
        "乙方（签章）",
    ):
        assert s in text, s
    fonts_embedded(record, tmp_path, "record.pdf")

    sent = p.desk.start_record_flow(
        r.id,
        party_a=(w.jia.id, w.jia.seal.es_id),
        party_b=(w.yi.id, w.yi.seal.es_id),
        actor="运维经理",
    )
    assert sent.request.record_flow_id == sent.flow.flow.id
    with pytest.raises(Conflict):  # one live record flow per request
        p.desk.start_record_flow(
            r.id, party_a=(w.jia.id, w.jia.seal.es_id), party_b=(w.yi.id, w.yi.seal.es_id)
        )
    roles = {x.signer_id: x.role for x in sent.flow.links}
    links = {roles[x.signer_id]: x.token for x in sent.flow.links}
    _sign_link(w, links["乙方"], w.yi)  # 乙方 (who did the work) first
    assert p.desk.sync_records() == []  # 甲方 has not signed yet
    clock.advance(minutes=7)
    _sign_link(w, links["甲方"], w.jia)
    run = job(p).run(p)
    assert f"records signed: [{r.id}]" in run
    done = p.desk.get(r.id)
    assert done.state == RequestState.RECORD_SIGNED and done.record_signed_at is not None
    signed = p.desk.signed_record(r.id)
    # incremental updates over the record the flow was started with
    flow = p.flows.get(done.record_flow_id)
    first = signed[: signed.index(b"%%EOF") + len(b"%%EOF\n")]
    assert hashlib.sha256(first).hexdigest() == flow.documents[0].original_sha256
    assert "运维服务记录单" in pdftext(signed, tmp_path, "signed.pdf")
    trust = a_x509.Certificate.load(p.ca.certificate("root").public_bytes(Encoding.DER))
    sigs = [e for e in PdfFileReader(io.BytesIO(signed)).embedded_signatures]
    assert len(sigs) == 2
    for emb in sigs:
        st = validate_pdf_signature(
            emb, ValidationContext(trust_roots=[trust], allow_fetching=False)
        )
        assert st.intact and st.valid and st.trusted, st.pretty_print_details()

    # the monthly report
    month = p.desk.report(NUMBER, "2026-10")
    assert len(month.requests) == 2 and month.breaches == 1
    assert (month.responded_in_time, month.responded_late) == (1, 1)
    assert month.penalty_total == Decimal("11.67")
    pdf = p.desk.report_pdf(NUMBER, "2026-10")
    fonts_embedded(pdf, tmp_path, "month.pdf")
    text = pdftext(pdf, tmp_path, "month.pdf")
    for s in (
        "运维服务月度报告",
        "2026-10",
        "导出报表缓慢",
        "响应超时 1 小时",
        "¥11.67",
        "系统运行正常",
        "记录单已签署",
    ):
        assert s in text, s
    # the yearly report: months of 2026 before now without an inspection are listed
    year = p.desk.report(NUMBER, "2026")
    assert year.yearly and "2026-01" in year.inspections_missed
    assert "2026-10" not in year.inspections_missed
    months = {m.month: m for m in year.months}
    assert len(months) == 12 and sum(m.breaches for m in year.months) == year.breaches == 1
    assert (months["2026-10"].requests, months["2026-10"].inspection) == (2, "done")
    assert (
        months["2026-10"].penalty == Decimal("11.67") and months["2026-01"].inspection == "missed"
    )
    text = pdftext(p.desk.report_pdf(NUMBER, "2026"), tmp_path, "year.pdf")
    assert "运维服务年度报告" in text and "未巡检月份" in text and "各月情况" in text


# --- the HTTP API and the CLI --------------------------------------------------------------------
def contract_body(number: str, title: str) -> dict:
    """``POST /desk/contracts``'s body: 003's parties and fee, 2026 and 2027 under service."""
    return {
        "number": number,
        "title": title,
        "party_a": A,
        "party_b": B,
        "annual_fee": "28000.00",
        "starts_on": "2026-01-01",
        "ends_on": "2027-12-31",
    }


def organization_key(p, *, actor: str) -> str:
    """The API key of an organization's administrator (北京甲方科技有限公司, registered here):
    a caller of the desk's routes that is not desk staff."""
    sub = p.subscribers.add_organization(
        name="北京甲方科技有限公司",
        uscc="91110108MA01YX0030",
        legal_representative="李四",
        contact_name="王五",
        contact_phone="010-62345678",
        phone="13900139000",
    )
    return p.api_keys.create(
        name="org", role="organization_admin", organization_id=sub.id, actor=actor
    ).secret


def test_api_desk_round_and_refusals(platform, clock) -> None:
    from starlette.testclient import TestClient

    from tests.integration.api_world import problem_of
    from yinxin.adapters.http.server import create_app

    p = platform
    clock.set(bj(2026, 10, 10, 9, 0))  # the make-up working Saturday
    admin = p.api_keys.create(name="admin", role="administrator", actor="test").secret
    org = organization_key(p, actor="test")
    with TestClient(create_app(p, jobs=False), base_url="http://127.0.0.1:8000") as c:
        h = {"Authorization": f"Bearer {admin}"}
        contract = contract_body(NUMBER, "周专市监小程序软件运维服务合同")
        r = c.post("/api/v1/desk/contracts", json=contract, headers=h)
        assert r.status_code == 201, r.text
        assert r.json()["penalty_per_breach"] == "11.67"
        problem_of(c.post("/api/v1/desk/contracts", json=contract, headers=h), 409, "number")
        # an organization's own key may not use the desk
        problem_of(c.get("/api/v1/desk/contracts", headers={"Authorization": f"Bearer {org}"}), 403)
        before = dbdump.dump(p)
        body = {
            "contract": NUMBER,
            "channel": "phone",
            "description": "无法登录",
            "reported_by": "甲方",
        }
        problem_of(
            c.post("/api/v1/desk/requests", json={**body, "contract": "NOPE"}, headers=h),
            404,
            "contract",
        )
        problem_of(
            c.post(
                "/api/v1/desk/requests",
                json={**body, "notice_at": "2026-10-10T08:00:00"},
                headers=h,
            ),
            422,
            "notice_at",
        )
        assert dbdump.dump(p) == before
        # a filter naming no contract under service is 404 naming it, not an empty list
        problem_of(c.get("/api/v1/desk/requests?contract=NOPE", headers=h), 404, "contract")
        r = c.post("/api/v1/desk/requests", json=body, headers=h)
        assert r.status_code == 201, r.text
        req = r.json()
        assert req["notice_workday"] is True
        assert dt.datetime.fromisoformat(req["response_due"]) == bj(2026, 10, 10, 11, 0)  # 2 h
        rid = req["id"]
        problem_of(
            c.post(f"/api/v1/desk/requests/{rid}/resolve", json={"resolution": "x"}, headers=h),
            409,
            "state",
        )
        clock.advance(hours=3)
        r = c.post("/api/v1/desk/sweep", headers=h)
        assert r.status_code == 200 and len(r.json()["flagged"]) == 1
        r = c.post(f"/api/v1/desk/requests/{rid}/respond", json={}, headers=h)
        assert r.json()["breaches"][0]["late_seconds"] == 3600 and r.json()["breaches"][0]["final"]
        r = c.post(
            f"/api/v1/desk/requests/{rid}/resolve", json={"resolution": "重置密码"}, headers=h
        )
        assert r.json()["state"] == "resolved"
        r = c.get(f"/api/v1/desk/requests/{rid}/record.pdf", headers=h)
        assert r.status_code == 200 and r.content.startswith(b"%PDF")
        r = c.get(f"/api/v1/desk/contracts/{NUMBER}/reports/2026-10", headers=h)
        assert r.json()["breaches"] == 1 and r.json()["penalty_total"] == "11.67"
        r = c.get(f"/api/v1/desk/contracts/{NUMBER}/reports/2026-10/pdf", headers=h)
        assert r.content.startswith(b"%PDF")
        problem_of(
            c.get(f"/api/v1/desk/contracts/{NUMBER}/reports/2026-99", headers=h), 422, "period"
        )
        problem_of(
            c.post("/api/v1/desk/contracts/adopt", json={"number": "HT-NO-SUCH"}, headers=h),
            404,
            "contract",
        )
        r = c.get("/api/v1/desk/contracts/adoptable", headers=h)  # not read as a number
        assert r.status_code == 200 and r.json() == {"items": [], "next": None}
        # the web page's shell and its script (the data come through the API above)
        page = c.get("/desk/service")
        assert page.status_code == 200 and "运维服务台" in page.text
        assert "/static/pages/desk_service.js" in page.text
        js = c.get("/static/pages/desk_service.js")
        assert js.status_code == 200 and "/desk/requests" in js.text


def test_api_a_contract_number_with_slashes_is_reached_whole(platform, clock) -> None:
    """``YX/2026/003`` is a number operators write; it was stored, then no path reached it
    (``/desk/contracts/YX%2F2026%2F003`` decodes to four segments): 404 for the contract,
    its inspections and its reports, the web page's included (it sends %2F)."""
    from starlette.testclient import TestClient

    from tests.integration.api_world import problem_of
    from yinxin.adapters.http.server import create_app

    p = platform
    clock.set(bj(2026, 10, 12, 9, 0))
    admin = p.api_keys.create(name="admin", role="administrator", actor="test").secret
    number = "YX/2026/003"
    with TestClient(create_app(p, jobs=False), base_url="http://127.0.0.1:8000") as c:
        h = {"Authorization": f"Bearer {admin}"}
        contract = contract_body(number, "运维服务合同")
        assert c.post("/api/v1/desk/contracts", json=contract, headers=h).status_code == 201
        for sent in (number, "YX%2F2026%2F003"):
            r = c.get(f"/api/v1/desk/contracts/{sent}", headers=h)
            assert r.status_code == 200 and r.json()["number"] == number, r.text
            inspection = {"month": "2026-10", "inspector": "赵六", "findings": "正常"}
            r = c.post(f"/api/v1/desk/contracts/{sent}/inspections", json=inspection, headers=h)
            assert r.status_code in (201, 409), r.text
            r = c.get(f"/api/v1/desk/contracts/{sent}/inspections", headers=h)
            assert [i["contract_number"] for i in r.json()] == [number], r.text
            r = c.get(f"/api/v1/desk/contracts/{sent}/reports/2026-10", headers=h)
            assert r.status_code == 200 and len(r.json()["inspections"]) == 1, r.text
            r = c.get(f"/api/v1/desk/contracts/{sent}/reports/2026-10/pdf", headers=h)
            assert r.status_code == 200 and r.content.startswith(b"%PDF")
        problem_of(c.get("/api/v1/desk/contracts/YX/2026/004", headers=h), 404, "contract")
        r = c.delete(f"/api/v1/desk/contracts/{number}", headers=h)
        assert (r.status_code, r.headers["allow"]) == (405, "GET, HEAD"), r.text
        r = c.put(f"/api/v1/desk/contracts/{number}/inspections", headers=h)
        assert (r.status_code, r.headers["allow"]) == (405, "GET, HEAD, POST"), r.text
        r = c.get("/api/v1/desk/contracts/adoptable", headers=h)  # still the list, no number
        assert r.status_code == 200 and r.json() == {"items": [], "next": None}


def test_cli_desk_json(tmp_path) -> None:
    """``yinxin desk … --json``, in process (Typer's runner over the same ``app`` the entry
    point runs)."""
    import json

    from typer.testing import CliRunner

    from tests.conftest import cli_env
    from yinxin.adapters.cli import app as cli_app
    from yinxin.store.db import Database

    home = tmp_path / "home"
    env = cli_env(home)

    def cli(*args: str) -> tuple[int, dict | list]:
        res = CliRunner().invoke(cli_app, ["desk", *args, "--json"], env=env)
        return res.exit_code, json.loads(res.stdout)

    def ok(*args: str):
        code, out = cli(*args)
        assert code == 0, out
        return out

    c = ok(
        "contract-add", NUMBER, "--title", "运维服务合同", "--party-a", A, "--party-b", B,
        "--annual-fee", "28000.00", "--starts-on", "2026-01-01", "--ends-on", "2027-12-31",
    )  # fmt: skip
    assert c["penalty_per_breach"] == "11.67"
    assert [x["number"] for x in ok("contracts")["items"]] == [NUMBER]
    # no contract in the library is signed (a page, as the contracts under service)
    assert ok("contracts", "--adoptable") == {"items": [], "next_after": None}
    r = ok(
        "open", NUMBER, "--channel", "phone", "--description", "数据同步失败",
        "--reported-by", "甲方 付威", "--notice-at", "2026-10-01T10:00:00+08:00", "--on-site",
    )  # fmt: skip
    assert r["notice_workday"] is False and r["response_budget_minutes"] == 240
    # 4 h on a holiday
    assert dt.datetime.fromisoformat(r["response_due"]) == bj(2026, 10, 1, 14, 0)
    # long past: the request was written down late, so the breaches show at once
    assert [b["kind"] for b in r["breaches"]] == ["response", "on_site"]
    rid = str(r["id"])
    r = ok("respond", rid, "--at", "2026-10-01T11:00:00+08:00")
    assert [b["kind"] for b in r["breaches"]] == ["on_site"]  # answered in time after all
    # refusals: the exit code and the field, nothing written
    db = Database(f"sqlite:///{home / 'yinxin.db'}")
    before = dbdump.dump(db)
    x = ["--channel", "phone", "--description", "x", "--reported-by", "y"]
    refusals = [
        (3, "contract", ["open", "NOPE", *x]),
        (4, "state", ["respond", rid]),
        (2, "notice_at", ["open", NUMBER, *x, "--notice-at", "2026-13-01"]),
        (3, "contract", ["adopt", "HT-NO-SUCH"]),
        (2, "period", ["report", NUMBER, "26-10"]),
    ]  # fmt: skip
    # an exponent too large for two decimals was a traceback (decimal.InvalidOperation), exit 1
    terms = ["--title", "t", "--party-a", A, "--party-b", B, "--starts-on", "2026-01-01"]
    for fee in ("1e400", "1e30", "123456789012345678901234567"):
        add = ["contract-add", "X-2", *terms, "--ends-on", "2026-12-31", "--annual-fee", fee]
        refusals.append((2, "annual_fee", add))
    # the hours named as typed (--workday-hours, --other-hours), not the service's fields
    add = ["contract-add", "X-3", *terms, "--ends-on", "2026-12-31", "--annual-fee", "100"]
    refusals.append((2, "workday_hours", [*add, "--workday-hours", "0"]))
    refusals.append((2, "other_hours", [*add, "--other-hours", "721"]))
    refusals.append((2, "on_site_hours", [*add, "--on-site-hours", "0"]))
    for code, field, args in refusals:
        got, out = cli(*args)
        assert (got, out.get("field")) == (code, field), (args, out)
    assert dbdump.dump(db) == before
    db.dispose()
    assert [x["id"] for x in ok("list", "--contract", NUMBER)["items"]] == [int(rid)]
    out = tmp_path / "report.pdf"
    w = ok("report", NUMBER, "2026-10", "--out", str(out))
    assert out.read_bytes().startswith(b"%PDF") and w["size"] == out.stat().st_size
    [listed] = ok("contracts")["items"]
    assert listed["number"] == NUMBER


def test_cli_desk_prints_times_in_beijing_time_saying_so(tmp_path) -> None:
    """``desk show`` and ``desk list`` printed the notice and the due times in Beijing time
    with no zone (``notice 2026-10-01 10:00``) while every other command prints UTC with its
    zone (``flow show``: ``2026-10-01 02:00 UTC``): the same moment read two ways, eight hours
    apart. The desk still reckons in Beijing time, and now says so: ``2026-10-01 10:00
    UTC+8``; ``--json`` keeps ISO 8601 with the offset."""
    from typer.testing import CliRunner

    from tests.conftest import cli_env
    from yinxin.adapters.cli import app as cli_app

    env = cli_env(tmp_path / "home")

    def cli(*args: str) -> str:
        res = CliRunner().invoke(cli_app, ["desk", *args], env=env)
        assert res.exit_code == 0, res.output
        return res.stdout

    cli(
        "contract-add", NUMBER, "--title", "运维服务合同", "--party-a", A, "--party-b", B,
        "--annual-fee", "28000.00", "--starts-on", "2026-01-01", "--ends-on", "2027-12-31",
    )  # fmt: skip
    cli(
        "open", NUMBER, "--channel", "phone", "--description", "数据同步失败",
        "--reported-by", "甲方 付威", "--notice-at", "2026-10-01T10:00:00+08:00",
    )  # fmt: skip
    shown = cli("show", "1")
    assert "notice 2026-10-01 10:00 UTC+8 (" in shown, shown
    assert "response due 2026-10-01 14:00 UTC+8" in shown, shown
    assert "#1  2026-10-01 10:00 UTC+8  " in cli("list"), shown


def test_a_notice_in_a_year_without_a_calendar_is_recorded_then_settled(tmp_path) -> None:
    """From 1 January of a year whose official holiday schedule nobody has loaded yet (2027
    today: the package stops at 2026), every notice was refused with calendar_missing — the
    desk could not even write down a 报修. Now it is recorded at once with the weekday rule,
    marked provisional, and the breach job confirms or corrects it once the year's schedule is
    loaded: the budget, the deadline and the breach redone, each change audited — a request
    withdrawn before it was answered too, late as of its withdrawal.

    2030 stands for such a year (no release of the calendar package will cover it soon); its
    schedule here is a test's, loaded from ``<home>/calendars/2030.json`` as an operator does."""
    from yinxin.app import Platform
    from yinxin.clock import FrozenClock
    from yinxin.contracts.workdays import _official
    from yinxin.settings import Settings

    home = tmp_path / "home"
    clock = FrozenClock(bj(2030, 1, 14, 12, 0))

    def platform() -> Platform:
        _official.cache_clear()  # the files are read once per process: a restart
        url = f"sqlite:///{home / 'yinxin.db'}"
        return Platform(Settings(home=home, database_url=url), clock=clock)

    p = platform()
    p.desk.add_contract(
        NUMBER, title="运维服务合同", party_a=A, party_b=B, annual_fee="28000.00",
        starts_on=dt.date(2029, 1, 1), ends_on=dt.date(2031, 12, 31), actor="运维经理",
    )  # fmt: skip

    def notice(at: dt.datetime, answered: dt.datetime) -> int:
        r = p.desk.open(
            NUMBER, channel="phone", description="小程序无法登录", reported_by="甲方 付威",
            notice_at=at, actor="运维经理",
        )  # fmt: skip
        assert r.notice_workday_provisional
        return p.desk.respond(r.id, at=answered, actor="运维经理").id

    # Tuesday 1 January (元旦, on its fixed day every year: the rule knows it): 4 h, answered
    # in 3 h
    new_year = notice(bj(2030, 1, 1, 10, 0), bj(2030, 1, 1, 13, 0))
    # Saturday 5 January (a make-up working day, as it turns out): 4 h, answered in 3 h
    saturday = notice(bj(2030, 1, 5, 10, 0), bj(2030, 1, 5, 13, 0))
    # Monday 7 January: a working day either way
    monday = notice(bj(2030, 1, 7, 10, 0), bj(2030, 1, 7, 11, 0))
    got = {i: p.desk.get(i) for i in (new_year, saturday, monday)}
    assert [(g.notice_workday, g.response_budget_minutes) for g in got.values()] == [
        (False, 240),
        (False, 240),
        (True, 120),
    ]
    assert got[new_year].breaches == ()
    assert got[saturday].breaches == () and got[monday].breaches == ()

    def withdrawn(at: dt.datetime) -> int:
        r = p.desk.open(
            NUMBER, channel="phone", description="打印机无法连接", reported_by="甲方 付威",
            notice_at=at, actor="运维经理",
        )  # fmt: skip
        return p.desk.cancel(r.id, "甲方确认非故障", actor="运维经理").id

    # two more, withdrawn unanswered now (14 January, 12:00): late as of the withdrawal, by
    # the presumed budget — 1 January 09:00 (4 h presumed), 5 January 09:00 (4 h presumed)
    new_year_gone = withdrawn(bj(2030, 1, 1, 9, 0))
    saturday_gone = withdrawn(bj(2030, 1, 5, 9, 0))
    late = {
        i: [b.late_seconds for b in p.desk.get(i).breaches] for i in (new_year_gone, saturday_gone)
    }
    assert late == {
        new_year_gone: [13 * 86400 + 3 * 3600 - 4 * 3600],
        saturday_gone: [9 * 86400 + 3 * 3600 - 4 * 3600],
    }
    # the report says which days were presumed, and why
    text = pdftext(p.desk.report_pdf(NUMBER, "2030-01"), tmp_path, "provisional.pdf")
    assert "非工作日 推定" in text and "按周一至周五推定" in text
    # nothing to settle while the year is still unknown
    assert p.desk.flag_breaches().notice_days_corrected == ()
    assert p.desk.get(new_year).notice_workday_provisional
    p.close()

    (home / "calendars").mkdir()
    (home / "calendars" / "2030.json").write_text(
        '{"year": 2030, "source": "a test schedule", '
        '"holidays": [{"name": "元旦", "date": "2030-01-01"}], '
        '"workdays": [{"name": "元旦", "date": "2030-01-05"}]}',
        encoding="utf-8",
    )
    p = platform()
    clock.advance(days=2)  # settled later than the withdrawals: their lateness stays theirs
    run = p.desk.flag_breaches()
    assert run.notice_days_corrected == (saturday, saturday_gone)  # 元旦 was presumed right
    # withdrawn unanswered: late as of the withdrawal by the budget the day really had (they
    # kept the presumed one before)
    late = {
        i: [b.late_seconds for b in p.desk.get(i).breaches] for i in (new_year_gone, saturday_gone)
    }
    assert late == {
        new_year_gone: [13 * 86400 + 3 * 3600 - 4 * 3600],  # a holiday, as presumed: 4 h
        saturday_gone: [9 * 86400 + 3 * 3600 - 2 * 3600],  # a make-up working day: 2 h
    }
    assert all(b.final for i in (new_year_gone, saturday_gone) for b in p.desk.get(i).breaches)
    got = {i: p.desk.get(i) for i in (new_year, saturday, monday)}
    assert not any(g.notice_workday_provisional for g in got.values())
    assert [(g.notice_workday, g.response_budget_minutes) for g in got.values()] == [
        (False, 240),
        (True, 120),
        (True, 120),
    ]
    assert got[new_year].breaches == ()  # answered in time on a holiday
    assert got[new_year].response_due == bj(2030, 1, 1, 14, 0)
    assert [(b.kind, b.late_seconds, b.final) for b in got[saturday].breaches] == [
        (BreachKind.RESPONSE, 3600, True)  # a working day: 2 h, answered in 3
    ]
    with p.db.read() as s:
        acts = [
            (e.action, e.subject_id)
            for e in s.query(AuditEvent).order_by(AuditEvent.seq)
            if e.action.startswith("service_request.notice_day")
        ]
    assert acts == [
        ("service_request.notice_day_confirmed", str(new_year)),
        ("service_request.notice_day_corrected", str(saturday)),
        ("service_request.notice_day_confirmed", str(monday)),
        ("service_request.notice_day_confirmed", str(new_year_gone)),
        ("service_request.notice_day_corrected", str(saturday_gone)),
    ]
    assert p.desk.flag_breaches().notice_days_corrected == ()  # settled once
    report = p.desk.report(NUMBER, "2030-01")
    assert report.breaches == 3  # 5 January's, and the two withdrawn late
    text = pdftext(p.desk.report_pdf(NUMBER, "2030-01"), tmp_path, "settled.pdf")
    assert "推定" not in text and "非工作日" in text
    p.close()
    _official.cache_clear()


def test_migration_0023_upgrades_a_desk_that_has_requests(platform) -> None:
    """0023 first added its column in SQLite's batch mode, which copies the table and drops
    the old one: on any database whose requests had a pause or a breach the drop failed
    (FOREIGN KEY constraint failed) and the platform would not start. Down to 0022 and up again
    with such rows in place: every row kept, the new column false."""
    from alembic import command
    from sqlalchemy import text

    from yinxin.store.db import alembic_config

    p = platform
    add_003(p)
    r = p.desk.open(
        NUMBER, channel="phone", description="数据同步失败", reported_by="甲方 付威",
        notice_at=bj(2026, 10, 16, 20, 0), on_site_requested=True,
    )  # fmt: skip
    p.desk.pause(r.id, reason="等待甲方开放机房")
    assert p.desk.get(r.id).breaches and p.desk.get(r.id).pauses

    def rows() -> list:
        with p.db.engine.connect() as conn:
            return [
                conn.execute(text(f"SELECT * FROM {t} ORDER BY id")).all()
                for t in ("service_requests", "service_pauses", "service_breaches")
            ]

    before = rows()
    cfg = alembic_config(p.db.url)
    with p.db.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0022")
    down = rows()
    assert [tuple(x) for x in down[0]] == [tuple(x)[:-1] for x in before[0]]  # column last
    assert down[1:] == before[1:]
    p.db.migrate()
    assert rows() == before
    assert p.desk.get(r.id).notice_workday_provisional is False


# --- the record's parties sign it, not any seal ------------------------------------------------
def _resolved_for(p, clock, party_a: str, party_b: str, number: str = "YW-2026-009"):
    p.desk.add_contract(
        number,
        title="运维服务合同",
        party_a=party_a,
        party_b=party_b,
        annual_fee="28000.00",
        starts_on=clock.now().date() - dt.timedelta(days=30),
        ends_on=clock.now().date() + dt.timedelta(days=300),
        actor="运维经理",
    )
    r = p.desk.open(number, channel="phone", description="报表导出失败", reported_by="甲方")
    p.desk.respond(r.id)
    p.desk.resolve(r.id, "重建索引")
    return r


def test_a_record_flow_refuses_a_seal_that_is_not_the_records_party(world) -> None:
    """The record names 甲方 and 乙方; the signers' seals were never compared with them, so
    any usable seal signed as 甲方 — 乙方's own included, confirming its own work. Now a seal
    whose owner is not the party the record names (as a contract's parties are matched:
    NFKC, white space, case) is refused naming ``party_a`` / ``party_b``, code
    ``not_the_party``, and nothing is written."""
    w, p = world, world.p
    r = _resolved_for(p, w.clock, w.org.name, w.person.name)
    # 乙方 is a provider nobody registered: no seal of this platform is its
    stranger = _resolved_for(p, w.clock, w.org.name, B, number="YW-2026-011")
    jia, yi = (w.jia.id, w.jia.seal.es_id), (w.yi.id, w.yi.seal.es_id)
    before = dbdump.dump(p)
    for field, request, a, b in [
        ("party_a", r, yi, jia),  # the seals swapped: 张三 for 甲方, the organization for 乙方
        ("party_a", r, (w.yi.id, w.yi.seal.id), jia),  # by seal id as well as esID
        ("party_b", stranger, jia, yi),  # 张三's seal for 周口市精创智能科技有限公司
    ]:
        with pytest.raises(ValidationError) as e:
            p.desk.start_record_flow(request.id, party_a=a, party_b=b, actor="运维经理")
        assert (e.value.field, e.value.code) == (field, "not_the_party"), e.value
        role = "甲方" if field == "party_a" else "乙方"
        assert role in str(e.value) and "不能为" in str(e.value)
    assert dbdump.dump(p) == before
    # the names as a person types them (full-width letters, spaces around): still the party
    other = _resolved_for(p, w.clock, f" {w.org.name} ", w.person.name, number="YW-2026-010")
    sent = p.desk.start_record_flow(other.id, party_a=jia, party_b=yi, actor="运维经理")
    assert sent.request.record_flow_id == sent.flow.flow.id


def test_api_record_flow_with_another_partys_seal_is_422_naming_it(client, world) -> None:
    from tests.integration.api_world import problem_of

    w, p = world, world.p
    admin = p.api_keys.create(name="admin", role="administrator", actor="t").secret
    h = {"Authorization": f"Bearer {admin}"}
    r = _resolved_for(p, w.clock, w.org.name, w.person.name)
    jia = {"subscriber_id": w.jia.id, "seal": w.jia.seal.es_id}
    yi = {"subscriber_id": w.yi.id, "seal": w.yi.seal.es_id}
    before = dbdump.dump(p)
    path = f"/api/v1/desk/requests/{r.id}/record-flow"
    body = problem_of(
        client.post(path, json={"party_a": yi, "party_b": jia}, headers=h),
        422,
        "party_a",
        "not_the_party",
    )
    assert w.org.name in body["detail"] and w.person.name in body["detail"]
    assert dbdump.dump(p) == before
    ok = client.post(path, json={"party_a": jia, "party_b": yi}, headers=h)
    assert ok.status_code == 200, ok.text


def test_cli_record_flow_with_another_partys_seal_exits_2_naming_the_option(tmp_path) -> None:
    import json

    from typer.testing import CliRunner

    from tests.conftest import cli_env
    from tests.integration.signing_flow import new_platform
    from yinxin.adapters.cli import app as cli_app
    from yinxin.store.db import Database

    home = tmp_path / "home"
    p = new_platform(home)
    w = build_world(p)
    r = _resolved_for(p, p.clock, w.org.name, w.person.name)
    jia, yi = f"{w.jia.id}:{w.jia.seal.es_id}", f"{w.yi.id}:{w.yi.seal.es_id}"
    p.close()
    db = Database(f"sqlite:///{home / 'yinxin.db'}")
    before = dbdump.dump(db)
    res = CliRunner().invoke(
        cli_app,
        ["desk", "record-flow", str(r.id), "--party-a", yi, "--party-b", jia, "--json"],
        env=cli_env(home),
    )
    out = json.loads(res.stdout)
    assert (res.exit_code, out.get("field")) == (2, "party_a"), out
    assert "不能为甲方签章" in str(out), out  # the JSON error carries no code
    assert w.org.name in str(out), out
    assert dbdump.dump(db) == before
    db.dispose()


# --- a hand-entered contract's party names corrected -------------------------------------------
def test_a_hand_entered_contracts_parties_are_corrected_until_a_record_is_in_flow(world) -> None:
    """A typo in 甲方's name barred every record flow (``not_the_party``) and nothing could
    correct it: ``correct_parties`` does, checked as creation checks a name, with an audit
    event of the names before and after; refusals write nothing; once a record is in a sign
    flow the names it prints stay."""
    w, p = world, world.p
    typo = w.org.name + "分公司"
    r = _resolved_for(p, w.clock, typo, w.person.name)
    jia, yi = (w.jia.id, w.jia.seal.es_id), (w.yi.id, w.yi.seal.es_id)
    with pytest.raises(ValidationError) as e:
        p.desk.start_record_flow(r.id, party_a=jia, party_b=yi, actor="运维经理")
    assert e.value.code == "not_the_party"
    number = "YW-2026-009"
    before = dbdump.dump(p)
    for kind, field, kw in [
        (ValidationError, "party_a", {}),  # nothing to correct
        (ValidationError, "party_a", {"party_a": "  "}),
        (ValidationError, "party_b", {"party_b": "x" * 201}),
        (ValidationError, "party_a", {"party_a": "甲方\u202e"}),  # hidden characters
        (ValidationError, "party_a", {"party_a": typo}),  # no change
        (ValidationError, "reason", {"party_a": w.org.name, "reason": " "}),
    ]:
        with pytest.raises(kind) as e:
            p.desk.correct_parties(number, **({"reason": "笔误"} | kw), actor="运维经理")
        assert e.value.field == field, (kw, e.value)
    with pytest.raises(NotFound) as e:
        p.desk.correct_parties("NO-SUCH", party_a=w.org.name, reason="笔误")
    assert e.value.field == "contract"
    assert dbdump.dump(p) == before
    c = p.desk.correct_parties(number, party_a=f" {w.org.name} ", reason="笔误", actor="运维经理")
    assert (c.party_a, c.party_b) == (w.org.name, w.person.name)
    assert p.desk.contract(number).party_a == w.org.name
    from yinxin.store.audit import events

    with p.db.read() as s:
        [ev] = events(s, action="desk_contract.parties_corrected")
    assert (ev.actor, ev.subject_type, ev.subject_id) == ("运维经理", "desk_contract", number)
    assert ev.data["before"] == {"party_a": typo, "party_b": w.person.name}
    assert ev.data["after"] == {"party_a": w.org.name, "party_b": w.person.name}
    assert ev.data["reason"] == "笔误"
    sent = p.desk.start_record_flow(r.id, party_a=jia, party_b=yi, actor="运维经理")
    assert sent.request.record_flow_id == sent.flow.flow.id
    before = dbdump.dump(p)
    with pytest.raises(IllegalTransition) as e:  # the record in flow prints these names
        p.desk.correct_parties(number, party_b="另一家公司", reason="改名")
    assert e.value.field == "contract"
    assert dbdump.dump(p) == before
    # a record flow withdrawn prints nothing more: the names may be corrected again, and the
    # next record renders them
    p.flows.cancel(sent.flow.flow.id, "名称有误", actor="运维经理")
    c = p.desk.correct_parties(number, party_a=f"{w.org.name}", party_b="另一家公司", reason="改名")
    assert c.party_b == "另一家公司"


def test_a_record_flow_past_its_deadline_no_longer_bars_the_party_correction(world) -> None:
    """A record flow whose deadline has passed reads expired everywhere (``effective_state``)
    before the sweep stores so; the correction still refused it as a flow in progress until
    the sweep ran. Now it judges the flow as every reader does: a record flow still within its
    deadline bars the correction, the same flow a second past it does not."""
    w, p = world, world.p
    r = _resolved_for(p, w.clock, w.org.name, w.person.name)
    jia, yi = (w.jia.id, w.jia.seal.es_id), (w.yi.id, w.yi.seal.es_id)
    sent = p.desk.start_record_flow(r.id, party_a=jia, party_b=yi, actor="运维经理")
    w.clock.set(sent.flow.flow.deadline - dt.timedelta(seconds=1))
    before = dbdump.dump(p)
    with pytest.raises(IllegalTransition) as e:  # still open: its paper prints these names
        p.desk.correct_parties("YW-2026-009", party_b="另一家公司", reason="改名")
    assert e.value.field == "contract"
    assert dbdump.dump(p) == before
    w.clock.set(sent.flow.flow.deadline + dt.timedelta(seconds=1))
    assert p.flows.get(sent.flow.flow.id).state == "expired"  # not swept: read so
    c = p.desk.correct_parties("YW-2026-009", party_b="另一家公司", reason="改名")
    assert c.party_b == "另一家公司"


def test_api_and_cli_correct_a_desk_contracts_parties(tmp_path) -> None:
    import json

    from starlette.testclient import TestClient
    from typer.testing import CliRunner

    from tests.conftest import cli_env
    from tests.integration.api_world import problem_of
    from tests.integration.signing_flow import new_platform
    from yinxin.adapters.cli import app as cli_app
    from yinxin.adapters.http.server import create_app
    from yinxin.store.db import Database

    home = tmp_path / "home"
    p = new_platform(home)
    add_003(p)
    add_003(p, "YW/2026/002")
    admin = p.api_keys.create(name="admin", role="administrator", actor="t").secret
    h = {"Authorization": f"Bearer {admin}"}
    org = organization_key(p, actor="t")
    with TestClient(create_app(p, jobs=False), base_url="http://127.0.0.1:8000") as c:
        for role in p.status.crl_roles():  # the start's first CRLs, before comparing
            p.status.current_crl(role)
        path = f"/api/v1/desk/contracts/{NUMBER}/correct"
        before = dbdump.dump(p)
        problem_of(c.post(path, json={"party_a": "", "reason": "笔误"}, headers=h), 422, "party_a")
        problem_of(c.post(path, json={"party_a": "甲", "reason": ""}, headers=h), 422, "reason")
        problem_of(c.post(path, json={"party_a": A, "reason": "笔误"}, headers=h), 422, "party_a")
        problem_of(
            c.post(
                "/api/v1/desk/contracts/NO/correct",
                json={"party_a": "甲", "reason": "x"},
                headers=h,
            ),
            404,
            "contract",
        )
        problem_of(  # the desk's staff only, as for adding a contract
            c.post(
                path,
                json={"party_a": "甲", "reason": "x"},
                headers={"Authorization": f"Bearer {org}"},
            ),
            403,
            "role",
        )
        assert dbdump.dump(p) == before
        r = c.post(path, json={"party_b": "周口精创智能科技有限公司", "reason": "笔误"}, headers=h)
        assert r.status_code == 200, r.text
        assert (r.json()["party_a"], r.json()["party_b"]) == (A, "周口精创智能科技有限公司")
        # a number with slashes is reached whole, as by the other contract routes
        r = c.post(
            "/api/v1/desk/contracts/YW/2026/002/correct",
            json={"party_a": "周口市市场监督管理局", "reason": "简称"},
            headers=h,
        )
        assert r.status_code == 200, r.text
        assert p.desk.contract("YW/2026/002").party_a == "周口市市场监督管理局"
    p.close()
    env = cli_env(home)
    db = Database(f"sqlite:///{home / 'yinxin.db'}")
    before = dbdump.dump(db)
    res = CliRunner().invoke(
        cli_app,
        ["desk", "contract-correct", NUMBER, "--party-a", " ", "--reason", "笔误", "--json"],
        env=env,
    )
    assert (res.exit_code, json.loads(res.stdout).get("field")) == (2, "party_a"), res.stdout
    res = CliRunner().invoke(
        cli_app, ["desk", "contract-correct", NUMBER, "--reason", "笔误", "--json"], env=env
    )
    assert (res.exit_code, json.loads(res.stdout).get("field")) == (2, "party_a"), res.stdout
    assert dbdump.dump(db) == before
    res = CliRunner().invoke(
        cli_app,
        ["desk", "contract-correct", NUMBER, "--party-b", B, "--reason", "改回", "--json"],
        env=env,
    )
    assert res.exit_code == 0, res.stdout
    assert json.loads(res.stdout)["party_b"] == B
    db.dispose()


# --- the listing pages: the newest requests were never listed -------------------------------
def _many_requests(p, clock, count: int) -> list[int]:
    """``count`` notices on contract NUMBER an hour apart, then one written down late (its
    notice before the second's, its id the highest but one) and one at the same moment as the
    fourth (a tie, the id deciding): their ids in listing order, by (notice_at, id)."""
    clock.set(bj(2026, 11, 30, 9, 0))
    add_003(p)
    start = bj(2026, 11, 1, 9, 0)

    def notice(at: dt.datetime, i: int):
        return p.desk.open(
            NUMBER, channel="phone", description=f"报修{i}", reported_by="甲方", notice_at=at
        )

    rows = []
    for i in range(count):
        at = start + dt.timedelta(hours=i)
        rows.append((at, notice(at, i).id))
    late = start + dt.timedelta(minutes=30)
    rows.append((late, notice(late, count).id))
    tie = start + dt.timedelta(hours=3)
    rows.append((tie, notice(tie, count + 1).id))
    return [rid for _, rid in sorted(rows)]


def test_the_desk_lists_every_request_a_page_at_a_time(any_platform, clock) -> None:
    """The requests were listed oldest first, 200 at most, and nothing said the list was cut:
    once a contract had more than 200, the newest — the ones an officer works on — never
    showed. Now the service lists them all unless asked for a page, and pages by (notice_at,
    id) from ``after`` (a request's id: its row's place), an unknown one refused naming it."""
    p = any_platform
    order = _many_requests(p, clock, 201)
    assert [r.id for r in p.desk.list(contract=NUMBER)] == order  # the newest among them
    seen: list[int] = []
    after = None
    while True:
        rows = p.desk.list(contract=NUMBER, after=after, limit=51)
        page, more = rows[:50], len(rows) > 50
        seen += [r.id for r in page]
        if not more:
            break
        after = page[-1].id
    assert seen == order
    # narrowed by state, the cursor still continues from its row's place
    assert [r.id for r in p.desk.list(state="open", after=order[2], limit=2)] == order[3:5]
    for bad in (10**6, 2**62, True, "3", 0):
        with pytest.raises(ValidationError) as e:
            p.desk.list(after=bad)
        assert e.value.field == "after", bad
    for bad in (0, 1001, True):
        with pytest.raises(ValidationError) as e:
            p.desk.list(limit=bad)
        assert e.value.field == "limit"


def test_api_desk_requests_answer_a_page_to_the_newest(platform, clock) -> None:
    """GET /desk/requests answered a bare list, oldest first and cut at ``limit`` (200) without
    a word. Now it answers a page, {"items", "next"}, 50 at a time (``limit`` 1–200), and
    ``after=<next>`` continues to the newest; bad values are 422 naming the parameter."""
    from starlette.testclient import TestClient

    from tests.integration.api_world import problem_of
    from yinxin.adapters.http.server import create_app

    p = platform
    order = _many_requests(p, clock, 60)
    admin = p.api_keys.create(name="admin", role="administrator", actor="test").secret
    h = {"Authorization": f"Bearer {admin}"}
    with TestClient(create_app(p, jobs=False), base_url="http://127.0.0.1:8000") as c:
        first = c.get(f"/api/v1/desk/requests?contract={NUMBER}", headers=h)
        assert first.status_code == 200, first.text
        body = first.json()
        assert isinstance(body, dict) and set(body) == {"items", "next"}, body
        assert len(body["items"]) == 50
        assert body["next"] == str(order[49])
        seen = [r["id"] for r in body["items"]]
        after = body["next"]
        while after is not None:
            r = c.get(f"/api/v1/desk/requests?contract={NUMBER}&limit=7&after={after}", headers=h)
            assert r.status_code == 200, r.text
            seen += [x["id"] for x in r.json()["items"]]
            after = r.json()["next"]
        assert seen == order
        for query, field in (
            ("after=999999", "after"),
            (f"after={2**62}", "after"),
            ("after=-1", "after"),
            ("after=x", "after"),
            ("limit=0", "limit"),
            ("limit=201", "limit"),
        ):
            problem_of(c.get(f"/api/v1/desk/requests?{query}", headers=h), 422, field)


def test_api_desk_contracts_answer_a_page(platform, clock) -> None:
    """GET /desk/contracts answered a bare list of every contract under service, and refused
    limit/after; now it answers a page, {"items", "next"}, in id order, as the other lists."""
    from starlette.testclient import TestClient

    from tests.integration.api_world import problem_of
    from yinxin.adapters.http.server import create_app

    p = platform
    clock.set(bj(2026, 11, 30, 9, 0))
    made = [add_003(p, f"YX-2026-{i:03}").id for i in range(3)]
    admin = p.api_keys.create(name="admin", role="administrator", actor="test").secret
    h = {"Authorization": f"Bearer {admin}"}
    with TestClient(create_app(p, jobs=False), base_url="http://127.0.0.1:8000") as c:
        whole = c.get("/api/v1/desk/contracts", headers=h)
        assert whole.status_code == 200, whole.text
        assert [x["id"] for x in whole.json()["items"]] == made and whole.json()["next"] is None
        first = c.get("/api/v1/desk/contracts?limit=2", headers=h).json()
        assert [x["id"] for x in first["items"]] == made[:2] and first["next"] == str(made[1])
        rest = c.get(f"/api/v1/desk/contracts?limit=2&after={first['next']}", headers=h).json()
        assert [x["id"] for x in rest["items"]] == made[2:] and rest["next"] is None
        for query, field in (("limit=0", "limit"), ("limit=201", "limit"), ("after=-1", "after")):
            problem_of(c.get(f"/api/v1/desk/contracts?{query}", headers=h), 422, field)


def _desk_cli_with_three_requests(tmp_path: Path):
    """``yinxin desk`` on a fresh home holding one O&M contract and three requests noticed on
    2026-10-02, -03 and -01 (ids 1, 2, 3: the last written down late): the command, and the
    command that must succeed (its stdout)."""
    from typer.testing import CliRunner

    from tests.conftest import cli_env
    from yinxin.adapters.cli import app as cli_app

    env = cli_env(tmp_path / "home")

    def cli(*args: str):
        return CliRunner().invoke(cli_app, ["desk", *args], env=env)

    def ok(*args: str) -> str:
        res = cli(*args)
        assert res.exit_code == 0, res.output
        return res.stdout

    ok(
        "contract-add", NUMBER, "--title", "运维服务合同", "--party-a", A, "--party-b", B,
        "--annual-fee", "28000.00", "--starts-on", "2026-01-01", "--ends-on", "2027-12-31",
    )  # fmt: skip
    for day in (2, 3, 1):
        ok(
            "open", NUMBER, "--channel", "phone", "--description", f"报修{day}",
            "--reported-by", "甲方", "--notice-at", f"2026-10-{day:02d}T10:00:00+08:00",
        )  # fmt: skip
    return cli, ok


def test_cli_desk_list_pages_to_the_newest(tmp_path) -> None:
    """``yinxin desk list`` printed the first 200 requests by notice time and stopped, saying
    nothing: the newest never showed. Now it pages as the other lists do: --limit (1–200,
    default 50), --after ID, ``more: --after N`` ending a page with more, --json giving
    {"items", "next_after"}; bad values refused naming the option, exit 2."""
    import json

    cli, ok = _desk_cli_with_three_requests(tmp_path)
    first = json.loads(ok("list", "--limit", "2", "--json"))
    assert [r["id"] for r in first["items"]] == [3, 1] and first["next_after"] == 1
    rest = json.loads(ok("list", "--limit", "2", "--after", "1", "--json"))
    assert [r["id"] for r in rest["items"]] == [2] and rest["next_after"] is None
    shown = ok("list", "--limit", "2")
    assert shown.rstrip().endswith("more: --after 1"), shown
    assert "#2 " not in shown
    assert "#2 " in ok("list", "--after", "1") and "more:" not in ok("list", "--after", "1")
    for args, option in (
        (["--limit", "0"], "limit"),
        (["--limit", "201"], "limit"),
        (["--after", "-1"], "after"),
        (["--after", "99"], "after"),
    ):
        res = cli("list", *args)
        assert res.exit_code == 2, (args, res.output)
        assert option in res.output, (args, res.output)


# --- newest first: the page put an officer's newest requests at the end ---------------------
def test_the_desk_lists_newest_first_a_page_at_a_time(any_platform, clock) -> None:
    """Paged oldest first, a contract with 120 requests showed its oldest 50, and the newest —
    the ones being worked on — only after two presses of 加载更多. Now ``order="newest"``
    lists by (notice_at, id) descending, its cursor mirrored: ``after`` continues before that
    request's (notice_at, id); ``oldest`` stays the default and anything else is refused
    naming ``order``."""
    p = any_platform
    order = _many_requests(p, clock, 120)
    newest = order[::-1]
    assert [r.id for r in p.desk.list(contract=NUMBER, order="newest")] == newest
    assert [r.id for r in p.desk.list(contract=NUMBER, order="oldest")] == order
    assert [r.id for r in p.desk.list(contract=NUMBER)] == order
    seen: list[int] = []
    after = None
    while True:
        rows = p.desk.list(contract=NUMBER, order="newest", after=after, limit=51)
        page, more = rows[:50], len(rows) > 50
        seen += [r.id for r in page]
        if not more:
            break
        after = page[-1].id
    assert seen == newest
    # the tie (two notices at one moment) and the late notice keep their places going back
    for i in (1, 3, 4, 5, len(order) - 2):
        got = p.desk.list(order="newest", after=order[i], limit=2)
        assert [r.id for r in got] == order[max(i - 2, 0) : i][::-1], i
    assert p.desk.list(order="newest", after=order[0]) == []
    assert [r.id for r in p.desk.list(state="open", order="newest", after=order[3])] == (
        order[:3][::-1]
    )
    with pytest.raises(ValidationError) as e:
        p.desk.list(order="newest", after=10**6)
    assert e.value.field == "after"
    for bad in ("Newest", "desc", "", None, True, 1):
        with pytest.raises(ValidationError) as e:
            p.desk.list(order=bad)
        assert e.value.field == "order", bad


def test_api_and_cli_list_desk_requests_newest_first(platform, clock, tmp_path) -> None:
    """GET /desk/requests and ``yinxin desk list`` paged only oldest first: the newest requests
    came last, pages away. Now ``order=newest`` (``--newest-first``) pages from the newest
    back, ``next`` continuing with the older ones; ``oldest`` stays the default, and a bad
    ``order`` is 422 naming it."""
    import json

    from starlette.testclient import TestClient

    from tests.integration.api_world import problem_of
    from yinxin.adapters.http.server import create_app

    p = platform
    order = _many_requests(p, clock, 60)
    newest = order[::-1]
    admin = p.api_keys.create(name="admin", role="administrator", actor="test").secret
    h = {"Authorization": f"Bearer {admin}"}
    base = f"/api/v1/desk/requests?contract={NUMBER}"
    with TestClient(create_app(p, jobs=False), base_url="http://127.0.0.1:8000") as c:
        first = c.get(f"{base}&order=newest", headers=h)
        assert first.status_code == 200, first.text
        body = first.json()
        assert [r["id"] for r in body["items"]] == newest[:50]
        assert body["next"] == str(newest[49])
        seen = [r["id"] for r in body["items"]]
        after = body["next"]
        while after is not None:
            r = c.get(f"{base}&order=newest&limit=3&after={after}", headers=h)
            assert r.status_code == 200, r.text
            seen += [x["id"] for x in r.json()["items"]]
            after = r.json()["next"]
        assert seen == newest
        oldest = c.get(f"{base}&order=oldest", headers=h).json()["items"]
        assert [r["id"] for r in oldest] == order[:50]
        assert c.get(base, headers=h).json()["items"] == oldest
        for bad in ("Newest", "desc", "", "newest,oldest"):
            problem_of(c.get(f"{base}&order={bad}", headers=h), 422, "order")

    cli, ok = _desk_cli_with_three_requests(tmp_path)
    first = json.loads(ok("list", "--newest-first", "--limit", "2", "--json"))
    assert [r["id"] for r in first["items"]] == [2, 1] and first["next_after"] == 1
    rest = json.loads(ok("list", "--newest-first", "--limit", "2", "--after", "1", "--json"))
    assert [r["id"] for r in rest["items"]] == [3] and rest["next_after"] is None
    shown = ok("list", "--newest-first", "--limit", "2")
    assert shown.rstrip().endswith("more: --after 1") and "#3 " not in shown, shown
    assert [r["id"] for r in json.loads(ok("list", "--json"))["items"]] == [3, 1, 2]


def test_the_desk_list_reads_a_page_in_a_few_queries(any_platform, clock) -> None:
    """Each request of a listed page asked for its pauses and its breaches on its own: a page
    of 50 was a hundred queries more, ten times the page's own reading (``bench/pages``).
    They are read for the whole page now, in a fixed number of queries however long the page,
    and each request shows what it shows on its own (``get``), pauses and breaches in their
    order."""
    from tests.integration.test_query_plans import _captured

    p = any_platform
    clock.set(bj(2026, 11, 30, 9, 0))
    add_003(p)
    ids = []
    for i in range(12):
        notice = bj(2026, 10, 12, 9, 0) + dt.timedelta(days=i)
        r = p.desk.open(
            NUMBER, channel="web", description=f"报修{i}", notice_at=notice, reported_by="甲方"
        )
        if i % 3 == 0:  # two pauses, then answered
            for k in (1, 3):
                p.desk.pause(r.id, f"等待甲方{k}", at=notice + dt.timedelta(minutes=10 * k))
                p.desk.resume(r.id, at=notice + dt.timedelta(minutes=10 * k + 5))
            p.desk.respond(r.id, at=notice + dt.timedelta(hours=1))
        elif i % 3 == 1:  # answered late: a breach
            p.desk.respond(r.id, at=notice + dt.timedelta(hours=9))
        ids.append(r.id)
    p.desk.flag_breaches()
    alone = [p.desk.get(i) for i in ids]
    assert sum(len(v.pauses) for v in alone) == 8 and any(v.breaches for v in alone)
    for limit in (3, 12):
        with _captured(p) as ran:
            listed = p.desk.list(contract=NUMBER, limit=limit)
        assert listed == alone[:limit]
        assert len(ran) <= 5, (limit, [sql[:80] for sql, _ in ran])


def test_a_contract_naming_one_party_as_both_is_refused(platform, clock) -> None:
    """A contract typed in with 甲方 and 乙方 the same (a paste into both fields) was put under
    service: its record flow then took one seal for both parties, 乙方 confirming its own work
    as 甲方 — what ``not_the_party`` is there to stop. The names are compared as a seal's
    owner is (``same_name``: NFKC, white space, case), refused naming ``party_b`` (422 in the
    API), on adding and on correcting, and nothing is written."""
    from starlette.testclient import TestClient

    from tests.integration.api_world import problem_of
    from yinxin.adapters.http.server import create_app

    p = platform
    clock.set(bj(2026, 10, 12, 9, 0))
    add_003(p)
    admin = p.api_keys.create(name="admin", role="administrator", actor="test").secret
    before = dbdump.dump(p)
    for a, b in [(A, A), (A, f" {A} "), ("Acme（中国）有限公司", "ACME(中国)有限公司")]:
        with pytest.raises(ValidationError) as e:
            p.desk.add_contract(
                "YW-SAME",
                title="运维服务合同",
                party_a=a,
                party_b=b,
                annual_fee="28000.00",
                starts_on=dt.date(2026, 1, 1),
                ends_on=dt.date(2026, 12, 31),
            )
        assert e.value.field == "party_b", e.value.message
    for kw in ({"party_b": A}, {"party_a": B}, {"party_a": "ACME公司", "party_b": " acme公司"}):
        with pytest.raises(ValidationError) as e:
            p.desk.correct_parties(NUMBER, **kw, reason="笔误")
        assert e.value.field == ("party_b" if "party_b" in kw else "party_a"), kw
    assert dbdump.dump(p) == before
    with TestClient(create_app(p, jobs=False), base_url="http://127.0.0.1:8000") as c:
        h = {"Authorization": f"Bearer {admin}"}
        body = contract_body("YW-SAME", "运维服务合同") | {"party_b": A}
        problem_of(c.post("/api/v1/desk/contracts", json=body, headers=h), 422, "party_b")
    # the app publishes its CRLs on starting: every other table is as it was
    assert dbdump.dump(p) | {"crls": []} == before | {"crls": []}
    # two different parties stay accepted, and so does a correction that keeps them apart
    c = p.desk.correct_parties(NUMBER, party_b=B + "分公司", reason="全称")
    assert (c.party_a, c.party_b) == (A, B + "分公司")


def test_an_inspection_of_a_month_not_yet_begun_is_refused(platform, clock) -> None:
    """``desk inspect --month 2027-10`` on 2026-12-07 was recorded: the yearly report of 2027
    then showed October's on-site inspection done a year early, and the month's real miss was
    never listed. A month's inspection is performed in that month (or, late, after it), never
    before the month begins: a month after the one the inspection was performed in (Beijing
    time) is refused naming ``month``, and nothing is written."""
    p = platform
    clock.set(bj(2026, 10, 31, 23, 30))  # still October in Beijing, November in a UTC+9 zone
    add_003(p)
    before = dbdump.dump(p)
    for month, performed in [
        ("2026-11", None),
        ("2027-10", None),
        ("2026-10", bj(2026, 9, 28, 10, 0)),  # performed in September: not October's
    ]:
        with pytest.raises(ValidationError) as e:
            p.desk.record_inspection(
                NUMBER, month=month, performed_at=performed, inspector="赵工", findings="正常"
            )
        assert e.value.field == "month", e.value.message
    assert dbdump.dump(p) == before
    # the month's own, and September's performed late in October, stand
    assert p.desk.record_inspection(NUMBER, inspector="赵工", findings="正常").month == "2026-10"
    late = p.desk.record_inspection(
        NUMBER,
        month="2026-09",
        performed_at=bj(2026, 10, 2, 16, 0),
        inspector="赵工",
        findings="正常",
    )
    assert late.month == "2026-09"


def test_adopting_a_signed_contract_naming_one_party_as_both_is_refused_naming_contract(
    platform, clock
) -> None:
    """A library contract signed before the library refused one party as both (its 乙方 the
    same name as its 甲方) was refused on ``desk adopt`` naming ``party_b`` — a field adopt
    does not take, while its other refusals (unknown, not signed, not O&M) name ``contract``.
    Now named ``contract`` too (code ``same_party``; 422 in the API, exit 2 in the CLI), and
    nothing is written."""
    import json

    from starlette.testclient import TestClient
    from typer.testing import CliRunner

    from tests.conftest import cli_env
    from tests.integration.api_world import problem_of
    from yinxin.adapters.cli import app as cli_app
    from yinxin.adapters.http.server import create_app
    from yinxin.store.models.contracts import Contract

    w = build_world(platform, clock)
    p = w.p
    drafted = _signed_om_contract(w, clock)
    assert p.contracts.get(drafted.id).state == "signed"  # its finished flow settled
    # as a contract signed before the check stored it: 乙方 the same name as 甲方
    with p.db.transaction() as s:
        row = s.get(Contract, drafted.id)
        stored = json.loads(row.filled_values) | {"provider_name": f" {w.org.name} "}
        row.filled_values = json.dumps(stored, ensure_ascii=False, sort_keys=True)
    before = dbdump.dump(p)
    with pytest.raises(ValidationError) as e:
        p.desk.adopt(drafted.number, actor="运维经理")
    assert (e.value.field, e.value.code) == ("contract", "same_party"), e.value
    assert dbdump.dump(p) == before
    admin = p.api_keys.create(name="admin", role="administrator", actor="test").secret
    before = dbdump.dump(p)
    with TestClient(create_app(p, jobs=False), base_url="http://127.0.0.1:8000") as c:
        r = c.post(
            "/api/v1/desk/contracts/adopt",
            json={"number": drafted.number},
            headers={"Authorization": f"Bearer {admin}"},
        )
        problem_of(r, 422, "contract", "same_party")
    # the app publishes its CRLs on starting: every other table is as it was
    assert dbdump.dump(p) | {"crls": []} == before | {"crls": []}
    res = CliRunner().invoke(
        cli_app, ["desk", "adopt", drafted.number, "--json"], env=cli_env(p.settings.home)
    )
    assert res.exit_code == 2, res.output
    assert json.loads(res.stdout)["field"] == "contract"


def test_an_empty_or_over_long_desk_text_is_refused_in_both_languages(platform, clock) -> None:
    """A desk text (a pause's, cancellation's or correction's reason, a request's description,
    a resolution, an inspection's findings: up to 4,000 characters) that was empty, or over
    4,000, was refused over the API by the body's schema in pydantic's English alone ("String
    should have at least 1 character"), and a blank one by the service in English alone
    ("reason must not be empty"). Each is the service's refusal now, naming the field in
    Chinese and English (422 / exit 2), nothing written."""
    import json

    from typer.testing import CliRunner

    from tests.conftest import cli_env
    from tests.integration.api_world import keyed_client, problem_of
    from yinxin.adapters.cli import app as cli_app
    from yinxin.errors import halves

    p = platform
    clock.set(bj(2026, 10, 17, 9, 0))
    add_003(p)
    r = p.desk.open(NUMBER, channel="web", description="报表导出失败", reported_by="甲方")
    admin = p.api_keys.create(name="admin", role="administrator", actor="test").secret
    empty = {
        "reason": ("原因不能为空", "reason must not be empty"),
        "description": ("问题描述不能为空", "description must not be empty"),
        "resolution": ("处理结果不能为空", "resolution must not be empty"),
        "findings": ("巡检结果不能为空", "findings must not be empty"),
    }

    def too_long(field: str, label: str) -> tuple[str, str]:
        return (
            f"{label}最多 4000 个字符（此处 4001 个）",
            f"{field} must be at most 4000 characters",
        )

    opened = {"contract": NUMBER, "channel": "phone", "reported_by": "甲方"}
    correct = {"party_a": A + "（更正）"}
    sends = [
        (f"/api/v1/desk/requests/{r.id}/pause", {}, "reason", "原因"),
        (f"/api/v1/desk/requests/{r.id}/cancel", {}, "reason", "原因"),
        (f"/api/v1/desk/contracts/{NUMBER}/correct", correct, "reason", "原因"),
        ("/api/v1/desk/requests", opened, "description", "问题描述"),
        (f"/api/v1/desk/requests/{r.id}/resolve", {}, "resolution", "处理结果"),
        (
            f"/api/v1/desk/contracts/{NUMBER}/inspections",
            {"inspector": "李工"},
            "findings",
            "巡检结果",
        ),
    ]
    with keyed_client(p, admin) as c:
        before = dbdump.dump(p)
        for url, body, field, label in sends:
            for text, said in (
                ("", empty[field]),
                (" \n ", empty[field]),
                ("等" * 4001, too_long(field, label)),
            ):
                answer = c.post(url, json={**body, field: text})
                detail = problem_of(answer, 422, field, "invalid")["detail"]
                assert halves(detail) == said, (url, text[:3], detail)
    env = cli_env(p)
    for args, said in (
        (["pause", str(r.id), "--reason", " "], empty["reason"]),
        (["cancel", str(r.id), "--reason", ""], empty["reason"]),
        (["pause", str(r.id), "--reason", "等" * 4001], too_long("reason", "原因")),
    ):
        res = CliRunner().invoke(cli_app, ["desk", *args, "--json"], env=env)
        err = json.loads(res.stdout)
        assert (res.exit_code, err["field"], err["error"]) == (2, "reason", "invalid"), err
        assert halves(err["message"]) == said, err
    assert dbdump.diff(before, dbdump.dump(p)) == []
