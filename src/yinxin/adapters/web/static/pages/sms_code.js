// The SMS one-time code step of logging in (login.js) and of registering (register.js), the
// script of templates/_sms_code.html: the code is sent with the challenge it answers to POST
// /sessions/subscriber, which sets the session cookie. No messages of its own, so a page that
// imports it shows the same refusals as before.
import { ApiError, api, bindForm } from "/static/api.js";

/** Log in with the code typed into `form` (its #challenge_id set when the code was sent); then
 * `onDone`. Without a challenge the code field says a code is needed first. */
export function bindCodeLogin(form, onDone) {
  bindForm(form, {
    busyText: "正在登录…",
    idempotent: false,
    submit: (data) => {
      if (!data.challenge_id) throw new ApiError(422, { code: "need_code", field: "code" });
      return api("POST", "/sessions/subscriber", { json: { challenge_id: data.challenge_id, code: data.code.trim() } });
    },
    onDone,
  });
}
