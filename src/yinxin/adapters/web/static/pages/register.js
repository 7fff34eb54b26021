// Self-registration in two steps: POST /public/registrations/code proves the mobile number (the
// answer is the same whether or not it is registered; the SMS brings a code, or to a registered
// number the word to log in instead), then POST /public/registrations/{persons|organizations}
// with that code and the form (the ID number or the credit code checked as typed, and again by
// the API), whose answer opens the session: on to the agreement.
import { LABELS, api, bindForm, fmtTime, toast } from "/static/api.js";
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
    submit: (data) => api("POST", `/public/registrations/${path}`, { json: clean(data) }),
    onDone: (out) => {
      toast(`${out.name}，注册成功`);
      location.assign("/my/agreement");
    },
  });
}
