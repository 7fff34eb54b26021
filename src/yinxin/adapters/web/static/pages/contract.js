// 合同详情: the contract's facts and values, its PDF (signed once every party signed), revising
// a draft (修改草稿: POST /contracts/{id}/revise with based_on, the version the form was filled
// from — a draft saved by someone else meanwhile is refused 409 stale and shown, not
// overwritten), sending it for signing (one signer and seal per party; the links are shown
// once) and cancelling it.
import {
  ApiError, FIELD_MESSAGES, api, bindForm, el, fmtTime, recordOrNotFound, requireSubscriber, saveBlob, toast, whileBusy,
} from "/static/api.js";
import { facts, who, yuan } from "/static/pages/common.js";
import { blankField, collectValues, fillBlanks } from "/static/pages/contract_form.js";
import { contractBadge, partyLabel } from "/static/pages/contract_labels.js";
import { explainSigners, reasonText } from "/static/pages/flow_labels.js";

const session = await requireSubscriber();
const $ = (id) => document.getElementById(id);
const id = Number(location.pathname.split("/")[2]);

let current = null; // the contract as last read
let template = null; // its template (the blanks of the revise form)

async function load() {
  const c = await recordOrNotFound("/contracts", id);
  if (!c) return null;
  // the blanks of the version the draft was made from (a revision is checked against it)
  const t = await api("GET", `/contract-templates/${encodeURIComponent(c.template_code)}?version=${encodeURIComponent(c.template_version)}`).catch(() => null);
  current = c;
  template = t;
  $("contract-body").hidden = false;
  $("title").textContent = c.title;
  $("state").replaceChildren(contractBadge(c.state));
  facts($("facts"), [
    ["合同编号", c.number], ["模板", `${(t && t.title) || c.template_code}（第 ${c.template_version} 版）`],
    ...c.parties.map((p) => [partyLabel(p), p.name || "—"]),
    ["起草", `${fmtTime(c.created_at)}　${who(c.created_by, session)}`], ["发起签署", c.sent_at && fmtTime(c.sent_at)],
    ["签署完成", c.signed_at && fmtTime(c.signed_at)], ["作废", c.cancelled_at && fmtTime(c.cancelled_at)],
    ["说明", reasonText(c.reason)], ["文件 SHA-256", c.signed_sha256 || c.pdf_sha256],
  ]);
  // in the template's order, as the contract prints them (amounts grouped, rates in % or ‰)
  const blanks = t ? t.blanks : Object.keys(c.values).map((name) => ({ name, label: name, type: "text" }));
  const rows = blanks.filter((b) => c.values[b.name] !== undefined).map((b) =>
    el("tr", {}, el("th", { text: b.label }), el("td", { class: "pre", text: show(b, c.values[b.name]) })));
  $("values").tBodies[0].replaceChildren(...rows);
  const link = $("flow-link");
  link.hidden = !c.flow_id;
  if (c.flow_id) link.href = `/flows/${c.flow_id}`;
  $("obligations-link").hidden = c.state !== "signed";
  $("obligations-link").href = `/obligations#contract-${c.id}`;
  $("send-card").hidden = c.state !== "drafted";
  $("revise-card").hidden = c.state !== "drafted" || !t;
  if (c.state !== "drafted") $("revise-form").hidden = true;
  $("cancel-card").hidden = !["drafted", "out_for_signing"].includes(c.state);
  if (c.state === "drafted" && !$("signers").children.length) {
    $("signers").replaceChildren(...c.parties.map((p, i) => el("div", { class: "grid-fields two", "data-role": p.role },
      el("div", { class: "field" }, el("label", { for: `signer-${i}-id`, text: `${partyLabel(p)}${p.name ? `：${p.name}` : ""} — 签署人编号` }),
        el("input", { id: `signer-${i}-id`, type: "text", inputmode: "numeric", name: `signers[${i}].subscriber_id`, required: true })),
      el("div", { class: "field" }, el("label", { for: `signer-${i}-seal`, text: `${partyLabel(p)}印章编码` }),
        el("input", { id: `signer-${i}-seal`, type: "text", name: `signers[${i}].seal`, required: true })))));
    const d = new Date(Date.now() + 7 * 864e5);
    $("deadline").value = new Date(d - d.getTimezoneOffset() * 6e4).toISOString().slice(0, 16);
  }
  return c;
}

const rate = (v) => (Number(v) < 0.01 && Number(v) > 0 ? `${+(Number(v) * 1000).toFixed(4)}‰` : `${+(Number(v) * 100).toFixed(4)}%`);

