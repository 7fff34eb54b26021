"""The service desk's paper: the service record (运维服务记录单) and the monthly and yearly
service reports (运维总结报告, 003 第三条（一）6), as Chinese A4 PDFs.

They are drawn with the verification report's font machinery (``yinxin.pdf.report``: a subset
of Noto Sans CJK embedded with a ToUnicode map), so every font is embedded and ``pdftotext``
gets the Chinese back — which is also how the sign flow finds the anchors "甲方（签章）" and
"乙方（签章）" on the record.

A report counts what 003 asks to be accounted for: each request with its response and on-site
times on the running clock (pauses while waiting on 甲方 left out), the breaches and how late,
the monthly inspections (按月巡检) done and missed, and the penalties: 5‰ of the monthly fee
(one twelfth of the yearly fee) for each breach, rounded half up to the fen per breach and then
added up, so the total is always the per-breach figure times the number of breaches.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from io import BytesIO

from yinxin.clock import BEIJING
from yinxin.contracts.desk_views import DeskContractView, InspectionView, RequestView
from yinxin.errors import ValidationError
from yinxin.results import from_row

CHANNELS = {"phone": "电话", "web": "网络", "on_site": "现场"}
SEVERITIES = {"low": "低", "normal": "一般", "high": "高", "critical": "紧急"}
STATES = {
    "open": "待响应",
    "responded": "已响应",
    "on_site": "已到场",
    "resolved": "已解决",
    "record_signed": "记录单已签署",
    "cancelled": "已取消",
}
KINDS = {"response": "响应超时", "on_site": "到场超时"}
INSPECTION = {
    "done": "已巡检",
    "missed": "未巡检",
    "not_due": "本月未结束",
    "outside": "不在合同期内",
}


def _t(t: dt.datetime | None) -> str:
    return "—" if t is None else t.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M")


PROVISIONAL_NOTE = (
    "标“推定”的通知日：当年国务院办公厅节假日安排尚未载入，是否工作日暂按周一至周五推定"
    "（元旦、劳动节、国庆节的固定假日除外），"
    "响应时限随之确定；安排载入后由系统自动复核，时限与超时据实更正并记入审计日志。"
)


def _day_kind(r: RequestView) -> str:
    """工作日 or 非工作日, and whether the weekday rule decided it (no calendar yet)."""
    kind = "工作日" if r.notice_workday else "非工作日"
    return kind + ("，推定" if r.notice_workday_provisional else "")


def _dur(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    m = int(round(seconds / 60))
    h, m = divmod(m, 60)
    return f"{h} 小时 {m} 分" if h else f"{m} 分"


def _yuan(d: Decimal) -> str:
    return f"¥{d:,.2f}"


# --- periods ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Period:
    """A calendar month (``2026-10``) or year (``2026``) in Beijing time."""

    label: str
    start: dt.datetime
    end: dt.datetime  # exclusive
    months: tuple[str, ...]

    @property
    def yearly(self) -> bool:
        return len(self.months) == 12


def parse_period(text: str) -> Period:
    """``YYYY-MM`` (a month) or ``YYYY`` (a year); anything else is refused naming ``period``."""
    s = str(text or "").strip()
    try:
        if not s.isascii():  # isdigit() took ２０２６ and ٢٠٢٦, months no inspection is filed under
            raise ValueError(s)
        if len(s) == 4 and s.isdigit():
            y = int(s)
            start, end = (
                dt.datetime(y, 1, 1, tzinfo=BEIJING),
                dt.datetime(y + 1, 1, 1, tzinfo=BEIJING),
            )
            months = tuple(f"{y:04d}-{m:02d}" for m in range(1, 13))
        elif len(s) == 7 and s[4] == "-" and s[:4].isdigit() and s[5:].isdigit():
            y, m = int(s[:4]), int(s[5:])
            start = dt.datetime(y, m, 1, tzinfo=BEIJING)
            end = dt.datetime(y + (m == 12), m % 12 + 1, 1, tzinfo=BEIJING)
            months = (s,)
        else:
            raise ValueError(s)
        if not 2000 <= start.year <= 2200:
            raise ValueError(s)
    except ValueError:
        raise ValidationError("the period must be YYYY-MM or YYYY", field="period") from None
    return Period(s, start.astimezone(dt.UTC), end.astimezone(dt.UTC), months)


# --- the report -----------------------------------------------------------------------------
@dataclass(frozen=True)
class ReportLine:
    id: int
    notice_at: dt.datetime
    notice_workday: bool
    notice_workday_provisional: bool
    channel: str
    severity: str
    description: str
    state: str
    response_minutes: float | None
    response_budget_minutes: int
    on_site_minutes: float | None
    on_site_budget_minutes: int | None
    paused_minutes: float
    breaches: tuple[tuple[str, int, bool], ...]  # (kind, late seconds, final)


@dataclass(frozen=True)
class MonthLine:
    """One month of a yearly report."""

    month: str
    requests: int
    breaches: int
    penalty: Decimal
    inspection: str  # done | missed | not_due (month not over) | outside (the contract's period)


@dataclass(frozen=True)
class ServiceReport:
    contract: DeskContractView
    period: str
    yearly: bool
    generated_at: dt.datetime
    requests: tuple[ReportLine, ...]
    responded_in_time: int
    responded_late: int
    unanswered: int
    average_response_minutes: float | None
    breaches: int
    penalty_per_breach: Decimal
    penalty_total: Decimal
    inspections: tuple[InspectionView, ...]
    inspections_missed: tuple[str, ...]  # months over, within the contract, with no inspection
    months: tuple[MonthLine, ...]  # each month of the period


def build_report(
    contract: DeskContractView,
    period: Period,
    requests: list[RequestView],
    inspections: list[InspectionView],
    now: dt.datetime,
) -> ServiceReport:
    """The figures of one period, from the requests noticed in it and its inspections."""
    lines = []
    in_time = late = unanswered = breaches = 0
    times = []
    for r in requests:
        paused = sum(((p.ended_at or now) - p.started_at).total_seconds() / 60 for p in r.pauses)
        kinds = tuple((str(b.kind), b.late_seconds, b.final) for b in r.breaches)
        breaches += len(kinds)
        if r.response_minutes is None:
            if r.state != "cancelled":
                unanswered += 1
        elif any(k == "response" for k, _, _ in kinds):
            late += 1
        else:
            in_time += 1
        if r.response_minutes is not None:
            times.append(r.response_minutes)
        lines.append(
            from_row(
                ReportLine,
                r,
                state=str(r.state),
                paused_minutes=round(paused, 1),
                breaches=kinds,
            )
        )
    done = {i.month for i in inspections}
    current = now.astimezone(BEIJING).strftime("%Y-%m")
    first = contract.starts_on.strftime("%Y-%m")
    last = contract.ends_on.strftime("%Y-%m")
    missed = tuple(m for m in period.months if first <= m <= last and m < current and m not in done)
    month_lines = []
    for m in period.months:
        in_month = [x for x in lines if x.notice_at.astimezone(BEIJING).strftime("%Y-%m") == m]
        n = sum(len(x.breaches) for x in in_month)
        if not first <= m <= last:
            state = "outside"
        elif m in done:
            state = "done"
        elif m < current:
            state = "missed"
        else:
            state = "not_due"
        month_lines.append(MonthLine(m, len(in_month), n, contract.penalty_per_breach * n, state))
    return ServiceReport(
        contract=contract,
        period=period.label,
        yearly=period.yearly,
        generated_at=now,
        requests=tuple(lines),
        responded_in_time=in_time,
        responded_late=late,
        unanswered=unanswered,
        average_response_minutes=round(sum(times) / len(times), 1) if times else None,
        breaches=breaches,
        penalty_per_breach=contract.penalty_per_breach,
        penalty_total=contract.penalty_per_breach * breaches,
        inspections=tuple(inspections),
        inspections_missed=missed,
        months=tuple(month_lines),
    )


# --- drawing ------------------------------------------------------------------------------------
class _Doc:
    """A4 pages filled top to bottom, a new page when the next block does not fit; a footer
    with the page number on each. The same few blocks as the evidence report."""

    def __init__(self, title: str):
        from pyhanko.pdf_utils.writer import PdfFileWriter

        from yinxin.pdf.report import A4, MARGIN, _Fonts

        self.w = PdfFileWriter()
        self.w.document_meta.title = title
        self.w.document_meta.creator = "Yinxin 印信"
        self.fonts = _Fonts(self.w)
        self.page_w, self.page_h = A4
        self.margin = MARGIN
        self.x0, self.width = MARGIN, self.page_w - 2 * MARGIN
        self.pages: list[list[bytes]] = []
        self.c = None
        self.y = 0.0

    def new_page(self) -> None:
        from yinxin.pdf.report import _Canvas

        self.c = _Canvas(self.fonts, [])
        self.pages.append(self.c.ops)
        self.y = self.page_h - self.margin

    def need(self, h: float):
        if self.c is None or self.y - h < self.margin + 20:
            self.new_page()
        return self.c

    def title(self, text: str, sub: str) -> None:
        c = self.need(60)
        f = self.fonts
        c.text(
            self.x0 + (self.width - f.width(text, "B", 20)) / 2,
            self.y - 20,
            text,
            size=20,
            face="B",
        )
        c.text(
            self.x0 + (self.width - f.width(sub, "R", 10)) / 2,
            self.y - 36,
            sub,
            size=10,
            color=(0.3, 0.3, 0.3),
        )
        self.y -= 46
        c.line(self.x0, self.y, self.x0 + self.width, self.y)
        self.y -= 6

    def heading(self, text: str, size: float = 12) -> None:
        c = self.need(size * 2.6)
        self.y -= size * 1.6
        c.text(self.x0, self.y, text, size=size, face="B")
        self.y -= size * 0.8

    def para(self, text: str, size: float = 9, color=(0, 0, 0)) -> None:
        from yinxin.pdf.report import _wrap

        for ln in _wrap(self.fonts, text, "R", size, self.width):
            c = self.need(size * 1.4)
            self.y -= size * 1.4
            c.text(self.x0, self.y, ln, size=size, color=color)

    def table(self, rows: list[tuple[str, str]], size: float = 9.0, label_w: float = 110) -> None:
        from yinxin.pdf.report import GREY_FILL, PAD, _wrap

        lead = size * 1.35
        for label, value in rows:
            vlines = _wrap(self.fonts, value, "R", size, self.width - label_w - 2 * PAD)
            llines = _wrap(self.fonts, label, "R", size, label_w - 2 * PAD)
            h = max(len(vlines), len(llines)) * lead + 2 * PAD
            c = self.need(h)
            y = self.y
            c.rect(self.x0, y - h, label_w, h, fill=GREY_FILL)
            c.rect(self.x0 + label_w, y - h, self.width - label_w, h)
            base = y - PAD - size
            for i, ln in enumerate(llines):
                c.text(self.x0 + PAD, base - i * lead, ln, size=size, color=(0.2, 0.2, 0.2))
            for i, ln in enumerate(vlines):
                c.text(self.x0 + label_w + PAD, base - i * lead, ln, size=size)
            self.y = y - h
        self.y -= 6

    def grid(self, header: list[str], rows: list[list[str]], widths: list[float], size=7.5) -> None:
        """A table of columns (widths as fractions of the text width), header repeated on
        each new page."""
        from yinxin.pdf.report import GREY_FILL, PAD, _wrap

        lead = size * 1.3
        cols = [w * self.width for w in widths]

        def draw(cells: list[str], fill=None) -> None:
            wrapped = [
                _wrap(self.fonts, cell, "R", size, cw - 2 * PAD)
                for cell, cw in zip(cells, cols, strict=True)
            ]
            h = max(len(x) for x in wrapped) * lead + 2 * PAD
            fresh = self.c is None or self.y - h < self.margin + 20
            c = self.need(h)
            if fresh and fill is None:
                draw(header, GREY_FILL)
                c = self.c
            x = self.x0
            for lines, cw in zip(wrapped, cols, strict=True):
                c.rect(x, self.y - h, cw, h, fill=fill)
                for i, ln in enumerate(lines):
                    c.text(x + PAD, self.y - PAD - size - i * lead, ln, size=size)
                x += cw
            self.y -= h

        draw(header, GREY_FILL)
        for row in rows:
            draw(row)
        self.y -= 6

    def signatures(self, left: str, right: str, date_line: str) -> None:
        """Two signature blocks side by side: the anchor text ("乙方（签章）：") with room
        below and to the right for the seal, which the signer's flow centres on it."""
        c = self.need(170)  # a 40 mm seal is centred on the anchor: 57 pt above and below
        self.y -= 75
        for x, label in ((self.x0, left), (self.x0 + self.width / 2, right)):
            c.text(x, self.y, label, size=12)
            c.text(x, self.y - 80, date_line, size=10)
        self.y -= 95

    def finish(self, footer: str) -> bytes:
        from pyhanko.pdf_utils import generic
        from pyhanko.pdf_utils.generic import pdf_name
        from pyhanko.pdf_utils.writer import PageObject

        from yinxin.pdf.report import _Canvas

        total = len(self.pages)
        for i, ops in enumerate(self.pages, 1):
            _Canvas(self.fonts, ops).text(
                self.x0,
                self.margin - 18,
                f"{footer} · 第 {i}/{total} 页",
                size=7,
                color=(0.45, 0.45, 0.45),
            )
        res = generic.DictionaryObject({pdf_name("/Font"): self.fonts.resources()})
        for ops in self.pages:
            stream = generic.StreamObject(stream_data=b"\n".join(ops))
            stream.compress()
            self.w.insert_page(
                PageObject(self.w.add_object(stream), (0, 0, self.page_w, self.page_h), res)
            )
        out = BytesIO()
        self.w.write(out)
        return out.getvalue()


