"""Seal images are rendered for real here: geometry, pixels, vectors and refusals.

The checks look at the numbers the layout reports *and* at the rendered alpha, because a layout
that is right on paper can still be drawn wrong (clipped, off-centre, holes filled in).
"""

from __future__ import annotations

import io
import math
import pathlib
import shutil
import subprocess
import xml.etree.ElementTree as ET

import pytest
from PIL import Image, ImageChops, ImageDraw, ImageFilter

from tests.conftest import OUTPUT as TEST_OUTPUT
from yinxin.errors import ValidationError
from yinxin.seals.render import (
    SEAL_RED,
    SealGeometry,
    SealImage,
    find_cjk_font,
    image_from_scan,
    render_organization_seal,
    render_personal_seal,
)

OUT = TEST_OUTPUT / "seals"
ORG = "北京印信电子认证服务有限公司"
LONG_25 = "北京印信电子认证服务有限公司上海分公司浦东营业部办"
SVG_NS = "{http://www.w3.org/2000/svg}"


# ------------------------------------------------------------------------------------------
# helpers


def _alpha(seal: SealImage) -> Image.Image:
    img = Image.open(io.BytesIO(seal.png))
    assert img.mode == "RGBA"
    return img.getchannel("A")


def _segments(poly):
    return list(zip(poly, poly[1:] + poly[:1], strict=True))


def _overlap(a, b) -> bool:
    """Separating-axis test, written independently of the module's own."""
    for poly in (a, b):
        for (x1, y1), (x2, y2) in _segments(list(poly)):
            nx, ny = y1 - y2, x2 - x1
            pa = [nx * x + ny * y for x, y in a]
            pb = [nx * x + ny * y for x, y in b]
            if max(pa) <= min(pb) + 1e-9 or max(pb) <= min(pa) + 1e-9:
                return False
    return True


def _inside(point, poly) -> bool:
    x, y = point
    sign = 0
    for (x1, y1), (x2, y2) in _segments(list(poly)):
        cross = (x2 - x1) * (y - y1) - (y2 - y1) * (x - x1)
        if cross != 0:
            s = 1 if cross > 0 else -1
            if sign and s != sign:
                return False
            sign = s
    return True


def _distance_to_poly(point, poly) -> float:
    if _inside(point, poly):
        return 0.0
    px, py = point
    best = math.inf
    for (x1, y1), (x2, y2) in _segments(list(poly)):
        dx, dy = x2 - x1, y2 - y1
        t = max(0.0, min(1.0, ((px - x1) * dx + (py - y1) * dy) / (dx * dx + dy * dy)))
        best = min(best, math.hypot(px - (x1 + t * dx), py - (y1 + t * dy)))
    return best


