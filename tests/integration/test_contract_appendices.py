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

import base64
import datetime as dt
import functools
import hashlib
import io
import random
import re
import subprocess
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader

from tests import dbdump
from tests.certs import self_signed
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


# --- 附件 1 as the customer's PDF -------------------------------------------------------------
@functools.cache
def _spec_pdf(pages: tuple[tuple[str, ...], ...], **kw: Any) -> bytes:
    """``spec_pdf``, made once a process (subsetting the CJK face takes a second or two)."""
    return spec_pdf([list(p) for p in pages], **kw)


def spec_pdf(
    lines_per_page: list[list[str]],
    *,
    rotate: int = 0,
    encrypt: bool = False,
    helvetica: bool = False,
    base_font: str = "Helvetica",
    size: tuple[float, float] = (595.28, 841.89),
) -> bytes:
    """A customer's PDF: each page a few lines of Chinese in an embedded CJK subset (the
    first line bold); ``helvetica`` adds a line in the standard, not embedded, Helvetica
    (or the font ``base_font`` names)."""
    from pyhanko.pdf_utils import generic
    from pyhanko.pdf_utils.generic import pdf_name
    from pyhanko.pdf_utils.writer import PageObject, PdfFileWriter

    from yinxin.contracts.render import _fonts

    w = PdfFileWriter()
    fonts = _fonts(w)
    pages = []
    for lines in lines_per_page:
        ops = []
        y = size[1] - 72
        for j, ln in enumerate(lines):
            face = "B" if j == 0 else "R"  # both faces used: an unused one cannot be written
            shaped = fonts.engines[face].shape(ln).graphics_ops
            ops.append(b"BT /F%s 12 Tf 72 %.2f Td " % (face.encode(), y) + shaped + b" ET")
            y -= 20
        if helvetica:
            ops.append(b"BT /Helv 10 Tf 72 40 Td (Page) Tj ET")
        pages.append(b"\n".join(ops))
    res = generic.DictionaryObject({pdf_name("/Font"): fonts.resources()})
    if helvetica:
        res["/Font"][pdf_name("/Helv")] = w.add_object(
            generic.DictionaryObject(
                {
                    pdf_name("/Type"): pdf_name("/Font"),
                    pdf_name("/Subtype"): pdf_name("/Type1"),
                    pdf_name("/BaseFont"): pdf_name("/" + base_font),
                }
            )
        )
    for ops in pages:
        stream = generic.StreamObject(stream_data=ops)
        page = PageObject(w.add_object(stream), (0, 0, *size), res)
        if rotate:
            page[pdf_name("/Rotate")] = generic.NumberObject(rotate)
        w.insert_page(page)
    if encrypt:
        w.encrypt("owner", "user")
    out = io.BytesIO()
    w.write(out)
    return out.getvalue()


SPEC_PAGES = (
    ("技术规范书（甲方提供）", "一、平台须支持电子签章与视频双录。"),
    ("续页", "二、数据全量移交甲方。"),
)


def _with_pdf(values: dict, data: bytes) -> dict:
    v = {k: x for k, x in values.items() if k != "specification"}
    return v | {"specification_pdf": base64.b64encode(data).decode()}


SEAL_BOX = (300, 500, 500, 700)  # where 甲方's seal shows on the customer's first page


@functools.cache
def signed_spec() -> bytes:
    """The customer's PDF signed by 甲方 in pyHanko, its seal (合同专用章, red) shown in a
    field 甲方签章 on the first page — a specification 甲方 already sealed."""
    from pyhanko.pdf_utils.images import PdfImage
    from pyhanko.sign import fields, signers
    from pyhanko.stamp import TextStampStyle

    from tests.integration.pdf_factory import seal_image
    from tests.integration.pdf_inputs_corpus import pyhanko_signer

    key, cert = self_signed("甲方", start=real_now())
    w = IncrementalPdfFileWriter(io.BytesIO(_spec_pdf(SPEC_PAGES)))
    style = TextStampStyle(
        stamp_text="", border_width=0, background=PdfImage(seal_image()), background_opacity=1.0
    )
    meta = signers.PdfSignatureMetadata(
        field_name="甲方签章", subfilter=fields.SigSeedSubFilter.PADES
    )
    field = fields.SigFieldSpec("甲方签章", box=SEAL_BOX, on_page=0)
    signer = signers.PdfSigner(
        meta, signer=pyhanko_signer(key, cert), stamp_style=style, new_field_spec=field
    )
    return signer.sign_pdf(w).getvalue()


