// Staff login: POST /sessions/staff with username, password and the TOTP code.
import { api, bindForm, nextPage } from "/static/api.js";

const params = new URLSearchParams(location.search);
if (params.get("expired")) document.getElementById("expired").hidden = false;
const next = nextPage(params.get("next"), "/desk");

bindForm(document.getElementById("staff-form"), {
  busyText: "正在登录…",
  idempotent: false,
  submit: (data) => api("POST", "/sessions/staff", {
    json: { username: data.username.trim(), password: data.password, code: data.code.trim() },
  }),
  onDone: () => location.assign(next),
});