def _request_rows(r: RequestView) -> list[tuple[str, str]]:
    pauses = "；".join(
        f"{_t(p.started_at)} 至 {_t(p.ended_at) if p.ended_at else '（进行中）'}：{p.reason}"
        for p in r.pauses
    )
    breaches = "；".join(
        f"{KINDS.get(str(b.kind), str(b.kind))} {_dur(b.late_seconds)}"
        + ("" if b.final else "（仍未履行）")
        for b in r.breaches
    )
    return [
        ("服务请求编号", f"#{r.id}"),
        ("报修方式", CHANNELS.get(r.channel, r.channel)),
        ("紧急程度", SEVERITIES.get(r.severity, r.severity)),
        ("报修人", r.reported_by),
        ("通知时间", f"{_t(r.notice_at)}（{_day_kind(r)}）"),
        ("故障描述", r.description),
        (
            "响应时限",
            f"{r.response_budget_minutes // 60} 小时，截止 {_t(r.response_due)}",
        ),
        ("响应时间", f"{_t(r.responded_at)}（用时 {_dur(_secs(r.response_minutes))}）"),
        (
            "到场要求",
            f"{r.on_site_budget_minutes // 60} 小时内到场，截止 {_t(r.on_site_due)}"
            if r.on_site_budget_minutes
            else "无需到场（远程维护）",
        ),
        (
            "到场时间",
            f"{_t(r.on_site_at)}"
            + (f"（用时 {_dur(_secs(r.on_site_minutes))}）" if r.on_site_at else ""),
        ),
        ("等待甲方（计时暂停）", pauses or "无"),
        ("解决时间", _t(r.resolved_at)),
        ("处理结果", r.resolution or "—"),
        ("超时情况", breaches or "无，均在约定时限内"),
    ]


