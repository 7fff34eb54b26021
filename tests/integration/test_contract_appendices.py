"""Contract appendices (附件), read back with the outside tools.

* 002 (``platform-integration`` v2): 附件 1 技术规范书 (甲方's text), 附件 2 费用明细表 (a table
  from the typed price lines: 不含税价 from ``money.without_tax`` so net + tax = gross on every
  line, 含税总价 in figures and capitals), 附件 3 网络与信息安全协议书 — compared paragraph by
  paragraph with the seed file itself, so a word retyped wrong fails. Each appendix starts a
  new page with its heading and ends with each party's ``<role>（盖章）`` block; the page
  numbers count the appendix pages; every font is embedded.
* 000 technical-service templates: 附件 一 技术模块附件, drawn only when the list is filled,
  numbered once whatever numbering was typed.
* Bad price lines and appendix text are refused naming the field, and a refused draft leaves
  the database and the file store as they were.
* The signed 002 contract (with its appendices) verifies in pyHanko and pdfsig, each seal on
  its party's main anchor — which is no longer on the last page.
"""

from __future__ import annotations

import datetime as dt
import io
import random
import re
import subprocess
from decimal import Decimal
from pathlib import Path

import pytest
from pyhanko.pdf_utils.reader import PdfFileReader

from tests import dbdump
from tests.clock import real_now
from tests.integration.signing_flow import (
    World,
    build_world,
    need,
    need_quiet,
    new_platform,
    pdfsig,
)
from tests.integration.test_contracts import _sign, _signers, _values
from tests.integration.test_sign_flows import _pyhanko_valid
from yinxin.clock import FrozenClock
from yinxin.contracts.money import without_tax
from yinxin.contracts.render import appendix_lines, price_rows, render_contract
from yinxin.contracts.templates import get_template
from yinxin.errors import ValidationError
from yinxin.pdf.sign import find_anchor

SEED_002 = next(Path("/work/shared/seeds").glob("002_*.txt"), None)
NUMBER = "HT-20260304-APPX01"
FOOTER = re.compile(rf"^合同编号 {NUMBER}\s+第 (\d+) 页 共 (\d+) 页$")


def _squash(text: str) -> str:
    return "".join(text.split())


def _tool(*cmd: str) -> str:
    return subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=60).stdout


def _pages(path: Path) -> list[str]:
    """Each page's text, its footer taken out."""
    n = int(re.search(r"Pages:\s+(\d+)", _tool("pdfinfo", str(path)))[1])
    out = []
    for i in range(1, n + 1):
        raw = _tool("pdftotext", "-f", str(i), "-l", str(i), str(path), "-")
        out.append("\n".join(x for x in raw.splitlines() if not FOOTER.match(x)))
    return out


@pytest.fixture(scope="module")
def rendered_002(tmp_path_factory) -> tuple[bytes, Path, dict]:
    t = get_template("platform-integration")
    values = t.fill(t.example_values())
    pdf = render_contract(t, values, number=NUMBER)
    path = tmp_path_factory.mktemp("appendices") / "002.pdf"
    path.write_bytes(pdf)
    return pdf, path, values


