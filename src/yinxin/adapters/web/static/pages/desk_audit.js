// The audit trail browser: GET /audit/events (filters: action, subject type and id; pages by
// sequence number) and GET /audit/verify, which walks the whole hash chain ("链完整", or the
// first event that does not hold).
import { actorName, api, bindButton, bindForm, el, fmtTime, LABELS, requireSession, STATE_LABELS } from "/static/api.js";
import { CERT_REASON_NAMES, options, pagedListing, SEAL_REASONS } from "/static/pages/common.js";

await requireSession("staff");
const ACTIONS = {
  "subscriber.registered": "用户注册", "subscriber.agreement_accepted": "接受服务协议",
  "application.submitted": "提交证书申请", "application.approved": "批准申请", "application.rejected": "驳回申请",
  "payment.new": "缴纳首次费用", "payment.renewal": "缴纳续费", "certificate.issued": "签发证书",
  "certificate.freeze": "冻结证书", "certificate.unfreeze": "解冻证书", "certificate.report_loss": "挂失证书",
  "certificate.restore": "解除挂失", "certificate.revoke": "吊销证书", "certificate.renew": "证书更新",
  "certificate.rekey": "更换密钥", "certificate.reissue": "证书重发", "certificate.expire": "证书过期",
  "seal.create": "制作印章", "seal.renew": "印章续费", "seal.change": "印章变更", "seal.cancel": "注销印章",
  "seal.freeze": "冻结印章", "seal.unfreeze": "解冻印章", "seal.revoke": "吊销印章", "seal.unlock": "解除印章锁定",
  "seal.key_resealed": "印章密钥重新加密", "seal.grant": "用印授权", "seal.withdraw": "撤销用印授权", "seal.grant_uses_returned": "退还用印授权次数", "seal.application": "提交印章申请表",
  "seal.expire": "印章过期", "seal.pin_changed": "修改印章密码", "seal.pin_locked": "印章密码错误次数过多锁定",
  "seal.report_pin_leak": "印章密码泄漏冻结",
  "certificate.change": "证书变更", "certificate.suspend_unpaid": "欠费停用证书",
  "application.document_added": "上传申请材料", "subscriber.updated": "修改用户信息",
  "authority.certificate_created": "生成认证机构证书", "authority.certificate_rolled_over": "更替认证机构证书",
  "document.signed": "签署文件", "document.archive_renewed": "归档文件加盖新时间戳",
  "document.status_refreshed": "归档文件更新验证数据",
  "flow.created": "创建签署流程", "flow.started": "发起签署", "flow.signer_signed": "签署人完成签署",
  "flow.completed": "签署流程完成", "flow.cancelled": "撤回签署流程", "flow.declined": "签署人拒签",
  "flow.expired": "签署流程过期", "flow.extended": "签署流程延期", "flow.urged": "催签",
  "flow.video_recorded": "视频双录",
  "authorization.granted": "授权自动签署", "authorization.used": "按授权自动签署",
  "authorization.withdrawn": "撤销自动签署授权", "authorization.exhausted": "自动签署授权已用完",
  "authorization.expired": "自动签署授权过期",
  "intent.code_undelivered": "验证码未送达", "notice.skipped": "通知未发出",
  "api_key.created": "新建接口密钥", "api_key.revoked": "吊销接口密钥", "platform_keys.wrapped": "平台托管密钥加密保存",
  "staff.disabled": "停用工作人员", "staff.enabled": "重新启用工作人员", "staff.unlocked": "解除工作人员锁定",
  "webhook.subscribed": "订阅事件通知", "webhook.paused": "暂停事件通知", "webhook.resumed": "恢复事件通知",
  "webhook.deleted": "删除事件通知", "webhook.secret_rotated": "更换事件通知密钥",
  "session.opened": "登录", "session.closed": "退出登录", "staff.login": "工作人员登录",
  "staff.login_failed": "工作人员登录失败", "staff.locked": "账户锁定", "staff.created": "新建工作人员",
  "intent.code_requested": "发送验证码", "intent.confirmed": "验证码确认", "intent.consumed": "验证码使用",
  "intent.confirm_failed": "验证码错误", "intent.code_refused": "拒绝发送验证码",
  "intent.code_withdrawn": "撤回验证码",
  "registration.code_requested": "发送注册验证码", "registration.code_withheld": "号码已注册，未发注册验证码",
  "registration.code_undelivered": "注册验证码未送达", "registration.code_used": "注册验证码使用",
  "registration.confirm_failed": "注册验证码错误",
  "certificate.pin_locked": "证书 PIN 码错误次数过多锁定", "signing.batch_signed": "批量签署完成",
  "contract.drafted": "起草合同", "contract.revised": "修改合同", "contract.sent": "合同发起签署",
  "contract.signed": "合同签署完成", "contract.returned": "合同退回草稿", "contract.cancelled": "作废合同",
  "obligation.tracked": "开始履约跟踪", "obligation.scheduled": "确定履约期限", "obligation.deemed": "视为验收",
  "obligation.paid": "登记付款", "obligation.payment_reversed": "付款冲正", "obligation.withdrawn": "撤回履约事实", "obligation.due": "履约提醒", "obligation.delivered": "交付并申请验收",
  "obligation.reminded": "催告验收", "obligation.accepted": "验收合格", "obligation.went_live": "上线运行",
  "desk_contract.added": "登记运维合同", "desk_contract.parties_corrected": "更正合同当事人", "desk_contract.inspected": "登记月度巡检",
  "service_request.opened": "受理运维请求", "service_request.responded": "运维响应", "service_request.paused": "暂停计时",
  "service_request.resumed": "恢复计时", "service_request.arrived": "到达现场", "service_request.resolved": "问题解决",
  "service_request.cancelled": "撤销运维请求", "service_request.breached": "超时违约",
  "service_request.breach_withdrawn": "撤销超时记录", "service_request.record_sent": "服务记录单发起签署",
  "service_request.record_signed": "服务记录单签署完成",
  "service_request.notice_day_confirmed": "复核通知日（按节假日安排确认）",
  "service_request.notice_day_corrected": "更正通知日（按节假日安排重算响应期限）",
  "handover.exported": "导出数据", "export.created": "生成数据移交包", "export.downloaded": "下载数据移交包",
  "export.download_refused": "拒绝下载（文件已改动）", "export.deleted": "删除数据移交包",
  "data.recrypted": "重新加密数据",
};
const SUBJECTS = {
  subscriber: "用户", application: "证书申请", certificate: "证书", payment: "缴费", seal: "印章",
  web_session: "登录会话", staff_user: "工作人员", intent_challenge: "验证码", api_key: "接口密钥",
  contract: "合同", desk_contract: "运维合同", service_request: "运维请求", export: "数据移交",
  platform: "平台", platform_kek: "平台密钥加密密钥", authority: "认证机构",
  platform_key: "平台托管密钥", // platform_keys.wrapped's, stored before it was on the platform_kek
  signature: "签名", archived_document: "归档文件", sign_flow: "签署流程", signing_authorization: "自动签署授权",
  signing_batch: "批量签署", webhook_subscription: "事件通知订阅", obligation: "履约事项",
  registration_code: "注册验证码",
};
// an authority certificate's subject is its role (yinxin.registry.ca ROLES), "sm2-" before
// it for the SM2 hierarchy beside the default
const AUTHORITY_ROLES = {
  root: "根 CA", issuing: "签发 CA", ocsp: "OCSP 响应器（签发 CA）",
  "root-ocsp": "OCSP 响应器（根 CA）", tsa: "时间戳服务（TSA）",
};
// the fields of an event's data (every key the source writes, nested ones too; test_audit_names
// checks each is here): one not named shows as it is
const FIELDS = {
  from: "原状态", to: "新状态", before: "更正前", after: "更正后", party_a: "甲方", party_b: "乙方", state: "状态", flow_state: "签署流程状态", reason: "原因",
  reason_text: "原因说明", rfc5280: "RFC 5280 吊销原因", requested_reason: "申请的原因", note: "备注",
  serial: "证书序列号", certificate: "证书", previous_certificate: "原证书", predecessor: "原证书",
  successor: "新证书", same_key_as: "同一密钥的证书", previous: "原证书", subject: "主体",
  profile: "证书类型", key_mode: "密钥方式", keystore: "密钥存储", algorithm: "算法",
  dns_names: "域名", dns_names_folded: "合并的重复域名",
  hierarchy: "证书体系", not_after: "有效期至", valid_end: "有效期至", previous_valid_end: "原有效期至",
  valid_until: "有效期至", paid_until: "费用缴至", tsa_not_after: "时间戳证书有效期至", tsa: "时间戳服务",
  hold_kind: "冻结类型", previous_hold_kind: "原冻结类型", hold_by: "冻结方", also_frozen: "一并冻结",
  via: "方式", proof: "证明", updates: "更新内容", changes: "变更内容", plan: "收费方案",
  amount: "金额", amount_yuan: "金额（元）", annual_fee: "年费", paid: "已付金额", outstanding: "未付金额",
  reference: "收款凭证号", payment_id: "收款记录", years: "年限", application_id: "申请",
  agreement: "服务协议", version: "版本", declaration_sha256: "申请人声明 SHA-256",
  subscriber_id: "用户编号", owner_subscriber_id: "所属用户", member_subscriber_id: "机构成员",
  counterparty_subscriber_id: "相对方用户", organization_id: "机构编号", owner_organization_id: "所属机构",
  member_name: "成员名称", holder_name: "印章使用人", holder_id_type: "使用人证件类型", name: "名称",
  es_id: "印章编码", seal_id: "印章", seals: "印章", seal_grant_id: "用印授权", grant_id: "用印授权",
  seseal_sha256: "印章数据 SHA-256", png_sha256: "印模图片 SHA-256", image_source: "印模来源",
  project: "运用项目", kind: "类型", key: "密钥", kek: "密钥加密密钥", labels: "密钥标识", cipher: "加密算法",
  recrypted: "已重新加密", unchanged: "未改变", pin_layer_pending: "待加 PIN 保护层",
  platform_key: "平台托管密钥", authorization_key: "自动签署授权密钥", webhook_secret: "事件通知密钥",
  staff_totp: "工作人员动态口令密钥", key_deleted: "密钥已删除", failed_attempts: "错误次数",
  failed_logins: "登录失败次数", locked_until: "锁定至", uses: "次数", uses_now: "当前次数",
  max_uses: "最多次数", remaining: "剩余次数", returned_uses: "退还次数", used_documents: "已签文件数",
  role: "角色", document: "文件", document_id: "文件编号", document_name: "文件名",
  document_sha256: "文件 SHA-256", documents: "文件", sha256: "SHA-256", sha256_before: "签署前 SHA-256",
  sha256_after: "签署后 SHA-256", signed_sha256: "签署后 SHA-256", pdf_sha256: "PDF SHA-256",
  previous_sha256: "原 SHA-256", statement_sha256: "声明 SHA-256", video_sha256: "视频 SHA-256",
  terms_sha256: "授权条款 SHA-256", manifest_sha256: "清单 SHA-256", archive_sha256: "压缩包 SHA-256",
  manifest: "清单", level: "签名级别", field_name: "签名域", intent_challenge: "验证码",
  challenge_id: "验证码", purpose: "用途", sent_to: "发送至", channel: "渠道", error: "错误",
  template: "通知模板", notification_id: "通知编号", authorization_id: "自动签署授权", terms: "授权条款",
  signature_records: "签名记录", signed_at: "签署时间", status_for: "验证数据所对应证书", context: "业务信息",
  flow_id: "签署流程", title: "标题", order: "签署顺序", deadline: "截止时间", signers: "签署人",
  signer_id: "签署人", ready: "待签署人", links_issued: "发出签署链接数", requires_video: "需视频双录",
  recording_id: "双录视频", media_type: "文件格式", size: "大小（字节）", at: "时间", expires_at: "过期时间",
  due_at: "期限", performed_at: "办理时间", requested_at: "申请时间", effective_at: "生效时间",
  client_ip: "客户端 IP", url: "地址", events: "事件", given_up: "放弃投递数", sessions_ended: "结束的会话数",
  contract: "合同", number: "编号", library_contract_id: "合同库编号", effective_on: "生效日期",
  obligations: "履约事项数", obligation_id: "履约事项", scheduled: "已定期限", unscheduled: "未定期限",
  reopened: "重新打开", met: "已履行", event: "履约事实", on: "日期", stage: "履约阶段", label: "事项",
  debtor: "付款方", point: "起算点", acceptance_point: "验收起算点", due_on: "到期日",
  explanation: "说明", inspector: "巡检人", month: "月份", reported_on: "报告日期",
  severity: "紧急程度", notice_at: "通知时间", workday: "工作日", workday_provisional: "工作日待复核",
  workday_response_hours: "工作日响应时限（小时）", other_response_hours: "其他时间响应时限（小时）",
  on_site_hours: "到场时限（小时）", response_budget_minutes: "响应时限（分钟）", response_due: "响应期限",
  on_site_due: "到场期限", late_seconds: "超时（秒）", flagged_late_seconds: "记录的超时（秒）",
  breach_withdrawn_late_seconds: "撤销的超时（秒）", paused_seconds: "暂停计时（秒）",
  overlap_seconds: "重叠时间（秒）", rows: "行数", files: "文件数", count: "数量", problem: "问题",
  business_type: "业务类型", batch_id: "批量签署", batch_position: "批内序号", batch_size: "批内文件数",
  actor: "操作人", format: "格式", signature_xml: "签名文件", page: "页码", boundary: "签章位置",
};
// the values of a field that are codes of a known enumeration, in Chinese (one not listed shows
// as it is). The states (from, to, state) by the event's subject: the lifecycle tables'
// (yinxin.transitions), named as the pages name them (api.js STATE_LABELS)
const STATES = {
  certificate: STATE_LABELS.certificate[1],
  seal: { ...STATE_LABELS.seal[1], none: "未制作" },
  application: STATE_LABELS.application[1],
  sign_flow: STATE_LABELS.flow[1],
  signing_authorization: STATE_LABELS.authorization[1],
  contract: STATE_LABELS.contract[1],
  service_request: STATE_LABELS.request[1],
  obligation: STATE_LABELS.obligation[1],
  webhook_subscription: { active: "启用", paused: "已暂停", deleted: "已删除" },
};
const STATE_FIELDS = ["from", "to", "state"];
// a certificate's and a seal's holds (yinxin.registry.lifecycle HoldKind, seals' SealHoldKind)
const HOLD_KINDS = LABELS.hold;
const REASONS = { certificate: CERT_REASON_NAMES, seal: SEAL_REASONS };
// …and the codes a refusal is recorded with (a login or a one-time code refused: the access and
// intent services' refusal codes), whatever the subject
const REASON_CODES = {
  no_challenge: "未发送过此验证码", wrong_phone: "手机号不符", wrong_code: "验证码错误",
  code_expired: "验证码已过期", code_used: "验证码已使用", challenge_dead: "验证码错误次数过多，已失效",
  wrong_document: "验证码不是为此文件发送的", wrong_subscriber: "验证码不是发给此用户的",
  no_phone: "未登记手机号", phone_registered: "手机号已注册", phone_changed: "已更换手机号",
  invalid_confirmation: "确认无效", confirmation_used: "确认已使用", confirmation_expired: "确认已过期",
  unknown_user: "用户名不存在", bad_password: "密码错误", bad_code: "动态口令错误",
  locked: "账户已锁定", disabled: "账户已停用",
};
const VALUES = {
  flow_state: STATE_LABELS.flow[1],
  hold_kind: HOLD_KINDS, previous_hold_kind: HOLD_KINDS,
  hold_by: { holder: "持有人", ca: "认证机构" },
  key_mode: LABELS.keyMode, holder_id_type: LABELS.idType, image_source: LABELS.imageSource,
  profile: LABELS.profile,
  via: { rekey: "更换密钥", reissue: "证书重发" },
  // the CRL reason a revocation is published with (yinxin.registry.lifecycle REVOCATION_REASONS)
  rfc5280: {
    key_compromise: "密钥泄露", cessation_of_operation: "停止使用", privilege_withdrawn: "权限撤销",
    superseded: "已被取代", affiliation_changed: "隶属关系变更", unspecified: "未指定",
  },
  purpose: { sign: "签署文件", sign_batch: "批量签署", login: "登录", new: "证书申请" },
  // the notice gateways' (sms, email) and the service desk's (phone, web, on_site) channels
  channel: { sms: "短信", email: "电子邮件", phone: "电话", web: "网络", on_site: "现场" },
  // a breach's kind (service_request.breached), a seal's (yinxin.seals.catalogue), a login's
  kind: {
    response: "响应超时", on_site: "到场超时", ...LABELS.sealKind, subscriber: "用户", staff: "工作人员",
  },
  role: LABELS.role,
  event: { delivered: "交付并申请验收", reminded: "催告验收", accepted: "验收合格", went_live: "上线运行" },
  stage: {
    none: "未跟踪", signed: "已生效，待交付", delivered: "已交付，待验收", reminded: "已催告验收",
    accepted: "已验收", live: "已上线运行",
  },
};

