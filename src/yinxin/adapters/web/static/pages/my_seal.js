// One seal: its facts and picture, its SESeal records and application forms, the seal
// application form of 004 for 续费/变更/注销 (POST /seal-applications with business_type renew,
// change or cancel, prefilled from the seal), freeze/unfreeze and, for an organization's seal,
// the grants to its members (POST /seals/{id}/grants, …/grants/{member}/withdraw).
import {
  ApiError, FIELD_MESSAGES, LABELS, MESSAGES, allItems, api, bindForm, el, emptyRow, fmtTime, label, messageFor, requireSession, toast, whileBusy,
} from "/static/api.js";
import {
  day, facts, liveCheck, options, param, refusedPage, sealBadge, sealUsability, who,
} from "/static/pages/common.js";
import { checkIdDocument } from "/static/pages/idcheck.js";

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
    ["可否签署", sealUsability(s)],
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
  document.getElementById("seal-form").hidden = !live;
  prefill(s);
  document.getElementById("freeze-form").hidden = s.state !== "active";
  // a freeze the certification authority imposed is lifted by it: not offered to the holder
  const byCa = s.state === "frozen" && (s.hold_by === "ca" || (s.hold_kind === "frozen" && s.hold_by !== "holder"));
  document.getElementById("unfreeze-form").hidden = s.state !== "frozen" || byCa;
  document.getElementById("ca-hold").hidden = !byCa;
  // the PIN of a platform-held key: a leak freezes the seal until the PIN is changed
  const pinned = s.key === "platform";
  document.getElementById("leak-form").hidden = !(pinned && s.state === "active");
  document.getElementById("pin-form").hidden = !(pinned && live);
  document.getElementById("pin-hint").textContent = s.hold_kind === "pin_leak"
    ? "本印章因印章密码泄漏已冻结：请先修改印章密码，再解冻。"
    : "修改后，使用同一密钥的印章均改用新密码。";
  for (const n of document.querySelectorAll(".org-only")) n.hidden = s.kind === "personal";
  document.getElementById("grants-card").hidden = !(isOrgSession && s.kind !== "personal" && live);
}