def test_002_appendices_are_drawn_each_from_a_new_page_with_seal_blocks(rendered_002):
    need("pdffonts", "pdftotext", "pdfinfo")
    pdf, path, values = rendered_002
    t = get_template("platform-integration")
    assert t.version == "2" and [a.number for a in t.appendices] == ["1", "2", "3"]

    rows = _tool("pdffonts", str(path)).splitlines()[2:]
    assert rows and all(r.split()[-5] == "yes" for r in rows), rows

    pages = _pages(path)
    m = len(pages)
    # 第 N 页 共 M 页 on every page, M counting the appendix pages
    raw = _tool("pdftotext", str(path), "-")
    footers = [x.groups() for x in map(FOOTER.match, raw.splitlines()) if x]
    assert footers == [(str(n), str(m)) for n in range(1, m + 1)]

    # each appendix begins a page: 附件 N, then its title
    starts = {}
    for n, text in enumerate(pages, 1):
        lines = [x.strip() for x in text.splitlines() if x.strip()]
        if lines and re.fullmatch(r"附件 \S+", lines[0]):
            starts[lines[0].split()[1]] = n
            assert (
                lines[1]
                == {"1": "技术规范书", "2": "费用明细表", "3": "网络与信息安全协议书"}[
                    lines[0].split()[1]
                ]
            )
    assert list(starts) == ["1", "2", "3"]
    main = starts["1"] - 1  # the contract proper ends with the signature blocks
    assert "甲方（签章）" in pages[main - 1] and "（以下无正文）" in _squash(
        "\n".join(pages[:main])
    )

    # the main anchors once, on the signature page; each appendix ends with both parties'
    # seal blocks (盖章) and the date line — the appendix's last page
    for party in t.parties:
        [hit] = find_anchor(pdf, party.anchor)
        assert hit.page == main
        hits = find_anchor(pdf, party.appendix_anchor)
        ends = [starts["2"] - 1, starts["3"] - 1, m]
        assert [h.page for h in hits] == ends, (party.appendix_anchor, hits)
    for end in (starts["2"] - 1, starts["3"] - 1, m):
        assert pages[end - 1].count("日期：以可信时间戳为准") == 2

    # 附件 1: 甲方's text, paragraph by paragraph
    spec = _squash("\n".join(pages[starts["1"] - 1 : starts["2"] - 1]))
    for line in values["specification"].splitlines():
        assert _squash(line) in spec, line

    # 附件 2: the seed's rows — 53 400 = 50 377.36 + tax, 1 686 600 = 1 591 132.08 + tax
    table = _squash(pages[starts["2"] - 1])
    for cell in (
        "漯河市不动产“互联网+”平台项目",
        "维保费（信息技术服务）",
        "集成费（信息技术服务）",
    ):
        assert _squash(cell) in _squash(table.replace("1服务）", "服务）1")), cell  # wrapped cells
    # the figures of a row read across one line of the layout (they never wrap)
    layout = [
        _squash(x)
        for x in _tool(
            "pdftotext", "-layout", "-f", str(starts["2"]), "-l", str(starts["2"]), str(path), "-"
        ).splitlines()
    ]
    for figures in (
        "1年50,377.366%53,400.00信息技术服务",
        "1年1,591,132.086%1,686,600.00信息技术服务",
    ):
        assert any(figures in x for x in layout), (figures, layout)
    assert "含税总价（人民币大写）人民币壹佰柒拾肆万元整" in table
    assert "含税总价（元）¥1,740,000.00" in table


@pytest.mark.skipif(SEED_002 is None, reason="seed 002 not present")
def test_the_security_agreement_is_the_seed_text(rendered_002):
    """附件 3 is fixed text: every paragraph of the seed (lines 332–390, its page-break
    fragments joined) is in the PDF, in order, and nothing else is added between them."""
    _pdf, path, _values = rendered_002
    seed = SEED_002.read_text("utf-8").splitlines()
    start = seed.index("网络与信息安全协议书")
    end = next(i for i, x in enumerate(seed) if x.startswith("甲方签字盖章"))
    want = _squash("".join(seed[start + 1 : end]))
    pages = _pages(path)
    first = next(i for i, p in enumerate(pages) if p.lstrip().startswith("附件 3"))
    got = _squash("\n".join(pages[first:]))
    got = got.split("网络与信息安全协议书", 1)[1].split("甲方（盖章）", 1)[0]
    assert got == want


