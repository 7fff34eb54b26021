// 印信 web client: every page talks to /api/v1 through this module.
//
// * api(method, path, {json, body, headers, idempotencyKey}) — JSON in and out, the session
//   cookie goes along, the CSRF token (double-submit cookie yx_csrf) is sent as X-CSRF-Token on
//   unsafe methods; a refusal (application/problem+json) is thrown as ApiError.
// * bindForm(form, {...}) — one submission = one Idempotency-Key, reused on a retry after a
//   network failure, so a double click or a dropped connection never acts twice; buttons are
//   disabled while the request runs; errors are shown in Chinese next to the field the API
//   names (problem.field → the input with that name), others above the buttons.
// * upload(path, blob, {onProgress}) — a file as the request body, with upload progress.
// * requireSession(kind) — the signed-in session, or off to the login page.
// * showAccount() — the header shows who is signed in (on load; again by a page that opens a
//   session and stays).

const CSRF_COOKIE = "yx_csrf";

// Chinese messages for the API's problem codes; a code without one is said by its HTTP status
// (BY_STATUS), never by the API's English detail.
export const MESSAGES = {
  frozen_by_ca: "由认证机构冻结，请联系受理点",
  invalid: "填写的内容不符合要求，请检查",
  not_found: "未找到相应记录",
  unauthenticated: "请先登录",
  session_expired: "登录已超时，请重新登录",
  bad_credentials: "用户名或密码错误（连续错误 5 次将锁定账户 15 分钟）",
  wrong_code: "验证码错误或已失效",
  code_expired: "验证码已过期，请重新获取",
  code_used: "验证码已使用，请重新获取",
  challenge_dead: "验证码错误次数过多，请重新获取",
  rate_limited: "操作过于频繁，请稍后再试",
  csrf: "页面已过期，请刷新后重试",
  not_permitted: "您没有权限进行此操作",
  forbidden: "此操作不被允许",
  conflict: "与现有记录冲突",
  illegal_transition: "当前状态下不能办理此操作",
  too_large: "文件过大",
  no_phone: "未登记手机号，无法发送验证码：请到受理点登记手机号，或到受理点办理",
  idempotency_in_progress: "上一次提交仍在处理中，请稍候",
  method_not_allowed: "不支持此操作",
  internal: "服务暂时不可用，请稍后重试",
  need_code: "请先获取短信验证码",
  network: "网络连接中断，请检查网络后重试（重试不会重复办理）",
  not_a_document: "请选择 PDF 或 OFD 文件",
  name_too_long: "用户名称超过 64 个字符，证书主题无法容纳，不能签发证书",
  not_in_subject: "所填信息不在证书中，无需变更证书：请在用户信息中修改（不吊销证书）；变更证书须同时变更名称",
  desk_only: "证书变更须到受理点办理，由受理员核验证明材料",
};

// Messages for one field regardless of code (validation messages from the API are English).
export const FIELD_MESSAGES = {
  phone: "请输入正确的11位手机号码",
  code: "请输入6位数字验证码",
  username: "请输入用户名",
  password: "请输入密码",
  body: "请选择PDF文件",
  after: "起始序号应为 0 到 4611686018427387904 之间的整数", // the audit page's 起始序号 (le=2**62)
};

// Chinese names for the API's enum values, shared by the pages.
export const LABELS = {
  profile: {
    "person-signing": "个人签名证书",
    "organization-signing": "机构签名证书",
    "device-tls": "设备证书",
  },
  certificate: {
    valid: "有效", active: "有效", revoked: "已吊销", frozen: "已冻结", on_hold: "已冻结",
    lost: "已挂失", expired: "已过期", superseded: "已更替", suspended: "已暂停",
  },
  application: { pending: "待审核", approved: "已批准", rejected: "已驳回", cancelled: "已撤回" },
  seal: { active: "有效", frozen: "已冻结", locked: "已锁定", revoked: "已吊销", cancelled: "已注销", expired: "已过期" },
  subscriber: { person: "个人", organization: "机构", device: "设备" },
  role: { administrator: "管理员", ra_officer: "受理员", subscriber: "用户" },
};

/** The Chinese label of an enum value (``label("profile", "person-signing")``), or the value. */
export function label(kind, value) {
  return (LABELS[kind] && LABELS[kind][value]) || value || "—";
}

// Who acted, for the actors the platform writes itself (the audit trail's, a record's
// created_by / officer / recorded_by): staff:<username>, subscriber:<id>, api:<prefix>:<name>,
// system:<job>, and the fixed ones of the command line and the jobs.
const ACTORS = {
  operator: "运维人员（命令行）", "ra-officer": "受理人员（命令行）", demo: "演示数据",
  scheduler: "定时任务", applicant: "申请人", cashier: "收费",
  signing: "签署服务", system: "系统", holder: "持有人", ra: "受理点", "self-registration": "自助注册",
  anonymous: "匿名访问者", // a login code typed for a challenge no phone was sent
  // the services that use up a one-time code (the actor of its intent.consumed event)
  "batch-signing": "批量签署服务", "web-login": "登录服务", "phone-change": "更换手机号服务",
  "certificate-rekey": "更新密钥服务", "certificate-reissue": "补办证书服务",
};
const SYSTEM_JOBS = {
  obligations: "履约跟踪", reminder: "到期提醒", contracts: "合同签署结果", desk: "运维服务台",
  flow: "签署流程", expiry: "签署流程到期处理", webhooks: "事件通知",
};
/** An actor identifier in Chinese ("staff:desk1" → 工作人员 desk1, "subscriber:3" → 用户 3);
 * one the platform did not write (a name typed at the command line) as it is. */
