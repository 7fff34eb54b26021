// 发起签署: upload a PDF (drawn page by page by POST /flows/page-preview), add signers in
// order with role, seal and where the seal goes — an anchor text, a click on a page,
// converted to page + mm from the lower-left corner as the API takes it, or one of the empty
// signature fields the contract was prepared with (POST /flows/fields lists them; a contract
// certified to permit form filling only, DocMDP P=2, is sealed only so) — set a deadline, send
// (POST /flows, then POST /flows/{id}/start). One submission is one Idempotency-Key (the start
// uses the same key with ":start"), so a retry after a dropped answer creates and starts once.
import {
  ApiError, FIELD_MESSAGES, api, base64Of, bindButton, bindForm, el, requireSubscriber, upload,
} from "/static/api.js";
import { DEADLINE_MESSAGE, FILE_REFUSALS, explainSigners } from "/static/pages/flow_labels.js";

Object.assign(FIELD_MESSAGES, {
  title: "请输入合同标题（200字以内）",
  deadline: DEADLINE_MESSAGE,
  "documents[0].pdf": "请选择可读取的合同 PDF 文件",
});

const SEAL_MM = 40; // the API's default seal width
const $ = (id) => document.getElementById(id);
const form = $("flow-form");
const rows = $("signers");
const state = { file: null, sizes: [], loaded: 0, count: 0, placing: null, fields: [], certified: false };

// default deadline: seven days from now, at 18:00
const d = new Date(Date.now() + 7 * 86400e3);
d.setHours(18, 0, 0, 0);
const local = (x) => new Date(x.getTime() - x.getTimezoneOffset() * 60e3).toISOString().slice(0, 16);
$("deadline").value = local(d);
$("deadline").min = local(new Date());

// --- signers ------------------------------------------------------------------------------
function renumber() {
  [...rows.children].forEach((row, i) => {
    row.dataset.index = i;
    row.querySelector(".signer-title").textContent = `第 ${i + 1} 位签署方`;
    for (const input of row.querySelectorAll("[data-name]")) {
      input.name = `signers[${i}].${input.dataset.name}`;
      input.id = `signers-${i}-${input.dataset.name}`;
      // the field's own label names it (a label around a control, the check box's, needs none;
      // the list of signature fields, beside the keyword under 盖章位置, is named by aria-label)
      const lbl = input.closest(".field")?.querySelector(":scope > label");
      if (lbl && !input.hasAttribute("aria-label")) lbl.htmlFor = input.id;
    }
    for (const r of row.querySelectorAll("input[type=radio]")) r.name = `signers[${i}].mode`;
    row.querySelector(".remove").hidden = rows.children.length <= 1;
  });
  drawMarkers();
  lockWarnings();
}

function addSigner(role) {
  const row = $("signer-template").content.firstElementChild.cloneNode(true);
  const select = row.querySelector('[data-name="role"]');
  const anchor = row.querySelector(".anchor-text");
  select.value = role;
  anchor.value = `${role}（签章）`;
  row.dataset.mode = "anchor";
  select.addEventListener("change", () => {
    if (/（签章）$/.test(anchor.value)) anchor.value = `${select.value}（签章）`;
    offerFields(row); // the field named after the new role, unless one was chosen by hand
    drawMarkers();
  });
  // a choice the user made (change fires on theirs only, not on a value set here) is kept
  row.querySelector(".field-select").addEventListener("change", () => { row.dataset.fieldByHand = "1"; });
  for (const r of row.querySelectorAll("input[type=radio]")) {
    r.addEventListener("change", () => {
      row.dataset.modeByHand = "1";
      setMode(row, r.value);
    });
  }
  row.querySelector(".remove").addEventListener("click", () => {
    if (state.placing === row) state.placing = null;
    row.remove();
    renumber();
  });
  rows.append(row);
  offerFields(row);
  renumber();
  return row;
}

