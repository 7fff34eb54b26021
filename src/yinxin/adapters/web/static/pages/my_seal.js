// One seal: its facts and picture, its SESeal records and application forms, the holder's
// lifecycle acts (renew, change, freeze/unfreeze, cancel) and, for an organization's seal, the
// grants to its members (POST /seals/{id}/grants, …/grants/{member}/withdraw).
import { ApiError, api, bindForm, el, fmtTime, label, messageFor, requireSession, toast } from "/static/api.js";
import { day, emptyRow, facts, options, param, sealBadge, who } from "/static/pages/common.js";

const session = await requireSession("subscriber");
const id = (param("id") || "").replace(/[^0-9]/g, "");
if (param("made")) document.getElementById("made").hidden = false;
const isOrgSession = session.organization_id === session.subscriber_id;
let seal = null;

async function picture() {
  const img = document.getElementById("seal-image");
  const old = img.src;
  img.src = URL.createObjectURL(await api("GET", `/seals/${id}/image`));
  if (old && old.startsWith("blob:")) URL.revokeObjectURL(old);
}

function show(s) {
  seal = s;
  document.getElementById("seal-title").textContent = s.name;
  document.getElementById("state-badge").replaceChildren(sealBadge(s));
  facts(document.getElementById("seal-facts"), [
    ["印章编码", el("code", { text: s.es_id })],
    ["印章名称", s.name],
    ["印章类型", s.kind_title],
    ["状态", sealBadge(s)],
    ["可否签署", s.usable ? "可以使用" : `暂不可用${s.unusable_reason ? "（" + s.unusable_reason + "）" : ""}`],
    ["运用项目", s.project],
    ["使用人", `${s.holder_name}（${label("idType", s.holder_id_type)} ${s.holder_id_number || ""}）`],
    ["中心文字", s.center_text],
    ["印章编码（下弦文）", s.code],
    ["印模", label("imageSource", s.image_source) + `，${s.width_mm} × ${s.height_mm} mm`],
    ["绑定证书", el("code", { text: s.certificate_serial })],
    ["有效期", `${fmtTime(s.valid_start)} 至 ${fmtTime(s.valid_end)}`],
    ["记录版本", `第 ${s.version} 版`],
  ]);
  const live = s.state === "active" || s.state === "frozen";
  document.getElementById("actions").hidden = !live;
  document.getElementById("renew-form").hidden = s.state !== "active";
  document.getElementById("change-form").hidden = s.state !== "active";
  document.getElementById("freeze-form").hidden = s.state !== "active";
  document.getElementById("unfreeze-form").hidden = s.state !== "frozen";
  for (const n of document.querySelectorAll(".org-only")) n.hidden = s.kind === "personal";
  document.getElementById("grants-card").hidden = !(isOrgSession && s.kind !== "personal" && live);
}

async function history() {
  const [records, forms] = await Promise.all([
    api("GET", `/seals/${id}/records`),
    api("GET", `/seals/${id}/applications`),
  ]);
  document.querySelector("#records tbody").replaceChildren(...records.map((r) => el("tr", {},
    el("td", { text: `第 ${r.version} 版` }),
    el("td", { text: label("recordVerb", r.verb) }),
    el("td", { class: "mono", text: r.certificate_serial }),
    el("td", { text: `${day(r.valid_start)} 至 ${day(r.valid_end)}` }),
    el("td", { text: fmtTime(r.made_at) }),
  )));
  document.querySelector("#forms tbody").replaceChildren(...(forms.length ? forms.map((f) => el("tr", {},
    el("td", { text: f.business_title }),
    el("td", { text: f.project }),
    el("td", { text: f.holder_name }),
    el("td", { text: `${f.holder_id_type_title || f.holder_id_type} ${f.holder_id_number || ""}` }),
    el("td", { text: who(f.submitted_by, session) }),
    el("td", { text: fmtTime(f.submitted_at) }),
  )) : [emptyRow(6, "无")]));
}