export function actorName(actor) {
  if (actor === null || actor === undefined || actor === "") return "—";
  const text = String(actor);
  const [kind, rest] = text.split(/:(.*)/s);
  if (rest !== undefined) {
    if (kind === "staff") return `工作人员 ${rest}`;
    if (kind === "subscriber") return `用户 ${rest}`;
    if (kind === "system") return `系统（${SYSTEM_JOBS[rest] || "自动任务"}）`;
    if (kind === "api") return `接口密钥 ${rest.split(":").pop()}`;
  }
  return ACTORS[text] || text;
}

/** The CN of an RFC 4514 subject ("CN=张三,O=…" → "张三"). */
export function commonName(subject) {
  const m = /(?:^|,)CN=((?:\\,|[^,])*)/.exec(subject || "");
  return m ? m[1].replace(/\\,/g, ",") : subject || "—";
}

export class ApiError extends Error {
  constructor(status, problem) {
    super(problem?.detail || `HTTP ${status}`);
    this.status = status;
    this.problem = problem || {};
  }
  get code() {
    return this.problem.code || (this.status === 0 ? "network" : "internal");
  }
  get field() {
    return this.problem.field || null;
  }
}

// Chinese names of the fields the API names (problem.field; a path such as signers[0].seal is
// looked up by its last part), for a refusal no FIELD_MESSAGES entry explains.
export const FIELD_LABELS = {
  name: "名称", display_name: "名称", phone: "手机号码", code: "验证码", username: "用户名",
  password: "密码", email: "电子邮箱", id_type: "证件类型", id_number: "证件号码",
  uscc: "统一社会信用代码", legal_representative: "法定代表人", contact_name: "联系人",
  contact_phone: "联系电话", pin: "印章密码", new_pin: "新印章密码", pin2: "确认密码",
  reason: "原因", note: "备注", serial: "证书序列号", certificate: "证书",
  certificate_serial: "签名证书", seal: "印章", es_id: "印章编码", kind: "类型",
  profile: "证书类型", years: "年限", validity_years: "有效期", csr: "证书请求（CSR）",
  application_id: "申请", subscriber_id: "用户编号", member_subscriber_id: "机构成员",
  holder_name: "印章使用人", center_text: "中心文字", project: "运用项目", scan: "印模扫描件",
  scan_base64: "印模扫描件", image: "印模", declaration_accepted: "申请人声明",
  agreement: "服务协议", deadline: "截止时间", signers: "签署人", role: "签署角色",
  order: "签署顺序", placement: "盖章位置", placements: "盖章位置", anchor: "盖章关键字",
  documents: "文件", document: "文件", pdf: "PDF 文件", ofd: "OFD 文件", body: "文件",
  title: "标题", number: "编号", contract: "合同", contract_id: "合同", template: "合同模板",
  values: "合同内容", amount: "金额", on: "日期", date: "日期", event: "履约事实",
  obligation_id: "付款事项", payment_id: "收款记录", state: "状态", status: "状态",
  after: "起始序号", limit: "条数", from: "起始日期", to: "截止日期", month: "月份",
  year: "年份", severity: "紧急程度", description: "问题描述", text: "内容",
  flow_id: "签署流程", token: "签署链接", video: "视频", business_type: "业务类型",
  dns_names: "域名", device_name: "设备名称", items: "文件", reference: "收款凭证号",
};