// --- the seal application form (004): 续费 / 变更 / 注销 --------------------------------------
Object.assign(MESSAGES, {
  certificate_ends: "印章有效期已到所绑定证书的到期日，请先续期证书后再续费印章",
  wrong_pin: "印章密码错误",
  seal_locked: "印章密码错误次数过多，印章已锁定，请联系受理点解锁",
  pin_change_required: "本印章因印章密码泄漏已冻结，请先修改印章密码再解冻",
});
Object.assign(FIELD_MESSAGES, {
  pin: "请输入当前印章密码",
  new_pin: "新印章密码应为6至64位，且不能与当前密码相同",
  new_pin2: "两次输入的新密码不一致",
});
const sealForm = document.getElementById("seal-form");
options(sealForm.elements.id_type, LABELS.idType);
liveCheck(sealForm.elements.id_number, (v, o) => checkIdDocument(sealForm.elements.id_type.value, v, o));
let me = null; // the signed-in subscriber's own record: a personal seal's holder
let prefilled = null;
function businessType() { return sealForm.elements.business_type.value; }
function showBusiness() {
  const bt = businessType();
  for (const n of sealForm.querySelectorAll("[data-for]")) n.hidden = !n.dataset.for.split(" ").includes(bt);
  // renewing and changing are for a usable seal; a frozen one can only be cancelled
  const frozen = seal && seal.state !== "active";
  for (const r of sealForm.querySelectorAll("input[name=business_type]")) {
    r.disabled = frozen && r.value !== "cancel";
  }
  document.getElementById("seal-form-submit").className = bt === "cancel" ? "btn danger" : "btn";
  document.getElementById("seal-form-submit").textContent =
    { renew: "提交续费申请", change: "提交变更申请", cancel: "提交注销申请" }[bt];
}
for (const r of sealForm.querySelectorAll("input[name=business_type]")) r.addEventListener("change", showBusiness);
// the form filled from the seal: project, holder, ID type; the full ID number only where the
// page may know it (a person's own seal) — the seal shows it masked, the applicant types it
function prefill(s) {
  if (prefilled === s.id + ":" + s.version) return;
  prefilled = s.id + ":" + s.version;
  const f = sealForm.elements;
  f.project.value = s.project || "";
  f.holder_name.value = s.holder_name || "";
  f.id_type.value = s.holder_id_type || "id_card";
  const own = me && me.id === s.subscriber_id && me.name === s.holder_name &&
    me.id_number && !me.id_number.includes("*") && me.id_number;
  f.id_number.value = own ? me.id_number : "";
  f.id_number.placeholder = s.holder_id_number || "";
  document.getElementById("f-id-hint").textContent = own ? "" : `登记的证件号码为 ${s.holder_id_number || "—"}，请完整填写以核对`;
  if (s.state !== "active") f.business_type.value = "cancel";
  showBusiness();
  fillCertificates(s).catch(() => {
    options(f.certificate_serial, [[s.certificate_serial, `${s.certificate_serial}（当前）`]]);
  });
}
// 绑定证书: the seal's certificate or another valid one of the holder for its kind — after the
// certificate was renewed, rekeyed or reissued, the newest of its line is chosen (the seal is
// moved onto it with certificate_serial; the old one may be revoked, or end before the renewal)
const KIND_PROFILE = { organization: "organization-signing", contract: "organization-signing", finance: "organization-signing", personal: "person-signing" };
async function fillCertificates(s) {
  const all = await allItems(`/certificates?subscriber_id=${s.subscriber_id}`);
  const now = Date.now();
  const usable = (c) => c.status === "active" && new Date(c.not_after).getTime() > now;
  const bySerial = new Map(all.map((c) => [c.serial, c]));
  const next = new Map(all.filter((c) => c.predecessor_id).map((c) => [c.predecessor_id, c]));
  let newest = bySerial.get(s.certificate_serial) || null;
  for (let c = newest; c && next.has(c.id);) { c = next.get(c.id); if (usable(c)) newest = c; }
  const fit = all.filter((c) => usable(c) && c.profile === KIND_PROFILE[s.kind]);
  const current = bySerial.get(s.certificate_serial);
  const pairs = fit.map((c) => [c.serial,
    `${c.serial}（至 ${day(c.not_after)}）${c.serial === s.certificate_serial ? "（当前）" : ""}`]);
  if (current && !usable(current)) pairs.unshift([current.serial, `${current.serial}（当前，已不可用）`]);
  const sel = sealForm.elements.certificate_serial;
  options(sel, pairs);
  sel.value = newest && usable(newest) ? newest.serial : s.certificate_serial;
  document.getElementById("f-cert-hint").textContent = sel.value !== s.certificate_serial
    ? "本印章所绑定的证书已续期或更换，已选择新证书：办理后印章改用新证书签名。"
    : "印章以所选证书签名，有效期不超过该证书的有效期。";
}

// a typed number must agree with the masked one the seal shows (first 3, last 4 characters)
function agreesWithMask(typed, masked) {
  if (!masked) return true;
  const t = typed.toUpperCase();
  return t.length === masked.length && [...masked].every((c, i) => c === "*" || c === t[i]);
}
function outcome(o) {
  const s = o.seal;
  document.getElementById("form-result").hidden = false;
  document.getElementById("form-result-title").textContent = `申请表已办理：${label("recordVerb", o.business_type) || o.business_type}`;
  facts(document.getElementById("form-result-facts"), [
    ["业务类型", { renew: "续费", change: "变更", cancel: "注销" }[o.business_type]],
    ["办理结果", o.status === "done" ? "已办理" : o.status],
    ["印章编码", el("code", { text: s.es_id })],
    ["印章状态", sealBadge(s)],
    ["有效期", `${fmtTime(s.valid_start)} 至 ${fmtTime(s.valid_end)}`],
    ["记录版本", `第 ${s.version} 版`],
  ]);
}
bindForm(sealForm, {
  busyText: "正在办理…",
  submit: async (d, key) => {
    const bt = businessType();
    if (!agreesWithMask(d.id_number.trim(), seal.holder_id_number)) {
      throw new ApiError(422, { code: "holder_mismatch", field: "id_number", detail: "mask" });
    }
    const body = {
      business_type: bt, seal: seal.es_id, project: d.project.trim(), holder_name: d.holder_name.trim(),
      id_type: d.id_type, id_number: d.id_number.trim().toUpperCase(), declaration_accepted: true,
    };
    if (bt === "renew") body.years = Number(d.years);
    if ((bt === "renew" || bt === "change") && d.certificate_serial && d.certificate_serial !== seal.certificate_serial) {
      body.certificate_serial = d.certificate_serial;
    }
    if (bt === "change") {
      if (d.center_text && d.center_text.trim()) body.center_text = d.center_text.trim();
      if (d.code && d.code.trim()) body.code = d.code.trim();
      const f = document.getElementById("change-scan").files[0];
      if (f) body.scan_base64 = await readFile(f);
    }
    return api("POST", "/seal-applications", { json: body, idempotencyKey: key });
  },
  onDone: async (o) => {
    toast({ renew: "已续费", change: "变更已完成", cancel: "印章已注销" }[o.business_type]);
    outcome(o);
    sealForm.elements.declaration_accepted.checked = false;
    prefilled = null;
    await refresh();
    document.getElementById("form-result").scrollIntoView({ block: "start" });
  },
});

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

