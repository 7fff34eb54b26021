// 履约跟踪: every tracked obligation of the caller's contracts (GET /obligations), soonest due
// first, with its status, money and the penalty counted to today and how it was counted; and,
// per contract, the two things that move it (through the same API as the CLI):
//   记录履约事实 — delivered / reminded / accepted / went_live on a day (POST …/obligations/events),
//                  which fixes the due dates that wait for it;
//   记录收款     — an amount received on a day against one payment (POST …/obligations/payments);
//   撤回履约事实 — the latest fact, recorded by mistake, taken back with a reason
//                  (POST …/obligations/events/withdrawal); 冲正收款 — a payment taken back.
// A refusal is worded in Chinese and shown at the field the API names (event, on, amount,
// obligation_id); nothing is redrawn then, so a refused overpayment leaves the list as it was.
import { ApiError, actorName, allItems, api, bindForm, el, emptyRow, requireSubscriber } from "/static/api.js";
import { yuan } from "/static/pages/common.js";

await requireSubscriber();
const $ = (s) => document.querySelector(s);
const STATUS = { pending: "到期日待定", due: "待履行", overdue: "已逾期", met: "已履行" };
const STAGE = {
  none: "未跟踪", signed: "已生效，待交付", delivered: "已交付，待验收", reminded: "已催告验收",
  accepted: "已验收", live: "已上线运行",
};
const EVENT = { delivered: "交付并提交验收申请", reminded: "催告验收", accepted: "签署验收合格报告", went_live: "系统上线运行" };
// the fact each stage was reached by: the one that can be withdrawn there
const LATEST = { delivered: "delivered", reminded: "reminded", accepted: "accepted", live: "went_live" };
const NEXT = { signed: ["delivered"], delivered: ["accepted", "reminded"], reminded: ["accepted"], accepted: ["went_live"], live: [] };

let fieldSeq = 0;
/** A field of a contract's forms: its label tied to its control (an id of its own: every
 * contract on the page has these forms, with the same names). */
function field(text, control) {
  control.id = `obligation-field-${++fieldSeq}`;
  return el("div", { class: "field" }, el("label", { for: control.id, text }), control);
}

/** What a person calls the obligation's standing: 部分支付 / 已付清 for money. */
function statusText(o) {
  if (o.state === "partly_paid") return o.status === "overdue" ? "部分支付，已逾期" : "部分支付";
  if (o.status === "met") return o.kind === "payment" ? "已付清" : o.state === "deemed" ? "视为验收" : "已履行";
  if (o.status === "due" && o.kind === "payment") return "待支付";
  return STATUS[o.status] || o.status;
}
const badgeKind = (o) => (o.status === "overdue" ? "bad" : o.status === "met" ? "ok" : o.status === "pending" ? "plain" : "warn");

/** Each party's penalties apart (甲方 ¥…；乙方 ¥…): they run in opposite directions. */
function penalties(c) {
  const owed = Object.entries(c.penalty_by_debtor || {});
  return owed.length ? owed.map(([who, amount]) => `${who} ${yuan(amount)}`).join("；") : yuan("0.00");
}

function explanation(o) {
  const lines = [el("div", { text: o.due_explanation })];
  if (o.penalty_explanation) lines.push(el("div", { class: "penalty-line", text: `违约金：${o.penalty_explanation}` }));
  for (const n of o.penalty_notes || []) lines.push(el("div", { class: "muted", text: n }));
  return el("tr", { class: "explain-row" }, el("td", { colspan: 9, class: "small" }, ...lines));
}

/** One obligation: its figures on a row, how its due date and penalty were counted under it. */
function group(o) {
  return el("tbody", { "data-obligation": o.id, "data-status": o.status, "data-state": o.state }, row(o), explanation(o));
}

function row(o) {
  return el("tr", { class: o.status === "overdue" ? "warn" : "" },
    el("td", { class: "nowrap" }, el("a", { href: `/contracts/${o.contract_id}`, text: o.contract_number })),
    el("td", { text: o.label }),
    el("td", { text: o.debtor }),
    el("td", { class: "due-on nowrap", text: o.due_on || "待定" }),
    el("td", {}, el("span", { class: `badge ${badgeKind(o)}`, text: statusText(o) })),
    el("td", { class: "num", text: yuan(o.amount) }),
    el("td", { class: "num", text: o.amount === null ? "—" : yuan(o.paid) }),
    el("td", { class: "num", text: o.amount === null ? "—" : yuan(o.outstanding) }),
    el("td", { class: "num", text: yuan(o.penalty) }));
}