// The states of each lifecycle the API names in a refusal ("… it is frozen"), in Chinese, by
// the record the refusal is about (the transition tables' subjects).
export const STATE_LABELS = {
  certificate: ["证书", { active: "有效", on_hold: "已冻结", revoked: "已吊销", expired: "已过期" }],
  seal: ["印章", { active: "有效", frozen: "已冻结", cancelled: "已注销", revoked: "已吊销", expired: "已过期" }],
  application: ["申请", { pending: "待审核", approved: "已批准", rejected: "已驳回", cancelled: "已撤回" }],
  flow: ["签署流程", { draft: "草稿", started: "签署中", completed: "已完成", cancelled: "已撤回", expired: "已过期" }],
  signer: ["签署人", {
    waiting: "等待前序签署", ready: "待签署", signed: "已签署", declined: "已拒签", cancelled: "已撤回",
    expired: "已过期",
  }],
  contract: ["合同", { drafted: "草稿", out_for_signing: "签署中", signed: "已签署", cancelled: "已作废" }],
  request: ["服务请求", {
    open: "待响应", responded: "已响应", on_site: "已到场", resolved: "已解决",
    record_signed: "记录单已签署", cancelled: "已取消", running: "计时中", paused: "已暂停计时",
  }],
  obligation: ["履约事项", {
    pending: "到期日待定", open: "待履行", partly_paid: "部分付款", met: "已履行", deemed: "视为验收",
  }],
  authorization: ["自动签署授权", { active: "有效", withdrawn: "已撤销", exhausted: "已用完", expired: "已过期" }],
};
// The record a refusal's English detail is about, by the words it names it with (longest first).
const SUBJECT_WORDS = [
  ["signing authorization", "authorization"], ["sign flow", "flow"], ["flow signer", "signer"],
  ["this signer", "signer"], ["service request", "request"], ["request #", "request"],
  ["certificate", "certificate"], ["seal", "seal"], ["application", "application"],
  ["contract", "contract"], ["obligation", "obligation"],
];
// …or, when the detail names none of them, by the field it blames.
const SUBJECT_FIELDS = {
  serial: "certificate", certificate: "certificate", seal: "seal", application_id: "application",
  contract: "contract", contract_id: "contract", token: "signer", clock: "request",
  obligation_id: "obligation", authorization_id: "authorization",
};
const HOLDS = { frozen: "已冻结", unpaid: "欠费停用", lost: "已挂失", pin_leak: "密码泄漏冻结" };
const VERBS = {
  freeze: "冻结", unfreeze: "解冻", revoke: "吊销", cancel: "注销或撤回", renew: "续期",
  rekey: "更换密钥", reissue: "补发", change: "变更", pay: "缴费", approve: "审核通过",
  reject: "驳回", report_lost: "挂失", restore: "解除挂失", decline: "拒签", extend: "延期",
  remind: "催签", start: "发起", sign: "签署", unlock: "解锁", grant: "授权",
};

/** A refusal of a lifecycle move, in Chinese: the record and the state it is in when the API's
 * detail names them ("cannot freeze seal 1101…: it is revoked (…)" → 印章当前状态为「已吊销」，
 * 不能冻结), else the general message. */
function transitionMessage(err) {
  const d = err.problem.detail || "";
  const lower = d.toLowerCase();
  let subject = null;
  let at = Infinity;
  for (const [word, key] of SUBJECT_WORDS) {
    const i = lower.indexOf(word);
    if (i >= 0 && i < at) { at = i; subject = key; }
  }
  subject = subject || SUBJECT_FIELDS[err.field] || null;
  const m = /\bis (on hold \((\w+)\)|[a-z_]+)/.exec(d);
  let state = null;
  if (m && m[2]) state = HOLDS[m[2]] || "已冻结";
  else if (m && subject && STATE_LABELS[subject][1][m[1]]) state = STATE_LABELS[subject][1][m[1]];
  const verb = VERBS[(/^cannot (\w+)/.exec(d) || [])[1]];
  const doing = verb ? `不能${verb}` : "不能办理此操作";
  if (state) return `${STATE_LABELS[subject][0]}当前状态为「${state}」，${doing}`;
  if (verb) return `当前状态下${doing}`;
  return MESSAGES.illegal_transition;
}

// What a refusal of each HTTP status says when its code has no message of its own.
const BY_STATUS = {
  400: "invalid", 401: "unauthenticated", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
  409: "conflict", 413: "too_large", 422: "invalid", 429: "rate_limited",
};

/** The Chinese message for one field the API blames (`field`, e.g. "signers[0].seal"): its own
 * message, or "「名称」…" by its Chinese name, or the general one — never the API's English. */
export function fieldMessage(field) {
  if (FIELD_MESSAGES[field]) return FIELD_MESSAGES[field];
  const last = String(field || "").split(".").pop().replace(/\[\d+\]$/, "");
  const name = FIELD_LABELS[field] || FIELD_LABELS[last];
  return name ? `「${name}」填写的内容不符合要求，请检查` : MESSAGES.invalid;
}

const CJK = /[\u3400-\u9fff]/;
// What a detail quotes: a value or a name as the server writes it — Python's repr ('…' or "…"),
// “…”, 「…」, 《…》. A quoted part is the user's or the file's, in any language.
// (in '…', Python's repr of a value holding both ' and ", a backslash escapes the next
// character: '北京\'某" / B' is one quoted value)
const QUOTED = /'(?:[^'\\]|\\.)*'|"[^"]*"|“[^”]*”|「[^」]*」|《[^》]*》/g;
const CLOSES = { "'": "'", '"': '"', "“": "”", "「": "」", "《": "》" };

/** Where the server's separator stands in `detail`: a "/" after a space or a closing bracket
 * (" / ", "）/ ") with a space after it, outside quotes (with `quotes`), the Chinese before it
 * and no Chinese character right after it (the English half, which may start with a quoted
 * name: "'北京…' valid at …"). -1 when there is none. A quote left open makes the scan give
 * up; the caller then looks again without minding quotes. */