def test_net_plus_tax_is_gross_on_every_price_line():
    # the seed's rows
    rows = price_rows(
        [
            {"service": "维保费", "amount": "53400.00", "quantity": 1, "unit": "年"},
            {"service": "集成费", "amount": "1686600.00", "quantity": 1, "unit": "年"},
        ],
        "0.06",
    )
    assert [(r[4], r[5], r[6]) for r in rows] == [
        ("50,377.36", "6%", "53,400.00"),
        ("1,591,132.08", "6%", "1,686,600.00"),
    ]
    # and any amount from 0.01 to 10^12 at the usual rates: net + tax = gross, net × (1 + r)
    # rounds back to gross
    rnd = random.Random(14)
    for _ in range(2000):
        gross = Decimal(rnd.randint(1, 10**14)) / 100
        rate = Decimal(rnd.choice(["0.06", "0.09", "0.13", "0.03", "0.01"]))
        line = without_tax(gross, rate)
        assert line.net + line.tax == line.gross == gross
        assert (line.net * (1 + rate)).quantize(Decimal("0.01")) == gross or abs(
            line.net * (1 + rate) - gross
        ) <= Decimal("0.01")


BAD_002 = [
    # the lines must add up to the contract's price
    ({"price_lines": [{"service": "集成费", "amount": "1000000"}]}, "values.price_lines"),
    (
        {"price_lines": [{"service": "集成费", "amount": "1740000.001"}]},
        "values.price_lines[1].amount",
    ),
    ({"price_lines": [{"service": "集成费", "amount": "0"}]}, "values.price_lines[1].amount"),
    (
        {"price_lines": [{"service": "维保费", "amount": "53400"}, {"amount": "1686600"}]},
        "values.price_lines[2].service",
    ),
    (
        {"price_lines": [{"service": "集成费", "amount": "1740000", "quantity": 0}]},
        "values.price_lines[1].quantity",
    ),
    (
        {"price_lines": [{"service": "集成费", "amount": "1740000", "colour": "红"}]},
        "values.price_lines[1]",
    ),
    ({"price_lines": []}, "values.price_lines"),
    ({"price_lines": "1740000"}, "values.price_lines"),
    # an appendix's text may not hold an anchor: it would move a seal
    ({"specification": "技术要求……\n甲方（盖章）"}, "values.specification"),
    (
        {"price_lines": [{"service": "乙方（签章）", "amount": "1740000"}]},
        "values.price_lines[1].service",
    ),
    ({"specification": "x" * 20001}, "values.specification"),
]


@pytest.mark.parametrize(("change", "field"), BAD_002)
def test_bad_price_lines_and_appendix_text_are_refused_naming_the_field(change, field):
    t = get_template("platform-integration")
    with pytest.raises(ValidationError) as e:
        t.fill(t.example_values() | change)
    assert e.value.field == field, e.value.message


def test_000_module_appendix_only_when_filled_and_numbered_once(tmp_path):
    need("pdftotext", "pdfinfo")
    t = get_template("tech-service")
    [a] = t.appendices
    assert (a.number, a.title, a.kind, a.optional) == ("一", "技术模块附件", "list", True)
    values = t.fill(
        t.example_values()
        | {"modules": "1. 员工信息管理\n2、评定进度管理\n\n（3）人员时间限制\n企业信息管理"}
    )
    assert appendix_lines(a, values) == [
        "1. 员工信息管理",
        "2. 评定进度管理",
        "3. 人员时间限制",
        "4. 企业信息管理",
    ]
    path = tmp_path / "with.pdf"
    path.write_bytes(render_contract(t, values, number=NUMBER))
    pages = _pages(path)
    last = [x.strip() for x in pages[-1].splitlines() if x.strip()]
    assert last[:2] == ["附件 一", "技术模块附件"]
    assert _squash("1.员工信息管理2.评定进度管理3.人员时间限制4.企业信息管理") in _squash(pages[-1])
    assert "甲方（盖章）" in pages[-1] and "乙方（盖章）" in pages[-1]

    empty = t.fill({k: v for k, v in t.example_values().items() if k != "modules"})
    assert appendix_lines(a, empty) is None
    path2 = tmp_path / "without.pdf"
    path2.write_bytes(render_contract(t, empty, number=NUMBER))
    plain = _pages(path2)
    assert len(plain) == len(pages) - 1 and not any("附件 一" in p for p in plain)

    # the four-party template: a row of seal blocks for each pair of parties
    n = get_template("tech-service-notarized")
    nv = n.fill(n.example_values() | {"modules": "认证业务管理"})
    pdf = render_contract(n, nv, number=NUMBER)
    for party in n.parties:
        [hit] = find_anchor(pdf, party.appendix_anchor)
        assert len(find_anchor(pdf, party.anchor)) == 1


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> World:
    """One signing world for the module's three tests that write (each checks only what it
    wrote), its clock frozen: set up once, it saves a few seconds a test."""
    clock = FrozenClock(real_now())  # as the shared ``clock`` fixture: pyHanko checks at now
    p = new_platform(tmp_path_factory.mktemp("appendix-world") / "home", clock)
    yield build_world(p, clock)
    p.close()