// --- refusals, in Chinese ------------------------------------------------------------------------
const SINCE = { "the contract took effect": "合同生效日", delivery: "交付日", acceptance: "验收日" };
function chinese(err, event, withdrawing = false) {
  const d = err.problem.detail || "";
  const f = err.field;
  if (err.code === "overpaid") {
    const owed = /the (¥[\d,.]+) still owed/.exec(d);
    return `付款金额超过该项尚欠的金额${owed ? `（尚欠 ${owed[1]}）` : ""}，未登记`;
  }
  if (err.code === "too_early") {
    const m = /before (.+?) \((\d{4}-\d{2}-\d{2})\)/.exec(d);
    return m ? `日期不得早于${SINCE[m[1]] || m[1]}（${m[2]}）` : "日期过早";
  }
  if (f === "on" && /after today/.test(d)) return `日期不得晚于今天（${(/today \((.+)\)/.exec(d) || [])[1] || ""}）`;
  if (f === "on") return "请填写正确的日期";
  if (f === "amount") return "请填写大于 0 的金额（元），最多两位小数，如 305000.00";
  if (f === "event" && err.code === "illegal_transition" && withdrawing) return /deemed/.test(d) ? "视为验收依合同约定产生，不能撤回" : "只能撤回最近登记的履约事实";
  if (f === "event" && err.code === "illegal_transition") return `当前阶段不能登记“${EVENT[event] || event}”（须按 交付 → 催告/验收 → 上线 的顺序，且每项只登记一次）`;
  if (f === "event" && err.code === "not_in_contract") return `该合同没有“${EVENT[event] || event}”这一履约事实`;
  if (f === "event") return "请选择履约事实";
  if (f === "obligation_id" && err.code === "illegal_transition") return "该合同的各期款项均已付清";
  if (f === "obligation_id") return "没有这一付款事项";
  if (f === "payment_id" && err.code === "illegal_transition") return "该笔收款已冲正";
  if (f === "payment_id") return "没有这笔收款记录";
  if (f === "reason") return withdrawing ? "请填写撤回原因（1–500 字）" : "请填写冲正原因（1–500 字）";
  if (f === "contract_id" && err.code === "illegal_transition") return "合同尚未签署完成，不能登记";
  if (err.status === 403) return "您没有登记履约事实或收款的权限";
  return null;
}
/** The API's refusal, worded in Chinese for the field it names (the page's own words). */
async function worded(call, event, withdrawing = false) {
  try {
    return await call();
  } catch (err) {
    if (!(err instanceof ApiError)) throw err;
    const text = chinese(err, event, withdrawing);
    if (text) err.problem = { ...err.problem, code: "obligation_refused", detail: text };
    throw err;
  }
}

// --- per contract: facts and payments -------------------------------------------------------------
function today() {
  const d = new Date();
  return new Date(d - d.getTimezoneOffset() * 6e4).toISOString().slice(0, 10);
}