function separatorAt(detail, quotes) {
  let open = null;
  for (let i = 0; i < detail.length; i++) {
    const c = detail[i];
    if (open) {
      if (c === "\\" && open === "'") i++;  // \' or \\ inside Python's '…': not its end
      else if (c === open) open = null;
      continue;
    }
    if (quotes && CLOSES[c]) {
      // an apostrophe inside a word (an English half's "seal's") opens no quote
      if (c === "'" && /[A-Za-z]/.test(detail[i - 1] || "")) continue;
      open = CLOSES[c];
      continue;
    }
    if (c !== "/" || i === 0 || !/[\s）)]/.test(detail[i - 1]) || !/\s/.test(detail[i + 1] || "")) continue;
    const after = detail.slice(i + 1).trimStart();
    if (after && !CJK.test(after[0]) && CJK.test(detail.slice(0, i).replace(QUOTED, ""))) return i;
  }
  return -1;
}

/** The Chinese part of a refusal's detail where the API words it in Chinese. The server writes
 * these "中文 / English" (contract blanks "委托方名称：不能为空 / must not be empty", OFD's and
 * the seals' "OFD 文件：… / OFD: …", a seal check's "'北京…' 的证书在 … 有效 / '北京…' valid
 * at …"): the text before that separator — not before a " / " inside a quoted value (“A / B”)
 * or between Chinese words (应为 是 / 否 之一). null for an English detail, also one that
 * merely quotes a Chinese value ("cannot freeze seal '张三之印': it is revoked"), and for a
 * Chinese half with English words of its own (a library's message); English inside quotes is
 * the value refused ("'four hours' 不是整数") and is shown as it is. */
export function chineseDetail(detail) {
  if (!detail || !CJK.test(detail)) return null;
  let at = separatorAt(detail, true);
  if (at < 0) at = separatorAt(detail, false);
  const text = (at < 0 ? detail : detail.slice(0, at)).trim();
  const own = text.replace(QUOTED, " ");
  if (!CJK.test(own)) return null;
  return /[a-z]{2,}[\s,:;']+[a-z]{2,}/.test(own) ? null : text;
}

/** The Chinese message for a refusal. The API's English is never shown: a page's own text
 * (code "explained") and the Chinese part of a detail the API words in Chinese are shown as
 * they are; otherwise the code's, the field's or the HTTP status's Chinese message. */
export function messageFor(err) {
  const code = err.code;
  const detail = err.problem.detail;
  if (code === "explained" && detail) return detail;
  if (code === "invalid" && err.field) {
    return FIELD_MESSAGES[err.field] || chineseDetail(detail) || fieldMessage(err.field);
  }
  if (code === "wrong_code" && detail && /\d more attempt/.test(detail)) {
    return `验证码错误，还可尝试 ${detail.match(/(\d+) more/)[1]} 次`;
  }
  if (code === "illegal_transition") return chineseDetail(detail) || transitionMessage(err);
  const wait = err.problem.retry_after;  // a 429's wait, the same seconds as its Retry-After
  if (code === "rate_limited" && Number.isInteger(wait) && wait > 0) return `操作过于频繁，请 ${wait} 秒后再试`;
  return MESSAGES[code] || chineseDetail(detail) || MESSAGES[BY_STATUS[err.status]] || MESSAGES.internal;
}

export function cookie(name) {
  for (const part of document.cookie.split(";")) {
    const [k, ...v] = part.trim().split("=");
    if (k === name) return decodeURIComponent(v.join("="));
  }
  return null;
}

export function newKey() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

function headersFor(method, extra) {
  const h = { Accept: "application/json", ...(extra || {}) };
  if (!["GET", "HEAD", "OPTIONS"].includes(method)) {
    const token = cookie(CSRF_COOKIE);
    if (token) h["X-CSRF-Token"] = token;
  }
  return h;
}

/** Call the API; resolves to the parsed JSON (or a Blob for other types), throws ApiError. */
export async function api(method, path, opts = {}) {
  const headers = headersFor(method, opts.headers);
  let body = opts.body;
  if (opts.json !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(opts.json);
  }
  if (opts.idempotencyKey) headers["Idempotency-Key"] = opts.idempotencyKey;
  let resp;
  try {
    resp = await fetch("/api/v1" + path, {
      method, headers, body, credentials: "same-origin", cache: "no-store",
    });
  } catch (e) {
    throw new ApiError(0, { code: "network", detail: String(e) });
  }
  return answer(resp.status, resp.headers.get("content-type") || "", () => resp.json(), () => resp.blob());
}

async function answer(status, ctype, json, blob) {
  if (status === 204) return null;
  if (status >= 200 && status < 300) {
    return ctype.includes("json") ? json() : blob();
  }
  let problem = null;
  try { problem = await json(); } catch (_) { problem = null; }
  throw new ApiError(status, problem);
}

/** Every item of a listing (`path`, e.g. "/flows", or with its filters, "/applications?state=
 * pending"), its pages followed 200 at a time until there are 1000 or more. */
export async function allItems(path) {
  const items = [];
  const join = path.includes("?") ? "&" : "?";
  let after = null;
  do {
    const page = await api("GET", `${path}${join}limit=200${after ? `&after=${encodeURIComponent(after)}` : ""}`);
    items.push(...page.items);
    after = page.next;
  } while (after && items.length < 1000);
  return items;
}

/** The record `${path}/${id}` a detail page's address names by number; null when there is none
 * (or the address's number is not one), the page's #not-found notice then shown. */
export async function recordOrNotFound(path, id) {
  try {
    if (!Number.isSafeInteger(id) || id < 1) throw new ApiError(404, { code: "not_found" });
    return await api("GET", `${path}/${id}`);
  } catch (e) {
    if (e instanceof ApiError && e.status === 404) { document.getElementById("not-found").hidden = false; return null; }
    throw e;
  }
}

/** POST a file as the body with upload progress (fetch has none): resolves like api(). */
export function upload(path, file, { onProgress, accept = "application/json", idempotencyKey } = {}) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", "/api/v1" + path);
    const h = headersFor("POST", { Accept: accept, "Content-Type": file.type || "application/pdf" });
    if (idempotencyKey) h["Idempotency-Key"] = idempotencyKey;
    for (const [k, v] of Object.entries(h)) xhr.setRequestHeader(k, v);
    xhr.responseType = "blob";
    if (onProgress) xhr.upload.onprogress = (e) => e.lengthComputable && onProgress(e.loaded / e.total);
    xhr.onerror = () => reject(new ApiError(0, { code: "network", detail: "network error" }));
    xhr.onload = () => {
      const ctype = xhr.getResponseHeader("content-type") || "";
      const data = xhr.response;
      answer(xhr.status, ctype, async () => JSON.parse(await data.text()), async () => data)
        .then(resolve, reject);
    };
    xhr.send(file);
  });
}