const GRANT_STATES = {
  active: () => "有效",
  expired: (g) => `已过期（授权期限 ${fmtTime(g.valid_until)} 已过）`,
  used_up: () => "用印次数已用完",
  // made before such grants were refused: signs nothing, kept for the organization to withdraw
  other_organization: () => "不生效：被授权人不属于本单位，请撤销",
  withdrawn: (g) => `已于 ${fmtTime(g.withdrawn_at)} 由 ${who(g.withdrawn_by, session)} 撤销`,
};

async function grants() {
  if (document.getElementById("grants-card").hidden) return;
  const [list, members] = await Promise.all([
    api("GET", `/seals/${id}/grants?include_withdrawn=true`),
    allItems("/subscribers?kind=person"), // every member, not the first 200
  ]);
  // a member whose grant expired or is used up may be granted again; one in force may not
  const active = new Set(list.filter((g) => g.state === "active").map((g) => g.member_subscriber_id));
  options(document.getElementById("member"),
    members.filter((m) => !active.has(m.id)).map((m) => [String(m.id), `${m.name}（${m.phone}）`]),
    { blank: "请选择机构成员" });
  document.querySelector("#grants tbody").replaceChildren(...(list.length ? list.map((g) => {
    const name = g.member_name || `用户 ${g.member_subscriber_id}`;
    const withdraw = g.active ? el("button", { type: "button", class: "btn secondary small", "data-withdraw": String(g.member_subscriber_id), text: "撤销授权" }) : null;
    if (withdraw) withdraw.addEventListener("click", () => withdrawGrant(withdraw, g.member_subscriber_id, name));
    return el("tr", { "data-member": String(g.member_subscriber_id), "data-active": String(g.active) },
      el("td", { text: name }),
      el("td", { text: g.note || "—" }),
      el("td", { text: who(g.granted_by, session) }),
      el("td", { text: fmtTime(g.granted_at) }),
      el("td", { "data-col": "until", text: g.valid_until ? `至 ${fmtTime(g.valid_until)}` : "长期" }),
      el("td", { "data-col": "uses", text: g.max_uses == null ? `不限（已用 ${g.uses} 次）` : `剩余 ${g.remaining_uses} 次（共 ${g.max_uses} 次）` }),
      el("td", { "data-col": "state", text: GRANT_STATES[g.state] ? GRANT_STATES[g.state](g) : g.state }),
      el("td", {}, withdraw),
    );
  }) : [emptyRow(8, "尚未授权任何成员")]));
}

// a withdrawal is one act, asked for once more before it is done (it takes effect at once: a
// slip of the finger would stop a member's signing): its key is kept until an answer comes,
// so a retry after a lost answer does it once; a refusal (withdrawn meanwhile by someone else)
// is said and the list read again, so the page shows the grant as it now stands
const withdrawKeys = {};
function withdrawGrant(button, member, name) {
  if (!confirm(`撤销${name}使用印章 ${seal.es_id} 的授权？撤销立即生效，该成员将不能再使用本印章签署文件。`)) return;
  return whileBusy(button, "正在撤销…", async () => {
    withdrawKeys[member] = withdrawKeys[member] || crypto.randomUUID();
    try {
      await api("POST", `/seals/${id}/grants/${member}/withdraw`, { json: {}, idempotencyKey: withdrawKeys[member] });
      delete withdrawKeys[member];
      toast(`已撤销${name}的用印授权`);
      await refresh();
    } catch (e) {
      if (!(e instanceof ApiError)) throw e;
      // the outcome unknown (no answer, 5xx, still running): the same key again on the next click
      if (!(e.status === 0 || e.status >= 500 || e.code === "idempotency_in_progress")) {
        delete withdrawKeys[member];
        await grants();
      }
      toast(messageFor(e), "error");
    }
  });
}

