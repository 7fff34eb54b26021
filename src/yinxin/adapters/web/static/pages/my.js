// A subscriber's own space: its record, certificates and seals — all through the API, which
// scopes a subscriber's session to that subscriber (an organization's: and its people).
import { api, commonName, el, emptyRow, fmtTime, label, requireSession } from "/static/api.js";

const session = await requireSession("subscriber");
document.getElementById("session-until").textContent = `登录有效至 ${fmtTime(session.expires_at)}`;

const me = await api("GET", `/subscribers/${session.subscriber_id}`);
const facts = document.getElementById("me");
facts.replaceChildren();
const add = (k, v) => v && facts.append(el("dt", { text: k }), el("dd", { text: v }));
add("名称", me.name);
add("类型", label("subscriber", me.kind));
add("证件号码", me.id_number_masked || me.id_number);
add("统一社会信用代码", me.uscc);
add("手机号码", me.phone_masked || me.phone);
add("注册时间", fmtTime(me.created_at));

const certs = await api("GET", "/certificates?limit=50");
document.querySelector("#certificates tbody").replaceChildren(
  ...(certs.items.length ? certs.items.map((c) => el("tr", { "data-serial": c.serial },
    el("td", { class: "mono", text: c.serial }),
    el("td", { text: commonName(c.subject) }),
    el("td", { text: label("profile", c.profile) }),
    el("td", { text: label("certificate", c.status) }),
    el("td", { text: fmtTime(c.not_after).slice(0, 10) }),
  )) : [emptyRow(5, "暂无证书")]),
);

const seals = await api("GET", "/seals?limit=50");
document.querySelector("#seals tbody").replaceChildren(
  ...(seals.items.length ? seals.items.map((s) => el("tr", {},
    el("td", { class: "mono", text: s.es_id || s.code || "—" }),
    el("td", { text: s.via_grant ? `${s.name}（授权使用）` : s.name || "—" }),
    el("td", { text: s.kind_title || s.kind || "—" }),
    el("td", { text: label("seal", s.state) }),
  )) : [emptyRow(4, "暂无印章")]),
);