/** A field's value in Chinese when it is a code the platform names (a state of the event's
 * subject, a revocation reason, a hold…), else as it is: identifiers (serials, hashes, labels,
 * ciphers such as aes-256-gcm) and free text stay. */
function valueText(subjectType, key, v) {
  if (typeof v === "boolean") return v ? "是" : "否";
  if (typeof v !== "string") return null;
  const table = STATE_FIELDS.includes(key) ? STATES[subjectType]
    : key === "reason" || key === "requested_reason" ? { ...REASON_CODES, ...REASONS[subjectType] }
    : VALUES[key];
  if (!table) return null;
  if (table[v]) return table[v];
  // a held record's state as written with its hold: "frozen (pin_leak)", "on_hold (lost)"
  const m = /^([a-z_]+) \(([a-z_]+)\)$/.exec(v);
  if (m && table[m[1]]) return `${table[m[1]]}（${HOLD_KINDS[m[2]] || m[2]}）`;
  return null;
}

function subjectText(type, id) {
  if (type === "authority") {
    const dash = id.indexOf("-");
    const [side, role] = (AUTHORITY_ROLES[id] || dash < 0) ? ["", id] : [id.slice(0, dash), id.slice(dash + 1)];
    if (AUTHORITY_ROLES[role]) return `认证机构 ${side ? side.toUpperCase() + " " : ""}${AUTHORITY_ROLES[role]}`;
  }
  return `${SUBJECTS[type] || "记录"} ${id}`;
}
options(document.getElementById("subject_type"), SUBJECTS, { blank: "全部" });
document.getElementById("known-actions").replaceChildren(
  ...Object.entries(ACTIONS).map(([v, t]) => el("option", { value: v, label: t })),
);

