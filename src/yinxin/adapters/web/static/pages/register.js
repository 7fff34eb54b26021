// Self-registration in two steps: POST /public/registrations/code proves the mobile number (the
// answer is the same whether or not it is registered; the SMS brings a code, or to a registered
// number the word to log in instead), then POST /public/registrations/{persons|organizations}
// with that code and the form (the ID number or the credit code checked as typed, and again by
// the API), whose answer opens the session: on to the agreement. An e-mail address given is not
// registered on the form's word: the API sends a code to it (the answer's email_confirmation)
// and the third step here types it in the new session (PATCH /subscribers/{id} with email,
// email_challenge_id and email_code, the contact change); 重新发送验证码 asks the same PATCH
// without the code (202 email_confirmation_required) for a new one; 暂不验证 goes on without it.
// The page stays for that step in the session the registration opened: its header says so.
import { ApiError, LABELS, api, bindForm, fmtTime, messageFor, showAccount, toast, whileBusy } from "/static/api.js";
import { liveCheck, options } from "/static/pages/common.js"; // and its phone_registered, duplicate
import { checkIdDocument, checkMobile, checkUscc } from "/static/pages/idcheck.js";
import { resendCountdown } from "/static/pages/sms_code.js";

const phoneForm = document.getElementById("phone-form");
const person = document.getElementById("person-form");
const org = document.getElementById("organization-form");
const sendButton = document.getElementById("send-code");
const idType = document.getElementById("p-id-type");
options(idType, LABELS.idType);
let kind = location.hash === "#organization" ? "organization" : "person";
let proving = false; // a code was asked for: the form of the kind chosen is shown

function show(next) {
  kind = next;
  person.hidden = !proving || kind !== "person";
  org.hidden = !proving || kind !== "organization";
  for (const a of document.querySelectorAll("#kind-tabs a")) {
    if (a.dataset.kind === kind) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
}
for (const a of document.querySelectorAll("#kind-tabs a")) {
  a.addEventListener("click", (ev) => { ev.preventDefault(); show(a.dataset.kind); history.replaceState(null, "", `#${a.dataset.kind}`); });
}
show(kind);

liveCheck(document.getElementById("phone"), checkMobile);
liveCheck(document.getElementById("p-id-number"), (v, o) => checkIdDocument(idType.value, v, o));
liveCheck(document.getElementById("o-uscc"), checkUscc);

const clean = (data) => Object.fromEntries(
  Object.entries(data).map(([k, v]) => [k, typeof v === "string" ? v.trim() : v]).filter(([, v]) => v !== ""),
);

// step 1: the code (or, for a registered number, the SMS that says so) goes to the phone
bindForm(phoneForm, {
  busyText: "正在发送…",
  submit: (data, key) => api("POST", "/public/registrations/code", { json: { phone: data.phone.trim() }, idempotencyKey: key }),
  onDone: (sent) => {
    const phone = document.getElementById("phone").value.trim();
    for (const form of [person, org]) {
      form.elements.challenge_id.value = sent.challenge_id;
      form.elements.phone.value = phone;
      form.elements.code.value = "";
    }
    document.getElementById("sent-to").textContent =
      `短信已发送至 ${sent.sent_to_masked}，请查收验证码并填写下方注册信息（${fmtTime(sent.expires_at).slice(11, 16)} 前有效）。`
      + "如该号码已注册，短信将提示您直接登录。";
    proving = true;
    show(kind);
    toast("短信已发送");
    document.getElementById(kind === "person" ? "p-code" : "o-code").focus();
    setTimeout(() => resendCountdown(sendButton), 0);
  },
});

// step 2: the form with the code; the answer is a session
for (const [form, path] of [[person, "persons"], [org, "organizations"]]) {
  bindForm(form, {
    busyText: "正在注册…",
    idempotent: false, // its answer sets the session cookie: a repeat is a new registration
    submit: (data) => api("POST", `/public/registrations/${path}`, { json: clean(data) }).then(
      (out) => ({ ...out, email: clean(data).email }),
    ),
    onDone: (out) => {
      toast(`${out.name}，注册成功`);
      if (out.email_confirmation) confirmEmail(out);
      else location.assign("/my/agreement");
    },
  });
}

// step 3: the e-mail address given, proven by the code sent to it before it is registered
const emailForm = document.getElementById("email-form");
const emailSentTo = document.getElementById("email-sent-to");
const SPENT = ["code_expired", "code_used", "challenge_dead", "wrong_document"];
let mail = null; // { path, email, challenge } while the code waits

function mailSent(pending) {
  mail.challenge = pending.email_challenge_id || null;
  emailSentTo.textContent = mail.challenge
    ? `注册成功。验证码已发送至邮箱 ${pending.email_sent_to_masked}，请填写后点击“验证邮箱”；验证通过后该邮箱才会登记并接收通知。`
    : `注册成功，但验证码未能发送至邮箱 ${pending.email_sent_to_masked}，请核对后点击“重新发送验证码”，或暂不验证。`;
}

function confirmEmail(out) {
  showAccount(); // signed in now: the header shows who, not 用户登录
  mail = { path: `/subscribers/${out.subscriber_id}`, email: out.email };
  for (const n of [phoneForm, person, org, document.getElementById("kind-tabs")]) n.hidden = true;
  emailForm.hidden = false;
  mailSent(out.email_confirmation);
  document.getElementById("e-code").focus();
}

// off while its request runs: a double click is one request (the second would be refused as
// too frequent and say so over the code just sent)
document.getElementById("email-resend").addEventListener("click", (ev) => whileBusy(ev.currentTarget, "正在发送…", async () => {
  try {
    mailSent(await api("PATCH", mail.path, { json: { email: mail.email } }));
    toast("验证码已重新发送");
  } catch (e) {
    if (!(e instanceof ApiError)) throw e;
    toast(messageFor(e), "error");
  }
}));

bindForm(emailForm, {
  busyText: "正在验证…",
  submit: async (d, key) => {
    const code = (d.email_code || "").trim();
    if (!mail.challenge) throw new ApiError(422, { code: "explained", field: "email_code", detail: "验证码未能发送，请点击“重新发送验证码”" });
    if (!/^\d{6}$/.test(code)) throw new ApiError(422, { code: "explained", field: "email_code", detail: "请输入6位数字验证码" });
    try {
      return await api("PATCH", mail.path, {
        json: { email: mail.email, email_challenge_id: mail.challenge, email_code: code },
        idempotencyKey: key,
      });
    } catch (e) {
      if (!(e instanceof ApiError)) throw e;
      if (e.field === "email_code" || e.field === "email_challenge_id") {
        const spent = SPENT.includes(e.code) ? "，请点击“重新发送验证码”" : "";
        e.problem = { ...e.problem, code: "explained", field: "email_code", detail: `邮箱${messageFor(e)}${spent}` };
      }
      throw e;
    }
  },
  onDone: () => {
    toast("电子邮箱已验证");
    location.assign("/my/agreement");
  },
});
