// One certificate of the subscriber: its facts, the downloads (GET /certificates/{serial}/pem,
// /der, /chain) and the holder's lifecycle requests (freeze, unfreeze, report loss, restore,
// revoke with one of the reasons of 001) — the forms the certificate's state allows.
import { api, bindForm, commonName, el, fmtTime, label, requireSession, saveBlob, toast } from "/static/api.js";
import {
  CERT_REASONS, HOLDER_CERT_REASONS, certBadge, facts, options, param, refusedPage,
} from "/static/pages/common.js";

await requireSession("subscriber");
const serial = (param("serial") || "").replace(/[^0-9A-Fa-f]/g, "");
options(document.getElementById("reason"), HOLDER_CERT_REASONS.map((r) => [r, CERT_REASONS[r]]), { blank: "请选择吊销原因" });

function show(c) {
  document.getElementById("status-badge").replaceChildren(certBadge(c));
  facts(document.getElementById("cert-facts"), [
    ["序列号", el("code", { text: c.serial })],
    ["持有人", commonName(c.subject)],
    ["主题", c.subject],
    ["证书类型", label("profile", c.profile)],
    ["状态", certBadge(c)],
    ["有效期", `${fmtTime(c.not_before)} 至 ${fmtTime(c.not_after)}`],
    ["服务费缴至", c.paid_until ? fmtTime(c.paid_until) : "—"],
    ["密钥", c.key === "platform" ? "平台托管（PIN 码保护）" : "用户自备"],
    ["吊销时间", c.revoked_at ? fmtTime(c.revoked_at) : null],
    ["吊销原因", c.revocation_reason ? CERT_REASONS[c.revocation_reason] || c.revocation_reason : null],
  ]);
  const held = c.status === "on_hold";
  document.getElementById("freeze-form").hidden = c.status !== "active";
  // a lost key is reported over a freeze or a stop for unpaid fees too
  document.getElementById("loss-form").hidden = !(c.status === "active" || (held && c.hold_kind !== "lost"));
  document.getElementById("unfreeze-form").hidden = !(held && c.hold_kind !== "lost");
  document.getElementById("restore-form").hidden = !(held && c.hold_kind === "lost");
  document.getElementById("revoke-form").hidden = !(c.status === "active" || held);
  document.getElementById("lifecycle").hidden = !(c.status === "active" || held);
}

try {
  show(await api("GET", `/certificates/${serial}`));
} catch (e) {
  await refusedPage(e, { title: "证书详情", missing: "未找到该证书，或您无权查看。", back: ["/my/certificates", "返回证书与申请"] });
}

for (const b of document.querySelectorAll("[data-download]")) {
  b.addEventListener("click", async () => {
    const kind = b.dataset.download;
    b.disabled = true;
    try {
      const blob = await api("GET", `/certificates/${serial}/${kind}`);
      saveBlob(blob, kind === "der" ? `${serial}.cer` : kind === "chain" ? `${serial}-chain.pem` : `${serial}.pem`);
    } finally {
      b.disabled = false;
    }
  });
}

const act = (id, verb, body, done) => bindForm(document.getElementById(id), {
  busyText: "正在办理…",
  submit: (data, key) => api("POST", `/certificates/${serial}/${verb}`, { json: body(data), idempotencyKey: key }),
  onDone: (c) => { document.getElementById(id).reset(); show(c); toast(done); },
});
act("freeze-form", "freeze", (d) => ({ note: d.note.trim() || null }), "证书已冻结");
act("unfreeze-form", "unfreeze", () => undefined, "证书已解冻");
act("loss-form", "report-loss", () => undefined, "已挂失，证书已暂停使用");
act("restore-form", "restore", () => undefined, "已解除挂失");
act("revoke-form", "revoke", (d) => ({ reason: d.reason }), "证书已吊销");
