// 批量签署: several PDFs of one signer outside a flow, one code for the whole list
// (POST /batches/code: the SMS says how many documents) and one PIN entry (POST /batches/sign:
// every document signed or none). Both submissions carry an Idempotency-Key. The code request
// names the seal too: a batch it cannot sign (a grant with fewer uses left than the files, a
// frozen seal) is refused before any SMS is sent.
import {
  ApiError, FIELD_MESSAGES, MESSAGES, api, base64Of, bindForm, el, emptyRow, requireSession, saveBlob,
} from "/static/api.js";
import { FILE_REFUSALS } from "/static/pages/flow_labels.js";

Object.assign(MESSAGES, {
  wrong_pin: "印章密码错误", anchor_not_found: "文件中找不到该关键字",
  not_authorized: "您没有该印章的用印授权", grant_expired: "用印授权已过期（超过授权期限），请联系本单位重新授权",
  grant_used_up: "用印授权的用印次数已用完，请联系本单位重新授权", seal_not_active: "该印章当前不可用",
  seal_expired: "该印章已超出有效期", certificate_not_valid: "该印章所绑定的证书当前不可用",
  seal_locked: "印章已锁定，请联系受理点", subscriber_held_key: "该印章的密钥由您自行保管，不能在平台签署",
});
Object.assign(FIELD_MESSAGES, { pin: "请输入印章密码", seal: "请输入可用的印章编码", items: "请选择 PDF 文件" });

const $ = (id) => document.getElementById(id);
// the level the batch is signed at, sent with the code request too: a prepared field asking
// for a timestamp it would not make is refused before the SMS, not after the code
const LEVEL = "B-LT";
const sealLabel = (s) => (s.via_grant ? `${s.name}（授权使用）` : s.name);

// the file list first, before anything is awaited: files picked or dropped while the session
// and the seals load are taken, not lost (a listener added after those requests missed them)
const docs = []; // {name, size, content_base64}

async function add(files) {
  for (const f of files) {
    if (!/\.pdf$/i.test(f.name) && f.type !== "application/pdf") continue;
    if (docs.some((d) => d.name === f.name && d.size === f.size)) continue;
    docs.push({ name: f.name, size: f.size, content_base64: await base64Of(f) });
  }
  $("challenge-id").value = ""; // a new list needs a new code
  $("sent-to").hidden = true;
  $("documents").querySelector("tbody").replaceChildren(...(docs.length ? docs.map((d, i) => el("tr", { "data-index": i },
    el("td", { text: d.name }), el("td", { class: "num", text: `${Math.ceil(d.size / 1024)} KB` }),
    el("td", { class: "state", text: "待签署" }))) : [emptyRow(3, "尚未选择文件")]));
}
$("files").addEventListener("change", (e) => add([...e.target.files]));
const zone = $("dropzone");
zone.addEventListener("dragover", (e) => { e.preventDefault(); zone.classList.add("over"); });
zone.addEventListener("dragleave", () => zone.classList.remove("over"));
zone.addEventListener("drop", (e) => { e.preventDefault(); zone.classList.remove("over"); add([...e.dataTransfer.files]); });

const session = await requireSession("subscriber");
$("signer-name").textContent = `签署人：${session.display_name}`;
const seals = await api("GET", "/seals?limit=200").catch(() => ({ items: [] }));
// its own active seals, and those it may use through a grant (用印授权, via_grant: the
// server lists only live grants of active seals)
const mine = seals.items.filter((s) => s.state === "active");
$("my-seals").replaceChildren(...mine.map((s) => el("option", { value: s.es_id, label: sealLabel(s) })));
if (mine.length === 1) $("seal").value = mine[0].es_id;

function documents() {
  const role = $("role").value, anchor = $("anchor").value.trim();
  return docs.map((d) => ({ name: d.name, content_base64: d.content_base64, role, placement: { anchor } }));
}