// --- forms --------------------------------------------------------------------------------

/** Remove the error marks of a form. */
export function clearErrors(form) {
  form.querySelectorAll(".field-error").forEach((n) => n.remove());
  form.querySelectorAll("[aria-invalid]").forEach((n) => n.removeAttribute("aria-invalid"));
  const box = form.querySelector(".form-error");
  if (box) { box.textContent = ""; box.hidden = true; }
}

/** Mark an input as wrong, with `text` below it (its .field-error, tied by aria-describedby). */
function markField(input, text) {
  const id = `err-${input.name || input.id}`;
  input.setAttribute("aria-invalid", "true");
  const msg = document.createElement("p");
  msg.className = "field-error";
  msg.id = id;
  msg.textContent = text;
  input.setAttribute("aria-describedby", id);
  (input.closest(".field") || input.parentElement).appendChild(msg);
  return msg;
}

/** The Chinese name of a form control: its label's text without a trailing note in brackets
 * ("电子邮箱（选填）" → 电子邮箱) or colon — a radio button's, its group's label or legend —
 * else its FIELD_LABELS name, else 此项; and that note. */
function nameOf(input) {
  const box = input.type === "radio" && (input.closest("fieldset") || input.closest(".field"));
  const label = box ? box.querySelector(":scope > legend, :scope > label") : input.labels && input.labels[0];
  let text = "";
  if (label) {
    const copy = label.cloneNode(true);
    copy.querySelectorAll("input, select, textarea").forEach((n) => n.remove()); // a label around its control
    text = copy.textContent.replace(/\s+/g, " ").trim().replace(/[：:*＊\s]+$/, "");
  }
  const m = /^(.+?)\s*(（[^（）]*）)$/.exec(text);
  if (m) return [m[1], m[2]];
  return [text || FIELD_LABELS[input.name] || input.getAttribute("aria-label") || "此项", ""];
}

/** What the browser finds wrong with a control (required, pattern, type=email, min/max…), in
 * Chinese naming the field — the browser would say it in its own language ("Please fill out
 * this field."). A field's own FIELD_MESSAGES entry explains a wrong format. */
export function validityMessage(input) {
  const v = input.validity;
  const [name, note] = nameOf(input);
  const own = FIELD_MESSAGES[input.name];
  const dated = /^(date|datetime-local|month|week|time)$/.test(input.type);
  if (v.valueMissing) {
    if (input.type === "checkbox") return `请勾选「${name}」`;
    return `${input.type === "radio" || input.type === "file" || input.tagName === "SELECT" ? "请选择" : "请填写"}${name}`;
  }
  if (v.badInput) return dated ? `请填写完整的${name}` : `${name}应为数字`;
  if (v.typeMismatch) return own || `${name}格式不正确${input.type === "email" ? "，如 name@example.com" : ""}`;
  if (v.patternMismatch) return own || `${name}格式不正确${input.title ? `：${input.title}` : note}`;
  if (v.tooShort) return own || `${name}至少 ${input.minLength} 个字符`;
  if (v.tooLong) return `${name}最多 ${input.maxLength} 个字符`;
  if (v.rangeUnderflow) return `${name}${dated ? "不能早于" : "不能小于"} ${input.min.replace("T", " ")}`;
  if (v.rangeOverflow) return `${name}${dated ? "不能晚于" : "不能大于"} ${input.max.replace("T", " ")}`;
  if (v.stepMismatch && input.type === "number" && !input.step) return `${name}应为整数`;
  return own || `「${name}」填写的内容不符合要求，请检查`;
}

