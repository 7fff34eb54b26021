// The verification page: POST /api/v1/public/verifications with the file as the body; the
// report as JSON to show, and again as the Chinese PDF report to download (format=pdf).
// The server judges a file by its content: a PAdES PDF, a PDF sealed the GB/T 38540 way
// ("pdf-ses") or an OFD ("ofd"); the last two have a report of their own (seal, signer, the
// standard's checks one by one), on the page and in the PDF.
import { ApiError, chineseDetail, el, fmtTime, messageFor, newKey, saveBlob, shown, showError, clearErrors, toast, upload, whileBusy } from "/static/api.js";

const form = document.getElementById("verify-form");
const input = document.getElementById("file");
const zone = document.getElementById("dropzone");
const progressBox = document.getElementById("progress-box");
const bar = document.querySelector("#progress > span");
const progressText = document.getElementById("progress-text");
const result = document.getElementById("result");
let current = null; // { file, key }

// A PDF signature's coverage, changes after signing and revocation source; GB/T 38540's
// checks, their outcomes and the kinds of sealed file: as the text and PDF reports say them.
// The shell carries them (Page.words in adapters/web), each check its outcome (the API's).
const WORDS = JSON.parse(document.getElementById("page-words").textContent);
const OUTCOME_CLASS = { passed: "ok", failed: "bad", not_shown: "warn", not_checked: "muted" };
const COVERAGE = WORDS.coverage;
const CHANGES = WORDS.changes;
const REVOCATION = WORDS.revocation_sources;

/** A time as the pages show it, with its UTC offset — 2026-12-06 08:40:56（UTC+08:00）: a
 * relying party compares it with the PDF report, a witness or a log kept in another zone. */
function when(iso) {
  if (!iso) return fmtTime(iso);
  const m = -new Date(iso).getTimezoneOffset();
  const p = (x) => String(Math.floor(x)).padStart(2, "0");
  return `${fmtTime(iso)}（UTC${m < 0 ? "-" : "+"}${p(Math.abs(m) / 60)}:${p(Math.abs(m) % 60)}）`;
}

function showProgress(fraction, text) {
  progressBox.hidden = false;
  const p = document.getElementById("progress");
  p.classList.toggle("indeterminate", fraction === null);
  bar.style.width = fraction === null ? "" : `${Math.round(fraction * 100)}%`;
  progressText.textContent = text;
}

// The API's limit (MAX_PDF): a larger file is refused here, not after uploading all of it.
const MAX_MB = 50;

/** A refusal next to the file field that names the file (a relying party checking several
 * sees which one) and says why. */
function refuse(file, text) {
  showError(form, new ApiError(422, { code: "explained", field: "body", detail: `「${file.name}」${text}` }));
}

async function verify(file) {
  clearErrors(form);
  result.hidden = true;
  if (!file) return;
  if (!/\.(pdf|ofd)$/i.test(file.name) && file.type !== "application/pdf") {
    refuse(file, `：${messageFor(new ApiError(422, { code: "not_a_document" }))}`);
    return;
  }
  if (file.size === 0) return refuse(file, "是空文件（0 字节），无法验证");
  if (file.size > MAX_MB * 1024 * 1024) {
    return refuse(file, `大小为 ${(file.size / 1024 / 1024).toFixed(1)} MB，超过 ${MAX_MB} MB 的上限，无法验证`);
  }
  current = { file, key: newKey() };
  zone.setAttribute("aria-disabled", "true");
  try {
    const q = new URLSearchParams({ file_name: file.name });
    showProgress(0, "正在上传…");
    document.getElementById("download-report").hidden = false;
    const report = await upload(`/public/verifications?${q}`, file, {
      idempotencyKey: current.key,
      onProgress: (f) => showProgress(f < 1 ? f : null, f < 1 ? `正在上传… ${Math.round(f * 100)}%` : "正在验证签名…"),
    });
    render(report);
  } catch (e) {
    if (!(e instanceof ApiError)) throw e;
    refuse(file, `：${messageFor(e)}`);
  } finally {
    progressBox.hidden = true;
    zone.removeAttribute("aria-disabled");
  }
}

// Every text of the report that a document brings (names, problems quoting them) goes through
// shown(): hidden characters as escapes, as in the CLI's and the PDF report.
function fact(dl, label, value, title) {
  dl.append(el("dt", { text: label }), el("dd", { title }, shown(value) ?? "—"));
}

/** A report's problem, note or check detail in Chinese. The report words each one "中文 /
 * English" (the CLI's and the PDF report's line), and the page showed both halves raw, the
 * English on a par with the Chinese; now the Chinese half (chineseDetail, as every other page
 * shows a detail the API words in Chinese) and the whole line in its tooltip. A line with no
 * Chinese half of its own (a library's English message) is shown as it is. */
