// The blanks of a contract template as form fields (inputs named values.<blank>, so a refusal
// from the API shows next to its blank), filled from values and read back: shared by 起草合同
// (contract_new.js) and a draft's 修改草稿 (contract.js).
import { base64Of, el } from "/static/api.js";
import { options } from "/static/pages/common.js";

const HINT = {
  amount: "元，如 1740000 或 1,740,000.00", percent: "百分比，如 75", rate: "如 6% 或 0.5‰",
  date: "", integer: "整数", uscc: "18 位统一社会信用代码", id_number: "18 位居民身份证号码",
  phone: "手机号或带区号的固定电话",
};

/** A row's cell: its label tied to its input (the input's id is its name, unique on the page). */
function cell(text, attrs) {
  return el("div", { class: "field" }, el("label", { for: attrs.name, text }), el("input", { id: attrs.name, type: "text", ...attrs }));
}

function scheduleRow(name, i, row = {}) {
  return el("div", { class: "grid-fields three schedule-row" },
    cell(`第 ${i} 期付款条件`, { name: `values.${name}[${i}].milestone`, value: row.milestone || "", maxlength: 300 }),
    cell(`第 ${i} 期比例（%）`, { inputmode: "decimal", name: `values.${name}[${i}].percent`, value: row.percent || "" }),
    cell(`第 ${i} 期金额（可留空，按比例计算）`, { inputmode: "decimal", name: `values.${name}[${i}].amount`, value: row.amount || "" }));
}

// 费用明细 (002 附件 2): one row per price line; the lines must add up to the price.
const PRICE_CELLS = [["item", "项目名称（可选）", 100], ["service", "服务类型", 100], ["quantity", "数量", 7],
  ["unit", "单位", 10], ["amount", "含税价（元）", 32], ["note", "备注（可选）", 100]];
function priceRow(name, i, row = {}) {
  return el("div", { class: "grid-fields three price-row" }, ...PRICE_CELLS.map(([k, label, max]) =>
    cell(`第 ${i} 行 ${label}`, { name: `values.${name}[${i}].${k}`, value: row[k] ?? (k === "quantity" ? "1" : ""), maxlength: max,
      inputmode: ["quantity", "amount"].includes(k) ? "decimal" : null })));
}

/** The input (or rows) of one blank of a template, named values.<blank>. `kept`: the draft's
 * stored value of a PDF blank, kept when no other file is picked (a revision). */
export function blankField(b, kept) {
  const name = `values.${b.name}`;
  const label = el("label", { for: name, text: b.required ? b.label : `${b.label}（可选）` });
  let input;
  if (b.type === "schedule") {
    const rows = el("div", { "data-schedule": b.name });
    const add = el("button", { type: "button", class: "btn secondary", text: "＋ 添加一期" });
    add.addEventListener("click", () => rows.append(scheduleRow(b.name, rows.children.length + 1)));
    rows.append(scheduleRow(b.name, 1));
    return el("fieldset", { class: "field", name }, el("legend", { text: b.label }), rows, add);
  }
  if (b.type === "price_lines") {
    const rows = el("div", { "data-price-lines": b.name });
    const add = el("button", { type: "button", class: "btn secondary", text: "＋ 添加一行" });
    add.addEventListener("click", () => rows.append(priceRow(b.name, rows.children.length + 1)));
    rows.append(priceRow(b.name, 1));
    return el("fieldset", { class: "field", name }, el("legend", { text: `${b.label}（各行含税价合计应等于总价）` }), rows, add);
  }
  if (b.type === "pdf") {  // sent as base64 text: the API checks it is a PDF fit to append
    input = el("input", { id: name, name, type: "file", accept: "application/pdf,.pdf" });
    const note = kept ? `已有文件：${kept.pages} 页（SHA-256 ${String(kept.sha256).slice(0, 12)}…）；不选择新文件则保留原文件。` : "";
    return el("div", { class: "field" }, label, input, el("p", { class: "muted small", text: `${note}PDF，字体须嵌入，未加密，不超过 100 页、20 MiB` }));
  }
  if (b.type === "choice") {
    input = el("select", { id: name, name });
    options(input, b.choices.map((c) => [c, c]), { blank: b.required ? undefined : "（不填）" });
  } else if (b.type === "longtext") {
    input = el("textarea", { id: name, name, rows: 3, maxlength: b.max_length || 2000 });
  } else {
    input = el("input", {
      id: name, name, type: b.type === "date" ? "date" : "text",
      inputmode: ["amount", "percent", "integer"].includes(b.type) ? "decimal" : null,
      maxlength: b.max_length || null, placeholder: HINT[b.type] || "",
    });
  }
  if (b.required) input.required = true;
  return el("div", { class: "field" }, label, input);
}

/** Put values (a template's examples, or a draft's stored values) into the form's blanks. A
 * file input cannot be given a file: a PDF blank is left to the one kept. */
export function fillBlanks(form, values) {
  for (const [k, v] of Object.entries(values)) {
    if (Array.isArray(v)) {
      const rows = form.querySelector(`[data-schedule="${CSS.escape(k)}"]`);
      if (rows) rows.replaceChildren(...v.map((r, i) => scheduleRow(k, i + 1, r)));
      const lines = form.querySelector(`[data-price-lines="${CSS.escape(k)}"]`);
      if (lines) lines.replaceChildren(...v.map((r, i) => priceRow(k, i + 1, r)));
    } else {
      const input = form.querySelector(`[name="${CSS.escape(`values.${k}`)}"]`);
      if (input && input.type !== "file" && (v === null || typeof v !== "object")) input.value = v ?? "";
    }
  }
}

/** The values the form's blanks hold, for the template `t`; a PDF blank with no file picked
 * sends the stored value in `kept` (a revision keeps the file by giving it back). */
export async function collectValues(form, t, kept = {}) {
  const values = {};
  for (const b of t.blanks) {
    if (b.type === "schedule") {
      const rows = [...form.querySelectorAll(`[data-schedule="${CSS.escape(b.name)}"] .schedule-row`)];
      const list = rows.map((r) => {
        const [m, p, a] = r.querySelectorAll("input");
        return { milestone: m.value, percent: p.value, ...(a.value.trim() ? { amount: a.value } : {}) };
      }).filter((r) => r.milestone || r.percent);
      if (list.length) values[b.name] = list;
      continue;
    }
    if (b.type === "price_lines") {
      const rows = [...form.querySelectorAll(`[data-price-lines="${CSS.escape(b.name)}"] .price-row`)];
      const list = rows.map((r) => {
        const row = {};
        r.querySelectorAll("input").forEach((input, j) => {
          const k = PRICE_CELLS[j][0];
          if (input.value.trim() !== "") row[k] = k === "quantity" && /^\d+$/.test(input.value) ? Number(input.value) : input.value;
        });
        return row;
      }).filter((r) => r.service || r.amount || r.item || r.note);
      if (list.length) values[b.name] = list;
      continue;
    }
    if (b.type === "pdf") {
      const file = form.querySelector(`[name="${CSS.escape(`values.${b.name}`)}"]`).files[0];
      if (file) values[b.name] = await base64Of(file);
      else if (kept[b.name]) values[b.name] = kept[b.name];
      continue;
    }
    const v = form.querySelector(`[name="${CSS.escape(`values.${b.name}`)}"]`).value;
    if (v.trim() !== "") values[b.name] = b.type === "integer" && /^\d+$/.test(v) ? Number(v) : v;
  }
  return values;
}