/** Whether a control is in a part of the form that is not shown — a section shown only for
 * one choice (the PIN's when a CSR is chosen, an organization's fields for a person): out of
 * play, its check would stop the form with a message written where no one sees it. A control
 * hidden itself (a file input behind its label) is still checked: its field, where the
 * message goes, is shown. */
function inHiddenSection(c) {
  const box = c.closest(".field") || c.parentElement;
  return !!box && box !== c.form && (!!box.closest("[hidden]") || !box.getClientRects().length);
}

/** A form's fields as an object (name → value, as FormData gives them), without the fields of
 * a hidden section (inHiddenSection): a value typed there before another choice put it out of
 * sight — a PIN, then 自备密钥 chosen — is not sent, as it is not checked. A form not shown at
 * all has nothing to judge by: all its fields are given. */
export function formFields(form) {
  const shown = form.getClientRects().length > 0;
  const out = shown ? [...form.elements].filter((c) => c.name && !c.disabled && inHiddenSection(c)) : [];
  for (const c of out) c.disabled = true; // FormData leaves disabled controls out
  try {
    return Object.fromEntries(new FormData(form).entries());
  } finally {
    for (const c of out) c.disabled = false;
  }
}

/** Check a form's shown fields as the browser would, each problem said in Chinese at its field
 * (validityMessage, marked as a refusal of the API is) and the first one focused — instead of
 * the browser's own bubble, in the browser's language. A field of a hidden section is not
 * checked (inHiddenSection). True when every field is right. */
export function checkFields(form) {
  const bad = [];
  for (const c of form.elements) {
    if (!c.willValidate || c.validity.valid || inHiddenSection(c)) continue;
    if (c.type === "radio" && bad.some((b) => b.name === c.name)) continue; // a group, said once
    markField(c, validityMessage(c)).dataset.check = "browser";
    bad.push(c);
  }
  if (bad.length) bad[0].focus();
  return !bad.length;
}

// The inputs of a form that carry a field the API names otherwise (a seal scan's file input is
// "scan"; the API names the body's scan_base64).
const INPUT_OF_FIELD = { scan_base64: "scan" };

/** Show a refusal: next to the named input when the form has it, else above the buttons. */
export function showError(form, err) {
  const fields = [];
  if (err.field) fields.push([err.field, messageFor(err)]);
  for (const e of err.problem.errors || []) {
    if (e.field && e.field !== err.field) {
      fields.push([e.field, FIELD_MESSAGES[e.field] || chineseDetail(e.message) || fieldMessage(e.field)]);
    }
  }
  let shown = false;
  for (const [name, text] of fields) {
    const input = form.querySelector(`[name="${CSS.escape(INPUT_OF_FIELD[name] || name)}"]`);
    if (!input) continue;
    markField(input, text);
    if (!shown) input.focus();
    shown = true;
  }
  if (!shown) {
    const box = form.querySelector(".form-error");
    if (box) { box.textContent = messageFor(err); box.hidden = false; }
    else toast(messageFor(err), "error");
  }
}

function setBusy(form, busy, text) {
  form.setAttribute("aria-busy", busy ? "true" : "false");
  for (const b of form.querySelectorAll("button, input[type=submit]")) {
    b.disabled = busy;
    if (b.type === "submit") {
      if (busy) { b.dataset.label = b.textContent; if (text) b.textContent = text; }
      else if (b.dataset.label) b.textContent = b.dataset.label;
    }
  }
}

/** Run `work` with `button` off and saying `busyText` (正在下载…) until it ends, however it
 * ends; then its own label again. For a button that does one request outside a form (bindForm
 * does this for a form's submit button): a double click while it runs is one request, and the
 * page says what it is doing. A click on a button already busy does nothing. */
export async function whileBusy(button, busyText, work) {
  if (button.disabled) return;
  const label = button.textContent;
  button.disabled = true;
  button.textContent = busyText;
  try {
    await work();
  } finally {
    button.disabled = false;
    button.textContent = label;
  }
}

/** Bind a button outside a form that its page wires only after an await (its data loaded, the
 * session read): `work` runs through whileBusy on a click, and the button comes on now. Such a
 * button is rendered `disabled data-needs-script` (tests/unit/test_web_buttons.py checks it), so
 * that until its listener is there it cannot be clicked — it would do nothing at all — as a
 * form not yet bound says 页面正在加载 (static/forms.js). A form's own type="button" button
 * (预览 PDF) likewise. */
export function bindButton(button, busyText, work) {
  // busyText null: a step on the page itself (填入示例, 添加签署方), nothing to wait for
  button.addEventListener("click", busyText === null ? () => work() : () => whileBusy(button, busyText, work));
  button.disabled = false;
}

/**
 * Submit a form through the API.
 *   submit: (data, key) => Promise — does the call(s); data is the form's fields as an object
 *     (formFields: a hidden section's are left out)
 *   onDone: (result) => void
 *   busyText: the submit button's text while it runs (or a function giving it, asked at each
 *     submission: a form that another of its buttons submits for a step, 发送验证码, says that)
 *   idempotent: false for logins (a login is safe to repeat and its cookie must be set anew)
 * The Idempotency-Key is made on the first attempt and kept while the outcome is unknown (no
 * answer, or "still running"), so the retry is the same request; an answer ends it.
 */