function said(text) {
  return shown(chineseDetail(text) || text);
}

/** A list of such lines, each the Chinese half with the whole line as its title. */
function saidList(cls, lines) {
  return el("ul", { class: cls }, lines.map((p) => el("li", { text: said(p), title: shown(p) })));
}

/** A signature's badge: valid, invalid, or cannot be determined. */
function verdictBadge(s) {
  if (s.valid) return el("span", { class: "badge ok", text: "有效 / valid" });
  if (s.indication === "INDETERMINATE") return el("span", { class: "badge warn", text: "无法确定 / indeterminate" });
  return el("span", { class: "badge bad", text: "无效 / invalid" });
}

function render(r) {
  const sealed = r.kind in WORDS.seal_kinds;
  const what = sealed ? "电子签章" : "签名";
  const verdict = document.getElementById("verdict");
  const unsure = r.indication === "INDETERMINATE";
  // the page's own line for a part no signature protects: the part's name after the Chinese,
  // since the Chinese half of "中文 / English: /name" would leave the name out
  const unprotected = (r.unprotected || []).map((n) => [`未受保护的文件：/${n}`, `未受保护的文件 / file not protected by any signature: /${n}`]);
  const problems = [...(r.problems || []).map((p) => [chineseDetail(p) || p, p]), ...unprotected];
  verdict.className = "verdict " + (r.valid ? "ok" : unsure ? "warn" : "bad");
  // no signature read is not "no signature in the file": a damaged OFD gives none back either,
  // and the file's problems (below) say which it is
  verdict.textContent = r.valid
    ? `有效 — 文件中的 ${r.signatures.length} 个${what}全部验证通过`
    : unsure ? `无法确定 — 未发现篡改，但现有证据不足以证明${what}有效（见下方原因）`
    : r.signatures.length ? `无效 — 至少一个${what}未通过验证`
    : "无效 — 未能从文件中读出任何电子签名" + (problems.length ? "（原因见“文件问题”）" : "");
  const facts = document.getElementById("doc-facts");
  facts.replaceChildren();
  fact(facts, "文件名", r.file_name);
  if (sealed) fact(facts, "文件类型", WORDS.seal_kinds[r.kind]);
  fact(facts, "SHA-256", el("code", { text: r.sha256 }));
  fact(facts, "验证时间", when(r.verified_at));
  fact(facts, `${what}数量`, `${r.signatures.length} 个` + (r.document_timestamps ? `（另有文档时间戳 ${r.document_timestamps} 个）` : ""));
  if (problems.length) fact(facts, "文件问题", problems.map(([zh]) => zh).join("；"), shown(problems.map(([, whole]) => whole).join("\n")));
  if (r.notes && r.notes.length) fact(facts, "说明", r.notes.map((n) => chineseDetail(n) || n).join("；"), shown(r.notes.join("\n")));
  document.getElementById("signatures-heading").textContent = `${what}详情`;
  const list = document.getElementById("signatures");
  list.replaceChildren(...r.signatures.map((s, i) => (sealed ? sealSignature(s, i + 1, r.kind) : signature(s, i + 1))));
  result.hidden = false;
  result.scrollIntoView({ behavior: "smooth", block: "start" });
}

function signature(s, n) {
  const dl = el("dl", { class: "facts" });
  fact(dl, "签署人", s.signer_name || s.signer_subject);
  if (s.role) fact(dl, "角色", s.role);
  if (s.seal_name) fact(dl, "印章", s.seal_name);
  fact(dl, "证书序列号", el("code", { text: s.certificate_serial }));
  fact(dl, "签发机构", s.certificate_issuer);
  fact(dl, "签署时间", s.signing_time ? `${when(s.signing_time)}（签署人自报）` : "—");
  // as the text and PDF reports' line: the time (the authority, valid or not)
  const stampOk = s.timestamp_valid === true ? "有效" : s.timestamp_valid === false ? "无效" : "未知";
  fact(dl, "时间戳", s.timestamp_time
    ? `${when(s.timestamp_time)}（${s.timestamp_authority || "?"}，${stampOk}）`
    : "无时间戳");
  // trust first, as the CLI's and the PDF report's line has it: "valid at signing" alone read
  // as good news for a certificate no trusted root vouches for
  fact(dl, "证书状态", (s.trusted ? "受信任，" : "不受信任，")
    + (s.certificate_valid_at_signing ? "签署时有效" : "签署时无效")
    + (s.revoked === true ? "，已吊销" : s.revoked === false ? "，未吊销" : "")
    + `（${REVOCATION[s.revocation_source] || s.revocation_source}）`);
  fact(dl, "文件完整性", (s.intact ? "完整" : "已被篡改") + `，${COVERAGE[s.coverage] || s.coverage}`);
  fact(dl, "签署后修改", CHANGES[s.changes_after] || s.changes_after);
  if (s.level) fact(dl, "签名级别", `PAdES ${s.level}`);
  const body = el("div", { class: "body" }, dl);
  if (s.problems.length) body.append(saidList("problems", s.problems));
  if (s.notes.length) body.append(saidList("notes", s.notes));
  return el("article", { class: "signature", "data-valid": String(s.valid), "data-indication": s.indication },
    el("header", {},
      el("h3", { text: `签名 ${n}：${shown(s.signer_name || s.field_name)}` }),
      verdictBadge(s),
    ),
    body,
  );
}

