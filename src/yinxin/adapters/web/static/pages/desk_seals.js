// Seals at the desk: the list (GET /seals?state=, paged), one seal's facts and picture, and the
// lifecycle acts its state allows — freeze, unfreeze, unlock after wrong PINs (an officer's act),
// revoke with a reason of 004 §十一 — each POST /seals/{id}/<verb>, audited as the officer.
import { api, el, fmtTime, requireSession } from "/static/api.js";
import {
  SEAL_REASONS, actButton, day, facts, lifecycleForm, options, pagedListing, sealBadge, sealUsability,
} from "/static/pages/common.js";

await requireSession("staff");
const filter = document.getElementById("state-filter");
options(document.getElementById("reason"), SEAL_REASONS, { blank: "请选择吊销原因" });
const VERBS = { freeze: "冻结", unfreeze: "解冻", unlock: "解除锁定", revoke: "吊销" };
let current = null;

function row(s) {
  return el("tr", { "data-es-id": s.es_id },
    el("td", { class: "mono", text: s.es_id }),
    el("td", { text: s.name }),
    el("td", { text: s.kind_title }),
    el("td", { text: s.holder_name }),
    el("td", {}, sealBadge(s), s.locked ? el("span", { class: "badge bad", text: "已锁定" }) : null),
    el("td", { text: day(s.valid_end) }),
    el("td", {}, actButton(() => select(s))),
  );
}

const load = pagedListing({
  path: "/seals", query: () => ({ state: filter.value }), table: "seals", row,
  empty: "没有符合条件的印章",
});

function allowed(s) {
  const v = [];
  if (s.state === "active") v.push("freeze");
  // frozen for a leaked PIN: the service refuses 解冻 until the holder has changed the PIN
  if (s.state === "frozen" && !s.awaits_pin_change) v.push("unfreeze");
  if (s.locked) v.push("unlock");
  if (s.state === "active" || s.state === "frozen") v.push("revoke");
  return v;
}

async function select(s) {
  current = s;
  document.getElementById("detail-title").textContent = `${s.name}（${s.es_id}）`;
  facts(document.getElementById("seal-facts"), [
    ["类型", s.kind_title],
    ["状态", sealBadge(s)],
    ["可否签署", sealUsability(s)],
    ["解冻", s.awaits_pin_change ? "待持有人修改印章密码（印章密码泄漏冻结，修改后方可解冻）" : null],
    ["持有人编号", s.subscriber_id],
    ["使用人", `${s.holder_name} ${s.holder_id_number || ""}`],
    ["运用项目", s.project],
    ["绑定证书", el("code", { text: s.certificate_serial })],
    ["有效期", `${fmtTime(s.valid_start)} 至 ${fmtTime(s.valid_end)}`],
    ["PIN 错误次数", s.failed_pin_attempts ?? "—"],
    ["授权成员", s.authorized_members.length ? s.authorized_members.join("、") : "无"],
    ["吊销原因", s.revocation_reason ? SEAL_REASONS[s.revocation_reason] || s.revocation_reason : null],
  ]);
  offerVerbs(allowed(s));
  document.getElementById("detail").hidden = false;
  const img = document.getElementById("seal-image");
  img.src = URL.createObjectURL(await api("GET", `/seals/${s.id}/image`));
  document.getElementById("detail").scrollIntoView({ behavior: "smooth", block: "start" });
}

const offerVerbs = lifecycleForm({
  names: VERBS,
  submit: (data, key) => {
    const note = data.note.trim() || null;
    const json = data.verb === "revoke" ? { reason: data.reason, note } : data.verb === "unfreeze" ? undefined : { note };
    return api("POST", `/seals/${current.id}/${data.verb}`, { json, idempotencyKey: key });
  },
  onDone: async (s) => {
    await select(s);
    await load();
  },
});

filter.addEventListener("change", () => load());
await load();
