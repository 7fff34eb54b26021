// Subscriber login: POST /sessions/subscriber/codes (a code to the phone), then
// POST /sessions/subscriber with the code; the session cookie is set by the answer.
import { api, bindForm, fmtTime, nextPage, toast } from "/static/api.js";
import { bindCodeLogin, resendCountdown } from "/static/pages/sms_code.js";

const params = new URLSearchParams(location.search);
if (params.get("expired")) document.getElementById("expired").hidden = false;
const next = nextPage(params.get("next"), "/my");

const codeForm = document.getElementById("code-form");
const loginForm = document.getElementById("login-form");
const sendButton = document.getElementById("send-code");

bindForm(codeForm, {
  busyText: "正在发送…",
  submit: (data, key) => api("POST", "/sessions/subscriber/codes", { json: { phone: data.phone.trim() }, idempotencyKey: key }),
  onDone: (sent) => {
    document.getElementById("challenge_id").value = sent.challenge_id;
    // the expiry is the answer's (YINXIN_OTP_TTL_SECONDS after the request), not a fixed 5 minutes
    document.getElementById("sent-to").textContent =
      `验证码已发送至 ${sent.sent_to_masked}，${fmtTime(sent.expires_at).slice(11, 16)} 前有效。`;
    toast("验证码已发送");
    document.getElementById("code").focus();
    setTimeout(() => resendCountdown(sendButton), 0);
  },
});

bindCodeLogin(loginForm, () => location.assign(next));
