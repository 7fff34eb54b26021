// 合同: the template library (each with a button to fill it in) and the caller's contracts,
// newest first, each linking to its page.
import { allItems, api, el, emptyRow, fmtTime, requireSubscriber } from "/static/api.js";
import { contractBadge, partyLabel } from "/static/pages/contract_labels.js";

await requireSubscriber();
const templates = await api("GET", "/contract-templates");
document.querySelector("#templates tbody").replaceChildren(...templates.map((t) =>
  el("tr", { "data-template": t.code },
    el("td", {}, el("strong", { text: t.title }), el("br"), el("span", { class: "muted", text: `${t.code} · 第 ${t.version} 版` })),
    el("td", { text: t.parties.map(partyLabel).join("、") }),
    el("td", { text: t.source }),
    el("td", { text: t.description }),
    el("td", {}, el("a", { class: "btn secondary", href: `/contracts/new?template=${encodeURIComponent(t.code)}`, text: "填写" })))));

const items = await allItems("/contracts");
const names = Object.fromEntries(templates.map((t) => [t.code, t.title]));
document.querySelector("#contracts tbody").replaceChildren(...(items.length ? items.map((c) =>
  el("tr", { "data-contract": c.id },
    el("td", { class: "num" }, el("a", { href: `/contracts/${c.id}`, text: c.number })),
    el("td", { text: c.title }),
    el("td", {}, contractBadge(c.state)),
    el("td", { text: names[c.template_code] || c.template_code }),
    el("td", { text: fmtTime(c.created_at).slice(0, 16) })))
  : [emptyRow(5, "尚无合同。", el("a", { href: "/contracts/new", text: "起草第一份合同" }))]));