function contractCard(c) {
  const facts = [["生效日", c.effective_on], ["交付", c.delivered_on], ["催告", c.reminded_on], ["验收", c.accepted_on && `${c.accepted_on}${c.acceptance_deemed ? "（视为验收）" : ""}`], ["上线", c.live_on]]
    .filter(([, v]) => v).map(([k, v]) => `${k} ${v}`).join("　");
  // only the facts this contract has (003: none) and its stage allows
  const next = (NEXT[c.stage] || []).filter((e) => (c.facts || []).includes(e));
  const fact = el("form", { class: "fact-form", novalidate: true, "data-contract": c.contract_id },
    el("h3", { text: "记录履约事实" }),
    el("div", { class: "grid-fields three" },
      field("事实",
        el("select", { name: "event" }, ...["delivered", "reminded", "accepted", "went_live"].map((e) =>
          el("option", { value: e, text: EVENT[e], ...(next.includes(e) ? {} : { disabled: true }) })))),
      field("发生日期", el("input", { type: "date", name: "on", required: true, max: today() }))),
    el("p", { class: "form-error", hidden: true }),
    el("button", { type: "submit", class: "btn", text: "登记", ...(next.length ? {} : { disabled: true }) }));
  const sel = fact.querySelector("select");
  if (next.length) sel.value = next[0];
  bindForm(fact, {
    busyText: "正在登记…",
    submit: (data, key) => worded(() => api("POST", `/contracts/${c.contract_id}/obligations/events`, { json: { event: data.event, on: data.on }, idempotencyKey: key }), data.event),
    onDone: load,
  });

  // the latest fact, recorded by mistake, taken back (a deemed acceptance is the contract's rule)
  const latest = c.stage === "accepted" && c.acceptance_deemed ? null : LATEST[c.stage];
  let withdraw = "";
  if (latest) {
    withdraw = el("form", { class: "withdraw-form", novalidate: true, "data-contract": c.contract_id },
      el("h3", { text: "撤回履约事实" }),
      el("p", { class: "small muted", text: `最近登记的“${EVENT[latest]}”如有误可撤回：它履行的事项恢复待履行，据它确定的到期日恢复待定，已收款项不变；原记录留在审计日志中，之后按正确日期重新登记。` }),
      el("input", { type: "hidden", name: "event", value: latest }),
      field("撤回原因", el("input", { type: "text", name: "reason", required: true, maxlength: 500, placeholder: "如 交付日期录入错误" })),
      el("p", { class: "form-error", hidden: true }),
      el("button", { type: "submit", class: "btn secondary", text: `撤回“${EVENT[latest]}”` }));
    bindForm(withdraw, {
      busyText: "正在撤回…",
      submit: (data, key) => worded(() => api("POST", `/contracts/${c.contract_id}/obligations/events/withdrawal`, {
        json: { event: data.event, reason: data.reason }, idempotencyKey: key,
      }), data.event, true),
      onDone: load,
    });
  }

  const unpaid = c.obligations.filter((o) => o.kind === "payment" && o.state !== "met");
  const pay = el("form", { class: "pay-form", novalidate: true, "data-contract": c.contract_id },
    el("h3", { text: "记录收款" }),
    el("div", { class: "grid-fields three" },
      field("付款事项",
        el("select", { name: "obligation_id" }, ...unpaid.map((o) =>
          el("option", { value: String(o.id), text: `${o.label}（尚欠 ${yuan(o.outstanding)}）` })))),
      field("金额（元）", el("input", { type: "text", name: "amount", inputmode: "decimal", required: true, placeholder: "如 305000.00", maxlength: 32 })),
      field("收款日期", el("input", { type: "date", name: "on", required: true, max: today() })),
      field("凭证号（可选）", el("input", { type: "text", name: "reference", maxlength: 100 }))),
    el("p", { class: "form-error", hidden: true }),
    el("button", { type: "submit", class: "btn", text: "登记收款", ...(unpaid.length ? {} : { disabled: true }) }));
  bindForm(pay, {
    busyText: "正在登记…",
    submit: (data, key) => worded(() => api("POST", `/contracts/${c.contract_id}/obligations/payments`, {
      json: { amount: data.amount, on: data.on, obligation_id: Number(data.obligation_id), ...(data.reference ? { reference: data.reference } : {}) },
      idempotencyKey: key,
    })),
    onDone: load,
  });

  // every payment recorded, a reversed one (冲正) marked; the form takes one back
  const payments = c.obligations.flatMap((o) => o.payments.map((p) => ({ ...p, label: o.label })))
    .sort((a, b) => (a.paid_on < b.paid_on ? -1 : a.paid_on > b.paid_on ? 1 : a.id - b.id));
  const standing = payments.filter((p) => !p.reversed_at);
  let ledger = "";
  if (payments.length) {
    const reverse = el("form", { class: "reverse-form", novalidate: true, "data-contract": c.contract_id },
      el("h3", { text: "冲正收款" }),
      el("p", { class: "small muted", text: "登记有误的收款可冲正：原记录保留并标明，不再计入已付金额和违约金；之后按正确金额重新登记。" }),
      el("div", { class: "grid-fields three" },
        field("收款记录",
          el("select", { name: "payment_id" }, ...standing.map((p) =>
            el("option", { value: String(p.id), text: `${p.paid_on} ${p.label} ${yuan(p.amount)}` })))),
        field("冲正原因", el("input", { type: "text", name: "reason", required: true, maxlength: 500, placeholder: "如 金额录入错误" }))),
      el("p", { class: "form-error", hidden: true }),
      el("button", { type: "submit", class: "btn secondary", text: "冲正", ...(standing.length ? {} : { disabled: true }) }));
    bindForm(reverse, {
      busyText: "正在冲正…",
      submit: (data, key) => worded(() => api("POST", `/contracts/${c.contract_id}/obligations/payments/${Number(data.payment_id)}/reversal`, {
        json: { reason: data.reason }, idempotencyKey: key,
      })),
      onDone: load,
    });
    ledger = el("div", { class: "payments" },
      el("h3", { text: "收款记录" }),
      el("div", { class: "table-wrap" }, el("table", { class: "payments-table" },
        el("thead", {}, el("tr", {}, ...["收款日期", "付款事项", "金额", "凭证号", "登记人", "状态"].map((h) => el("th", { text: h })))),
        el("tbody", {}, ...payments.map((p) => el("tr", { "data-payment": p.id, class: p.reversed_at ? "reversed" : "" },
          el("td", { text: p.paid_on }),
          el("td", { text: p.label }),
          el("td", { class: "num", text: yuan(p.amount) }),
          el("td", { text: p.reference || "—" }),
          el("td", { text: actorName(p.recorded_by) }),
          el("td", { text: p.reversed_at ? `已冲正（${p.reversal_reason}，${actorName(p.reversed_by)}）` : "有效" })))))),
      reverse);
  }

  return el("section", { class: "card", id: `contract-${c.contract_id}`, "data-contract": c.contract_id },
    el("h2", {}, el("a", { href: `/contracts/${c.contract_id}`, text: `${c.number}　${c.title}` })),
    el("p", {}, el("span", { class: "badge plain stage", text: c.stage === "signed" && !(c.facts || []).length ? "已生效" : STAGE[c.stage] || c.stage }), " ", el("span", { class: "muted", text: facts })),
    c.acceptance_explanation ? el("p", { class: "small", text: c.acceptance_explanation }) : "",
    el("p", { class: "small", text: `应付合计 ${yuan(c.total_due)}，已付 ${yuan(c.total_paid)}，逾期未付 ${yuan(c.total_overdue)}，违约金 ${penalties(c)}${c.penalty_note ? `（${c.penalty_note}）` : ""}` }),
    el("div", { class: "grid-fields two" }, fact, pay),
    withdraw,
    ledger);
}

