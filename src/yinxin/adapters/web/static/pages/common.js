// What the self-service, seal and desk pages share beyond api.js: Chinese messages for the
// refusals of these routes, the revocation reasons of 001/004 as the API accepts them, field
// errors shown while typing, and small formatters.
import {
  ApiError, FIELD_MESSAGES, LABELS, MESSAGES, actorName, api, bindForm, commonName, el, emptyRow, fmtTime, label, messageFor,
  toast, whileBusy,
} from "/static/api.js";

Object.assign(MESSAGES, {
  duplicate: "该证件号码（或信用代码）已登记，请直接登录",
  phone_registered: "该手机号码已注册，请直接登录",
  agreement_required: "请先阅读并接受《电子认证服务协议》",
  already_paid: "该申请已缴费",
  unpaid: "尚未缴费，请先缴费",
  declaration_required: "请确认申请人声明",
  holder_mismatch: "印章使用人信息与登记信息不一致",
  illegal_transition: "当前状态下不能进行此操作",
  already_granted: "已授权该成员使用此印章",
  not_granted: "该成员没有此印章的使用授权",
  grant_expired: "用印授权已过期（超过授权期限），请联系本单位重新授权",
  grant_used_up: "用印授权的用印次数已用完，请联系本单位重新授权",
  grant_not_in_force: "该自动签署授权所依据的用印授权已撤销或已过期，授权不再生效，请撤销后重新授权",
  certificate_not_valid: "所选证书当前不可用",
  certificate_mismatch: "证书与印章类型或持有人不符",
  nothing_to_change: "没有需要变更的内容",
  wrong_pin: "PIN 码错误",
  phone_change_at_desk: "未登记手机号，无法在线添加或更换：请到受理点办理（受理员当面核验身份）",
  same_key: "证书请求（CSR）所含的是要替换的原密钥，请生成新的密钥对后重新提交",
  compromised_key: "该密钥已被报告泄露或挂失，不能再为其签发证书，请生成新的密钥对后重新提交",
  seal_locked: "印章已锁定，请联系受理点",
  pin_change_required: "请先修改印章密码再解冻",
  certificate_required: "请选择证书或申请新证书",
  retry: "数据刚刚发生变化，请重试",
  not_found: "未找到相应记录",
});

Object.assign(FIELD_MESSAGES, {
  name: "请填写名称（不能含不可见字符）",
  id_number: "证件号码不正确，请核对",
  uscc: "统一社会信用代码不正确，请核对",
  legal_representative: "请填写法定代表人姓名",
  contact_name: "请填写联系人姓名",
  contact_phone: "请填写联系电话（手机或带区号的固定电话）",
  email: "电子邮箱格式不正确",
  pin: "PIN 码应为6至64位",
  pin2: "两次输入的 PIN 码不一致",
  csr: "证书请求（CSR）格式不正确",
  reason: "请填写或选择原因",
  project: "请填写运用项目",
  holder_name: "请填写印章使用人姓名",
  center_text: "中心文字最多12个字",
  code: "印章编码只能由字母、数字和“-”组成，最多24位",
  scan: "请上传 PNG 或 JPEG 格式的印模扫描件（不超过5 MB）",
  kind: "印章类型与申请主体不符",
  certificate_serial: "请选择有效的签名证书",
  declaration_accepted: "请确认申请人声明",
  member_subscriber_id: "请选择机构成员",
  years: "年限应为1至5年",
  // a holder's own phone change: a code to the new number and one to the registered number
  phone_code: "请输入发送到新手机号的6位验证码",
  phone_challenge_id: "请先获取发送到新手机号的验证码",
  current_phone_code: "请输入发送到原手机号的6位验证码",
  current_phone_challenge_id: "请先获取发送到原手机号的验证码",
});

Object.assign(LABELS, {
  application: { ...LABELS.application },
  hold: { frozen: "已冻结", unpaid: "欠费停用", lost: "已挂失", pin_leak: "密码泄漏冻结" },
  keyMode: { platform: "平台托管密钥", csr: "用户自备密钥（CSR）" },
  sealKind: { organization: "公章", contract: "合同专用章", finance: "财务专用章", personal: "个人名章" },
  idType: {
    id_card: "居民身份证", passport: "护照", hk_macao_permit: "港澳居民来往内地通行证",
    taiwan_permit: "台湾居民来往大陆通行证", foreign_permanent_residence: "外国人永久居留身份证",
  },
  imageSource: { software: "软件制作", scan: "印模扫描" },
  recordVerb: { create: "新申请", renew: "续费", change: "变更" },
  role: { ...LABELS.role, organization_admin: "机构管理员" },
});

