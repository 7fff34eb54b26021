// One certificate of the subscriber: its facts, the downloads (GET /certificates/{serial}/pem,
// /der, /chain) and the holder's lifecycle requests (freeze, unfreeze, report loss, restore,
// revoke with one of the reasons of 001) — the forms the certificate's state allows.
import {
  ApiError, allItems, api, bindForm, commonName, el, fmtTime, label, leaveIfSignedOut, messageFor, requireSession,
  saveBlob, toast,
} from "/static/api.js";
import {
  CERT_REASONS, HOLDER_CERT_REASONS, certBadge, facts, options, param, refusedPage, yuanOf,
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
  // a certificate stopped for unpaid fees is paid for here, then released (not 解冻 alone,
  // which is refused until the fee is in)
  const unpaid = held && c.hold_kind === "unpaid";
  // a renewed certificate stays in force beside its renewal, but only the renewal is paid for
  const renewed = document.getElementById("renewed");
  renewed.hidden = !successor;
  if (successor) {
    renewed.replaceChildren("本证书已续期，新证书为 ",
      el("a", { href: `/my/certificate?serial=${successor.serial}`, text: successor.serial }),
      "。缴费、续期请在新证书上办理；本证书在有效期内仍可使用。");
  }
  document.getElementById("renew-pay-form").hidden = Boolean(successor) || !(c.status === "active" || unpaid);
  document.getElementById("unfreeze-form").hidden ||= unpaid;
  // a freeze the certification authority imposed is lifted by it: not offered to the holder
  const byCa = held && c.hold_kind === "frozen" && c.hold_by !== "holder";
  document.getElementById("unfreeze-form").hidden ||= byCa;
  document.getElementById("ca-hold").hidden = !byCa;
  document.getElementById("renew-pay-text").textContent = unpaid
    ? "本证书因服务费未按期缴纳已停用：缴费后即恢复使用。"
    : "按年缴纳证书服务费（001 服务协议），服务期自当前缴至日起顺延。";
  current = c;
  showAmount();
}

let current = null;
let successor = null; // the certificate that renewed this one, if any
let fees = null;
function showAmount() {
  if (!document.getElementById("renew-years")) return; // the page became a "not found" notice
  const plan = fees && current && fees.plans.find((p) => p.code === current.plan);
  const years = Number(document.getElementById("renew-years").value);
  document.getElementById("renew-amount").textContent = plan ? `应缴 ${yuanOf(plan.renewal_fen * years)}` : "";
}
document.getElementById("renew-years").addEventListener("change", showAmount);
api("GET", "/public/fees").then((f) => { fees = f; showAmount(); }, () => {});


for (const b of document.querySelectorAll("[data-download]")) {
  b.addEventListener("click", async () => {
    const kind = b.dataset.download;
    b.disabled = true;
    try {
      const blob = await api("GET", `/certificates/${serial}/${kind}`);
      saveBlob(blob, kind === "der" ? `${serial}.cer` : kind === "chain" ? `${serial}-chain.pem` : `${serial}.pem`);
    } catch (e) {
      // refused: said (or, the session over, to the login page), never dropped unseen
      if (!leaveIfSignedOut(e)) toast(e instanceof ApiError ? messageFor(e) : "下载失败，请稍后重试", "error");
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
// the fee, then (for a certificate stopped for unpaid fees) its release: each its own key, kept
// for a retry, so a double click or a retry after a lost answer pays once
bindForm(document.getElementById("renew-pay-form"), {
  busyText: "正在缴费…",
  submit: async (data, key) => {
    const paid = await api("POST", `/certificates/${serial}/payments`, {
      json: { years: Number(data.years) }, idempotencyKey: key,
    });
    // paid: whatever happens next is not a reason to submit (and pay) again
    let c = current;
    let held = null;
    try {
      c = await api("GET", `/certificates/${serial}`);
      if (c.status === "on_hold" && c.hold_kind === "unpaid") {
        c = await api("POST", `/certificates/${serial}/unfreeze`, { idempotencyKey: `${key}:release` });
      }
    } catch (e) {
      if (!(e instanceof ApiError)) throw e;
      held = e;
    }
    return { paid, c, held };
  },
  onDone: ({ paid, c, held }) => {
    show(c);
    const done = `已缴费 ¥${paid.amount_yuan}`;
    if (held) toast(`${done}，但证书未能恢复使用：${messageFor(held)}`, "error");
    else toast(`${done}，服务费缴至 ${fmtTime(c.paid_until)}`);
  },
});
act("freeze-form", "freeze", (d) => ({ note: d.note.trim() || null }), "证书已冻结");
act("unfreeze-form", "unfreeze", () => undefined, "证书已解冻");
act("loss-form", "report-loss", () => undefined, "已挂失，证书已暂停使用");
act("restore-form", "restore", () => undefined, "已解除挂失");
act("revoke-form", "revoke", (d) => ({ reason: d.reason }), "证书已吊销");

// the forms are bound above, before the certificate is shown and its forms with it
try {
  // no serial (a link cut off): /certificates/ would answer the listing, not a certificate
  if (!serial) throw new ApiError(404, { code: "not_found" });
  const c = await api("GET", `/certificates/${serial}`);
  successor = (await allItems("/certificates")).find((x) => x.predecessor_id === c.id) || null;
  show(c);
} catch (e) {
  await refusedPage(e, { title: "证书详情", missing: "未找到该证书，或您无权查看。", back: ["/my/certificates", "返回证书与申请"] });
}