// --- the contract's prepared signature fields (甲方签章 …) ---------------------------------
// each row offers them when the document has any; a row takes the field named after its role
// by default, and in a certified contract every row must take one (the other modes are off).
// Picked again when the role changes (甲方 → 乙方: 乙方签章; a role no field is named after:
// back to its anchor), unless the user chose the field or the way of placing by hand.
// A field an earlier signature locked (locked_by: the flow's create refuses it, field_locked)
// is listed disabled with the reason, never picked; with none other left, no field is offered.
function offerFields(row) {
  const open = state.fields.filter((f) => !f.locked_by);
  const has = open.length > 0;
  row.querySelector(".field-mode").hidden = !has;
  for (const r of row.querySelectorAll('input[type=radio]:not([value="field"])')) r.disabled = state.certified;
  const select = row.querySelector(".field-select");
  const before = select.value;
  select.replaceChildren(...state.fields.map((f) => el("option", {
    value: f.name,
    text: (f.page ? `${f.name}（第 ${f.page} 页）` : f.name) + (f.locked_by ? `（${lockedWhy(f)}）` : ""),
    disabled: Boolean(f.locked_by),
  })));
  if (!has) {
    if (row.dataset.mode === "field") setMode(row, "anchor");
    return;
  }
  const own = open.find((f) => f.name.includes(role(row)));
  const taken = new Set([...rows.children].filter((o) => o !== row && o.dataset.mode === "field")
    .map((o) => o.querySelector(".field-select").value));
  const free = open.find((f) => !taken.has(f.name));
  const kept = row.dataset.fieldByHand && open.some((f) => f.name === before);
  select.value = kept ? before : (own || free || open[0]).name;
  if (state.certified) setMode(row, "field");
  else if (!row.dataset.modeByHand && !kept) setMode(row, own ? "field" : "anchor");
}

// why a listed field cannot be sealed into any more, as the flow's create would refuse it
function lockedWhy(f) {
  return f.locked_code === "locked"
    ? `签名“${f.locked_by}”已锁定文档，不能再盖章`
    : `已被签名“${f.locked_by}”锁定，不能再盖章`;
}

// A field's own lock, once sealed into, forbids some seals after it (POST /flows/fields lists
// them by the rule the flow's create refuses with: forbids, field → code; forbids_placement,
// a seal placed beside): with the rows' choices as they stand — in order, each earlier row's
// field against each later row's; in a parallel flow, whoever signs first decides, every
// other row's — the forbidden row says so under its 盖章位置, in Chinese, as it is chosen.
// Only a warning: the server still judges at 提交 (a 422 names the row's field).
function lockWarnings() {
  const parallel = $("order").value === "parallel";
  const all = [...rows.children];
  const byName = new Map(state.fields.map((f) => [f.name, f]));
  const chosen = (row) => (row.dataset.mode === "field" ? row.querySelector(".field-select").value : null);
  all.forEach((row, j) => {
    row.querySelectorAll(".lock-warning").forEach((n) => n.remove());
    const box = row.querySelector(".field-select").closest(".field");
    const controls = box.querySelectorAll("input, select");
    controls.forEach((c) => describe(c, null));
    const mine = chosen(row);
    for (const [i, other] of all.entries()) {
      if (i === j || (!parallel && i > j)) continue;
      const f = byName.get(chosen(other));
      if (!f || f.name === mine) continue; // the same field twice: field_taken, said at 提交
      const code = mine ? (f.forbids || {})[mine] : f.forbids_placement;
      if (!code) continue;
      const who = `第 ${i + 1} 位签署方（${role(other)}）的「${f.name}」签署后将`;
      const what = code === "locked" ? "锁定整个文档，本方不能再盖章"
        : code === "certified" ? "仅允许盖入预留的签名域，本方不能按位置盖章"
        : mine ? `锁定「${mine}」，本方不能再盖入` : "锁定新增的签名域，本方不能按位置盖章";
      const fix = parallel ? "各方同时签署时先签者决定：请改为按顺序签署并将本方排在前面，或改选盖章位置。"
        : "请调整签署顺序或改选盖章位置。";
      const id = `lock-warning-${j}`;
      box.append(el("p", { class: "hint lock-warning", id, text: `${who}${what}：${fix}` }));
      controls.forEach((c) => describe(c, id)); // read out with the row's 盖章位置 controls
      break;
    }
  });
}
form.addEventListener("change", lockWarnings);

// Tie a control to its row's lock warning ``id`` (or to none: null) in its aria-describedby,
// keeping the ids others put there (a field error's): a screen reader on the row's 盖章位置
// controls hears the warning too. Rows renumber, so any earlier warning's id is dropped.
function describe(control, id) {
  const ids = (control.getAttribute("aria-describedby") || "").split(/\s+/)
    .filter((t) => t && !t.startsWith("lock-warning-"));
  if (id) ids.push(id);
  if (ids.length) control.setAttribute("aria-describedby", ids.join(" "));
  else control.removeAttribute("aria-describedby");
}

async function readFields(file) {
  try {
    const out = await upload("/flows/fields", file);
    state.fields = out.fields;
    state.certified = out.certified;
  } catch (e) {
    state.fields = [];
    state.certified = false;
  }
  const hint = $("fields-hint");
  const open = state.fields.filter((f) => !f.locked_by).map((f) => f.name).join("、");
  const shut = state.fields.filter((f) => f.locked_by).map((f) => `${f.name}${lockedWhy(f)}`).join("；");
  hint.hidden = state.fields.length === 0;
  hint.textContent = (!open ? "该合同预留的签名域均不能再盖章。"
    : state.certified
      ? `该合同已被认证为仅允许填写表单和签名，每位签署方须盖入一个签名域（${open}），且各方不能相同。`
      : `该合同预留了签名域：${open}，可为签署方选择“盖入签名域”。`) + (shut ? `${shut}。` : "");
  for (const row of rows.children) offerFields(row);
  lockWarnings();
}