def test_a_refused_002_draft_writes_nothing(world):
    p = world.p
    store = p.settings.documents_dir / "contracts"
    before = dbdump.dump(p)
    files = sorted(store.rglob("*")) if store.exists() else []
    v = _values(world, "platform-integration")
    cases = [
        (v | {"price": "1740000.01"}, "values.price_lines"),  # the table no longer adds up
        (
            v | {"price_lines": [{"service": "集成费😀", "amount": "1740000"}]},
            "values.price_lines[1].service",  # no glyph: refused by the renderer
        ),
        (v | {"specification": "技术要求 😀"}, "values.specification"),
    ]
    for values, field in cases:
        with pytest.raises(ValidationError) as e:
            p.contracts.draft("platform-integration", values, actor="王五")
        assert e.value.field == field, e.value.message
    assert dbdump.dump(p) == before
    assert (sorted(store.rglob("*")) if store.exists() else []) == files


def test_the_signed_002_contract_with_appendices_verifies(world, tmp_path):
    w, p = world, world.p
    c = p.contracts.draft(
        "platform-integration",
        _values(w, "platform-integration"),
        owner_subscriber_id=w.org.id,
        actor="王五",
    )
    assert c.template_version == "2"
    original = p.contracts.files.get(c.pdf_sha256)
    sent = p.contracts.start_signing(
        c.id, _signers(w), deadline=p.clock.now() + dt.timedelta(days=3), actor="王五"
    )
    links = {link.role: link.token for link in sent.links}
    _sign(w, links["甲方"], w.jia)
    _sign(w, links["乙方"], w.yi)
    f = p.contracts.pdf(c.id)
    assert f.signed and f.pdf.startswith(original)
    assert _pyhanko_valid(f.pdf, p.ca.certificate("root")) == 2

    # each seal on its party's main block — not on the appendices after it
    reader = PdfFileReader(io.BytesIO(f.pdf))
    count = int(reader.root["/Pages"]["/Count"])
    annotated = {}  # widget object number → 1-based page
    for i in range(count):
        page = reader.find_page_for_modification(i)[0].get_object()
        for a in page.get("/Annots", []):
            annotated[a.idnum] = i + 1
    for sig in reader.embedded_signatures:
        role = "甲方" if "甲方" in str(sig.sig_object.get("/Reason", "")) else "乙方"
        x0, y0, x1, y1 = (float(x) for x in sig.sig_field["/Rect"])
        [hit] = find_anchor(original, f"{role}（签章）")
        assert hit.page < count  # the appendices follow the signature page
        assert annotated[sig.sig_field.container_ref.idnum] == hit.page
        assert abs((x0 + x1) / 2 - hit.bbox[2]) < 1.0
        assert abs((y0 + y1) / 2 - (hit.bbox[1] + hit.bbox[3]) / 2) < 1.0
    if need_quiet("pdfsig"):
        path = tmp_path / "signed.pdf"
        path.write_bytes(f.pdf)
        blocks = pdfsig(path)
        assert len(blocks) == 2 and all("Signature is Valid." in b for b in blocks), blocks
    text = _squash(
        subprocess.run(
            ["pdftotext", "-", "-"], input=f.pdf, capture_output=True, check=True
        ).stdout.decode()
    )
    assert "人民币壹佰柒拾肆万元整" in text and "网络与信息安全协议书" in text


