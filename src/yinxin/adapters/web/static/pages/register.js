// Self-registration: POST /public/registrations/{persons|organizations} (the ID number or the
// credit code checked as typed, and again by the API), which sends a login code to the phone
// given; then POST /sessions/subscriber with that code, and on to the agreement.
import { LABELS, api, bindForm, toast } from "/static/api.js";
import { liveCheck, options } from "/static/pages/common.js";
import { bindCodeLogin } from "/static/pages/sms_code.js";
import { checkIdDocument, checkMobile, checkUscc } from "/static/pages/idcheck.js";

const person = document.getElementById("person-form");
const org = document.getElementById("organization-form");
const codeForm = document.getElementById("code-form");
const idType = document.getElementById("p-id-type");
options(idType, LABELS.idType);

function show(kind) {
  person.hidden = kind !== "person";
  org.hidden = kind !== "organization";
  for (const a of document.querySelectorAll("#kind-tabs a")) {
    if (a.dataset.kind === kind) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
}
for (const a of document.querySelectorAll("#kind-tabs a")) {
  a.addEventListener("click", (ev) => { ev.preventDefault(); show(a.dataset.kind); history.replaceState(null, "", `#${a.dataset.kind}`); });
}
if (location.hash === "#organization") show("organization");

liveCheck(document.getElementById("p-id-number"), (v, o) => checkIdDocument(idType.value, v, o));
liveCheck(document.getElementById("p-phone"), checkMobile);
liveCheck(document.getElementById("o-uscc"), checkUscc);
liveCheck(document.getElementById("o-phone"), checkMobile);

const clean = (data) => Object.fromEntries(
  Object.entries(data).map(([k, v]) => [k, typeof v === "string" ? v.trim() : v]).filter(([, v]) => v !== ""),
);

function registered(out) {
  person.hidden = org.hidden = true;
  document.getElementById("kind-tabs").hidden = true;
  document.getElementById("challenge_id").value = out.login.challenge_id;
  document.getElementById("registered").textContent =
    `${out.name}，注册成功（用户编号 ${out.subscriber_id}）。验证码已发送至 ${out.login.sent_to_masked}，请输入验证码登录。`;
  codeForm.hidden = false;
  document.getElementById("code").focus();
  toast("注册成功，验证码已发送");
}

bindForm(person, {
  busyText: "正在注册…",
  submit: (data, key) => api("POST", "/public/registrations/persons", { json: clean(data), idempotencyKey: key }),
  onDone: registered,
});
bindForm(org, {
  busyText: "正在注册…",
  submit: (data, key) => api("POST", "/public/registrations/organizations", { json: clean(data), idempotencyKey: key }),
  onDone: registered,
});
bindCodeLogin(codeForm, () => location.assign("/my/agreement"));