def _assert_org_geometry(seal: SealImage) -> None:
    g: SealGeometry = seal.geometry
    w, h = g.width_px, g.height_px
    assert w == h == round(seal.width_mm * seal.dpi / 25.4)
    cx, cy = g.center
    assert cx == pytest.approx(w / 2) and cy == pytest.approx(h / 2)
    assert g.star_center == g.center
    assert g.ring_outer_radius is not None and g.ring_inner_radius is not None
    assert g.star_radius is not None
    assert g.ring_inner_radius < g.ring_outer_radius <= w / 2
    ring_w_mm = (g.ring_outer_radius - g.ring_inner_radius) / g.px_per_mm
    assert 0.02 * seal.width_mm < ring_w_mm < 0.04 * seal.width_mm
    assert 0.3 < g.star_radius / g.ring_outer_radius < 0.4  # 14 mm star in a 40 mm seal

    star_bottom = cy + g.star_radius * math.cos(math.radians(36))
    for box in g.glyphs:
        for x, y in box.corners:
            assert math.hypot(x - cx, y - cy) < g.ring_inner_radius, box
        if box.role == "center":  # under the star's two lower points
            assert min(y for _, y in box.corners) > star_bottom, box
        else:  # clear of the star's whole circumcircle
            assert _distance_to_poly(g.center, box.corners) > g.star_radius, box
    for i, a in enumerate(g.glyphs):
        for b in g.glyphs[i + 1 :]:
            assert not _overlap(a.corners, b.corners), (a.char, b.char)

    names = [b for b in g.glyphs if b.role == "name"]
    # Upright on the arc: each glyph's up direction points away from the centre.
    for box in names:
        bx, by = box.center
        assert box.rotation_deg == pytest.approx(math.degrees(math.atan2(bx - cx, cy - by)))
    # Read clockwise from the left; all full-width: symmetric about the top and evenly spaced.
    first, last = names[0], names[-1]
    assert first.center[0] < cx < last.center[0]
    if all(ord(b.char) > 0x2E80 for b in names):
        assert first.center[0] + last.center[0] == pytest.approx(w, abs=1e-6)
        assert first.center[1] == pytest.approx(last.center[1], abs=1e-6)
        steps = [math.dist(a.center, b.center) for a, b in zip(names, names[1:], strict=False)]
        assert max(steps) - min(steps) < 1e-6

    alpha = _alpha(seal)
    assert alpha.size == (w, h)
    for corner in ((0, 0), (w - 1, 0), (0, h - 1), (w - 1, h - 1)):
        assert alpha.getpixel(corner) == 0
    r_mid = (g.ring_outer_radius + g.ring_inner_radius) / 2
    r_gap = g.ring_inner_radius - 0.3 * g.px_per_mm  # between the rim and any text
    r_out = g.ring_outer_radius + 2
    for deg in range(0, 360, 5):
        ux, uy = math.sin(math.radians(deg)), -math.cos(math.radians(deg))
        assert alpha.getpixel((round(cx + r_mid * ux), round(cy + r_mid * uy))) == 255
        assert alpha.getpixel((round(cx + r_gap * ux), round(cy + r_gap * uy))) == 0, deg
        if r_out + 1 < w / 2:
            assert alpha.getpixel((round(cx + r_out * ux), round(cy + r_out * uy))) == 0
    assert alpha.getpixel((round(cx), round(cy))) == 255  # the star is solid
    # every glyph left ink inside its own box
    for box in g.glyphs:
        xs = [p[0] for p in box.corners]
        ys = [p[1] for p in box.corners]
        region = alpha.crop((int(min(xs)), int(min(ys)), math.ceil(max(xs)), math.ceil(max(ys))))
        assert region.getextrema()[1] == 255, box.char


def _assert_deterministic(make) -> SealImage:
    a, b = make(), make()
    assert a.png == b.png
    assert a.svg == b.svg
    assert a.pdf == b.pdf
    return a


def _write(name: str, seal: SealImage) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / f"{name}.png").write_bytes(seal.png)
    (OUT / f"{name}.svg").write_bytes(seal.svg)
    (OUT / f"{name}.pdf").write_bytes(seal.pdf)


# ------------------------------------------------------------------------------------------
# fonts


def test_find_cjk_font_styles():
    song = find_cjk_font("song")
    hei = find_cjk_font("hei")
    assert song.is_file() and hei.is_file()
    assert "Sans" in hei.name
    assert "Serif" in song.name or "Sans" in song.name  # Sans is the documented fallback
    with pytest.raises(ValidationError) as err:
        find_cjk_font("kai")
    assert err.value.field == "font"


# ------------------------------------------------------------------------------------------
# organization seals