const form = document.getElementById("filter-form");
let query = {}, shown = 0;

// a time in an event's data, as the services write it: ISO 8601 with its offset
const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})$/;

// the data in one short line, each field by its Chinese name (FIELDS) and a code by its
// (valueText); a value that is itself an object as （名称：值，…） named the same way, a list as
// 值、值 — not raw JSON; a time, at any depth, shown as every page shows one (fmtTime), not as
// raw ISO cut short; long values such as hashes cut (the whole data is in the tooltip)
function summary(data, subjectType) {
  const show = (k, v, top) => {
    const named = valueText(top ? subjectType : null, k, v);
    if (named !== null) return named;
    if (Array.isArray(v)) return v.length ? v.map((x) => show(k, x, false)).join("、") : "无";
    if (typeof v === "object" && v !== null) {
      const inner = Object.entries(v).map(([k2, v2]) => `${FIELDS[k2] || k2}：${show(k2, v2, false)}`);
      return `（${inner.join("，")}）`;
    }
    const t = typeof v === "string" && ISO_TIME.test(v) ? fmtTime(v) : String(v);
    return t.length > 28 ? t.slice(0, 24) + "…" : t;
  };
  const parts = Object.entries(data || {})
    .filter(([k]) => k !== "request_id")
    .map(([k, v]) => `${FIELDS[k] || k}：${show(k, v, true)}`);
  const text = parts.join("；") || "—";
  return text.length > 140 ? text.slice(0, 136) + "…" : text;
}