export function bindForm(form, { submit, onDone, busyText = "正在提交…", idempotent = true }) {
  let running = false;
  form.dataset.bound = "true"; // static/forms.js: this form's submissions are the script's now
  form.noValidate = true; // checkFields says what is wrong, in Chinese
  // a field's own check (checkFields) is taken back once the field is right
  const recheck = (ev) => {
    const input = ev.target;
    if (!input.validity || !input.validity.valid) return;
    const msg = form.querySelector(`#${CSS.escape(`err-${input.name || input.id}`)}[data-check="browser"]`);
    if (!msg) return;
    msg.remove();
    input.removeAttribute("aria-invalid");
  };
  form.addEventListener("input", recheck);
  form.addEventListener("change", recheck);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    if (running) return; // a double click is the same submission
    clearErrors(form);
    if (!checkFields(form)) return;
    running = true;
    if (idempotent && !form.dataset.idempotencyKey) form.dataset.idempotencyKey = newKey();
    setBusy(form, true, typeof busyText === "function" ? busyText() : busyText);
    try {
      const data = formFields(form); // not those of a hidden section
      const result = await submit(data, idempotent ? form.dataset.idempotencyKey : undefined);
      delete form.dataset.idempotencyKey;
      if (onDone) await onDone(result);
    } catch (err) {
      if (!(err instanceof ApiError)) throw err;
      const unknown = err.status === 0 || err.code === "idempotency_in_progress" || err.status >= 500;
      if (!unknown) delete form.dataset.idempotencyKey;
      if (leaveIfSignedOut(err, form.dataset.login || document.body.dataset.login)) return;
      showError(form, err);
    } finally {
      running = false;
      setBusy(form, false);
    }
  });
}

// --- sessions -----------------------------------------------------------------------------

/** The signed-in session (GET /sessions/current), or null. */
export async function currentSession() {
  if (!cookie(CSRF_COOKIE)) return null;
  try { return await api("GET", "/sessions/current"); } catch (e) { return e.code === "session_expired" ? { expired: true } : null; }
}

// Set once the page is on its way out (logged out, or sent to the login page): an answer that
// arrives later — a 401 to a request still in flight when the session was ended — must not start
// a second navigation that aborts the first.
let leaving = false;

export function goLogin(kind, expired) {
  if (leaving) return;
  leaving = true;
  const page = kind === "staff" ? "/staff/login" : "/login";
  const q = new URLSearchParams({ next: location.pathname + location.search }); // the record too: ?serial=…
  if (expired) q.set("expired", "1");
  location.assign(`${page}?${q}`);
}

/** Where a login page goes once signed in: the `next` of its address when that leads to a page
 * of this site, else `fallback`. Judged by where the browser would go, not by the text: "/\x.cn"
 * and "/<tab>/x.cn" start with one slash yet lead to another site (a URL's backslash is a slash,
 * its tabs are dropped), which would take a person just signed in to a look-alike page. */
export function nextPage(wanted, fallback) {
  if (!wanted || !wanted.startsWith("/")) return fallback;
  let url;
  try { url = new URL(wanted, location.origin); } catch (_) { return fallback; }
  return url.origin === location.origin ? url.pathname + url.search + url.hash : fallback;
}

/** The session a page needs (kind "staff" or "subscriber"); otherwise to the login page. */
export async function requireSession(kind) {
  const s = await currentSession();
  if (!s || s.expired || s.kind !== kind) {
    goLogin(kind, Boolean(s && s.expired));
    return new Promise(() => {}); // the page is leaving
  }
  return s;
}

/** When `err` says the session has ended — expired, or ended elsewhere (logged out in another
 * tab) — off to the login page of `kind` (by default the page's, <body data-login>), which comes
 * back here, and true; otherwise false (and a page without a login, nothing). */
export function leaveIfSignedOut(err, kind = document.body.dataset.login) {
  if (!(err instanceof ApiError) || err.status !== 401 || !kind) return false;
  if (!["session_expired", "unauthenticated"].includes(err.code)) return false;
  goLogin(kind, err.code === "session_expired");
  return true;
}

/** The signed-in session the contract and sign-flow pages need, of whichever kind (the API
 * decides what it may see); without one, or with an expired one, to the subscriber login page. */
export async function requireSubscriber() {
  const s = await currentSession();
  if (!s || s.expired) {
    goLogin("subscriber", Boolean(s && s.expired));
    return new Promise(() => {}); // the page is leaving
  }
  return s;
}

export async function logout() {
  if (leaving) return;
  leaving = true;
  try { await api("DELETE", "/sessions/current"); } catch (_) { /* ended anyway */ }
  location.assign("/");
}

// --- small helpers ------------------------------------------------------------------------

// Control (Cc), format (Cf: bidi overrides, zero-width characters), line and paragraph
// separators, surrogates and private-use characters: the categories of yinxin.identity.shown.
const HIDDEN = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Cs}\p{Co}]/gu;
const NAMED_ESCAPES = { "\t": "\\t", "\n": "\\n", "\r": "\\r" };