// Certificate revocation reasons (001 §二.3, 000 篇七), as yinxin.registry.lifecycle lists them.
export const CERT_REASONS = {
  key_compromise: "与证书中的公钥相对应的私钥被泄密",
  no_longer_needed: "证书不再需要用于原来的用途",
  stolen_or_forged: "数字证书已被盗用、冒用、伪造或篡改",
  false_application_data: "申请资料或信息不真实、不完整或不准确",
  harm_to_relying_parties: "其他可能对依赖方造成损害的情况",
  fees_unpaid: "证书的服务费未按约定收到",
  subject_changed: "证书主体信息变更",
  unspecified: "其他情况",
};
// …and the reason the platform itself records when a certificate is replaced by rekey or
// reissue (not one an officer chooses): every reason a revoked certificate can show
export const CERT_REASON_NAMES = { ...CERT_REASONS, superseded: "新的密钥对替代旧的密钥对（已更换密钥或重发）" };
// the reasons a holder gives (the others are the CA's)
export const HOLDER_CERT_REASONS = [
  "key_compromise", "no_longer_needed", "stolen_or_forged", "unspecified",
];
// the reasons that say the key itself is compromised (yinxin.registry.certificates.COMPROMISE_REASONS)
const COMPROMISE_REASONS = ["key_compromise", "stolen_or_forged"];

/** The question asked before revoking `c` for `reason` (the desk and the holder's page): for a
 * compromised key (or a lost certificate, whose revocation is recorded as key compromise
 * whatever the reason) it says that every other certificate of the key, anyone's, goes with it. */
export function revokeQuestion(c, reason) {
  const ask = `确定吊销证书 ${c.serial}（${CERT_REASONS[reason] || "其他情况"}）？吊销后不可恢复。`;
  if (!COMPROMISE_REASONS.includes(reason) && c.hold_kind !== "lost") return ask;
  return `${ask}\n该证书的密钥视为已泄露：使用同一密钥的所有其他有效证书（包括其他用户的）将一并吊销。`;
}

/** What is said of the other certificates a revocation took with it (the answer's
 * same_key_revoked, their serials), or null when there were none. */
export function sameKeyRevoked(c) {
  const also = (c && c.same_key_revoked) || [];
  return also.length ? `同一密钥的其他证书已一并吊销：${also.join("、")}` : null;
}

/** What a loss report (挂失) does to the other certificates of the key, said before it is made
 * (the desk and the holder's page): the holder's own (a renewal keeps the key) are held with it;
 * another subscriber's stays in force, but the key gets no new certificate meanwhile, and a
 * revocation for key compromise, or a reissue after the loss, revokes every one of them. */
export const LOSS_EFFECT =
  "持有人名下使用同一密钥的其他有效证书（如续期前后的证书）将一并挂失暂停；"
  + "其他用户使用同一密钥的证书不会暂停，但挂失期间不能再为该密钥签发新证书；"
  + "此后如因密钥泄露吊销或补办，使用该密钥的所有证书（包括其他用户的）都将被吊销。";

/** The question asked before reporting `c` lost. */
export function lossQuestion(c) {
  return `确定挂失证书 ${c.serial}？挂失后证书即刻暂停使用。\n${LOSS_EFFECT}`;
}

/** What is said of the other certificates a loss report held with it (the answer's
 * same_key_held, their serials). */
export function sameKeyHeld(c) {
  const also = (c && c.same_key_held) || [];
  return also.length
    ? `同一密钥的其他证书已一并挂失暂停：${also.join("、")}。其他用户使用同一密钥的证书未暂停，但挂失期间该密钥不能签发新证书。`
    : "名下没有其他使用同一密钥的有效证书。其他用户使用同一密钥的证书（如有）未暂停，但挂失期间该密钥不能签发新证书。";
}

