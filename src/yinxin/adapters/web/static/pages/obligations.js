// 履约跟踪: every tracked obligation of the caller's contracts (GET /obligations), soonest due
// first, with its status, money and the penalty counted to today and how it was counted.
import { api, currentSession, el, goLogin } from "/static/api.js";
import { requireSubscriber } from "/static/pages/contract_labels.js";

await requireSubscriber(currentSession, goLogin);
const STATUS = { pending: "到期日待定", due: "待履行", overdue: "已逾期", met: "已履行" };
const yuan = (v) => (v === null || v === undefined ? "—" : `¥${Number(v).toLocaleString("zh-CN", { minimumFractionDigits: 2 })}`);

async function load() {
  const status = document.querySelector("#status").value;
  const items = await api("GET", `/obligations${status ? `?status=${status}` : ""}`);
  document.querySelector("#obligations tbody").replaceChildren(...(items.length ? items.map((o) =>
    el("tr", { "data-obligation": o.id, class: o.status === "overdue" ? "warn" : "" },
      el("td", {}, el("a", { href: `/contracts/${o.contract_id}`, text: o.contract_number })),
      el("td", { text: o.label }),
      el("td", { text: o.debtor }),
      el("td", { text: o.due_on || "待定" }),
      el("td", { text: STATUS[o.status] || o.status }),
      el("td", { class: "num", text: yuan(o.amount) }),
      el("td", { class: "num", text: o.amount === null ? "—" : yuan(o.paid) }),
      el("td", { class: "num", text: yuan(o.penalty) }),
      el("td", { class: "small", text: o.penalty_explanation ? `${o.due_explanation}；违约金：${o.penalty_explanation}` : o.due_explanation })))
    : [el("tr", {}, el("td", { colspan: 9, class: "muted", text: "没有符合条件的履约事项。" }))]));
}
document.querySelector("#status").addEventListener("change", load);
await load();