async function grants() {
  if (document.getElementById("grants-card").hidden) return;
  const [list, members] = await Promise.all([
    api("GET", `/seals/${id}/grants?include_withdrawn=true`),
    api("GET", "/subscribers?kind=person&limit=200"),
  ]);
  const active = new Set(list.filter((g) => g.active).map((g) => g.member_subscriber_id));
  options(document.getElementById("member"),
    members.items.filter((m) => !active.has(m.id)).map((m) => [String(m.id), `${m.name}（${m.phone}）`]),
    { blank: "请选择机构成员" });
  document.querySelector("#grants tbody").replaceChildren(...(list.length ? list.map((g) => {
    const withdraw = g.active ? el("button", { type: "button", class: "btn secondary small", "data-withdraw": String(g.member_subscriber_id), text: "撤销授权" }) : null;
    if (withdraw) withdraw.addEventListener("click", () => withdrawGrant(withdraw, g.member_subscriber_id));
    return el("tr", { "data-member": String(g.member_subscriber_id), "data-active": String(g.active) },
      el("td", { text: g.member_name || `用户 ${g.member_subscriber_id}` }),
      el("td", { text: who(g.granted_by, session) }),
      el("td", { text: fmtTime(g.granted_at) }),
      el("td", { text: g.active ? "有效" : `已于 ${fmtTime(g.withdrawn_at)} 撤销` }),
      el("td", {}, withdraw),
    );
  }) : [emptyRow(5, "尚未授权任何成员")]));
}

// a withdrawal is one act: its key is kept until an answer comes, so a retry does it once
const withdrawKeys = {};
async function withdrawGrant(button, member) {
  button.disabled = true;
  withdrawKeys[member] = withdrawKeys[member] || crypto.randomUUID();
  try {
    await api("POST", `/seals/${id}/grants/${member}/withdraw`, { json: {}, idempotencyKey: withdrawKeys[member] });
    delete withdrawKeys[member];
    toast("已撤销授权");
    await refresh();
  } catch (e) {
    button.disabled = false;
    toast(e instanceof ApiError ? messageFor(e) : String(e), "error");
  }
}

async function refresh() {
  show(await api("GET", `/seals/${id}`));
  await Promise.all([picture(), history(), grants()]);
}
try {
  await refresh();
} catch (e) {
  if (!(e instanceof ApiError)) throw e;
  // another's seal answers as one that does not exist: the page shows nothing of it
  document.querySelector("main").replaceChildren(
    el("div", { class: "page-title" }, el("h1", { text: "印章详情" })),
    el("div", { class: "notice", id: "not-found", text: e.status === 404 ? "未找到该印章，或您无权查看。" : messageFor(e) }),
    el("p", {}, el("a", { class: "btn secondary", href: "/my/seals", text: "返回我的印章" })),
  );
  await new Promise(() => {}); // nothing more to show
}

const readFile = (file) => new Promise((resolve) => {
  const r = new FileReader();
  r.onload = () => resolve(String(r.result).split(",", 2)[1]);
  r.readAsDataURL(file);
});

const act = (formId, path, body, done) => bindForm(document.getElementById(formId), {
  busyText: "正在办理…",
  submit: async (data, key) => api("POST", `/seals/${id}/${path}`, { json: await body(data), idempotencyKey: key }),
  onDone: async () => { document.getElementById(formId).reset(); toast(done); await refresh(); },
});
act("renew-form", "renew", (d) => ({ years: Number(d.years) }), "已续费");
act("change-form", "change", async (d) => {
  const b = {};
  if (d.center_text && d.center_text.trim()) b.center_text = d.center_text.trim();
  if (d.code && d.code.trim()) b.code = d.code.trim();
  const f = document.getElementById("change-scan").files[0];
  if (f) b.scan_base64 = await readFile(f);
  else if (b.center_text || b.code) b.software = true;
  return b;
}, "变更已完成");
act("freeze-form", "freeze", (d) => ({ note: d.note.trim() || null }), "印章已冻结");
act("unfreeze-form", "unfreeze", () => undefined, "印章已解冻");
act("cancel-form", "cancel", () => undefined, "印章已注销");
act("grant-form", "grants", (d) => ({ member_subscriber_id: Number(d.member_subscriber_id), note: d.note.trim() || null }), "已授权");