function row(e) {
  return el("tr", { "data-seq": String(e.seq), "data-action": e.action },
    el("td", { class: "num", text: String(e.seq) }),
    el("td", { text: fmtTime(e.at) }),
    el("td", { text: actorName(e.actor), title: e.actor }),
    el("td", {}, el("span", { text: ACTIONS[e.action] || "其他操作" }), el("br"), el("code", { class: "muted", text: e.action })),
    el("td", { text: subjectText(e.subject_type, e.subject_id), title: `${e.subject_type} ${e.subject_id}` }),
    el("td", { class: "event-data", text: summary(e.data, e.subject_type), title: JSON.stringify(e.data, null, 1) }),
  );
}

const load = pagedListing({
  path: "/audit/events", query: () => query, table: "events", row,
  empty: "没有符合条件的事件",
  onPage: (page, append) => {
    shown = append ? shown + page.items.length : page.items.length;
    document.getElementById("count").textContent = `已显示 ${shown} 条${page.next ? "，还有更多" : ""}`;
  },
});

bindForm(form, {
  busyText: "正在查询…",
  idempotent: false,
  submit: (data) => {
    query = { action: data.action.trim(), subject_type: data.subject_type, subject_id: data.subject_id.trim(), after: data.after };
    return load(false);
  },
});
form.addEventListener("reset", () => { query = {}; setTimeout(() => load(false)); });

