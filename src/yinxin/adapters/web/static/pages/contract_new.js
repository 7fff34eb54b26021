// 起草合同: a form built from the chosen template's blanks (inputs named values.<blank>, so a
// refusal from the API shows next to its blank), a payment schedule as rows, a PDF preview,
// and saving the draft.
import {
  FIELD_MESSAGES, api, base64Of, bindForm, clearErrors, el, requireSubscriber, saveBlob, showError,
} from "/static/api.js";
import { options, param } from "/static/pages/common.js";

await requireSubscriber();
const $ = (id) => document.getElementById(id);
const form = $("contract-form");
const templates = await api("GET", "/contract-templates");
const byCode = Object.fromEntries(templates.map((t) => [t.code, t]));
options($("template"), templates.map((t) => [t.code, `${t.title}（${t.code}）`]));
if (param("template") && byCode[param("template")]) $("template").value = param("template");

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

function blankField(b) {
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
    return el("div", { class: "field" }, label, input, el("p", { class: "muted small", text: "PDF，字体须嵌入，未加密，不超过 100 页、20 MiB" }));
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

function draw() {
  const t = byCode[$("template").value];
  $("template-description").textContent = `${t.description}（来源：${t.source}）`;
  $("blanks").replaceChildren(...t.blanks.map(blankField));
}

function fill(values) {
  for (const [k, v] of Object.entries(values)) {
    if (Array.isArray(v)) {
      const rows = form.querySelector(`[data-schedule="${CSS.escape(k)}"]`);
      if (rows) rows.replaceChildren(...v.map((r, i) => scheduleRow(k, i + 1, r)));
      const lines = form.querySelector(`[data-price-lines="${CSS.escape(k)}"]`);
      if (lines) lines.replaceChildren(...v.map((r, i) => priceRow(k, i + 1, r)));
    } else {
      const input = form.querySelector(`[name="${CSS.escape(`values.${k}`)}"]`);
      if (input) input.value = v;
    }
  }
}

async function collect() {
  const t = byCode[$("template").value];
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
      continue;
    }
    const v = form.querySelector(`[name="${CSS.escape(`values.${b.name}`)}"]`).value;
    if (v.trim() !== "") values[b.name] = b.type === "integer" && /^\d+$/.test(v) ? Number(v) : v;
  }
  const title = $("title").value.trim();
  return { template: t.code, values, ...(title ? { title } : {}) };
}

$("template").addEventListener("change", draw);
$("fill-example").addEventListener("click", () => {
  const t = byCode[$("template").value];
  fill(Object.fromEntries(t.blanks.filter((b) => b.example !== null).map((b) => [b.name, b.example])));
});
$("preview").addEventListener("click", async () => {
  clearErrors(form);
  const body = await collect();
  try {
    const pdf = await api("POST", `/contract-templates/${body.template}/preview`, { json: { values: body.values, ...(body.title ? { title: body.title } : {}) } });
    saveBlob(pdf, "合同预览.pdf");
  } catch (err) {
    showError(form, err);
  }
});
Object.assign(FIELD_MESSAGES, { values: "请检查填写的内容" });
bindForm(form, {
  busyText: "正在生成合同…",
  submit: async (_data, key) => api("POST", "/contracts", { json: await collect(), idempotencyKey: key }),
  onDone: (c) => { location.href = `/contracts/${c.id}`; },
});
draw();