/** Text a document brings (a signer's name, a field or file name, a problem quoting them) with
 * each hidden character written as its escape, as the CLI and the PDF report write it
 * (yinxin.identity.shown): U+202E cannot reverse a name and a zero-width space cannot make two
 * names look alike on the page. Anything not a string is returned as it is. */
export function shown(value) {
  if (typeof value !== "string") return value;
  return value.replace(HIDDEN, (c) => {
    if (NAMED_ESCAPES[c]) return NAMED_ESCAPES[c];
    const cp = c.codePointAt(0);
    const [prefix, width] = cp < 0x100 ? ["\\x", 2] : cp < 0x10000 ? ["\\u", 4] : ["\\U", 8];
    return prefix + cp.toString(16).padStart(width, "0");
  });
}

export function el(tag, attrs = {}, ...children) {
  const n = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") n.className = v;
    else if (k === "text") n.textContent = v;
    else n.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) if (c !== null && c !== undefined) n.append(c instanceof Node ? c : String(c));
  return n;
}

/** A file's bytes as base64, for the JSON bodies that carry a document (batch signing, a new
 * flow's PDF, a contract's appendices). */
export const base64Of = (file) => new Promise((resolve, reject) => {
  const reader = new FileReader();
  reader.onload = () => resolve(String(reader.result).split(",", 2)[1] || "");
  reader.onerror = () => reject(reader.error);
  reader.readAsDataURL(file);
});

/** A table's only row while it has nothing to show: muted, across its `n` columns. */
export const emptyRow = (n, ...content) => el("tr", {}, el("td", { colspan: n, class: "muted" }, ...content));

export function fmtTime(iso) {
  if (!iso) return "—";
  const d = new Date(iso);
  const p = (x) => String(x).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

export function toast(text, kind = "info") {
  const t = document.getElementById("toast");
  if (!t) return;
  t.textContent = text;
  t.dataset.kind = kind;
  t.hidden = false;
  clearTimeout(t._timer);
  t._timer = setTimeout(() => { t.hidden = true; }, 5000);
}

// The extension a saved file of each type must end with (see saveBlob).
const SAVED_AS = { "application/pdf": ".pdf" };

/** Save `blob` as the file `name`. A PDF's name is often one a stranger chose (who started a
 * flow names its documents), and the browser kept it as given: "发票.pdf.html" was saved as an
 * HTML file, "发票.pdf.exe" as a program. A name that does not end with its type's extension
 * gets it added ("发票.pdf.html.pdf"), so the file opens as what it is. */
export function saveBlob(blob, name) {
  const ext = SAVED_AS[(blob.type || "").split(";")[0].trim().toLowerCase()];
  if (ext && !String(name).toLowerCase().endsWith(ext)) name = `${name}${ext}`;
  const url = URL.createObjectURL(blob);
  const a = el("a", { href: url, download: name });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

// --- the header: who is signed in ---------------------------------------------------------

/** Show the signed-in session in the header (the page's load does; a page that opens a session
 * and stays, as 注册 does for its e-mail step, again). */
export async function showAccount() {
  const s = await currentSession();
  const box = document.getElementById("account");
  if (!box || !s || s.expired) return;
  const bound = box.dataset.state !== "anonymous";
  box.dataset.state = s.kind;
  document.getElementById("account-name").textContent =
    (s.kind === "staff" ? "工作人员 " : "") + s.display_name;
  const home = document.getElementById("account-home");
  home.href = s.kind === "staff" ? "/desk" : "/my";
  home.textContent = s.kind === "staff" ? "受理工作台" : "我的账户";
  home.hidden = false;
  document.getElementById("logout").hidden = false;
  document.getElementById("login-link").hidden = true;
  document.getElementById("staff-login-link").hidden = true;
  if (!bound) document.getElementById("logout").addEventListener("click", logout);
}

if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", showAccount);
else showAccount();

// A file is chosen on a label in front of a hidden file input (a drop zone, 选择文件), which
// neither a label nor a hidden input makes reachable by keyboard: such a label is given
// tabindex="0" role="button", and Enter or Space on it opens the file chooser, as a button's
// would (not while the label says it is off, aria-disabled).
document.addEventListener("keydown", (ev) => {
  const target = ev.target;
  if (!(target instanceof HTMLLabelElement) || target.getAttribute("role") !== "button") return;
  if (ev.key !== "Enter" && ev.key !== " ") return;
  ev.preventDefault();
  if (target.getAttribute("aria-disabled") === "true") return;
  target.control?.click();
});

// A refusal no page script caught (a page's top-level await, a click handler without its own
// catch) left the page as it was — 正在加载… for good — and said nothing: it is said in Chinese
// (or, when the session ended, off to the login page). The error is still reported as one.
function uncaught(reason) {
  if (!(reason instanceof ApiError) || leaving) return;
  if (leaveIfSignedOut(reason)) return;
  toast(messageFor(reason), "error");
}
window.addEventListener("unhandledrejection", (ev) => uncaught(ev.reason));
window.addEventListener("error", (ev) => uncaught(ev.error));
