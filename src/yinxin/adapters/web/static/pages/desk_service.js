// The O&M service desk (运维服务台, contract 003): contracts under service, notices and their
// clocks, the steps of each request, inspections and the monthly/yearly report — all through
// /api/v1/desk/… (unscoped staff only). A contract entered by hand has its 甲方/乙方 corrected
// here (更正当事人, POST /desk/contracts/{number}/correct).
import {
  ApiError, FIELD_LABELS, MESSAGES, allItems, api, bindButton, bindForm, el, emptyRow, fmtTime, messageFor, requireSession, saveBlob, toast,
  whileBusy,
} from "/static/api.js";
import { facts, pagedListing } from "/static/pages/common.js";

const session = await requireSession("staff");
// who may correct a contract's parties: the roles the API's desk_staff admits, unscoped
// (an integration key is never a browser session)
const mayCorrect = ["administrator", "ra_officer"].includes(session.role) && session.organization_id == null;
Object.assign(FIELD_LABELS, { party_a: "甲方", party_b: "乙方" });
const STATES = {
  open: "待响应", responded: "已响应", on_site: "已到场", resolved: "已解决",
  record_signed: "记录单已签署", cancelled: "已取消",
};
const KINDS = { response: "响应超时", on_site: "到场超时" };
const select = document.getElementById("contract");
let contracts = [];
const correctForm = document.getElementById("correct-form");
let correcting = null; // the contract whose names the correction form was filled with

// a datetime-local value as ISO 8601 with the browser's own offset (the API refuses a time
// without one)
function withOffset(local) {
  if (!local) return null;
  const d = new Date(local);
  const m = -d.getTimezoneOffset();
  const p = (x) => String(Math.floor(Math.abs(x))).padStart(2, "0");
  return `${local.length === 16 ? local + ":00" : local}${m >= 0 ? "+" : "-"}${p(m / 60)}:${p(m % 60)}`;
}

const late = (s) => `${Math.floor(s / 3600)} 小时 ${Math.floor((s % 3600) / 60)} 分`;

function actions(r) {
  const b = (text, run, busyText = "正在办理…") => {
    const btn = el("button", { type: "button", class: "btn small secondary", text });
    // one step per click: the button is off, saying so, while its step runs, so a double click
    // (or a click while a prompt is open) does not send the step a second time
    btn.addEventListener("click", () => whileBusy(btn, busyText, async () => {
      try { await run(); await refresh(r.id); } catch (e) {
        toast(e instanceof ApiError ? messageFor(e) : MESSAGES.internal, "error");
      }
    }));
    return btn;
  };
  const post = (verb, json = {}) => api("POST", `/desk/requests/${r.id}/${verb}`, { json });
  const out = [];
  const live = ["open", "responded", "on_site"].includes(r.state);
  if (live && r.clock === "running") {
    if (r.state === "open") out.push(b("响应", () => post("respond")));
    if (r.state !== "on_site") out.push(b("到场", () => post("arrive")));
    // only while a commitment is unmet: once answered (and on site, if asked) nothing is timed
    if (r.commitments_pending) out.push(b("暂停（等待甲方）", () => {
      const reason = prompt("等待甲方什么？");
      return reason ? post("pause", { reason }) : null;
    }));
  }
  if (live && r.clock === "paused") out.push(b("恢复计时", () => post("resume")));
  if (["responded", "on_site"].includes(r.state) && r.clock === "running") {
    out.push(b("解决", () => {
      const resolution = prompt("处理结果");
      return resolution ? post("resolve", { resolution }) : null;
    }));
  }
  if (r.state === "resolved") {
    out.push(b(r.record_flow_id ? "重新发起签署" : "发起记录单签署", async () => {
      // null when the prompt is cancelled: the officer chose not to go on, said nothing
      const ask = (who) => {
        const typed = prompt(`${who}签署人：用户编号:印章（编号或印章编码），如 3:11010800123456`);
        if (typed === null) return null;
        const m = typed.trim().match(/^(\d+):(\S+)$/);
        // said as the API's refusals are (a plain Error has no problem for messageFor to read)
        if (!m) throw new ApiError(422, { code: "explained", detail: `${who}签署人格式应为 用户编号:印章，如 3:11010800123456` });
        return { subscriber_id: Number(m[1]), seal: /^\d{1,9}$/.test(m[2]) ? Number(m[2]) : m[2] };
      };
      const party_b = ask("乙方");
      if (!party_b) return;
      const party_a = ask("甲方");
      if (!party_a) return;
      const sent = await api("POST", `/desk/requests/${r.id}/record-flow`, { json: { party_a, party_b } });
      const box = document.getElementById("links");
      box.hidden = false;
      box.replaceChildren(
        el("p", { text: `记录单 #${r.id} 已发起签署（流程 ${sent.flow.flow.id}）。签署链接只显示这一次，请交给各签署人：` }),
        ...sent.flow.links.map((l) => el("p", {}, el("strong", { text: `${l.role}：` }), el("code", { text: l.url }))),
      );
    }));
  }
  if (["resolved", "record_signed"].includes(r.state)) {
    const signed = r.state === "record_signed";
    out.push(b(signed ? "已签记录单" : "记录单", async () => {
      const blob = await api("GET", `/desk/requests/${r.id}/${signed ? "record-signed" : "record"}.pdf`);
      saveBlob(blob, `service-record-${r.id}.pdf`);
    }, "正在下载…"));
  }
  return out;
}

