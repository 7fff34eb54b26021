// The subscriber's applications (with their payment and the reviewer's decision) and
// certificates: GET /applications?state=, /applications/{id}/payments, /certificates.
import { allItems, api, el, emptyRow, fmtTime, label, requireSession } from "/static/api.js";
import { certificateRow, stateBadge } from "/static/pages/common.js";

await requireSession("subscriber");
// every page of each listing (allItems), not the first 100: the newest would be the ones left out
const [pending, approved, rejected, certItems] = await Promise.all([
  allItems("/applications?state=pending"),
  allItems("/applications?state=approved"),
  allItems("/applications?state=rejected"),
  allItems("/certificates"),
]);
const certs = { items: certItems };
const apps = [...pending, ...approved, ...rejected].sort((a, b) => b.id - a.id);
const payments = await Promise.all(apps.map((a) => api("GET", `/applications/${a.id}/payments`)));
const serialOf = Object.fromEntries(certs.items.map((c) => [c.id, c.serial]));

document.querySelector("#applications tbody").replaceChildren(
  ...(apps.length ? apps.map((a, i) => {
    const paid = payments[i][0];
    let note = "";
    if (a.state === "rejected") note = `驳回原因：${a.reason || "—"}`;
    else if (a.state === "approved") note = serialOf[a.certificate_id] ? `已签发 ${serialOf[a.certificate_id]}` : "已签发";
    else note = paid ? "等待受理员审核" : "";
    const payCell = paid
      ? el("td", { text: `已缴 ¥${paid.amount_yuan}` })
      : a.state === "pending"
        ? el("td", {}, el("a", { class: "btn secondary small", href: `/my/apply?application=${a.id}`, text: "去缴费" }))
        : el("td", { class: "muted", text: "—" });
    return el("tr", { "data-application": String(a.id), "data-state": a.state },
      el("td", { text: String(a.id) }),
      el("td", { text: label("profile", a.profile) }),
      el("td", { text: fmtTime(a.submitted_at) }),
      payCell,
      el("td", {}, stateBadge("application", a.state)),
      el("td", { class: "note", text: note }),
    );
  }) : [emptyRow(6, "暂无申请")]),
);

document.querySelector("#certificates tbody").replaceChildren(
  ...(certs.items.length ? certs.items.map((c) => certificateRow(c,
    el("a", { href: `/my/certificate?serial=${c.serial}`, text: c.serial }),
    el("a", { href: `/my/certificate?serial=${c.serial}`, text: "详情与下载" }),
  )) : [emptyRow(6, "暂无证书")]),
);
