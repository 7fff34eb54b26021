// 合同签署: the sign flows of the caller's organization (the API scopes a subscriber's session
// to its own organization), newest first, each linking to its progress page.
import { allItems, el, emptyRow, fmtTime, requireSubscriber } from "/static/api.js";
import { stateBadge } from "/static/pages/flow_labels.js";

await requireSubscriber();
const items = await allItems("/flows");
items.reverse();
const body = document.querySelector("#flows tbody");
body.replaceChildren(...(items.length ? items.map((f) => {
  const signed = f.signers.filter((s) => s.state === "signed").length;
  return el("tr", { "data-flow": f.id },
    el("td", { class: "num", text: String(f.id) }),
    el("td", {}, el("a", { href: `/flows/${f.id}`, text: f.title })),
    el("td", {}, stateBadge(f.state)),
    el("td", { text: `${signed} / ${f.signers.length} 方已签` }),
    el("td", { text: fmtTime(f.deadline).slice(0, 16) }),
    el("td", { text: fmtTime(f.created_at).slice(0, 16) }));
}) : [emptyRow(6, "尚无签署流程。", el("a", { href: "/flows/new", text: "发起第一份签署" }))]));