def _secs(minutes: float | None) -> float | None:
    return None if minutes is None else minutes * 60


def render_service_record(
    contract: DeskContractView, r: RequestView, *, generated_at: dt.datetime
) -> bytes:
    """The 运维服务记录单 of one request, with the anchors "乙方（签章）" and "甲方（签章）"."""
    d = _Doc(f"运维服务记录单 #{r.id} — {contract.number}")
    d.title("运维服务记录单", f"Service record #{r.id} · 合同编号 {contract.number}")
    d.heading("一、合同")
    d.table(
        [
            ("合同", f"{contract.title}（{contract.number}）"),
            ("甲方", contract.party_a),
            ("乙方", contract.party_b),
        ]
    )
    d.heading("二、服务内容")
    d.table(_request_rows(r))
    d.heading("三、双方确认")
    d.para(
        "依据合同第三条（三）1，本记录单经甲、乙双方签字认可。乙方确认上述服务已完成；"
        "甲方确认服务结果及上列时间属实。",
        size=9,
    )
    d.signatures("乙方（签章）：", "甲方（签章）：", "日期：      年    月    日")
    return d.finish(f"印信 Yinxin · 生成于 {_t(generated_at)}")


def render_report_pdf(report: ServiceReport) -> bytes:
    """The monthly or yearly service report."""
    c = report.contract
    kind = "年度" if report.yearly else "月度"
    d = _Doc(f"运维服务{kind}报告 {report.period} — {c.number}")
    d.title(f"运维服务{kind}报告", f"O&M service report {report.period} · 合同编号 {c.number}")
    d.heading("一、合同与期间")
    d.table(
        [
            ("合同", f"{c.title}（{c.number}）"),
            ("甲方", c.party_a),
            ("乙方", c.party_b),
            ("报告期间", report.period),
            (
                "服务承诺",
                f"工作日 {c.workday_response_hours} 小时内响应，非工作日 "
                f"{c.other_response_hours} 小时内响应，需到场的 {c.on_site_hours} 小时内到场；"
                "365 天×24 小时电话支持，计时按自然小时（等待甲方期间暂停）",
            ),
            (
                "运维费",
                f"每年 {_yuan(c.annual_fee)}，每月 {_yuan(c.monthly_fee)}",
            ),
        ]
    )
    d.heading("二、汇总")
    avg = report.average_response_minutes
    d.table(
        [
            ("服务请求", f"{len(report.requests)} 件"),
            ("按时响应", f"{report.responded_in_time} 件"),
            ("超时响应", f"{report.responded_late} 件"),
            ("尚未响应", f"{report.unanswered} 件"),
            ("平均响应用时", _dur(_secs(avg))),
            ("超时（违约）次数", f"{report.breaches} 次"),
            (
                "违约金",
                f"{report.breaches} 次 × {_yuan(report.penalty_per_breach)}"
                f"（每月运维费的千分之五）= {_yuan(report.penalty_total)}",
            ),
            (
                "按月巡检",
                f"已巡检 {len(report.inspections)} 次"
                + (
                    f"；未巡检月份：{'、'.join(report.inspections_missed)}"
                    if report.inspections_missed
                    else ""
                ),
            ),
        ]
    )
    if report.yearly:
        d.heading("各月情况")
        d.grid(
            ["月份", "服务请求", "超时次数", "违约金", "按月巡检"],
            [
                [
                    m.month,
                    f"{m.requests} 件",
                    f"{m.breaches} 次",
                    _yuan(m.penalty),
                    INSPECTION.get(m.inspection, m.inspection),
                ]
                for m in report.months
            ],
            [0.16, 0.18, 0.18, 0.2, 0.28],
            size=8,
        )
    d.heading("三、服务请求明细")
    if report.requests:
        d.grid(
            ["编号", "通知时间", "方式", "描述", "状态", "响应用时/时限", "到场用时/时限", "超时"],
            [
                [
                    f"#{x.id}",
                    _t(x.notice_at)
                    + ("" if x.notice_workday else " 非工作日")
                    + (" 推定" if x.notice_workday_provisional else ""),
                    CHANNELS.get(x.channel, x.channel),
                    x.description[:80],
                    STATES.get(x.state, x.state),
                    f"{_dur(_secs(x.response_minutes))} / {x.response_budget_minutes // 60} 小时",
                    (
                        f"{_dur(_secs(x.on_site_minutes))} / {x.on_site_budget_minutes // 60} 小时"
                        if x.on_site_budget_minutes
                        else "—"
                    ),
                    "；".join(
                        f"{KINDS.get(k, k)} {_dur(s)}" + ("" if f else "（进行中）")
                        for k, s, f in x.breaches
                    )
                    or "无",
                ]
                for x in report.requests
            ],
            [0.05, 0.14, 0.05, 0.22, 0.12, 0.15, 0.14, 0.13],
        )
        if any(x.notice_workday_provisional for x in report.requests):
            d.para(PROVISIONAL_NOTE, size=8)
    else:
        d.para("本期间无服务请求。")
    d.heading("四、按月巡检记录")
    if report.inspections:
        d.grid(
            ["月份", "巡检时间", "巡检人", "系统运行情况记录"],
            [[i.month, _t(i.performed_at), i.inspector, i.findings] for i in report.inspections],
            [0.1, 0.18, 0.14, 0.58],
        )
    else:
        d.para("本期间无巡检记录。")
    d.heading("五、违约金计算说明")
    d.para(
        f"依据合同第十条（二）1，每次超时按每月运维价格的千分之五计违约金：每月运维价格为年费 "
        f"{_yuan(c.annual_fee)} ÷ 12；每次违约金 = 年费 ÷ 12 × 0.005，四舍五入到分，为 "
        f"{_yuan(report.penalty_per_breach)}；合计 = 每次违约金 × 次数 = "
        f"{_yuan(report.penalty_total)}。",
        size=8.5,
    )
    return d.finish(f"印信 Yinxin · 生成于 {_t(report.generated_at)}")
