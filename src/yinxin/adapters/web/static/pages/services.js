// The fee schedule, from GET /api/v1/public/fees.
import { api, el, emptyRow } from "/static/api.js";

const table = document.querySelector("#fee-table tbody");
try {
  const fees = await api("GET", "/public/fees");
  table.replaceChildren(
    ...fees.plans.map((p) => {
      const [name, ...rest] = p.title.split("：");
      return el("tr", { "data-plan": p.code },
        el("td", {}, el("strong", { text: name })),
        el("td", { text: rest.join("：") + (p.includes_hardware ? "（含硬件）" : "") }),
        el("td", { class: "num", text: `¥${p.annual_yuan}` }),
        el("td", { class: "num", text: p.medium_fen ? `¥${p.medium_yuan}` : "—" }),
        el("td", { class: "num", text: `¥${p.renewal_yuan}` }),
        el("td", { class: "num", text: `¥${p.first_year_yuan}` }),
      );
    }),
  );
  document.getElementById("fee-source").textContent = `依据：${fees.source}。费用以人民币计，缴费后开具发票。`;
} catch (e) {
  table.replaceChildren(emptyRow(6, "收费标准暂时无法加载，请稍后刷新。"));
}