async function load() {
  // arrived from a contract's page (/obligations#contract-<id>): reading its obligations tracks
  // a contract signed since the reminder job last ran, so its card is there at once
  const hashed = /^#contract-(\d+)$/.exec(location.hash);
  if (hashed && !document.getElementById(`contract-${hashed[1]}`)) {
    await api("GET", `/contracts/${hashed[1]}/obligations`).catch(() => null);
  }
  const status = $("#status").value;
  // every page of them (the list pages, 200 at a time, as the other lists)
  const items = await allItems(`/obligations${status ? `?status=${status}` : ""}`);
  const table = $("#obligations");
  table.querySelectorAll("tbody").forEach((b) => b.remove());
  table.append(...(items.length ? items.map(group)
    : [el("tbody", {}, emptyRow(9, "没有符合条件的履约事项。"))]));
  // one card per contract of the whole list (not only the filtered rows)
  const all = status ? await allItems("/obligations") : items;
  const ids = [...new Set(all.map((o) => o.contract_id))];
  const views = await Promise.all(ids.map((id) => api("GET", `/contracts/${id}/obligations`)));
  $("#contracts").replaceChildren(...views.map(contractCard));
  document.body.dataset.loaded = String(Number(document.body.dataset.loaded || 0) + 1);
}
// from a contract's page (履约跟踪 link): its card, once drawn
const jump = () => { const t = location.hash && document.getElementById(location.hash.slice(1)); if (t) t.scrollIntoView(); };
$("#status").addEventListener("change", load);
await load();
jump();
