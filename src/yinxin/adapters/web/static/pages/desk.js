// The RA desk's start page: who is signed in and the review queue (GET /applications).
import { api, el, emptyRow, fmtTime, label, requireSession } from "/static/api.js";

const session = await requireSession("staff");
document.getElementById("session-until").textContent = `登录有效至 ${fmtTime(session.expires_at)}`;
document.getElementById("who").textContent = `${session.display_name}（${label("role", session.role)}）`;

const page = await api("GET", "/applications?state=pending&limit=50");
document.getElementById("pending-count").textContent = `${page.items.length}${page.next ? "+" : ""} 件`;
document.querySelector("#pending tbody").replaceChildren(
  ...(page.items.length ? page.items.map((a) => el("tr", {},
    el("td", { text: String(a.id) }),
    el("td", { text: `用户 ${a.subscriber_id}` }),
    el("td", { text: label("profile", a.profile) }),
    el("td", { text: fmtTime(a.submitted_at) }),
  )) : [emptyRow(4, "暂无待审核申请")]),
);