/** The question asked before a certificate change (变更) of `c` (the desk's: a holder cannot
 * change the subject data of a certificate online, an officer checks the documents behind it).
 * A change keeps the key, issues a certificate with the new data and revokes `c` as
 * subject_changed, with the holder's other certificates in force for the key — the one a
 * renewal left valid beside it: `others`, their serials as the page found them (the API's
 * answer, same_key_revoked, names the ones it did revoke). Another subscriber's certificate of
 * the key is not touched. */
export function changeQuestion(c, changes, others) {
  const what = changes.map(([name, value]) => `${name}：${value}`).join("；");
  const also = others.length
    ? `持有人名下使用同一密钥的其他有效证书将一并吊销：${others.join("、")}。`
    : "持有人名下使用同一密钥的其他有效证书（如有，如续期前的证书）将一并吊销。";
  return `确定变更证书 ${c.serial}（${what}）？将签发载有新信息的新证书（密钥不变），`
    + `原证书即刻吊销（证书主体信息变更），不可恢复。\n${also}其他用户的证书不受影响。`;
}

/** What is said once a change is done: the new certificate, the old one revoked, and the
 * other certificates of the key revoked with it (the answer's same_key_revoked) or that there
 * were none. */
export function changeDone(out) {
  const also = sameKeyRevoked(out) || "名下没有其他使用同一密钥的有效证书需要吊销。";
  return `已签发新证书 ${out.certificate.serial}，原证书 ${out.previous.serial} 已吊销。${also}`;
}

/** What is said of the other certificates a restore (解除挂失) released from the loss with it
 * (the answer's same_key_released, their serials), or null when there were none. */
export function sameKeyReleased(c) {
  const also = (c && c.same_key_released) || [];
  return also.length ? `同一密钥的其他证书已一并解除挂失：${also.join("、")}` : null;
}

// Seal revocation reasons (004 §十一), as yinxin.seals.lifecycle lists them.
export const SEAL_REASONS = {
  holder_request: "用户要求作废电子印章",
  false_data: "用户申请电子印章时，提供的资料不真实",
  unpaid_fees: "用户没有按照规定及时缴纳电子印章服务费用",
  breach_of_agreement: "用户未履行本协议书约定的义务",
  holder_ceased_to_exist: "用户主体消亡",
  unreported_change: "用户电子印章中的相关信息变更而未以书面形式向印章服务平台提出变更请求",
  other: "其他情况（法律或法规要求等）",
};

/** <option>s for a select: entries of an object, or [value, text] pairs. */
export function options(select, entries, { blank } = {}) {
  const list = Array.isArray(entries) ? entries : Object.entries(entries);
  select.replaceChildren(
    ...(blank ? [el("option", { value: "", text: blank })] : []),
    ...list.map(([v, t]) => el("option", { value: v, text: t })),
  );
}

/** Show (or clear, with null) a field's error while the user types — the same marks as
 * api.js's showError, so a later API refusal replaces it cleanly. */
export function fieldError(input, text) {
  const box = input.closest(".field") || input.parentElement;
  const id = `err-${input.name}`;
  let msg = box.querySelector(`#${CSS.escape(id)}`);
  if (!text) {
    if (msg) msg.remove();
    input.removeAttribute("aria-invalid");
    return;
  }
  if (!msg) {
    msg = el("p", { class: "field-error", id });
    box.append(msg);
  }
  msg.textContent = text;
  input.setAttribute("aria-invalid", "true");
  input.setAttribute("aria-describedby", id);
}

/** Check an input on every keystroke (partial) and fully when it loses focus; a form's
 * submit is stopped while the check fails. */
export function liveCheck(input, check) {
  input.addEventListener("input", () => fieldError(input, check(input.value, { partial: true })));
  input.addEventListener("blur", () => input.value && fieldError(input, check(input.value)));
  input.form.addEventListener("submit", (ev) => {
    const text = check(input.value);
    if (text) {
      ev.preventDefault();
      ev.stopImmediatePropagation();
      fieldError(input, text);
      input.focus();
    }
  }, { capture: true });
}

export const yuanOf = (fen) => `¥${(fen / 100).toFixed(2)}`;
/** An amount the API gives in yuan as decimal text ("1740000.00") → ¥1,740,000.00, digit for
 * digit (a Number would round a 15-digit amount's 分); "—" when there is none. */