@functools.cache
def certified_spec() -> bytes:
    """The customer's PDF as WPS prepares it (empty 甲方签章 and 乙方签章) and certifies it
    (DocMDP P=2), by pyHanko."""
    from tests.integration import pdf_inputs_corpus as corpus

    key, cert = self_signed("WPS 拟定方", start=real_now())
    return corpus.prepared_and_certified(_spec_pdf(SPEC_PAGES), key, cert)


def annotated_spec(*, printed: bool = True) -> bytes:
    """The customer's PDF with what a viewer draws from annotations, not the page (MuPDF, as
    a form filled in a reader or a reviewed file saves it): a text field ``amount`` filled
    with a figure, a typed comment (FreeText) and an APPROVED stamp on page 2, and a link on
    page 1. ``printed=False``: the three marked not to print (shown on screen only)."""
    import pymupdf

    doc = pymupdf.open(stream=_spec_pdf(SPEC_PAGES), filetype="pdf")
    doc[0].insert_link(
        {"kind": pymupdf.LINK_URI, "from": pymupdf.Rect(72, 60, 300, 80), "uri": "https://a.cn"}
    )
    page = doc[1]
    field = pymupdf.Widget()
    field.field_type, field.field_name = pymupdf.PDF_WIDGET_TYPE_TEXT, "amount"
    field.rect, field.field_value = pymupdf.Rect(72, 200, 300, 230), "1,740,000"
    if not printed:
        field.field_display = 2  # MuPDF's "noPrint": shown, not printed
    page.add_widget(field)
    page.add_freetext_annot(pymupdf.Rect(72, 300, 400, 340), "see clause 9", fontsize=12)
    page.add_stamp_annot(pymupdf.Rect(300, 400, 500, 480), stamp=0)
    if not printed:
        for a in page.annots(types=(pymupdf.PDF_ANNOT_FREE_TEXT, pymupdf.PDF_ANNOT_STAMP)):
            a.set_flags(0)
            a.update()
    out = doc.tobytes()
    doc.close()
    return out


SIGNED_REFUSAL = (
    "PDF 已有 1 个签名（“甲方签章”），并入合同后签名无法保留；请附未签名的文件，"
    "或将已签名的文件作为单独文件发起签署"
)


