// The SMS one-time code step of logging in (login.js), the script of templates/_sms_code.html:
// the code is sent with the challenge it answers to POST /sessions/subscriber, which sets the
// session cookie. No messages of its own, so a page that imports it shows the same refusals as
// before. Also the 60-second wait before a code may be asked again, of the login and the
// registration (register.js) alike.
import { ApiError, MESSAGES, api, bindForm, el } from "/static/api.js";

Object.assign(MESSAGES, { choose_account: "该手机号登记了多个账户，请选择要登录的账户，再点登录" });
const KINDS = { person: "个人", organization: "机构" };

// the accounts the phone is registered for, as radio buttons before the form's button (asked
// by the API once the code was right)
function showChoices(form, choices) {
  form.querySelector("#account-choice")?.remove();
  const box = el("div", { class: "field", id: "account-choice", role: "radiogroup", "aria-label": "登录账户" },
    el("span", { class: "label", text: "登录账户" }),
    ...choices.map((c, i) => el("label", { class: "choice" },
      el("input", { type: "radio", name: "subscriber_id", value: String(c.subscriber_id), ...(i ? {} : { checked: true }) }),
      ` ${KINDS[c.kind] || c.kind}：${c.name}`)));
  form.querySelector("button[type=submit]").before(box);
}

/** Log in with the code typed into `form` (its #challenge_id set when the code was sent); then
 * `onDone`. Without a challenge the code field says a code is needed first. A phone registered
 * for several accounts is asked which one, after the code. */
export function bindCodeLogin(form, onDone) {
  bindForm(form, {
    busyText: "正在登录…",
    idempotent: false,
    submit: async (data) => {
      if (!data.challenge_id) throw new ApiError(422, { code: "need_code", field: "code" });
      const json = { challenge_id: data.challenge_id, code: data.code.trim() };
      if (data.subscriber_id) json.subscriber_id = Number(data.subscriber_id);
      try {
        return await api("POST", "/sessions/subscriber", { json });
      } catch (e) {
        if (e instanceof ApiError && e.code === "choose_account") showChoices(form, e.problem.choices || []);
        throw e;
      }
    },
    onDone,
  });
}

/** Disable `button` (a 获取验证码) for `seconds`, counting down on it, as a number gets one code
 * a minute; then offer 重新获取验证码. */
export function resendCountdown(button, seconds = 60) {
  button.disabled = true;
  const timer = setInterval(() => {
    seconds -= 1;
    button.textContent = `${seconds} 秒后重新获取`;
    if (seconds <= 0) {
      clearInterval(timer);
      button.disabled = false;
      button.textContent = "重新获取验证码";
    }
  }, 1000);
}
