// The RA desk's start page: who is signed in and the review queue (GET /applications).
import { api, el, fmtTime, requireSession } from "/static/api.js";

const ROLES = { administrator: "管理员", ra_officer: "受理员" };
const session = await requireSession("staff");
document.getElementById("session-until").textContent = `登录有效至 ${fmtTime(session.expires_at)}`;
document.getElementById("who").textContent = `${session.display_name}（${ROLES[session.role] || session.role}）`;

const page = await api("GET", "/applications?state=pending&limit=50");
document.getElementById("pending-count").textContent = `${page.items.length}${page.next ? "+" : ""} 件`;
document.querySelector("#pending tbody").replaceChildren(
  ...(page.items.length ? page.items.map((a) => el("tr", {},
    el("td", { text: String(a.id) }),
    el("td", { text: a.subscriber_name || String(a.subscriber_id) }),
    el("td", { text: a.profile }),
    el("td", { text: fmtTime(a.created_at || a.submitted_at) }),
  )) : [el("tr", {}, el("td", { colspan: 4, class: "muted", text: "暂无待审核申请" }))]),
);