export const yuan = (v) => {
  if (v === null || v === undefined) return "—";
  const [whole, cents = "00"] = String(v).split(".");
  return `¥${whole.replace(/\B(?=(\d{3})+(?!\d))/g, ",")}.${cents.padEnd(2, "0")}`;
};
/** The day of an instant as the reader's clock has it (the date of fmtTime: a certificate
 * ending at 2027-12-04T17:52Z ends on 2027-12-05 in Beijing); a plain date stays as it is. */
export const day = (iso) => {
  if (!iso) return "—";
  return /^\d{4}-\d{2}-\d{2}$/.test(iso) ? iso : fmtTime(iso).slice(0, 10);
};

/** A facts list (dl.facts) from [label, value] pairs; empty values are left out. */
export function facts(dl, pairs) {
  dl.replaceChildren();
  for (const [k, v] of pairs) {
    if (v === null || v === undefined || v === "") continue;
    dl.append(el("dt", { text: k }), el("dd", {}, v instanceof Node ? v : String(v)));
  }
}

export function badge(text, kind) {
  return el("span", { class: `badge ${kind || ""}`, text });
}

/** A mark for a subscriber no notice reaches (no mobile number and no e-mail on record — a
 * device: on its organization's, where its notices go; `reachable` of GET /subscribers/{id}),
 * or null: the desk's review queue and certificate pages show it. */
export function unreachableMark(sub) {
  if (!sub || sub.reachable !== false) return null;
  const whose = sub.kind === "device" ? "所属机构" : "";
  return badge(`无法通知：${whose}未登记手机号或电子邮箱`, "warn");
}

export function stateBadge(kind, value, extra) {
  const good = ["active", "approved", "valid"].includes(value);
  const bad = ["revoked", "rejected", "cancelled", "expired"].includes(value);
  const text = (LABELS[kind] && LABELS[kind][value]) || value;
  return badge(extra ? `${text}（${extra}）` : text, good ? "ok" : bad ? "bad" : "warn");
}

/** A certificate's status; on hold, why (冻结, 挂失, 欠费停用). */
export function certBadge(c) {
  if (c.status === "on_hold") return badge(LABELS.hold[c.hold_kind] || "已冻结", "warn");
  return stateBadge("certificate", c.status);
}

/** A row of the certificates table (_certificates_table.html, the desk's list and the holder's):
 * the serial as `serial` (its text, or a link), holder, type, status and end of validity, then
 * `action` (the desk's 办理 button, the holder's link to the certificate). */
export function certificateRow(c, serial, action) {
  return el("tr", { "data-serial": c.serial },
    el("td", { class: "mono" }, serial),
    el("td", { text: commonName(c.subject) }),
    el("td", { text: label("profile", c.profile) }),
    el("td", {}, certBadge(c)),
    el("td", { text: day(c.not_after) }),
    el("td", {}, action),
  );
}

/** A seal's state; frozen, why. */
export function sealBadge(s) {
  if (s.state === "frozen") return badge(LABELS.hold[s.hold_kind] || "已冻结", "warn");
  return stateBadge("seal", s.state);
}

/** Whether the seal can sign now, and if not why, in Chinese (the API's reason is English). */
export function sealUsability(s) {
  if (s.usable) return "可以使用";
  const HELD = { frozen: "已冻结，解冻后可用", unpaid: "因欠费暂停，缴费后可用", lost: "已挂失，解除挂失后可用" };
  const cert = s.certificate_status === "active"
    ? "已到期，需续期证书或变更绑定证书"
    : s.certificate_status === "on_hold"
      ? HELD[s.certificate_hold_kind] || "已冻结"
      : `${label("certificate", s.certificate_status)}，需变更绑定证书`;
  const why = {
    seal_not_active: `印章${label("seal", s.state)}`,
    seal_expired: "印章不在有效期内",
    certificate_not_valid: `所绑定证书${cert}`,
    not_authorized: "未获用印授权",
    grant_expired: "用印授权已过期",
    grant_used_up: "用印次数已用完",
    subscriber_held_key: "密钥由持有人自行保管，平台不能代为签署",
  }[s.unusable_code];
  return `暂不可用（${why || s.unusable_reason || "原因不明"}）`;
}

/** How the audit trail's actor reads to the holder: this account is 本账户, anyone else as
 * `actorName` says them (staff:desk1 → 工作人员 desk1). */