function row(r) {
  const breaches = r.breaches.map((x) => `${KINDS[x.kind]} ${late(x.late_seconds)}${x.final ? "" : "（进行中）"}`).join("；");
  return el("tr", { "data-id": String(r.id) },
    el("td", { class: "num", text: `#${r.id}` }),
    el("td", {
      text: `${fmtTime(r.notice_at)}${r.notice_workday ? "" : "（非工作日）"}`
        + (r.notice_workday_provisional ? "（是否工作日暂按周一至周五推定，元旦、劳动节、国庆节的固定假日除外，待当年节假日安排载入后复核）" : ""),
    }),
    el("td", { text: r.description }),
    el("td", { text: STATES[r.state] + (r.clock === "paused" ? "（暂停计时）" : "") }),
    el("td", { text: r.response_due ? fmtTime(r.response_due) : "暂停中" }),
    el("td", { text: r.on_site_requested ? (r.on_site_due ? fmtTime(r.on_site_due) : "暂停中") : "—" }),
    el("td", { class: breaches ? "error" : "muted", text: breaches || "无" }),
    el("td", {}, ...actions(r)),
  );
}

async function load() {
  const c = contracts.find((x) => x.number === select.value);
  if (!c) {
    document.querySelector("#requests tbody").replaceChildren(
      emptyRow(8, "尚无运维合同：纳入上方已签署的运维服务合同，或用 yinxin desk contract-add 登记"),
    );
    document.getElementById("more").hidden = true;
    return;
  }
  facts(document.getElementById("contract-facts"), [
    ["合同", `${c.title}（${c.number}）`], ["甲方", c.party_a], ["乙方", c.party_b],
    ["年费", `¥${c.annual_fee}`], ["每次超时违约金", `¥${c.penalty_per_breach}`],
  ]);
  fillCorrection(c);
  await listing();
}

// the contract's requests by notice time, newest first — the ones an officer works on — 50 at
// a time (加载更多 for older ones): the list read the first 200 and stopped without a word, so
// a contract with more never showed its newest; paged oldest first, they came pages down
const listing = pagedListing({
  path: "/desk/requests", query: () => ({ contract: select.value, order: "newest" }), table: "requests",
  empty: "暂无服务请求", row,
});

// a request read again after a step on it, in its place: reloading the list from its first
// page would lose the officer's place further down
async function refresh(id) {
  const shown = document.querySelector(`#requests tbody tr[data-id="${id}"]`);
  const r = await api("GET", `/desk/requests/${id}`);
  if (shown) shown.replaceWith(row(r));
  else await load();
}

// The correction form, for a contract entered by hand (an adopted one's names are the signed
// contract's): filled with its names when another contract is shown, not at every reload of
// the requests, which would undo what the officer is typing.
function fillCorrection(c) {
  document.getElementById("correct").hidden = !mayCorrect || c.contract_id !== null;
  if (correcting === c.number) return;
  correcting = c.number;
  correctForm.reset();
  correctForm.elements.party_a.value = c.party_a;
  correctForm.elements.party_b.value = c.party_b;
}

// A refusal of the correction said for what it is: the generic 当前状态下不能办理此操作 says
// nothing of the record in a sign flow that stands in the way.
function correctionRefused(e) {
  if (!(e instanceof ApiError) || e.code !== "illegal_transition") return e;
  const adopted = /adopted from the template library/.test(e.problem.detail || "");
  return new ApiError(e.status, {
    code: "explained",
    field: e.field,
    detail: adopted
      ? "该合同由合同库中已签署的合同纳入服务，当事人以签署的合同为准，不能在此更正"
      : "该合同已有运维服务记录单在签署中或已签署，记录单载有现有名称，不能更正当事人",
  });
}