function setMode(row, mode) {
  row.dataset.mode = mode;
  row.querySelector(`input[type=radio][value="${mode}"]`).checked = true;
  row.querySelector(".anchor-text").hidden = mode !== "anchor";
  row.querySelector(".click-hint").hidden = mode !== "click";
  row.querySelector(".field-select").hidden = mode !== "field";
  for (const other of rows.children) other.classList.remove("placing");
  if (mode === "click") {
    state.placing = row;
    row.classList.add("placing");
    $("preview-hint").textContent = `请在下方页面上点击“${role(row)}”的盖章位置。`;
  } else if (state.placing === row) state.placing = null;
  drawMarkers();
}

const role = (row) => row.querySelector('[data-name="role"]').value;

// rendered off: on only from here, once bound
bindButton($("add-signer"), null, () => {
  const used = [...rows.children].map(role);
  const next = ["甲方", "乙方", "丙方", "中介方", "鉴证单位", "公证单位"].find((r) => !used.includes(r)) || "丙方";
  addSigner(next);
});
addSigner("甲方");
addSigner("乙方");

// --- the document and its pages -----------------------------------------------------------
async function showPages(first) {
  const width = Math.min(1400, Math.max(600, Math.ceil(($("pages").clientWidth || 500) * (window.devicePixelRatio || 1) / 200) * 200));
  const out = await upload(`/flows/page-preview?first=${first}&count=10&width=${width}`, state.file);
  state.count = out.page_count;
  for (const p of out.pages) {
    state.sizes[p.page - 1] = p;
    const canvas = el("div", { class: "page-canvas", "data-page": p.page },
      el("img", { src: `data:image/png;base64,${p.png_base64}`, alt: `第 ${p.page} 页`, draggable: "false" }));
    canvas.addEventListener("click", (ev) => place(ev, canvas, p));
    $("pages").append(el("figure", { class: "doc-page" }, canvas,
      el("figcaption", { text: `第 ${p.page} / ${out.page_count} 页` })));
  }
  state.loaded = first - 1 + out.pages.length;
  $("more-pages").hidden = state.loaded >= state.count;
  drawMarkers();
}

$("more-pages").addEventListener("click", () => showPages(state.loaded + 1));

async function pick(file) {
  const box = $("file").closest(".field");
  box.querySelectorAll(".field-error").forEach((n) => n.remove());
  if (!file) return;
  state.file = file;
  state.sizes = [];
  $("file-label").textContent = `${file.name}（${Math.ceil(file.size / 1024)} KB）`;
  if (!$("title").value) $("title").value = file.name.replace(/\.pdf$/i, "");
  $("pages").replaceChildren(el("p", { class: "muted", text: "正在显示页面…" }));
  try {
    $("pages").replaceChildren();
    await Promise.all([showPages(1), readFields(file)]);
    $("preview-hint").textContent = "选择“点击页面定位”的签署方后，点击页面上要盖章的位置。";
  } catch (e) {
    state.file = null;
    $("pages").replaceChildren();
    $("file-label").textContent = "点击选择或拖入合同 PDF 文件";
    box.append(el("p", { class: "field-error", text: FIELD_MESSAGES["documents[0].pdf"] }));
  }
}

$("file").addEventListener("change", (e) => pick(e.target.files[0]));
const zone = $("dropzone");
zone.addEventListener("dragover", (e) => { e.preventDefault(); zone.classList.add("over"); });
zone.addEventListener("dragleave", () => zone.classList.remove("over"));
zone.addEventListener("drop", (e) => { e.preventDefault(); zone.classList.remove("over"); pick(e.dataTransfer.files[0]); });

// a click on a page: the seal's centre there; the API takes its lower-left corner in mm
function place(ev, canvas, p) {
  const row = state.placing;
  if (!row) return;
  const img = canvas.querySelector("img");
  const r = img.getBoundingClientRect();
  const fx = (ev.clientX - r.left) / r.width, fy = (ev.clientY - r.top) / r.height;
  const cx = fx * p.width_mm, cy = (1 - fy) * p.height_mm;
  const clamp = (v, max) => Math.round(Math.min(Math.max(v, 0), max) * 10) / 10;
  row.click = {
    page: p.page,
    x_mm: clamp(cx - SEAL_MM / 2, p.width_mm - SEAL_MM),
    y_mm: clamp(cy - SEAL_MM / 2, p.height_mm - SEAL_MM),
    width_mm: SEAL_MM,
  };
  row.querySelector(".click-hint").textContent =
    `已选择：第 ${p.page} 页，距左 ${Math.round(cx)} 毫米、距底 ${Math.round(cy)} 毫米（可再次点击调整）`;
  row.querySelectorAll(".field-error").forEach((n) => n.remove());
  drawMarkers();
}