def test_a_seal_can_be_placed_on_an_appendix_block(world, tmp_path):
    """The appendix blocks carry anchors too: a signature asked for at ``甲方（盖章）`` on
    附件 2's page lands centred on that block, and the file verifies."""
    from tests.integration.signing_flow import confirm
    from yinxin.pdf.sign import Placement

    w, p = world, world.p
    t = get_template("platform-integration")
    pdf = render_contract(t, t.fill(_values(w, "platform-integration")), number=NUMBER)
    hits = find_anchor(pdf, "甲方（盖章）")
    assert len(hits) == 3  # one block per appendix
    target = hits[1]  # 附件 2 费用明细表
    w.clock.advance(minutes=7)  # the one-code-a-minute limit of intent confirmation
    token = confirm(w, w.jia, pdf, "合同.pdf")
    signed = p.signing.sign(
        pdf,
        seal=w.jia.seal.es_id,
        pin=w.jia.pin,
        signer_subscriber_id=w.jia.id,
        confirmation_token=token,
        placement=Placement(anchor="甲方（盖章）", page=target.page),
        role="甲方",
        document_name="合同.pdf",
    ).pdf
    assert _pyhanko_valid(signed, p.ca.certificate("root")) == 1
    reader = PdfFileReader(io.BytesIO(signed))
    [sig] = reader.embedded_signatures
    x0, y0, x1, y1 = (float(x) for x in sig.sig_field["/Rect"])
    assert abs((x0 + x1) / 2 - target.bbox[2]) < 1.0
    assert abs((y0 + y1) / 2 - (target.bbox[1] + target.bbox[3]) / 2) < 1.0
    page = reader.find_page_for_modification(target.page - 1)[0].get_object()
    assert sig.sig_field.container_ref.idnum in [a.idnum for a in page["/Annots"]]
    if need_quiet("pdfsig"):
        path = tmp_path / "appendix-sealed.pdf"
        path.write_bytes(signed)
        blocks = pdfsig(path)
        assert len(blocks) == 1 and "Signature is Valid." in blocks[0], blocks


@pytest.mark.parametrize(
    ("appendix", "message"),
    [
        ({"number": "9", "title": "x", "kind": "poster", "text": "x"}, "unknown kind"),
        ({"number": "9", "title": "x", "kind": "list", "blank": "price"}, "needs a longtext"),
        ({"number": "9", "title": "x", "kind": "price_table", "blank": "nope"}, "price_lines"),
        ({"number": "9", "title": "x", "kind": "text", "text": "价款{{price}}"}, "fixed text"),
        ({"number": "9", "title": "x", "kind": "text", "text": ""}, "fixed text"),
        ({"number": "9", "title": "x", "kind": "text", "text": "乙方（盖章）"}, "anchor"),
        ({"number": "2", "title": "x", "kind": "text", "text": "x"}, "used twice"),
    ],
)
def test_a_broken_appendix_fails_at_load(appendix, message):
    """The template file is checked when it is read: a broken appendix fails at start-up and
    here, not when a contract is drawn."""
    import tomllib
    from importlib import resources

    from yinxin.contracts.templates import _load

    src = resources.files("yinxin.contracts.templates") / "platform-integration.v2.toml"
    data = tomllib.loads(src.read_text("utf-8"))
    assert _load(data, "ok.toml").appendices  # as shipped: loads
    data["appendices"].append(appendix)
    with pytest.raises(ValueError, match=message):
        _load(data, "broken.toml")
