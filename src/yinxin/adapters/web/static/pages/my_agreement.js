// Read the agreement in force and accept it: GET /public/agreement, GET and POST
// /subscribers/{me}/agreement-acceptances (the version and the text's SHA-256 are recorded).
import { api, bindForm, fmtTime, requireSession, toast } from "/static/api.js";
import "/static/pages/common.js";

const session = await requireSession("subscriber");
const me = session.subscriber_id;
const [agreement, subscriber] = await Promise.all([
  api("GET", "/public/agreement"),
  api("GET", `/subscribers/${me}`),
]);
// the API names the agreement by its identifier ("subscriber"): the page shows its Chinese title,
// and keeps the template's (电子认证服务协议) for one it has no title for
const TITLES = { subscriber: "电子认证服务协议" };
if (TITLES[agreement.name]) document.getElementById("agreement-name").textContent = `《${TITLES[agreement.name]}》`;
document.getElementById("agreement-version").textContent = `版本 ${agreement.version}`;
document.getElementById("agreement-text").textContent = agreement.text;
document.getElementById("agreement-sha256").textContent = agreement.sha256;
const form = document.getElementById("accept-form");
const status = document.getElementById("agreement-status");
document.getElementById("accepted_by").value =
  subscriber.kind === "organization" ? subscriber.contact_name || "" : subscriber.name;

function accepted(a) {
  status.className = "notice info";
  status.dataset.accepted = "true";
  status.textContent = `您已于 ${fmtTime(a.accepted_at)} 接受本协议（版本 ${a.version}，签署人 ${a.accepted_by}）。`;
  form.hidden = true;
  document.getElementById("next-step").hidden = false;
}

const done = (await api("GET", `/subscribers/${me}/agreement-acceptances`))
  .filter((a) => a.version === agreement.version && a.text_sha256 === agreement.sha256);
if (done.length) accepted(done[done.length - 1]);
else {
  status.textContent = "申请证书前，请阅读并接受以下协议。";
  form.hidden = false;
}

bindForm(form, {
  busyText: "正在提交…",
  submit: (data, key) => api("POST", `/subscribers/${me}/agreement-acceptances`, {
    json: { accepted_by: data.accepted_by.trim(), version: agreement.version }, idempotencyKey: key,
  }),
  onDone: (a) => { accepted(a); toast("已接受服务协议"); },
});