export function who(actor, session) {
  const [kind, rest] = String(actor || "").split(/:(.*)/s);
  if (kind === "subscriber" && session && String(session.subscriber_id) === rest) return "本账户";
  return actorName(actor);
}

/**
 * A desk listing that pages (certificates, seals, audit events) in the table whose id is
 * `table`: answers `load(append)`, which GETs `path` 50 at a time with `query()`'s non-empty
 * values and, to continue (`append`), the `after` where the last page ended; the rows (`row` of
 * each item, or what it resolves to) are appended, or else replace the table's — one muted row saying `empty` across
 * the header's columns when there are none. The page's #more button shows while a next page
 * exists, and continues it (off and saying 正在加载… while the page is read, so a double click
 * asks once; an answer to an older request is dropped).
 * `onPage(page, append)` hears of every page shown.
 */
export function pagedListing({ path, query, table, row, empty, onPage }) {
  const t = document.getElementById(table);
  const body = t.tBodies[0];
  const more = document.getElementById("more");
  let next = null;
  let asked = 0; // the latest load asked for: an older answer is stale (a double click on
  // 下一页 asked for the same page twice, and both were appended; a page asked for before the
  // filters changed would be appended to the new listing)
  const load = async (append = false) => {
    const mine = ++asked;
    const q = new URLSearchParams({ limit: "50" });
    for (const [k, v] of Object.entries(query())) if (v) q.set(k, v);
    if (append && next) q.set("after", next);
    const page = await api("GET", `${path}?${q}`);
    const rows = await Promise.all(page.items.map(row)); // a row may need its own look-ups
    if (mine !== asked) return page;
    more.hidden = !page.next;
    if (append) body.append(...rows);
    else body.replaceChildren(...(rows.length ? rows : [emptyRow(t.tHead.rows[0].cells.length, empty)]));
    next = page.next;
    if (onPage) onPage(page, append);
    return page;
  };
  more.addEventListener("click", () => whileBusy(more, "正在加载…", () => load(true)));
  return load;
}

/** A desk listing row's "办理" button: `open` shows that row's record in the detail panel. */
export function actButton(open) {
  const button = el("button", { type: "button", class: "btn secondary small", text: "办理" });
  button.addEventListener("click", open);
  return button;
}

/**
 * The lifecycle form of a desk's detail panel (#act-form with its #verb select; #reason-field
 * only for a revocation): `submit(data, key)` posts the chosen verb; when it is done a toast
 * names the verb (`names`), the form is reset and `onDone` gets the API's answer (a `submit`
 * answering null — the officer said no when asked — does nothing). `onVerb` hears
 * of each verb chosen. Answers `offer(verbs)`, which puts the verbs the record's state allows
 * into #verb (and hides the form when there are none).
 */
export function lifecycleForm({ names, submit, onDone, onVerb }) {
  const form = document.getElementById("act-form");
  const verb = document.getElementById("verb");
  const changed = () => {
    document.getElementById("reason-field").hidden = verb.value !== "revoke";
    if (onVerb) onVerb(verb.value);
  };
  verb.addEventListener("change", changed);
  bindForm(form, {
    busyText: "正在办理…",
    submit,
    onDone: async (record) => {
      if (!record) return; // the officer said no when asked (submit answered null)
      toast(`已办理：${names[verb.value]}`);
      form.reset();
      await onDone(record);
    },
  });
  return (verbs) => {
    options(verb, verbs.map((v) => [v, names[v]]));
    form.hidden = !verbs.length;
    changed();
  };
}

/**
 * A holder's record page whose record the API refuses (`e`): the page becomes its `title`, a
 * notice — `missing` for a 404 (another's record answers as one that does not exist), else why —
 * and a way `back` (href and text); nothing more runs. Anything but an ApiError is thrown on.
 */
export async function refusedPage(e, { title, missing, back: [href, text] }) {
  if (!(e instanceof ApiError)) throw e;
  document.querySelector("main").replaceChildren(
    el("div", { class: "page-title" }, el("h1", { text: title })),
    el("div", { class: "notice", id: "not-found", text: e.status === 404 ? missing : messageFor(e) }),
    el("p", {}, el("a", { class: "btn secondary", href, text })),
  );
  await new Promise(() => {}); // nothing more to show
}

/** The query parameter `name` of this page's address. */
export const param = (name) => new URLSearchParams(location.search).get(name);