// the contracts under service, in the selector (keeping the choice, or choosing `number`)
async function loadContracts(number = select.value) {
  contracts = await allItems("/desk/contracts");
  select.replaceChildren(...contracts.map((c) => el("option", { value: c.number, text: `${c.number} ${c.title}` })));
  if (!contracts.length) select.append(el("option", { value: "", text: "尚无运维合同" }));
  if (contracts.some((c) => c.number === number)) select.value = number;
}

// signed O&M contracts of the template library that no clock watches yet: one click each
async function loadAdoptable() {
  const rows = await allItems("/desk/contracts/adoptable"); // every page, oldest first
  document.getElementById("adoptable").hidden = !rows.length;
  document.querySelector("#adoptable-table tbody").replaceChildren(...rows.map((a) => {
    const btn = el("button", { type: "button", class: "btn small", text: "纳入服务" });
    // off, saying so, while the contract is adopted: a double click is one request
    btn.addEventListener("click", () => whileBusy(btn, "正在纳入…", async () => {
      try {
        const c = await api("POST", "/desk/contracts/adopt", { json: { number: a.number } });
        toast(`${c.number} 已纳入运维服务：工作日 ${c.workday_response_hours} 小时、其他日子 ${c.other_response_hours} 小时内响应`);
        await Promise.all([loadContracts(c.number), loadAdoptable()]);
        await load();
      } catch (e) {
        toast(messageFor(e), "error");
      }
    }));
    return el("tr", { "data-number": a.number },
      el("td", { text: a.number }), el("td", { text: a.title }), el("td", { text: a.party_a }),
      el("td", { text: a.party_b }), el("td", { text: a.signed_at ? fmtTime(a.signed_at) : "—" }),
      el("td", {}, btn));
  }));
}

await Promise.all([loadContracts(), loadAdoptable()]);
select.addEventListener("change", () => load());
// off, saying so, while the check runs: a double click is one check (a second's 新标记超时 0 项
// would replace the count of what the first flagged)
// (rendered off: on only from here, once bound)
bindButton(document.getElementById("sweep"), "正在检查…", async () => {
  try {
    const r = await api("POST", "/desk/sweep");
    const fixed = r.notice_days_corrected.length ? `，更正推定的通知日 ${r.notice_days_corrected.length} 项` : "";
    toast(`新标记超时 ${r.flagged.length} 项${fixed}`);
    await load();
  } catch (e) {
    toast(messageFor(e), "error");
  }
});

bindForm(document.getElementById("open-form"), {
  submit: (d, key) => api("POST", "/desk/requests", {
    idempotencyKey: key,
    json: {
      contract: select.value, channel: d.channel, severity: d.severity, description: d.description,
      reported_by: d.reported_by, on_site_requested: Boolean(d.on_site_requested),
      notice_at: withOffset(d.notice_at),
    },
  }),
  onDone: async (r) => {
    // emptied, so a second click does not write the same notice down twice
    document.getElementById("open-form").reset();
    toast(`已登记 #${r.id}，响应截止 ${fmtTime(r.response_due)}`);
    await load();
  },
});
bindForm(correctForm, {
  busyText: "正在更正…",
  submit: async (d, key) => {
    const c = contracts.find((x) => x.number === select.value);
    if (d.party_a.trim() === c.party_a && d.party_b.trim() === c.party_b) {
      throw new ApiError(422, { code: "explained", field: "party_a", detail: "甲方、乙方与现有名称相同，无需更正" });
    }
    try {
      return await api("POST", `/desk/contracts/${encodeURIComponent(c.number)}/correct`, {
        idempotencyKey: key, json: { party_a: d.party_a, party_b: d.party_b, reason: d.reason },
      });
    } catch (e) {
      throw correctionRefused(e);
    }
  },
  onDone: async (c) => {
    toast(`${c.number} 的当事人已更正：甲方 ${c.party_a}，乙方 ${c.party_b}`);
    correcting = null; // filled again with the names as they now read
    await loadContracts(c.number);
    await load();
  },
});
bindForm(document.getElementById("inspect-form"), {
  submit: (d, key) => api("POST", `/desk/contracts/${encodeURIComponent(select.value)}/inspections`, {
    idempotencyKey: key, json: { month: d.month, inspector: d.inspector, findings: d.findings },
  }),
  onDone: (i) => { document.getElementById("inspect-form").reset(); toast(`${i.month} 巡检已记录`); },
});
bindForm(document.getElementById("report-form"), {
  idempotent: false,
  submit: (d) => api("GET", `/desk/contracts/${encodeURIComponent(select.value)}/reports/${d.period}/pdf`),
  onDone: (blob) => saveBlob(blob, `service-report-${select.value}.pdf`),
});
await load();
