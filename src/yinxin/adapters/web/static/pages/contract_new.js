// 起草合同: a form built from the chosen template's blanks (inputs named values.<blank>, so a
// refusal from the API shows next to its blank), a payment schedule as rows, a PDF preview,
// and saving the draft.
import { ApiError, FIELD_MESSAGES, api, bindButton, bindForm, clearErrors, requireSubscriber, saveBlob, showError } from "/static/api.js";
import { options, param } from "/static/pages/common.js";
import { blankField, collectValues, fillBlanks } from "/static/pages/contract_form.js";

await requireSubscriber();
const $ = (id) => document.getElementById(id);
const form = $("contract-form");
const templates = await api("GET", "/contract-templates");
const byCode = Object.fromEntries(templates.map((t) => [t.code, t]));
options($("template"), templates.map((t) => [t.code, `${t.title}（${t.code}）`]));
if (param("template") && byCode[param("template")]) $("template").value = param("template");

function draw() {
  const t = byCode[$("template").value];
  $("template-description").textContent = `${t.description}（来源：${t.source}）`;
  $("blanks").replaceChildren(...t.blanks.map((b) => blankField(b)));
}

async function collect() {
  const t = byCode[$("template").value];
  const values = await collectValues(form, t);
  const title = $("title").value.trim();
  return { template: t.code, values, ...(title ? { title } : {}) };
}

$("template").addEventListener("change", draw);
// both rendered off: on only from here, once bound
bindButton($("fill-example"), null, () => {
  const t = byCode[$("template").value];
  fillBlanks(form, Object.fromEntries(t.blanks.filter((b) => b.example !== null).map((b) => [b.name, b.example])));
});
// off, saying so, while the PDF is made: a double click is one preview, one download
bindButton($("preview"), "正在生成预览…", async () => {
  clearErrors(form);
  try {
    const body = await collect();
    const pdf = await api("POST", `/contract-templates/${body.template}/preview`, { json: { values: body.values, ...(body.title ? { title: body.title } : {}) } });
    saveBlob(pdf, "合同预览.pdf");
  } catch (err) {
    if (!(err instanceof ApiError)) throw err;
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