function show(b, v) {
  if (b.type === "schedule") return v.map((r, i) => `第${i + 1}期：${r.milestone}，${r.percent}%，${yuan(r.amount)}`).join("\n");
  if (b.type === "price_lines") return v.map((r, i) => `${i + 1}. ${r.item ? `${r.item} ` : ""}${r.service}，${r.quantity}${r.unit}，含税${yuan(r.amount)}${r.note ? `（${r.note}）` : ""}`).join("\n");
  if (b.type === "pdf") return `PDF 文件，${v.pages} 页，${Math.ceil(v.size / 1024)} KiB（SHA-256 ${v.sha256}），各页附于合同附件中`;
  if (b.type === "amount") return yuan(v);
  if (b.type === "percent") return `${v}%`;
  if (b.type === "rate") return rate(v);
  return String(v);
}

// --- 修改草稿 ------------------------------------------------------------------------------
// The form is filled from the version read (its pdf_sha256 is kept as based_on); a save sends
// the whole set of values with it. Someone else's revision saved first is refused (409 stale):
// nothing is written, the page reads the contract again and shows the newer version — in the
// facts, the values and this form — and says so, so the other's change is not overwritten.
let basedOn = null;
const short = (sha) => `${String(sha).slice(0, 12)}…`;

function openRevise(c) {
  basedOn = c.pdf_sha256;
  $("revise-version").textContent = `正在修改的版本：合同 PDF SHA-256 ${short(c.pdf_sha256)}`;
  $("revise-title").value = c.title;
  $("revise-blanks").replaceChildren(...template.blanks.map((b) => blankField(b, b.type === "pdf" ? c.values[b.name] : undefined)));
  fillBlanks($("revise-form"), c.values);
  $("revise-form").hidden = false;
  $("revise-open").hidden = true;
}

function closeRevise() {
  $("revise-form").hidden = true;
  $("revise-open").hidden = false;
  $("revise-blanks").replaceChildren();
  basedOn = null;
}

$("revise-open").addEventListener("click", () => { if (current && template) openRevise(current); });
$("revise-close").addEventListener("click", closeRevise);
Object.assign(FIELD_MESSAGES, { values: "请检查填写的内容", title: "请填写合同标题（不超过200字）" });

bindForm($("revise-form"), {
  busyText: "正在保存…",
  submit: async (data, key) => {
    const values = await collectValues($("revise-form"), template, current.values);
    const body = { values, title: data.title.trim(), based_on: basedOn };
    try {
      return await api("POST", `/contracts/${id}/revise`, { json: body, idempotencyKey: key });
    } catch (e) {
      if (!(e instanceof ApiError) || !["stale", "illegal_transition"].includes(e.code)) throw e;
      // changed by someone else since this form was filled: show theirs, keep nothing of ours
      const c = await load();
      const still = c && c.state === "drafted";
      const detail = still
        ? `保存未成功：在您修改期间，他人已修改并保存了这份合同（最新版本 SHA-256 ${short(c.pdf_sha256)}）。为免覆盖他人的修改，您的修改未保存；上方与本表中已显示最新内容，请在此基础上重新修改后再保存。`
        : "保存未成功：在您修改期间，这份合同已被他人发起签署或作废，不能再修改。";
      if (still) openRevise(c);
      else { closeRevise(); toast(detail, "error"); } // the form is gone with the draft
      throw new ApiError(e.status, { ...e.problem, field: null, code: "explained", detail });
    }
  },
  onDone: async () => {
    // read back first: closed before, 修改草稿 was offered while the saved draft was still
    // being read, and reopened the form on the version read before (its values, its based_on)
    await load();
    closeRevise();
    toast("草稿已保存");
  },
});

// off, saying so, while the contract is fetched: a double click is one download
$("download").addEventListener("click", (ev) => whileBusy(ev.currentTarget, "正在下载…", async () => {
  const c = await api("GET", `/contracts/${id}`);
  saveBlob(await api("GET", `/contracts/${id}/pdf`), `${c.number}.pdf`);
}));

bindForm($("send-form"), {
  busyText: "正在发送…",
  submit: (data, key) => {
    const signers = [...$("signers").children].map((row, i) => ({
      role: row.dataset.role,
      subscriber_id: Number(data[`signers[${i}].subscriber_id`]),
      seal: data[`signers[${i}].seal`],
    }));
    const deadline = new Date(data.deadline).toISOString();
    return api("POST", `/contracts/${id}/signing`, { json: { signers, deadline }, idempotencyKey: key })
      .catch((e) => { throw e instanceof ApiError ? explainSigners(e) : e; });
  },
  onDone: async (sent) => {
    $("links").hidden = false;
    $("link-list").replaceChildren(...sent.links.map((l) => el("li", {}, `${l.role}：`, el("code", { text: l.url }))));
    $("send-form").hidden = true;
    await load();
    $("send-card").hidden = false;
  },
});

bindForm($("cancel-form"), {
  busyText: "正在作废…",
  submit: (data, key) => api("POST", `/contracts/${id}/cancel`, { json: { reason: data.reason }, idempotencyKey: key }),
  onDone: () => load(),
});

await load();