async function refresh() {
  if (!me) me = await api("GET", `/subscribers/${session.subscriber_id}`).catch(() => ({}));
  show(await api("GET", `/seals/${id}`));
  await Promise.all([picture(), history(), grants()]);
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
act("freeze-form", "freeze", (d) => ({ note: d.note.trim() || null }), "印章已冻结");
act("unfreeze-form", "unfreeze", () => undefined, "印章已解冻");
bindForm(document.getElementById("leak-form"), {
  busyText: "正在办理…",
  submit: (d, key) => api("POST", `/seals/${id}/report-pin-leak`, { json: { note: d.note.trim() || null }, idempotencyKey: key }),
  onDone: async (out) => {
    document.getElementById("leak-form").reset();
    const also = out.also_frozen.length ? `，同一密码的另 ${out.also_frozen.length} 枚印章（${out.also_frozen.join("、")}）一并冻结` : "";
    toast(`已报告印章密码泄漏，印章已冻结${also}。请修改印章密码后解冻。`);
    await refresh();
  },
});
// the new PIN is typed twice; neither PIN stays in the form once the change is done
const pinForm = document.getElementById("pin-form");
bindForm(pinForm, {
  busyText: "正在修改…",
  submit: async (d, key) => {
    if (d.new_pin !== d.new_pin2) throw new ApiError(422, { code: "invalid", field: "new_pin2", detail: "differ" });
    try {
      return await api("POST", `/seals/${id}/change-pin`, { json: { pin: d.pin, new_pin: d.new_pin }, idempotencyKey: key });
    } catch (e) {
      const left = e instanceof ApiError && e.code === "wrong_pin" && /(\d+) attempts? left/.exec(e.problem.detail || "");
      if (left) throw new ApiError(e.status, { ...e.problem, code: "explained", detail: `印章密码错误，还可尝试 ${left[1]} 次` });
      throw e;
    }
  },
  onDone: async () => {
    pinForm.reset();
    toast(seal && seal.hold_kind === "pin_leak" ? "印章密码已修改，现在可以解冻印章" : "印章密码已修改");
    await refresh();
  },
});
// a grant refused because the member was granted meanwhile (another tab, another
// administrator): said at the member field, and the list read again to show that grant
// 授权期限 (a local time, sent with its zone) and 用印次数 (a whole number ≥ 1) are optional;
// wrong ones are said at their field, here and, for what only the server knows, from its answer
const UNTIL_PAST = "授权期限须晚于当前时间";
const UNTIL_LATE = () => `授权期限不能晚于印章有效期截止时间（${fmtTime(seal.valid_end)}）`;
const USES_BAD = "用印次数须为不小于1的整数";
const explained = (field, detail) => new ApiError(422, { code: "explained", field, detail });
bindForm(document.getElementById("grant-form"), {
  busyText: "正在授权…",
  submit: async (d, key) => {
    const body = { member_subscriber_id: Number(d.member_subscriber_id), note: d.note.trim() || null };
    if (d.valid_until) {
      const until = new Date(d.valid_until);
      if (Number.isNaN(until.getTime()) || until <= new Date()) throw explained("valid_until", UNTIL_PAST);
      if (seal && until > new Date(seal.valid_end)) throw explained("valid_until", UNTIL_LATE());
      body.valid_until = until.toISOString();
    }
    const uses = String(d.max_uses || "").trim();
    if (uses) {
      if (!/^[1-9][0-9]{0,6}$/.test(uses)) throw explained("max_uses", USES_BAD);
      body.max_uses = Number(uses);
    }
    try {
      return await api("POST", `/seals/${id}/grants`, { json: body, idempotencyKey: key });
    } catch (e) {
      if (e instanceof ApiError && e.code === "already_granted") await grants();
      if (e instanceof ApiError && e.code === "invalid" && e.field === "valid_until") {
        throw explained("valid_until", /future/.test(e.problem.detail || "") ? UNTIL_PAST : UNTIL_LATE());
      }
      if (e instanceof ApiError && e.code === "invalid" && e.field === "max_uses") throw explained("max_uses", USES_BAD);
      throw e;
    }
  },
  onDone: async (g) => {
    document.getElementById("grant-form").reset();
    toast(`已授权${g.member_name || ""}使用本印章`);
    await refresh();
  },
});

// the forms are bound above, before the seal is shown and its forms with it: a form shown
// before its handler would be submitted by the browser itself, to this page's address
try {
  await refresh();
} catch (e) {
  // another's seal answers as one that does not exist: the page shows nothing of it
  await refusedPage(e, { title: "印章详情", missing: "未找到该印章，或您无权查看。", back: ["/my/seals", "返回我的印章"] });
}