function fields(err) {
  // documents[3].pdf → the file list, naming the file; the rest name the form's own inputs
  const item = /^(?:documents|items)(?:\[(\d+)\])?/.exec(err.field || "");
  if (item) {
    const doc = item[1] !== undefined ? docs[Number(item[1])] : null;
    const why = FILE_REFUSALS[err.problem.code] || (err.problem.code === "invalid" ? "无法签署（不是完整的 PDF，或找不到盖章关键字）" : null);
    if (why) {
      const detail = doc ? `文件「${doc.name}」${why}` : `有文件${why}`;
      err.problem = { ...err.problem, field: "items", code: "explained", detail };
      if (doc) {
        const cell = document.querySelector(`#documents tr[data-index="${item[1]}"] td.state`);
        if (cell) cell.textContent = "无法签署";
      }
    } else err.problem = { ...err.problem, field: "items" };
  }
  if ((err.field || "").endsWith("placement")) err.problem = { ...err.problem, field: "anchor", code: "anchor_not_found" };
  // the seal's refusals (its grant, its certificate) are shown at the seal; a grant with some
  // uses left but fewer than the files says how many
  if (["member_subscriber_id", "certificate"].includes(err.field)) {
    const left = /allows (\d+) more signing/.exec(err.problem.detail || "");
    err.problem = left && err.problem.code === "grant_used_up"
      ? { ...err.problem, field: "seal", code: "explained", detail: `用印授权只剩 ${left[1]} 次用印，不足以签署这 ${docs.length} 份文件，请减少文件或联系本单位增加用印次数` }
      : { ...err.problem, field: "seal" };
  }
  return err;
}

bindForm($("prepare-form"), {
  busyText: "正在发送…",
  submit: async (_d, key) => {
    if (!docs.length) throw fields(new ApiError(400, { code: "invalid", field: "items" }));
    try {
      return await api("POST", "/batches/code", {
        // the seal and the list: a batch the seal cannot sign gets no code
        // and the level it will sign at: a field asking for what it cannot give gets no code
        json: { signer_subscriber_id: session.subscriber_id, documents: documents(), seal: $("seal").value.trim() || undefined, level: LEVEL },
        idempotencyKey: key,
      });
    } catch (e) { throw e instanceof ApiError ? fields(e) : e; }
  },
  onDone: (ch) => {
    $("challenge-id").value = ch.challenge_id;
    $("sent-to").textContent = `验证码已发送至 ${ch.sent_to_masked}（覆盖 ${docs.length} 份文件）`;
    $("sent-to").hidden = false;
    $("code").focus();
  },
});

bindForm($("batch-form"), {
  busyText: "正在签署…",
  submit: async (data, key) => {
    if (!docs.length) throw fields(new ApiError(400, { code: "invalid", field: "items" }));
    if (!data.challenge_id) throw new ApiError(400, { code: "need_code", field: "code" });
    try {
      return await api("POST", "/batches/sign", {
        json: {
          signer_subscriber_id: session.subscriber_id, documents: documents(), seal: $("seal").value.trim(),
          pin: data.pin, challenge_id: data.challenge_id, code: data.code.trim(), level: LEVEL,
        },
        idempotencyKey: key,
      });
    } catch (e) { throw e instanceof ApiError ? fields(e) : e; }
  },
  onDone: (out) => {
    $("result").hidden = false;
    $("result-verdict").textContent = `✓ 已签署 ${out.documents.length} 份文件`;
    document.querySelectorAll("#documents td.state").forEach((td) => { td.textContent = "已签署"; });
    $("result-downloads").replaceChildren(...out.documents.map((d) => {
      const b = el("button", { type: "button", class: "btn secondary", text: `下载《${d.name}》` });
      b.addEventListener("click", () => {
        const bytes = Uint8Array.from(atob(d.content_base64), (c) => c.charCodeAt(0));
        saveBlob(new Blob([bytes], { type: "application/pdf" }), d.name);
      });
      return b;
    }));
    $("result").scrollIntoView({ behavior: "smooth" });
  },
});
