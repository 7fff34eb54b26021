// Certificates at the desk: the list (GET /certificates?status=, paged) and the lifecycle verbs
// the selected certificate's state allows — freeze, unfreeze, report loss, restore, revoke with a
// reason of 001/000 篇七 — each POST /certificates/{serial}/<verb>, audited as the officer. A
// revocation asks first; one for key compromise (or of a certificate reported lost) takes every
// other certificate in force with the same key, anyone's: the question says so beforehand and
// the answer's same_key_revoked is said afterwards (and the list shows them revoked). A loss
// report asks first too, saying what it does to the other certificates of the key (the
// holder's held with it, another subscriber's not), and names those it held (same_key_held); a
// restore names those it released from the loss with it (same_key_released).
// 变更 (certificate change, the desk's only: an officer checks the documents behind the new
// subject data) takes the new data the subscriber's kind allows, asks first — naming the
// holder's other certificates in force for the key, revoked with it — and then says the new
// certificate and the ones it revoked (same_key_revoked); the new one is shown.
import { ApiError, api, commonName, fmtTime, label, requireSession, toast } from "/static/api.js";
import {
  CERT_REASONS, CERT_REASON_NAMES, actButton, certBadge, certificateRow, changeDone, changeQuestion, facts,
  lifecycleForm, options, pagedListing, lossQuestion, revokeQuestion, sameKeyHeld, sameKeyReleased, sameKeyRevoked,
  unreachableMark,
} from "/static/pages/common.js";

await requireSession("staff");
const filter = document.getElementById("status-filter");
options(document.getElementById("reason"), CERT_REASONS, { blank: "请选择吊销原因" });
const VERBS = {
  freeze: "冻结", unfreeze: "解冻", "report-loss": "挂失", restore: "解除挂失", revoke: "吊销",
  change: "变更",
};
// what a change may take, by the subscriber's kind (yinxin.registry.certificates._apply_updates):
// [field, its input's id, its name in the question]; the subject's, then its contact details
const CHANGE_FIELDS = {
  person: [["name", "change-name", "新名称"], ["phone", "change-phone", "新手机号"]],
  organization: [
    ["name", "change-name", "新名称"], ["legal_representative", "change-legal-representative", "新法定代表人"],
    ["contact_name", "change-contact-name", "新联系人"], ["contact_phone", "change-contact-phone", "新联系电话"],
    ["phone", "change-phone", "新手机号"],
  ],
  device: [["device_name", "change-device-name", "新设备名称"]],
};
const ALL_CHANGE_IDS = [...new Set(Object.values(CHANGE_FIELDS).flat().map(([, id]) => id))];
const changeFields = document.getElementById("change-fields");
const holders = {}; // subscriber id → GET /subscribers/{id}, asked once
const sameKeyNotice = document.getElementById("same-key-revoked");
const heldNotice = document.getElementById("same-key-held");
const releasedNotice = document.getElementById("same-key-released");
let current = null;

const row = (c) => certificateRow(c, c.serial, actButton(() => select(c)));

const load = pagedListing({
  path: "/certificates", query: () => ({ status: filter.value }), table: "certificates", row,
  empty: "没有符合条件的证书",
});

function allowed(c) {
  if (c.status === "active") return ["freeze", "report-loss", "revoke", "change"];
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
  releasedNotice.hidden = true;
  document.getElementById("detail-title").textContent = `证书 ${c.serial}`;
  certFacts(c, null);
  // the holder's record, asked once: whether its notices (revoked, frozen, expiring) reach it
  holderOf(c).then((sub) => { if (current === c) certFacts(c, sub); }, () => {});
  offerVerbs(allowed(c));
  document.getElementById("detail").hidden = false;
  document.getElementById("detail").scrollIntoView({ behavior: "smooth", block: "start" });
}