function sealSignature(s, n, kind) {
  const v = s.value || {};
  const dl = el("dl", { class: "facts" });
  fact(dl, "印章", v.seal_name ? `${v.seal_name}（印章编码 ${v.es_id || "—"}）` : null);
  fact(dl, "签章人", v.signer ? `${v.signer}（证书序列号 ${v.signer_serial || "—"}）` : null);
  fact(dl, "签章时间", v.time_info ? `${when(v.time_info)}（签章人自报）` : null);
  fact(dl, "时间戳", v.timestamp_time ? when(v.timestamp_time) : "无时间戳");
  if (kind === "ofd") {
    const pages = [...new Set((s.stamps || []).map((st) => st.page))];
    fact(dl, "印章位置", pages.length ? `第 ${pages.join("、")} 页` : null);
    fact(dl, "签名覆盖", `${s.files_protected} 个文件` + (s.digests_checked === false ? "，未能核对摘要" : s.references_ok ? "，摘要一致" : "，摘要不一致"));
  } else {
    fact(dl, "印章位置", s.page ? `第 ${s.page} 页` : null);
    fact(dl, "文件完整性", COVERAGE[s.coverage] || s.coverage);
    fact(dl, "签署后修改", CHANGES[s.changes_after] || s.changes_after);
  }
  const body = el("div", { class: "body" }, dl);
  const checks = v.checks || [];
  if (checks.length) {
    body.append(el("ul", { class: "checks" }, checks.map((c) => {
      const word = WORDS.outcomes[c.outcome] || shown(c.outcome);
      const text = `${word}：${WORDS.checks[c.name] || shown(c.name)} — ${said(c.detail)}`;
      return el("li", { class: OUTCOME_CLASS[c.outcome] || "muted", "data-check": c.name, text, title: shown(c.detail) });
    })));
  }
  if (s.problems.length) body.append(saidList("problems", s.problems));
  if (v.notes && v.notes.length) body.append(saidList("notes", v.notes));
  return el("article", { class: "signature", "data-valid": String(s.valid), "data-indication": s.indication },
    el("header", {},
      el("h3", { text: `签章 ${n}：${shown(v.seal_name || s.field_name || s.id)}` }),
      verdictBadge(s),
    ),
    body,
  );
}

input.addEventListener("change", () => verify(input.files[0]));
zone.addEventListener("dragover", (e) => { e.preventDefault(); zone.classList.add("over"); });
zone.addEventListener("dragleave", () => zone.classList.remove("over"));
zone.addEventListener("drop", (e) => {
  e.preventDefault();
  zone.classList.remove("over");
  const files = [...e.dataTransfer.files];
  if (files.length > 1) {
    // the first verified and the rest ignored read as all of them checked
    clearErrors(form);
    result.hidden = true;
    const names = files.map((f) => `「${f.name}」`).join("");
    const detail = `一次只能验证一个文件，收到 ${files.length} 个（${names}）：请逐个验证`;
    showError(form, new ApiError(422, { code: "explained", field: "body", detail }));
    return;
  }
  verify(files[0]);
});
document.getElementById("again").addEventListener("click", () => {
  result.hidden = true;
  input.value = "";
  input.click();
});
document.getElementById("download-report").addEventListener("click", (ev) => {
  if (!current) return;
  return whileBusy(ev.currentTarget, "正在生成报告…", async () => {
    try {
      const q = new URLSearchParams({ file_name: current.file.name, format: "pdf" });
      const pdf = await upload(`/public/verifications?${q}`, current.file, { accept: "application/pdf" });
      saveBlob(pdf, current.file.name.replace(/\.(pdf|ofd)$/i, "") + "-验证报告.pdf");
    } catch (e) {
      toast(e instanceof ApiError ? messageFor(e) : String(e), "error");
    }
  });
});
