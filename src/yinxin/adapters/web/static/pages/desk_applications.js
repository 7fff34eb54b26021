// The review queue: GET /applications?state=…, each with its applicant (GET /subscribers/{id}),
// the accepted agreement, the payment and the documents the applicant uploaded; approve (POST …/approve: the certificate is issued)
// or reject with a reason (POST …/reject). Every act is audited as staff:<username>.
import { ApiError, actorName, api, bindForm, commonName, el, fmtTime, label, requireSession, toast, whileBusy } from "/static/api.js";
import { facts, pagedListing, stateBadge, unreachableMark } from "/static/pages/common.js";
import { showDocs } from "/static/pages/app_documents.js";

const session = await requireSession("staff");
document.getElementById("session-until").textContent = `登录有效至 ${fmtTime(session.expires_at)}`;
const filter = document.getElementById("state-filter");
const plans = Object.fromEntries((await api("GET", "/public/fees")).plans.map((p) => [p.code, p.title]));
const names = {};
let current = null;

async function subscriber(id) {
  if (!names[id]) names[id] = api("GET", `/subscribers/${id}`);
  return names[id];
}

// the queue, oldest first, 50 at a time (加载更多 for the next): every application waiting is
// reachable, however many there are
const load = pagedListing({
  path: "/applications", query: () => ({ state: filter.value }), table: "queue", empty: "暂无申请",
  row: async (a) => {
    const [sub, paid] = await Promise.all([subscriber(a.subscriber_id), api("GET", `/applications/${a.id}/payments`)]);
    const open = el("button", { type: "button", class: "btn secondary small", text: a.state === "pending" ? "审核" : "查看" });
    open.addEventListener("click", () => whileBusy(open, "正在打开…", () => select(a, sub, paid)));
    return el("tr", { "data-application": String(a.id) },
      el("td", { text: String(a.id) }),
      el("td", {}, `${sub.name}（${label("subscriber", sub.kind)}）`, unreachableMark(sub)),
      el("td", { text: label("profile", a.profile) }),
      el("td", {}, paid.length ? `已缴 ¥${paid[0].amount_yuan}` : el("span", { class: "badge warn", text: "未缴费" })),
      el("td", { text: fmtTime(a.submitted_at) }),
      el("td", { text: a.acceptance_point }),
      el("td", {}, open),
    );
  },
});

async function select(a, sub, paid) {
  current = a;
  const [acceptances] = await Promise.all([
    api("GET", `/subscribers/${sub.id}/agreement-acceptances`),
    showDocs(document.getElementById("applicant-docs"), api, a.id, "申请人未上传证明材料（请核对原件）"),
  ]);
  const last = acceptances[acceptances.length - 1];
  facts(document.getElementById("applicant"), [
    ["用户编号", sub.id],
    ["类型", label("subscriber", sub.kind)],
    [sub.kind === "organization" ? "机构名称" : "姓名", sub.name],
    ["证件类型", sub.id_type ? label("idType", sub.id_type) : null],
    ["证件号码", sub.id_number],
    ["统一社会信用代码", sub.uscc],
    ["法定代表人", sub.legal_representative],
    ["经办人", sub.contact_name],
    ["联系电话", sub.contact_phone],
    ["手机号码", sub.phone],
    ["电子邮箱", sub.email],
    ["通知", unreachableMark(sub)],
    ["注册时间", fmtTime(sub.created_at)],
  ]);
  facts(document.getElementById("documents"), [
    ["受理号", a.id],
    ["证书类型", label("profile", a.profile)],
    ["密钥", label("keyMode", a.key_mode)],
    ["服务套餐", plans[a.plan] || a.plan],
    ["受理点", a.acceptance_point],
    ["提交时间", fmtTime(a.submitted_at)],
    ["服务协议", last ? `版本 ${last.version}，${last.accepted_by} 于 ${fmtTime(last.accepted_at)} 接受` : "未接受"],
    ["协议摘要", last ? el("code", { text: last.text_sha256 }) : null],
    ["缴费", paid.length ? `¥${paid[0].amount_yuan}，${fmtTime(paid[0].paid_at)}，凭证 ${paid[0].reference || "—"}` : "未缴费"],
    ["状态", stateBadge("application", a.state)],
    ["审核人", a.officer && actorName(a.officer)],
    ["审核时间", a.decided_at ? fmtTime(a.decided_at) : null],
    ["驳回原因", a.reason],
  ]);
  document.getElementById("decision").hidden = a.state !== "pending";
  document.getElementById("detail").hidden = false;
  document.getElementById("detail").scrollIntoView({ behavior: "smooth", block: "start" });
}

bindForm(document.getElementById("approve-form"), {
  busyText: "正在签发…",
  submit: (data, key) => api("POST", `/applications/${current.id}/approve`, {
    json: data.validity_years ? { validity_years: Number(data.validity_years) } : {}, idempotencyKey: key,
  }),
  onDone: async (cert) => {
    toast(`已批准，证书 ${cert.serial} 已签发（${commonName(cert.subject)}）`);
    document.getElementById("detail").hidden = true;
    await load();
  },
});

bindForm(document.getElementById("reject-form"), {
  busyText: "正在驳回…",
  submit: (data, key) => {
    if (!data.reason.trim()) throw new ApiError(422, { code: "invalid", field: "reason", detail: "empty" });
    return api("POST", `/applications/${current.id}/reject`, { json: { reason: data.reason.trim() }, idempotencyKey: key });
  },
  onDone: async () => {
    toast("已驳回申请");
    document.getElementById("reject-form").reset();
    document.getElementById("detail").hidden = true;
    await load();
  },
});

filter.addEventListener("change", () => { document.getElementById("detail").hidden = true; load(); });
await load();