// why the chain does not hold, as yinxin.store.audit.verify words it (English), in Chinese
const BROKEN = [
  [/^event (\d+) is missing/, (m) => `第 ${m[1]} 条事件缺失（已被删除）`],
  [/^link to the previous event is broken/, () => "与前一条事件的哈希链接不符"],
  [/^event content was changed/, () => "事件内容已被改动"],
  [/^events after (\d+) were deleted \(head says (\d+)\)/, (m) => `第 ${m[1]} 条之后的事件已被删除（链头记录到第 ${m[2]} 条）`],
  [/^event (\d+) is not the one the chain head names/, (m) => `第 ${m[1]} 条事件与链头记录的不一致`],
  [/^the chain head is missing/, () => "链头记录缺失"],
];
function brokenBecause(problem) {
  for (const [re, say] of BROKEN) {
    const m = re.exec(problem || "");
    if (m) return say(m);
  }
  return "哈希链校验不一致";
}

// rendered off: on only from here, once bound
bindButton(document.getElementById("verify"), "正在校验…", async () => {
  const v = await api("GET", "/audit/verify");
  const verdict = document.getElementById("verdict");
  verdict.className = "verdict " + (v.ok ? "ok" : "bad");
  verdict.textContent = v.ok
    ? `链完整 — 共 ${v.events} 条事件，逐条校验通过`
    : `链已断裂 — 第 ${v.first_broken} 条事件校验失败：${brokenBecause(v.problem)}`;
  verdict.hidden = false;
});

await load(false);
