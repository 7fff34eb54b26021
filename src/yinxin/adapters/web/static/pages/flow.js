// 签署详情: one flow's progress (the flow's and each signer's state, refreshed while it runs),
// urge (催签) a signer whose turn it is, cancel (撤回) with a reason, download the document as
// signed so far and the evidence report (出证, PDF); the current document drawn page by page.
import {
  ApiError, FIELD_MESSAGES, MESSAGES, api, bindForm, el, fmtTime, messageFor, newKey,
  recordOrNotFound, requireSubscriber, saveBlob, toast, whileBusy,
} from "/static/api.js";
import { SIGNER_STATES, reasonText, stateBadge } from "/static/pages/flow_labels.js";

Object.assign(MESSAGES, { flow_expired: "该流程已超过截止时间" });
Object.assign(FIELD_MESSAGES, { reason: "请填写撤回原因（500字以内）" });

const $ = (id) => document.getElementById(id);
const id = Number(location.pathname.split("/")[2]);
await requireSubscriber();
if (new URLSearchParams(location.search).get("sent")) $("sent-notice").hidden = false;

let shown = null; // the flow as last drawn (state and document versions)

async function load() {
  const flow = await recordOrNotFound("/flows", id);
  if (!flow) return null;
  const key = JSON.stringify([flow.state, flow.signers.map((s) => [s.state, s.last_urged_at, s.video_sha256]), flow.documents.map((d) => d.current_sha256)]);
  if (shown !== key) draw(flow, shown === null || !shown.includes(flow.documents[0].current_sha256));
  shown = key;
  return flow;
}

function draw(flow, pagesToo) {
  $("flow-body").hidden = false;
  $("flow-title").textContent = flow.title;
  document.title = `${flow.title} — 签署详情`;
  $("flow-state").replaceChildren(stateBadge(flow.state));
  const facts = $("flow-facts");
  facts.replaceChildren();
  const add = (k, v) => facts.append(el("dt", { text: k }), el("dd", { text: v }));
  add("流程编号", String(flow.id));
  add("签署顺序", flow.signing_order === "parallel" ? "各方同时签署" : "按顺序依次签署");
  add("发起时间", fmtTime(flow.started_at || flow.created_at));
  add("截止时间", fmtTime(flow.deadline));
  if (flow.finished_at) add("结束时间", fmtTime(flow.finished_at));
  if (flow.reason) add("说明", reasonText(flow.reason));

  $("signers").replaceChildren(...flow.signers.map((s) => {
    const li = el("li", { "data-signer": s.id, "data-state": s.state },
      el("div", {},
        el("strong", { text: `${s.order}. ${s.role} · ${s.subscriber_name}` }),
        el("div", { class: "muted", text: `印章 ${s.es_id || s.seal_id}${s.requires_video ? " · 要求视频双录" : ""}` }),
        s.signed_at ? el("div", { class: "muted", text: `签署于 ${fmtTime(s.signed_at)}` }) : null,
        s.video_sha256 ? el("div", { class: "muted mono video-hash", text: `视频 SHA-256 ${s.video_sha256}` }) : null,
        s.declined_reason ? el("div", { class: "field-error", text: `拒签理由：${s.declined_reason}` }) : null),
      el("div", { class: "actions" }, stateBadge(s.state, SIGNER_STATES)));
    if (s.state === "ready" && flow.state === "started") {
      const b = el("button", { type: "button", class: "btn secondary urge", text: "催签" });
      b.addEventListener("click", () => urge(flow, s, b));
      li.lastElementChild.append(b);
    }
    return li;
  }));

  const dl = $("downloads");
  dl.replaceChildren();
  for (const d of flow.documents) {
    const signed = d.current_sha256 !== d.original_sha256;
    dl.append(button(`下载${signed ? "签署后的" : ""}《${d.name}》`, `/flows/${flow.id}/documents/${d.id}`, d.name, "download-document"));
  }
  dl.append(button("下载出证报告（PDF）", `/flows/${flow.id}/evidence.pdf`, `出证报告-${flow.id}.pdf`, "download-evidence"));
  $("cancel-box").hidden = !["draft", "started"].includes(flow.state);
  if (pagesToo) drawPages(flow);
}

function button(text, path, name, cls) {
  const b = el("button", { type: "button", class: `btn ${cls === "download-evidence" ? "secondary" : ""} ${cls}`, text });
  // off, saying so, while the file comes: a double click is one download
  b.addEventListener("click", () => whileBusy(b, "正在下载…", async () => {
    try { saveBlob(await api("GET", path), name); } catch (e) { toast(messageFor(e), "error"); }
  }));
  return b;
}

async function drawPages(flow) {
  const box = $("pages");
  const width = Math.min(1400, Math.max(600, Math.ceil((box.clientWidth || 500) * (window.devicePixelRatio || 1) / 200) * 200));
  const figures = [];
  for (const d of flow.documents) {
    const info = await api("GET", `/flows/${flow.id}/documents/${d.id}/pages`);
    info.pages.forEach((p) => figures.push(el("figure", { class: "doc-page", "data-page": p.page },
      el("img", {
        src: `/api/v1/flows/${flow.id}/documents/${d.id}/pages/${p.page}?width=${width}&v=${info.sha256.slice(0, 12)}`,
        width, height: Math.round(width * p.height_mm / p.width_mm), loading: "lazy", alt: `${d.name} 第 ${p.page} 页`,
      }),
      el("figcaption", { text: `《${d.name}》第 ${p.page} / ${info.pages.length} 页` }))));
  }
  box.replaceChildren(...figures);
  const signed = flow.signers.filter((s) => s.state === "signed").length;
  $("preview-note").textContent = signed ? `当前版本已有 ${signed} 方签章。` : "尚无签署方签章。";
}

const urgeKeys = new Map(); // a retried urge after a dropped answer is the same request
// off, saying so, while the urge is sent: a double click is one message
function urge(flow, s, b) {
  return whileBusy(b, "正在催签…", async () => {
    const key = urgeKeys.get(s.id) || newKey();
    urgeKeys.set(s.id, key);
    try {
      const r = await api("POST", `/flows/${flow.id}/signers/${s.id}/urge`, { idempotencyKey: key });
      urgeKeys.delete(s.id);
      toast(r.sent_to ? `已催签，短信已发送至 ${r.sent_to}` : "已催签");
    } catch (e) {
      if (!(e instanceof ApiError)) throw e;
      if (!(e.status === 0 || e.status >= 500)) urgeKeys.delete(s.id);
      toast(e.code === "rate_limited" ? "一小时内只能催签一次，请稍后再试" : messageFor(e), "error");
    }
  });
}

bindForm($("cancel-form"), {
  busyText: "正在撤回…",
  submit: (data, key) => api("POST", `/flows/${id}/cancel`, { json: { reason: data.reason.trim() }, idempotencyKey: key }),
  onDone: async () => { toast("流程已撤回，各签署链接已失效"); await load(); },
});

const first = await load();
if (first) {
  const timer = setInterval(async () => {
    const f = await load().catch(() => null);
    if (f && !["draft", "started"].includes(f.state)) clearInterval(timer);
  }, 4000);
}