function drawMarkers() {
  document.querySelectorAll(".marker").forEach((m) => m.remove());
  for (const row of rows.children) {
    const c = row.click;
    if (row.dataset.mode !== "click" || !c) continue;
    const canvas = document.querySelector(`.page-canvas[data-page="${c.page}"]`);
    const p = state.sizes[c.page - 1];
    if (!canvas || !p) continue;
    const m = el("span", { class: "marker", text: role(row) });
    m.style.left = `${((c.x_mm + SEAL_MM / 2) / p.width_mm) * 100}%`;
    m.style.top = `${(1 - (c.y_mm + SEAL_MM / 2) / p.height_mm) * 100}%`;
    m.style.width = `${(SEAL_MM / p.width_mm) * 100}%`;
    canvas.append(m);
  }
}

// --- who sends ----------------------------------------------------------------------------
// awaited only here, once the controls above are wired: a file picked or dropped while the
// session is checked is taken (its listeners came after this request, and such a file was
// ignored without a word)
const session = await requireSubscriber();
$("sender-name").textContent = `发起方：${session.display_name}`;
// not awaited: the list is a convenience, and the page's listeners (the file above all) must
// not wait for it (the batch page had the same gap)
api("GET", "/seals?limit=200").then((seals) => {
  $("own-seals").replaceChildren(...seals.items.filter((s) => s.state === "active")
    .map((s) => el("option", { value: s.es_id, label: `${s.name}（${s.via_grant ? "授权使用" : "本单位"}）` })));
}, () => { /* the list is a convenience */ });

// --- send ---------------------------------------------------------------------------------

// the API names the field (signers[1].seal); say what is wrong with it in Chinese
function explain(err) {
  if (err.field === "documents[0].content_base64") err.problem = { ...err.problem, field: "documents[0].pdf" };
  if (/^documents/.test(err.field || "")) {
    // why, when the API says (a file signed and then altered reads, but no one can sign it)
    const why = FILE_REFUSALS[err.problem.code];
    const detail = why && state.file ? `文件「${state.file.name}」${why}` : FIELD_MESSAGES["documents[0].pdf"];
    err.problem = { ...err.problem, code: "explained", detail };
    return err;
  }
  return explainSigners(err);
}

bindForm(form, {
  busyText: "正在发送…",
  submit: async (data, key) => {
    if (!state.file) throw new ApiError(400, { code: "explained", field: "documents[0].pdf", detail: "请先选择合同 PDF 文件" });
    const signers = [...rows.children].map((row, i) => {
      const v = (n) => row.querySelector(`[data-name="${n}"]`);
      let placement;
      let field_name;
      if (row.dataset.mode === "field") {
        field_name = v("field_name").value;
        if (!field_name) throw new ApiError(400, { code: "explained", field: `signers[${i}].field_name`, detail: "请选择签名域" });
      } else if (row.dataset.mode === "click") {
        if (!row.click) throw new ApiError(400, { code: "explained", field: `signers[${i}].placement`, detail: "请在合同页面上点击盖章位置" });
        placement = row.click;
      } else {
        placement = { anchor: v("placement").value.trim() || `${role(row)}（签章）` };
      }
      return {
        subscriber_id: Number(v("subscriber_id").value),
        role: role(row),
        seal: v("seal").value.trim(),
        ...(field_name ? { field_name } : { placement }),
        order: i + 1,
        requires_video: v("requires_video").checked,
      };
    });
    const when = new Date(data.deadline);
    if (!data.deadline || Number.isNaN(when.getTime())) throw new ApiError(400, { code: "explained", field: "deadline", detail: FIELD_MESSAGES.deadline });
    const body = {
      title: data.title.trim(),
      documents: [{ name: state.file.name, content_base64: await base64Of(state.file) }],
      signers,
      order: data.order,
      deadline: when.toISOString(),
    };
    try {
      const flow = await api("POST", "/flows", { json: body, idempotencyKey: key });
      return await api("POST", `/flows/${flow.id}/start`, { idempotencyKey: `${key}:start` });
    } catch (e) {
      throw e instanceof ApiError ? explain(e) : e;
    }
  },
  onDone: (started) => location.assign(`/flows/${started.flow.id}?sent=1`),
});
