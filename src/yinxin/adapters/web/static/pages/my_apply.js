// Apply for a certificate and pay for it: POST /applications (a platform-held key under a PIN,
// or the subscriber's CSR), then POST /applications/{id}/payments. ?application=ID resumes at
// the payment of an application made earlier.
import { ApiError, api, bindForm, el, fmtTime, label, requireSession, toast } from "/static/api.js";
import { facts, options, param, yuanOf } from "/static/pages/common.js";
import { kindsFor, showDocs, uploadDoc } from "/static/pages/app_documents.js";

const session = await requireSession("subscriber");
const me = session.subscriber_id;
const [subscriber, fees, agreement, accepted] = await Promise.all([
  api("GET", `/subscribers/${me}`),
  api("GET", "/public/fees"),
  api("GET", "/public/agreement"),
  api("GET", `/subscribers/${me}/agreement-acceptances`),
]);
const plans = Object.fromEntries(fees.plans.map((p) => [p.code, p]));
const form = document.getElementById("apply-form");
const payForm = document.getElementById("pay-form");
const profile = document.getElementById("profile");
const planSel = document.getElementById("plan");
const years = document.getElementById("years");

const profiles = subscriber.kind === "organization" ? ["organization-signing"] : ["person-signing"];
options(profile, profiles.map((p) => [p, label("profile", p)]));
options(planSel, fees.plans.map((p) => [p.code, `${p.title}（每年 ${yuanOf(p.annual_fen)}）`]));
planSel.value = fees.default_plan;
if (!accepted.some((a) => a.version === agreement.version && a.text_sha256 === agreement.sha256)) {
  document.getElementById("need-agreement").hidden = false;
}

const amount = (plan, n) => plans[plan].annual_fen * n + plans[plan].medium_fen;
function preview() {
  const p = plans[planSel.value];
  document.getElementById("plan-hint").textContent =
    `年服务费 ${yuanOf(p.annual_fen)}，介质费 ${yuanOf(p.medium_fen)}，续费每年 ${yuanOf(p.renewal_fen)}`;
  document.getElementById("amount-preview").textContent =
    `首次应缴 ${yuanOf(amount(planSel.value, Number(years.value)))}`;
}
planSel.addEventListener("change", preview);
years.addEventListener("change", preview);
preview();

function showKeyFields() {
  const csr = form.key_mode.value === "csr";
  document.getElementById("pin-fields").hidden = csr;
  document.getElementById("csr-fields").hidden = !csr;
}
for (const r of form.querySelectorAll("input[name=key_mode]")) r.addEventListener("change", showKeyFields);
// as chosen while the page loaded (the radios are on from the start): a 自备密钥 chosen then was
// checked and the PIN fields stayed
showKeyFields();
document.getElementById("csr-file").addEventListener("change", async (ev) => {
  const f = ev.target.files[0];
  if (f) document.getElementById("csr").value = await f.text();
});

function step(name) {
  for (const li of document.querySelectorAll("#steps li")) {
    if (li.dataset.step === name) li.setAttribute("aria-current", "step");
    else li.removeAttribute("aria-current");
  }
}

let current = null; // { application, years }

// the applicant's documents (申请材料): uploaded while the application waits for review
const docsForm = document.getElementById("docs-form");
const docKind = document.getElementById("doc-kind");
const docKinds = kindsFor(subscriber.kind);
options(docKind, docKinds.map((k) => [k, label("docKind", k)]));
document.getElementById("docs-hint").textContent = subscriber.kind === "organization"
  ? "请上传营业执照、加盖公章的授权委托书及经办人身份证的照片或扫描件，受理员审核时核对。"
  : "请上传本人身份证人像面和国徽面的照片或扫描件，受理员审核时核对。";