function certFacts(c, sub) {
  facts(document.getElementById("cert-facts"), [
    ["持有人", commonName(c.subject)],
    ["主题", c.subject],
    ["用户编号", c.subscriber_id],
    ["类型", label("profile", c.profile)],
    ["状态", certBadge(c)],
    ["有效期", `${fmtTime(c.not_before)} 至 ${fmtTime(c.not_after)}`],
    ["吊销原因", c.revocation_reason ? CERT_REASON_NAMES[c.revocation_reason] || "其他情况" : null],
    ["通知", unreachableMark(sub)],
  ]);
}

const offerVerbs = lifecycleForm({
  names: VERBS,
  onVerb: (verb) => {
    document.getElementById("note-field").hidden = verb !== "freeze";
    showChangeFields(verb === "change");
  },
  submit: async (data, key) => {
    const verb = data.verb;
    if (verb === "change") return change(data, key);
    if (verb === "revoke" && !confirm(revokeQuestion(current, data.reason))) return null;
    if (verb === "report-loss" && !confirm(lossQuestion(current))) return null;
    const json = verb === "revoke" ? { reason: data.reason } : verb === "freeze" ? { note: data.note.trim() || null } : undefined;
    return api("POST", `/certificates/${current.serial}/${verb}`, { json, idempotencyKey: key });
  },
  onDone: async (c) => {
    if (c.previous) { // a change: the new certificate is shown, with what was revoked
      delete holders[c.certificate.subscriber_id]; // its record changed with it: asked again
      select(c.certificate);
      const said = changeDone(c);
      sameKeyNotice.textContent = said;
      sameKeyNotice.hidden = false;
      toast(`已办理：变更。${said}`);
      await load();
      return;
    }
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
    if (c.same_key_released) {
      const released = sameKeyReleased(c);
      releasedNotice.textContent = released || "";
      releasedNotice.hidden = !released;
      toast(released ? `已办理：解除挂失。${released}` : "已办理：解除挂失");
    }
    await load();
  },
});

/** The subscriber of the certificate shown: its kind says what a change may take. */
function holderOf(c) {
  if (!holders[c.subscriber_id]) holders[c.subscriber_id] = api("GET", `/subscribers/${c.subscriber_id}`);
  return holders[c.subscriber_id];
}

async function showChangeFields(on) {
  changeFields.hidden = !on;
  for (const id of ALL_CHANGE_IDS) document.getElementById(`${id}-field`).hidden = true;
  if (!on || !current) return;
  const c = current;
  const sub = await holderOf(c);
  if (c !== current) return; // another certificate chosen meanwhile
  for (const [field, id] of CHANGE_FIELDS[sub.kind] || []) {
    document.getElementById(`${id}-field`).hidden = false;
    const now = field === "device_name" ? sub.name : sub[field];
    document.getElementById(id).placeholder = now ? `当前：${now}` : "";
  }
}

/** The holder's other certificates in force for the key of `c`: those the change revokes with
 * it (the server's own query, the one the change runs). */
async function sameKeyOthers(c) {
  const page = await api("GET", `/certificates?${new URLSearchParams({ same_key_as: c.serial, limit: 200 })}`);
  return page.items.map((x) => x.serial);
}

async function change(data, key) {
  const sub = await holderOf(current);
  const fields = CHANGE_FIELDS[sub.kind] || [];
  const json = {};
  const said = [];
  for (const [field, , name] of fields) {
    const v = (data[field] || "").trim();
    if (v) { json[field] = v; said.push([name, v]); }
  }
  if (!said.length) {
    const field = fields.length ? fields[0][0] : "name";
    throw new ApiError(422, { code: "explained", field, detail: "请填写变更后的信息（只填需要变更的项）" });
  }
  if (!confirm(changeQuestion(current, said, await sameKeyOthers(current)))) return null;
  return api("POST", `/certificates/${current.serial}/change`, { json, idempotencyKey: key });
}

filter.addEventListener("change", () => load());
await load();
