// Seals at the desk: the list (GET /seals?state=, paged), one seal's facts and picture, and the
// lifecycle acts its state allows — freeze, unfreeze, unlock after wrong PINs (an officer's act),
// revoke with a reason of 004 §十一 — each POST /seals/{id}/<verb>, audited as the officer.
import { api, bindForm, el, fmtTime, requireSession, toast } from "/static/api.js";
import { SEAL_REASONS, day, facts, fillPage, options, sealBadge } from "/static/pages/common.js";

await requireSession("staff");
const filter = document.getElementById("state-filter");
const more = document.getElementById("more");
const verbSel = document.getElementById("verb");
options(document.getElementById("reason"), SEAL_REASONS, { blank: "请选择吊销原因" });
const VERBS = { freeze: "冻结", unfreeze: "解冻", unlock: "解除锁定", revoke: "吊销" };
let next = null, current = null;

function row(s) {
  const open = el("button", { type: "button", class: "btn secondary small", text: "办理" });
  open.addEventListener("click", () => select(s));
  return el("tr", { "data-es-id": s.es_id },
    el("td", { class: "mono", text: s.es_id }),
    el("td", { text: s.name }),
    el("td", { text: s.kind_title }),
    el("td", { text: s.holder_name }),
    el("td", {}, sealBadge(s), s.locked ? el("span", { class: "badge bad", text: "已锁定" }) : null),
    el("td", { text: day(s.valid_end) }),
    el("td", {}, open),
  );
}

async function load(append = false) {
  const page = await fillPage({
    path: "/seals", query: { state: filter.value }, append, after: next,
    body: document.querySelector("#seals tbody"), row, columns: 7,
    empty: "没有符合条件的印章", more,
  });
  next = page.next;
}

function allowed(s) {
  const v = [];
  if (s.state === "active") v.push("freeze");
  if (s.state === "frozen") v.push("unfreeze");
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
    ["持有人编号", s.subscriber_id],
    ["使用人", `${s.holder_name} ${s.holder_id_number || ""}`],
    ["运用项目", s.project],
    ["绑定证书", el("code", { text: s.certificate_serial })],
    ["有效期", `${fmtTime(s.valid_start)} 至 ${fmtTime(s.valid_end)}`],
    ["PIN 错误次数", s.failed_pin_attempts ?? "—"],
    ["授权成员", s.authorized_members.length ? s.authorized_members.join("、") : "无"],
    ["吊销原因", s.revocation_reason ? SEAL_REASONS[s.revocation_reason] || s.revocation_reason : null],
  ]);
  const verbs = allowed(s);
  options(verbSel, verbs.map((v) => [v, VERBS[v]]));
  document.getElementById("act-form").hidden = !verbs.length;
  verbChanged();
  document.getElementById("detail").hidden = false;
  const img = document.getElementById("seal-image");
  img.src = URL.createObjectURL(await api("GET", `/seals/${s.id}/image`));
  document.getElementById("detail").scrollIntoView({ behavior: "smooth", block: "start" });
}

function verbChanged() { document.getElementById("reason-field").hidden = verbSel.value !== "revoke"; }
verbSel.addEventListener("change", verbChanged);

bindForm(document.getElementById("act-form"), {
  busyText: "正在办理…",
  submit: (data, key) => {
    const note = data.note.trim() || null;
    const json = data.verb === "revoke" ? { reason: data.reason, note } : data.verb === "unfreeze" ? undefined : { note };
    return api("POST", `/seals/${current.id}/${data.verb}`, { json, idempotencyKey: key });
  },
  onDone: async (s) => {
    toast(`已办理：${VERBS[verbSel.value]}`);
    document.getElementById("act-form").reset();
    await select(s);
    await load();
  },
});

filter.addEventListener("change", () => load());
more.addEventListener("click", () => load(true));
await load();