def test_appendix_1_may_be_the_customers_pdf_its_pages_appended(tmp_path):
    need("pdffonts", "pdftotext", "pdfinfo")
    t = get_template("platform-integration")
    spec = _spec_pdf(SPEC_PAGES)
    values = t.fill(_with_pdf(t.example_values(), spec))
    ref = values["specification_pdf"]
    assert ref == {"sha256": hashlib.sha256(spec).hexdigest(), "pages": 2, "size": len(spec)}
    with pytest.raises(ValidationError) as e:  # the renderer needs the bytes
        render_contract(t, values, number=NUMBER)
    assert e.value.field == "values.specification_pdf"
    pdf = render_contract(t, values, number=NUMBER, attachments={ref["sha256"]: spec})
    path = tmp_path / "with-pdf.pdf"
    path.write_bytes(pdf)

    rows = _tool("pdffonts", str(path)).splitlines()[2:]
    assert len(rows) >= 4 and all(r.split()[-5] == "yes" for r in rows), rows
    pages = _pages(path)
    m = len(pages)
    raw = _tool("pdftotext", str(path), "-")
    assert [x.groups() for x in map(FOOTER.match, raw.splitlines()) if x] == [
        (str(n), str(m)) for n in range(1, m + 1)
    ]
    first = next(i for i, p in enumerate(pages) if p.lstrip().startswith("附件 1"))
    # the heading, then the customer's first page; the second on a page of its own; then the
    # seal blocks on a page that says whose they are; then 附件 2
    assert "技术规范书（甲方提供）" in pages[first] and "一、平台须支持电子签章" in pages[first]
    assert "附件 1《技术规范书》（续，第 2 页 共 2 页）" in pages[first + 1]
    assert "二、数据全量移交甲方。" in pages[first + 1]
    assert "（本页无正文，为附件 1《技术规范书》之签章页）" in pages[first + 2]
    assert pages[first + 3].lstrip().startswith("附件 2")
    for party in t.parties:
        [main] = find_anchor(pdf, party.anchor)
        assert main.page == first  # the signature page just before
        hits = find_anchor(pdf, party.appendix_anchor)
        assert [h.page for h in hits][0] == first + 3  # 1-based: the seal page
    # the text blank and the PDF are one or the other
    with pytest.raises(ValidationError) as e:
        t.fill(_with_pdf(t.example_values(), spec) | {"specification": "文字"})
    assert e.value.field == "values.specification_pdf"


BAD_PDFS = [
    ("not base64 !", "不是 base64"),
    (base64.b64encode(b"hello, world").decode(), "不是 PDF"),
    (base64.b64encode(b"%PDF-1.7\n1 0 obj garbage").decode(), "无法读取"),
    ("truncated", "无法读取"),
    ("encrypted", "已加密"),
    ("rotated", "旋转"),
    ("helvetica", "未嵌入的字体（“Helvetica”）"),
    ("anchor", "签章位置文字“甲方（签章）”"),
    ("signed", SIGNED_REFUSAL + " / the PDF carries 1 signature(s) that cannot survive"),
    # a signature widget only among the page's annotations, as poppler (pdfsig) still shows it
    ("hidden", "PDF 已有 1 个签名（“李四”），并入合同后签名无法保留"),
    (
        "annotated",
        "PDF 有 3 处表单内容或批注（第 2 页起：“amount”、“FreeText”、“Stamp”）只存在于注释中，"
        "不会画入合同；请先拼合到页面（如“打印为 PDF”）后再附",
    ),
    ("certified", "PDF 已有 1 个签名（“Certification”），其中含认证签名，并入合同后签名无法保留"),
    ({"sha256": "ab" * 32, "pages": 1}, "已存的"),
    (12345, "base64"),
]


