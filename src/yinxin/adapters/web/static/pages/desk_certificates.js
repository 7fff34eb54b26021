// Certificates at the desk: the list (GET /certificates?status=, paged) and the lifecycle verbs
// the selected certificate's state allows — freeze, unfreeze, report loss, restore, revoke with a
// reason of 001/000 篇七 — each POST /certificates/{serial}/<verb>, audited as the officer. A
// revocation asks first; one for key compromise (or of a certificate reported lost) takes every
// other certificate in force with the same key, anyone's: the question says so beforehand and
// the answer's same_key_revoked is said afterwards (and the list shows them revoked). A loss
// report asks first too, saying what it does to the other certificates of the key (the
// holder's held with it, another subscriber's not), and names those it held (same_key_held).
import { api, commonName, fmtTime, label, requireSession, toast } from "/static/api.js";
import {
  CERT_REASONS, CERT_REASON_NAMES, actButton, certBadge, certificateRow, facts, lifecycleForm, options, pagedListing,
  lossQuestion, revokeQuestion, sameKeyHeld, sameKeyRevoked,
} from "/static/pages/common.js";

await requireSession("staff");
const filter = document.getElementById("status-filter");
options(document.getElementById("reason"), CERT_REASONS, { blank: "请选择吊销原因" });
const VERBS = {
  freeze: "冻结", unfreeze: "解冻", "report-loss": "挂失", restore: "解除挂失", revoke: "吊销",
};
const sameKeyNotice = document.getElementById("same-key-revoked");
const heldNotice = document.getElementById("same-key-held");
let current = null;

const row = (c) => certificateRow(c, c.serial, actButton(() => select(c)));

const load = pagedListing({
  path: "/certificates", query: () => ({ status: filter.value }), table: "certificates", row,
  empty: "没有符合条件的证书",
});

function allowed(c) {
  if (c.status === "active") return ["freeze", "report-loss", "revoke"];
  // a loss is reported over a freeze or a stop for unpaid fees too; restore goes back to that hold
  if (c.status === "on_hold") {
    if (c.hold_kind === "lost") return ["restore", "revoke"];
    // stopped for unpaid fees: released once the fee is in (the API refuses it before)
    const unpaid = c.hold_kind === "unpaid" && !(c.paid_until && new Date(c.paid_until) > new Date());
    return unpaid ? ["report-loss", "revoke"] : ["unfreeze", "report-loss", "revoke"];
  }
  return [];
}

function select(c) {
  current = c;
  sameKeyNotice.hidden = true;
  heldNotice.hidden = true;
  document.getElementById("detail-title").textContent = `证书 ${c.serial}`;
  facts(document.getElementById("cert-facts"), [
    ["持有人", commonName(c.subject)],
    ["主题", c.subject],
    ["用户编号", c.subscriber_id],
    ["类型", label("profile", c.profile)],
    ["状态", certBadge(c)],
    ["有效期", `${fmtTime(c.not_before)} 至 ${fmtTime(c.not_after)}`],
    ["吊销原因", c.revocation_reason ? CERT_REASON_NAMES[c.revocation_reason] || "其他情况" : null],
  ]);
  offerVerbs(allowed(c));
  document.getElementById("detail").hidden = false;
  document.getElementById("detail").scrollIntoView({ behavior: "smooth", block: "start" });
}

const offerVerbs = lifecycleForm({
  names: VERBS,
  onVerb: (verb) => { document.getElementById("note-field").hidden = verb !== "freeze"; },
  submit: (data, key) => {
    const verb = data.verb;
    if (verb === "revoke" && !confirm(revokeQuestion(current, data.reason))) return null;
    if (verb === "report-loss" && !confirm(lossQuestion(current))) return null;
    const json = verb === "revoke" ? { reason: data.reason } : verb === "freeze" ? { note: data.note.trim() || null } : undefined;
    return api("POST", `/certificates/${current.serial}/${verb}`, { json, idempotencyKey: key });
  },
  onDone: async (c) => {
    select(c);
    const said = sameKeyRevoked(c);
    if (said) {
      sameKeyNotice.textContent = said;
      sameKeyNotice.hidden = false;
      toast(`已办理：吊销。${said}`);
    }
    if (c.same_key_held) {
      heldNotice.textContent = sameKeyHeld(c);
      heldNotice.hidden = false;
      toast(`已办理：挂失。${heldNotice.textContent}`);
    }
    await load();
  },
});

filter.addEventListener("change", () => load());
await load();