async function showDocsFor(application) {
  if (application.state !== "pending") return;
  docsForm.hidden = false;
  const docs = await showDocs(document.getElementById("docs"), api, application.id, "尚未上传材料");
  const missing = docKinds.find((k) => k !== "other" && !docs.some((d) => d.kind === k));
  docKind.value = missing || "other";
}
bindForm(docsForm, {
  busyText: "正在上传…",
  submit: (data, key) => {
    const file = document.getElementById("doc-file").files[0];
    if (!file) throw new ApiError(422, { code: "need_file", field: "body", detail: "no file" });
    const progress = document.getElementById("doc-progress");
    return uploadDoc(current.application.id, data.doc_kind, file, key,
      (f) => { progress.textContent = `${Math.round(f * 100)}%`; });
  },
  onDone: async (doc) => {
    document.getElementById("doc-progress").textContent = "";
    document.getElementById("doc-file").value = "";
    toast(`已上传${label("docKind", doc.kind)}`);
    await showDocsFor(current.application);
  },
});

function toPay(application, n) {
  current = { application, years: n };
  showDocsFor(application);
  form.hidden = true;
  payForm.hidden = false;
  step("pay");
  facts(document.getElementById("apply-facts"), [
    ["受理号", application.id],
    ["证书类型", label("profile", application.profile)],
    ["服务套餐", plans[application.plan]?.title || application.plan],
    ["服务年限", `${n} 年`],
    ["密钥", label("keyMode", application.key_mode)],
    ["提交时间", fmtTime(application.submitted_at)],
  ]);
  document.getElementById("amount").textContent = yuanOf(amount(application.plan, n));
}

function paid(application, payment) {
  current = { application, years: current?.years || 1 };
  showDocsFor(application);
  payForm.hidden = true;
  form.hidden = true;
  document.getElementById("paid").hidden = false;
  step("review");
  facts(document.getElementById("paid-facts"), [
    ["受理号", application.id],
    ["缴费金额", `¥${payment.amount_yuan}`],
    ["缴费时间", fmtTime(payment.paid_at)],
    ["缴费凭证号", payment.reference],
    ["状态", label("application", application.state)],
  ]);
}

bindForm(form, {
  busyText: "正在提交…",
  submit: (data, key) => {
    const body = {
      subscriber_id: me, profile: data.profile, plan: data.plan, years: Number(data.years),
      acceptance_point: "网上受理",
    };
    if (data.key_mode === "csr") {
      if (!data.csr.trim()) throw new ApiError(422, { code: "invalid", field: "csr", detail: "empty" });
      body.csr = data.csr.trim();
    } else {
      if (!data.pin || data.pin.length < 6) throw new ApiError(422, { code: "invalid", field: "pin", detail: "short" });
      if (data.pin !== data.pin2) throw new ApiError(422, { code: "invalid", field: "pin2", detail: "differ" });
      body.pin = data.pin;
    }
    return api("POST", "/applications", { json: body, idempotencyKey: key });
  },
  onDone: (application) => {
    form.reset();
    toast(`申请已提交，受理号 ${application.id}`);
    toPay(application, application.years);
  },
});

// the button stays disabled until the form is bound: a native submission would put the PIN in
// the address
form.querySelector("button[type=submit]").disabled = false;

bindForm(payForm, {
  busyText: "正在缴费…",
  submit: (_data, key) => api("POST", `/applications/${current.application.id}/payments`, {
    json: { years: current.years, reference: `WEB-${current.application.id}` }, idempotencyKey: key,
  }),
  onDone: (payment) => { toast("缴费成功"); paid(current.application, payment); },
});

const resume = param("application");
if (resume) {
  try {
    const application = await api("GET", `/applications/${encodeURIComponent(resume)}`);
    const payments = await api("GET", `/applications/${application.id}/payments`);
    if (payments.length) paid(application, payments[0]);
    else toPay(application, Number(param("years") || 1));
  } catch (e) {
    // another's application, or no number of one (a stale or mistyped link): say so, and leave
    // the form for a new application — it stayed on screen without a word, a script error behind
    if (!(e instanceof ApiError) || ![404, 422].includes(e.status)) throw e;
    toast(`未找到受理号为 ${resume} 的申请，或您无权查看`, "error");
  }
}