def test_contract_seal_full_features_deterministic_and_sane():
    seal = _assert_deterministic(
        lambda: render_organization_seal(ORG, center_text="合同专用章", code="3501000012345")
    )
    _write("org_contract", seal)
    assert seal.width_mm == seal.height_mm == 40.0 and seal.dpi == 600
    _assert_org_geometry(seal)
    g = seal.geometry
    roles = [b.role for b in g.glyphs]
    assert roles.count("name") == len(ORG)
    assert roles.count("center") == 5 and roles.count("code") == 13

    star_bottom = g.center[1] + g.star_radius * math.cos(math.radians(36))
    centre = [b for b in g.glyphs if b.role == "center"]
    code = [b for b in g.glyphs if b.role == "code"]
    assert "".join(b.char for b in centre) == "合同专用章"
    assert "".join(b.char for b in code) == "3501000012345"
    for b in centre:
        assert b.rotation_deg == pytest.approx(0.0)
        assert min(y for _, y in b.corners) > star_bottom
    xs = [b.center[0] for b in centre]
    assert xs == sorted(xs)
    assert (xs[0] + xs[-1]) / 2 == pytest.approx(g.center[0])
    # The code runs left to right along the bottom, smaller than the name, below the centre text.
    code_x = [b.center[0] for b in code]
    assert code_x == sorted(code_x)
    assert min(b.center[1] for b in code) > max(b.center[1] for b in centre)
    code_h = math.dist(code[0].corners[0], code[0].corners[3])
    assert code_h < 0.7 * math.dist(centre[0].corners[0], centre[0].corners[3])
    mid = code[len(code) // 2]
    assert mid.center[0] == pytest.approx(g.center[0])
    assert abs(mid.rotation_deg) < 1e-9

    img = Image.open(io.BytesIO(seal.png))
    r, gg, b, a = img.getpixel((round(g.center[0]), round(g.center[1])))
    assert (r, gg, b, a) == (*SEAL_RED, 255)
    assert img.info.get("dpi") is not None and round(img.info["dpi"][0]) == 600


@pytest.mark.parametrize(
    "name", ["印信", "印信科技", ORG, LONG_25, "北" * 40, "ABC印信科技有限公司"]
)
def test_org_names_of_any_length_fit(name):
    seal = render_organization_seal(name, code="3501000012345")
    _assert_org_geometry(seal)


def test_arc_grows_and_long_names_are_squeezed():
    def arc_and_aspect(name):
        g = render_organization_seal(name, dpi=150).geometry
        names = [b for b in g.glyphs if b.role == "name"]
        span = names[-1].rotation_deg - names[0].rotation_deg
        b = names[0]
        width = math.dist(b.corners[0], b.corners[1])
        height = math.dist(b.corners[1], b.corners[2])
        return span, width / height

    spans = [arc_and_aspect(n) for n in ("印信", "印信科技", ORG, LONG_25)]
    assert [s for s, _ in spans] == sorted(s for s, _ in spans)
    assert spans[-1][0] < 290
    assert spans[0][1] == pytest.approx(1.0)
    assert spans[-1][1] < 0.6


def test_samples_and_center_text_variants():
    _write("org_2char", render_organization_seal("印信"))
    _write("org_25char", render_organization_seal(LONG_25))
    _write("org_plain_code", render_organization_seal(ORG, code="3501000012345"))
    finance = render_organization_seal(
        "深圳市前海印信科技有限公司", center_text="财务专用章", font="hei", diameter_mm=42
    )
    _write("org_finance_hei_42mm", finance)
    assert finance.width_mm == 42
    _assert_org_geometry(finance)
    long_centre = render_organization_seal(LONG_25, center_text="合同专用章", code="3501000012345")
    _write("org_25char_contract", long_centre)
    _assert_org_geometry(long_centre)


def _pdftoppm(pdf: bytes, dpi: int, tmp_path: pathlib.Path) -> Image.Image:
    if shutil.which("pdftoppm") is None:
        pytest.skip("pdftoppm (poppler-utils) not installed")
    src = tmp_path / "seal.pdf"
    src.write_bytes(pdf)
    run = subprocess.run(
        ["pdftoppm", "-png", "-r", str(dpi), "-singlefile", str(src), str(tmp_path / "page")],
        capture_output=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
    assert b"Error" not in run.stderr, run.stderr  # poppler reports repaired/broken files here
    with Image.open(tmp_path / "page.png") as page:
        return page.convert("RGB")


def test_pdf_renders_like_the_png(tmp_path):
    seal = render_organization_seal(ORG, center_text="合同专用章", code="3501000012345", dpi=300)
    assert seal.pdf.startswith(b"%PDF-1.4") and seal.pdf.rstrip().endswith(b"%%EOF")
    page = _pdftoppm(seal.pdf, 300, tmp_path)
    w, h = seal.geometry.width_px, seal.geometry.height_px
    assert abs(page.width - w) <= 1 and abs(page.height - h) <= 1  # poppler rounds up
    page = page.crop((0, 0, w, h))
    # red on white: the green channel carries the ink
    from_pdf = ImageChops.invert(page.getchannel("G")).point(lambda v: 255 if v > 127 else 0)
    from_png = _alpha(seal).point(lambda v: 255 if v > 127 else 0)
    diff = ImageChops.difference(from_pdf, from_png)
    # Only anti-aliasing edges may disagree: eroding the difference leaves nothing.
    assert diff.filter(ImageFilter.MinFilter(3)).getbbox() is None
    # ... and the amount of ink agrees (poppler's anti-aliasing differs from ours, not the shapes).

    def ink(mask: Image.Image) -> float:
        return sum(level * count for level, count in enumerate(mask.histogram())) / 255

    pdf_ink = ink(ImageChops.invert(page.getchannel("G")))
    assert pdf_ink == pytest.approx(ink(_alpha(seal)), rel=0.02)


def test_svg_is_vector_paths():
    seal = render_organization_seal(ORG, center_text="合同专用章", code="3501000012345")
    root = ET.fromstring(seal.svg)
    assert root.tag == f"{SVG_NS}svg"
    assert root.get("width") == "40mm" and root.get("viewBox") == "0 0 40 40"
    paths = root.findall(f".//{SVG_NS}path")
    assert len(paths) == 2 + len(seal.geometry.glyphs)  # ring, star, one per glyph
    assert [p.get("class") for p in paths[:2]] == ["ring", "star"]
    assert all(p.get("d", "").startswith("M") for p in paths)
    assert root.find(f".//{SVG_NS}text") is None
    assert root.find(f".//{SVG_NS}image") is None
    chars = "".join(p.get("data-char", "") for p in paths)
    assert chars == ORG + "3501000012345" + "合同专用章"


# ------------------------------------------------------------------------------------------
# personal seals


def _cells(seal):
    return {b.char: b for b in seal.geometry.glyphs}


def _assert_personal(seal: SealImage, border: bool) -> None:
    g = seal.geometry
    assert g.kind == "personal"
    assert g.width_px == g.height_px
    alpha = _alpha(seal)
    w = g.width_px
    boxes = [b.corners for b in g.glyphs]
    for i, a in enumerate(boxes):
        for b in boxes[i + 1 :]:
            assert not _overlap(a, b)
        assert all(0 < x < w and 0 < y < w for x, y in a)
    for corner in ((0, 0), (w - 1, 0), (0, w - 1), (w - 1, w - 1)):
        assert alpha.getpixel(corner) == 0
    if border:
        assert g.border_outer is not None and g.border_inner is not None
        ox0, _, _, _ = g.border_outer
        ix0, iy0, ix1, iy1 = g.border_inner
        mid = (ox0 + ix0) / 2
        for t in (0.1, 0.5, 0.9):
            p = ix0 + t * (ix1 - ix0)
            for xy in ((mid, p), (w - mid, p), (p, mid), (p, w - mid)):
                assert alpha.getpixel((round(xy[0]), round(xy[1]))) == 255
        for box in boxes:  # glyphs sit inside the frame
            assert all(ix0 < x < ix1 and iy0 < y < iy1 for x, y in box)
    else:
        assert g.border_outer is None
        edge = alpha.crop((0, 0, w, 2))
        assert edge.getextrema()[1] == 0


@pytest.mark.parametrize("border", [True, False])
def test_personal_two_chars_side_by_side_right_to_left(border):
    seal = _assert_deterministic(lambda: render_personal_seal("张三", border=border))
    _write(f"personal_zhangsan{'' if border else '_noborder'}", seal)
    _assert_personal(seal, border)
    c = _cells(seal)
    assert c["张"].center[0] > c["三"].center[0]  # surname in the right column
    assert c["张"].center[1] == pytest.approx(c["三"].center[1])
    z = c["张"].corners
    assert math.dist(z[1], z[2]) > 1.5 * math.dist(z[0], z[1])  # tall columns


def test_personal_three_chars_single_and_compound_surname():
    zsf = render_personal_seal("张三丰")
    _write("personal_zhangsanfeng", zsf)
    _assert_personal(zsf, True)
    c = _cells(zsf)
    assert c["三"].center[0] == pytest.approx(c["丰"].center[0])
    assert c["张"].center[0] > c["三"].center[0]
    assert c["三"].center[1] < c["丰"].center[1]
    tall = math.dist(c["张"].corners[1], c["张"].corners[2])
    assert tall > 1.8 * math.dist(c["三"].corners[1], c["三"].corners[2])

    oyx = render_personal_seal("欧阳修")
    _write("personal_ouyangxiu", oyx)
    _assert_personal(oyx, True)
    c = _cells(oyx)
    assert c["欧"].center[0] == pytest.approx(c["阳"].center[0])
    assert c["欧"].center[0] > c["修"].center[0]
    assert c["欧"].center[1] < c["阳"].center[1]


@pytest.mark.parametrize("border", [True, False])
def test_personal_four_chars_grid(border):
    seal = render_personal_seal("司马相如", border=border, size_mm=20)
    _write(f"personal_simaxiangru{'' if border else '_noborder'}", seal)
    _assert_personal(seal, border)
    assert seal.width_mm == 20
    c = _cells(seal)
    # read top-to-bottom, right-to-left
    assert c["司"].center[0] == pytest.approx(c["马"].center[0])
    assert c["相"].center[0] == pytest.approx(c["如"].center[0])
    assert c["司"].center[0] > c["相"].center[0]
    assert c["司"].center[1] < c["马"].center[1]
    assert c["相"].center[1] < c["如"].center[1]
    assert c["司"].center[1] == pytest.approx(c["相"].center[1])
    root = ET.fromstring(seal.svg)
    assert len(root.findall(f".//{SVG_NS}path")) == 4 + (1 if border else 0)


# ------------------------------------------------------------------------------------------
# scans


def _scan_png(size=(480, 400), fmt="PNG", paper=(252, 251, 248)) -> bytes:
    """A red ring drawn anti-aliased (4x then reduced) on off-white paper with faint specks."""
    big = Image.new("RGB", (size[0] * 4, size[1] * 4), paper)
    draw = ImageDraw.Draw(big)
    draw.ellipse((200, 160, 200 + 1200, 160 + 1200), outline=(220, 20, 30), width=60)
    draw.ellipse((700, 660, 900, 860), fill=(220, 20, 30))
    img = big.reduce(4)
    for x in range(5, size[0], 37):  # paper texture, lighter than the cut-off
        img.putpixel((x, 3), (240, 238, 236))
    out = io.BytesIO()
    img.save(out, format=fmt, quality=92) if fmt == "JPEG" else img.save(out, format=fmt)
    return out.getvalue()


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_scan_background_transparent_red_kept(fmt, tmp_path):
    data = _scan_png(fmt=fmt)
    seal = _assert_deterministic(lambda: image_from_scan(data, width_mm=38, dpi=300))
    _write(f"scan_{fmt.lower()}", seal)
    img = Image.open(io.BytesIO(seal.png))
    assert img.mode == "RGBA"
    w, h = img.size
    assert w == round(38 * 300 / 25.4)
    assert abs(h - w) <= 3  # cropped to the circle
    assert seal.width_mm == 38 and seal.height_mm == pytest.approx(h / w * 38)
    for corner in ((0, 0), (w - 1, 0), (0, h - 1), (w - 1, h - 1)):
        assert img.getpixel(corner)[3] == 0
    assert img.getpixel((w // 2, h // 4))[3] == 0  # paper inside the ring
    r, g, b, a = img.getpixel((w // 2, h // 2))  # the solid dot in the middle
    assert a == 255 and r > 190 and g < 60 and b < 70
    ring = img.getpixel((w // 2, 6))
    assert ring[3] == 255 and ring[0] > 190 and ring[1] < 60
    alphas = set(img.getchannel("A").tobytes())
    assert any(0 < v < 255 for v in alphas)  # anti-aliased edges keep partial alpha
    ET.fromstring(seal.svg)
    assert seal.pdf.startswith(b"%PDF-1.4")
    page = _pdftoppm(seal.pdf, 300, tmp_path)
    assert abs(page.width - w) <= 1 and abs(page.height - h) <= 1
    assert page.getpixel((0, 0)) == (255, 255, 255)  # transparent over the white page
    pr, pg, pb = page.getpixel((page.width // 2, page.height // 2))
    assert pr > 190 and pg < 60 and pb < 70


def test_scan_refusals():
    def refused(data, field="image", **kw):
        with pytest.raises(ValidationError) as err:
            image_from_scan(data, **kw)
        assert err.value.field == field
        return err.value

    refused(b"")
    refused(b"this is not an image at all")
    refused(_scan_png()[:200])  # truncated
    gif = io.BytesIO()
    Image.new("RGB", (200, 200), "red").save(gif, format="GIF")
    refused(gif.getvalue())
    tiny = io.BytesIO()
    Image.new("RGB", (30, 30), "red").save(tiny, format="PNG")
    refused(tiny.getvalue())
    blank = io.BytesIO()
    Image.new("RGB", (300, 300), (250, 250, 250)).save(blank, format="PNG")
    assert "blank" in refused(blank.getvalue()).message
    speck = Image.new("RGB", (300, 300), "white")
    ImageDraw.Draw(speck).ellipse((100, 100, 110, 110), fill="red")
    buf = io.BytesIO()
    speck.save(buf, format="PNG")
    refused(buf.getvalue())
    refused(_scan_png(), field="width_mm", width_mm=0)
    refused(_scan_png(), field="dpi", dpi=5)


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG that says it is ``width`` x ``height`` (its pixels never decoded in the test)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * (width * 3 + 1))  # one row: the rest is missing
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


@pytest.mark.parametrize("side", [5000, 20000, 60000])
def test_a_scan_of_too_many_pixels_is_refused_as_too_large_not_as_unreadable(side):
    """A scan over 4000x4000 pixels was refused with the limit only up to Pillow's own bomb
    limit (~13,000 px square): a larger one (a 600 dpi scan of a sheet) was "not a readable PNG
    or JPEG image", as if the file were broken. Now any of them names the pixel limit."""
    with pytest.raises(ValidationError) as err:
        image_from_scan(_png_header_only(side, side))
    assert err.value.field == "image"
    assert "at most 4000x4000 pixels" in err.value.message, err.value.message


# ------------------------------------------------------------------------------------------
# refusals


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"name": ""}, "name"),
        ({"name": "   "}, "name"),
        ({"name": "印"}, "name"),
        ({"name": "北" * 41}, "name"),
        ({"name": "印信 科技"}, "name"),
        ({"name": "印信\U0001f600"}, "name"),
        ({"name": ORG, "diameter_mm": 19.9}, "diameter_mm"),
        ({"name": ORG, "diameter_mm": 81}, "diameter_mm"),
        ({"name": ORG, "diameter_mm": float("nan")}, "diameter_mm"),
        ({"name": ORG, "dpi": 10}, "dpi"),
        ({"name": ORG, "font": "kai"}, "font"),
        ({"name": ORG, "center_text": ""}, "center_text"),
        ({"name": ORG, "center_text": "章" * 13}, "center_text"),
        ({"name": ORG, "code": "编码"}, "code"),
        ({"name": ORG, "code": "1" * 25}, "code"),
    ],
)
def test_organization_refusals(kwargs, field):
    name = kwargs.pop("name")
    with pytest.raises(ValidationError) as err:
        render_organization_seal(name, **kwargs)
    assert err.value.field == field


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"name": "张"}, "name"),
        ({"name": "张三丰四五"}, "name"),
        ({"name": ""}, "name"),
        ({"name": "张三", "size_mm": 5}, "size_mm"),
        ({"name": "张三", "size_mm": 61}, "size_mm"),
        ({"name": "张三", "dpi": 5000}, "dpi"),
        ({"name": "张三", "font": "fangsong"}, "font"),
    ],
)
def test_personal_refusals(kwargs, field):
    name = kwargs.pop("name")
    with pytest.raises(ValidationError) as err:
        render_personal_seal(name, **kwargs)
    assert err.value.field == field