@pytest.mark.parametrize(("raw", "message"), BAD_PDFS)
def test_a_pdf_unfit_to_append_is_refused_naming_the_field(raw, message):
    from tests.integration.pdf_factory import hidden_signature

    good = _spec_pdf(SPEC_PAGES)
    made = {
        "truncated": lambda: good[: len(good) // 2],
        "encrypted": lambda: _spec_pdf(SPEC_PAGES, encrypt=True),
        "rotated": lambda: _spec_pdf(SPEC_PAGES, rotate=90),
        "helvetica": lambda: _spec_pdf(SPEC_PAGES, helvetica=True),
        "anchor": lambda: _spec_pdf((("说明", "甲方（签章）："),)),
        "signed": signed_spec,
        "certified": certified_spec,
        "annotated": annotated_spec,
        "hidden": lambda: hidden_signature(_spec_pdf(SPEC_PAGES), signed_spec()),
    }
    if isinstance(raw, str) and raw in made:
        raw = base64.b64encode(made[raw]()).decode()
    t = get_template("platform-integration")
    v = {k: x for k, x in t.example_values().items() if k != "specification"}
    with pytest.raises(ValidationError) as e:
        t.fill(v | {"specification_pdf": raw})
    assert e.value.field == "values.specification_pdf"
    assert message in e.value.message, e.value.message


def test_a_page_rotated_by_its_page_tree_is_refused_too():
    """``/Rotate`` is inherited: set on the page tree's root it turns every page, though no
    page says so itself (the pages would be appended sideways)."""
    from pyhanko.pdf_utils import generic
    from pyhanko.pdf_utils.generic import pdf_name

    w = IncrementalPdfFileWriter(io.BytesIO(_spec_pdf(SPEC_PAGES)))
    tree = w.root["/Pages"]
    tree[pdf_name("/Rotate")] = generic.NumberObject(90)
    w.update_container(tree)
    out = io.BytesIO()
    w.write(out)
    t = get_template("platform-integration")
    v = {k: x for k, x in t.example_values().items() if k != "specification"}
    with pytest.raises(ValidationError) as e:
        t.fill(v | {"specification_pdf": base64.b64encode(out.getvalue()).decode()})
    assert e.value.field == "values.specification_pdf"
    assert "第 1 页是旋转页面" in e.value.message, e.value.message


def test_a_drafted_pdf_is_kept_revised_with_it_and_never_another_file(world):
    p = world.p
    store = p.contracts.files
    spec = _spec_pdf(SPEC_PAGES)
    base = _values(world, "platform-integration")

    # refused: a malformed PDF, and a reference to a file of the store (another contract's
    # PDF) — nothing written
    other = p.contracts.draft("tech-service", _values(world, "tech-service"), actor="王五")
    before = dbdump.dump(p)
    files = sorted(store.root.rglob("*"))
    foreign = {"sha256": other.pdf_sha256, "pages": 2, "size": 1}
    for raw in (base64.b64encode(spec[:500]).decode(), foreign):
        with pytest.raises(ValidationError) as e:
            p.contracts.draft(
                "platform-integration", _with_pdf(base, spec) | {"specification_pdf": raw}
            )
        assert e.value.field == "values.specification_pdf", e.value.message
    assert dbdump.dump(p) == before
    assert sorted(store.root.rglob("*")) == files

    c = p.contracts.draft("platform-integration", _with_pdf(base, spec), actor="王五")
    ref = c.values["specification_pdf"]
    assert store.get(ref["sha256"]) == spec  # kept for a revision
    # a revision keeps it by giving the stored value back (another price, same attachment)
    revised = p.contracts.revise(c.id, c.values | {"copies": 6}, actor="王五")
    assert revised.values["specification_pdf"] == ref
    text = subprocess.run(
        ["pdftotext", "-", "-"], input=p.contracts.pdf(c.id).pdf, capture_output=True, check=True
    ).stdout.decode()
    assert "二、数据全量移交甲方。" in text and "本合同一式6份" in "".join(text.split())
    # but not another contract's file in its place
    with pytest.raises(ValidationError) as e:
        p.contracts.revise(c.id, c.values | {"specification_pdf": foreign}, actor="王五")
    assert e.value.field == "values.specification_pdf"


def test_the_pdf_over_http(world):
    """POST /contracts with the PDF as base64 in the values: 201 and the stored reference; a
    truncated one 422 naming the blank, nothing written; the template lists its appendices."""
    from starlette.testclient import TestClient

    from tests.integration.api_world import problem_of
    from yinxin.adapters.http.server import create_app

    p = world.p
    secret = p.api_keys.create(
        name="甲方管理员", role="organization_admin", organization_id=world.org.id, actor="t"
    ).secret
    auth = {"Authorization": f"Bearer {secret}"}
    spec = _spec_pdf(SPEC_PAGES)
    body = {
        "template": "platform-integration",
        "values": _with_pdf(_values(world, "platform-integration"), spec),
    }
    with TestClient(create_app(p, jobs=False), base_url="http://127.0.0.1:8000") as c:
        t = c.get("/api/v1/contract-templates/platform-integration", headers=auth).json()
        assert [(a["number"], a["kind"], a["pdf_blank"]) for a in t["appendices"]] == [
            ("1", "document", "specification_pdf"),
            ("2", "price_table", None),
            ("3", "text", None),
        ]
        assert [x["appendix_anchor"] for x in t["parties"]] == ["甲方（盖章）", "乙方（盖章）"]
        # the server publishes CRLs on its own schedule (its start-up may race this): the
        # comparison leaves that table out
        before = {k: v for k, v in dbdump.dump(p).items() if k != "crls"}
        bad = body | {
            "values": body["values"] | {"specification_pdf": base64.b64encode(spec[:900]).decode()}
        }
        problem_of(
            c.post("/api/v1/contracts", json=bad, headers=auth), 422, "values.specification_pdf"
        )
        assert {k: v for k, v in dbdump.dump(p).items() if k != "crls"} == before
        r = c.post("/api/v1/contracts", json=body, headers=auth)
        assert r.status_code == 201, r.text
        assert r.json()["values"]["specification_pdf"]["sha256"] == hashlib.sha256(spec).hexdigest()
        pdf = c.get(f"/api/v1/contracts/{r.json()['id']}/pdf", headers=auth).content
    assert b"/XObject" in pdf and len(find_anchor(pdf, "甲方（盖章）")) == 3


def test_the_pdf_from_the_command_line(tmp_path):
    """``yinxin contract draft … --attach specification_pdf=spec.pdf``: drafted with the
    file's reference; an unreadable PDF exits 2 naming the blank."""
    from tests.integration.server import yinxin_cli, yinxin_json

    home = tmp_path / "cli"
    new_platform(home).close()  # the CLI process runs on the system clock
    good, bad = tmp_path / "spec.pdf", tmp_path / "bad.pdf"
    good.write_bytes(_spec_pdf(SPEC_PAGES))
    bad.write_bytes(_spec_pdf(SPEC_PAGES)[:700])
    args = ["contract", "draft", "platform-integration", "--example", "--set", "specification="]
    drafted = yinxin_json([*args, "--attach", f"specification_pdf={good}"], home)
    assert drafted["values"]["specification_pdf"]["pages"] == 2
    assert "specification" not in drafted["values"]
    refused = yinxin_cli(
        [*args, "--attach", f"specification_pdf={bad}", "--json"], home, check=False
    )
    assert refused.returncode == 2, refused.stderr
    assert '"field": "values.specification_pdf"' in refused.stdout
    listed = yinxin_json(["contract", "list"], home)
    # a signed one: its signature would be dropped without a word; refused, exit 2
    signed = tmp_path / "signed.pdf"
    signed.write_bytes(signed_spec())
    refused = yinxin_cli([*args, "--attach", f"specification_pdf={signed}"], home, check=False)
    assert refused.returncode == 2 and "Traceback" not in refused.stderr, refused.stderr
    said = refused.stderr
    assert said.startswith("error [values.specification_pdf]: ") and SIGNED_REFUSAL in said, said
    assert yinxin_json(["contract", "list"], home) == listed
    # an empty file (a download that failed) was taken for no file: the contract was drafted
    # on the template's text, exit 0, the PDF the officer named silently left out
    empty = tmp_path / "empty.pdf"
    empty.write_bytes(b"")
    for more in ([], ["--set", "specification="]):
        refused = yinxin_cli(
            [*args[:4], *more, "--attach", f"specification_pdf={empty}"], home, check=False
        )
        assert refused.returncode == 2 and "Traceback" not in refused.stderr, refused.stderr
        said = refused.stderr
        assert said.startswith("error [values.specification_pdf]: ") and "empty" in said, said
        # in Chinese first, as the blank's other refusals (不是 PDF 文件 / not a PDF …)
        assert "空文件" in said.split(" / ")[0], said
    assert yinxin_json(["contract", "list"], home) == listed


def test_attach_gives_a_file_only_to_a_pdf_blank(tmp_path):
    """``--attach modules=spec.pdf`` (a ``longtext`` blank, 000's module list) put the file's
    base64 text into the blank: a small file drafted a contract whose 附件 一 listed
    ``JVBERi0x…``, exit 0; a larger one was refused as too long for the list. ``--attach``
    is for a ``pdf`` blank: another is refused naming ``attach`` (exit 2), nothing drafted,
    on ``draft``, ``preview`` (nothing written) and ``revise``."""
    from tests.integration.server import yinxin_cli, yinxin_json

    home = tmp_path / "cli"
    new_platform(home).close()
    tiny = tmp_path / "tiny.pdf"
    tiny.write_bytes(b"%PDF-1.4 tiny")
    drafted = yinxin_json(["contract", "draft", "tech-service", "--example"], home)
    listed = yinxin_json(["contract", "list"], home)
    out = tmp_path / "p.pdf"
    for args in (
        ["contract", "draft", "tech-service", "--example"],
        ["contract", "preview", "tech-service", "--example", "--out", str(out)],
        ["contract", "revise", str(drafted["id"])],
    ):
        refused = yinxin_cli([*args, "--attach", f"modules={tiny}"], home, check=False)
        said = refused.stderr
        assert refused.returncode == 2 and "Traceback" not in said, (args, said)
        assert said.startswith("error [attach]: ") and "modules" in said, said
        assert re.search(r"[\u4e00-\u9fff]", said.split(" / ")[0]), said
    assert not out.exists()
    assert yinxin_json(["contract", "list"], home) == listed
    assert yinxin_json(["contract", "show", str(drafted["id"])], home) == drafted


def _appendix_page_image(tmp_path: Path, spec: bytes, name: str) -> Any:
    """The contract's first page of 附件 1 drawn from ``spec``, as pdftoppm shows it (RGB)."""
    from PIL import Image

    t = get_template("platform-integration")
    values = t.fill(_with_pdf(t.example_values(), spec))
    pdf = render_contract(
        t, values, number=NUMBER, attachments={values["specification_pdf"]["sha256"]: spec}
    )
    path = tmp_path / f"{name}.pdf"
    path.write_bytes(pdf)
    page = next(i for i, p in enumerate(_pages(path), 1) if "技术规范书（甲方提供）" in p)
    _tool("pdftoppm", "-r", "60", "-f", str(page), "-l", str(page), "-png", str(path), str(path))
    [png] = tmp_path.glob(f"{name}.pdf-*.png")
    return pdf, Image.open(png).convert("RGB")


def test_an_appendix_prepared_with_empty_fields_leaves_none_in_the_contract(tmp_path):
    """A customer's PDF drawn up in WPS with empty 甲方签章/乙方签章 fields (no signature in
    them, not certified) is accepted as 附件 1: its pages are drawn into the contract, its
    fields are not copied, and nothing of them is drawn (the page is pixel for pixel the one
    the same PDF without fields makes). So a contract's flow (and the service record's,
    rendered the same way) never meets a prepared field: its signers are placed by the
    parties' anchors, and ``Contracts.start_signing`` needs no field per signer
    (docs/sign-flows.md). The same file certified is refused (``BAD_PDFS``: ``certified``)."""
    from pyhanko.sign import fields

    from tests.integration import pdf_inputs_corpus as corpus
    from yinxin.pdf.sign import check_signable
    from yinxin.signing.flows import prepared_of

    need("pdftoppm", "pdftotext")
    w = IncrementalPdfFileWriter(io.BytesIO(_spec_pdf(SPEC_PAGES)))
    for name, box in corpus.PREPARED_BOXES:
        fields.append_signature_field(w, fields.SigFieldSpec(name, box=box, on_page=0))
    buf = io.BytesIO()
    w.write(buf)
    spec = buf.getvalue()
    before = prepared_of(spec)
    assert set(before.fields) == {"甲方签章", "乙方签章"} and not before.certified
    pdf, drawn = _appendix_page_image(tmp_path, spec, "prepared")
    _, plain = _appendix_page_image(tmp_path, _spec_pdf(SPEC_PAGES), "plain")
    assert drawn.tobytes() == plain.tobytes()
    after = prepared_of(pdf)
    assert after.fields == {} and not after.certified
    check_signable(pdf, earlier_signatures=True)  # nothing sealing would refuse
    assert [h.page for h in find_anchor(pdf, "甲方（签章）")]  # placed by the anchors


def test_links_and_notes_shown_on_screen_only_are_no_content_lost(tmp_path):
    """What a printout of the customer's file would not show either — a link, a field and
    comments marked not to print — is not the document's text: the file is accepted (the same
    annotations printed are refused, ``BAD_PDFS``: ``annotated``)."""
    t = get_template("platform-integration")
    values = t.fill(_with_pdf(t.example_values(), annotated_spec(printed=False)))
    assert values["specification_pdf"]["pages"] == 2


def test_a_signed_pdf_is_refused_over_http_and_the_page_says_why(client, world, tmp_path):
    """甲方's specification already sealed (a pyHanko signature, its red seal shown on the
    first page) used to be taken: the contract drew the page from its content alone, so the
    signature and its seal were dropped without a word — the customer believed the appendix
    carried their signature. Now 422 naming the blank, nothing written (database, file
    store), and the form's page shows the Chinese half whole."""
    from tests.unit.test_chinese_detail import chinese_detail

    need("pdfsig")
    spec = signed_spec()
    (tmp_path / "signed.pdf").write_bytes(spec)
    [seen] = pdfsig(tmp_path / "signed.pdf")  # a real signature, as poppler sees it
    assert "Signature Field Name: 甲方签章" in seen, seen
    secret = world.p.api_keys.create(
        name="甲方管理员", role="organization_admin", organization_id=world.org.id, actor="t"
    ).secret
    store = world.p.contracts.files.root
    before = {k: v for k, v in dbdump.dump(world.p).items() if k != "crls"}
    files = sorted(store.rglob("*"))
    details = []
    for data in (spec, certified_spec()):
        r = client.post(
            "/api/v1/contracts",
            json={
                "template": "platform-integration",
                "values": _with_pdf(_values(world, "platform-integration"), data),
            },
            headers={"Authorization": f"Bearer {secret}"},
        )
        assert r.status_code == 422, r.text
        assert r.json()["field"] == "values.specification_pdf", r.json()
        details.append(r.json()["detail"])
    assert {k: v for k, v in dbdump.dump(world.p).items() if k != "crls"} == before
    assert sorted(store.rglob("*")) == files
    label = "附件 1 技术规范书（PDF 文件，代替上面的文字）："
    assert chinese_detail(tmp_path, details) == [
        label + SIGNED_REFUSAL,
        label + SIGNED_REFUSAL.replace("“甲方签章”）", "“Certification”），其中含认证签名"),
    ]


def test_a_font_name_in_the_refusal_is_shown_whole_on_the_page(client, world, tmp_path):
    """The refusal of a PDF with fonts not embedded names them in its Chinese half; a name is
    the file's, so it is quoted there: the page's chineseDetail shows the Chinese half whole,
    not cut at a " / " in a name, nor dropped for a name of two English words."""
    from tests.unit.test_chinese_detail import chinese_detail

    secret = world.p.api_keys.create(
        name="甲方管理员", role="organization_admin", organization_id=world.org.id, actor="t"
    ).secret
    base = _values(world, "platform-integration")
    details = []
    for name in ("A / B", "four hours"):
        spec = spec_pdf([list(p) for p in SPEC_PAGES], helvetica=True, base_font=name)
        r = client.post(
            "/api/v1/contracts",
            json={"template": "platform-integration", "values": _with_pdf(base, spec)},
            headers={"Authorization": f"Bearer {secret}"},
        )
        assert r.status_code == 422, r.text
        assert r.json()["field"] == "values.specification_pdf", r.json()
        details.append(r.json()["detail"])
    assert chinese_detail(tmp_path, details) == [
        f"附件 1 技术规范书（PDF 文件，代替上面的文字）：PDF 使用了未嵌入的字体（“{name}”），"
        "请嵌入字体后再附"
        for name in ("A / B", "four hours")
    ]
