// The signer's page, opened from the SMS link /sign/{token} — phone first. The token in the
// address is the credential (no login): read every page (pictures drawn by the server), record
// the video statement when the flow asks for it (视频双录, MediaRecorder → webm), ask for the one
// code, enter it with the seal PIN, sign, and see the seal on the signed page; download.
// Every submission goes through bindForm/upload with an Idempotency-Key, so a double tap or a
// dropped answer never signs twice.
import {
  ApiError, FIELD_MESSAGES, MESSAGES, api, bindForm, el, fmtTime, messageFor, newKey, saveBlob, toast, upload, whileBusy,
} from "/static/api.js";

Object.assign(MESSAGES, {
  unknown_link: "签署链接无效，请核对短信中的完整链接",
  not_your_turn: "尚未轮到您签署，请等待前序签署方完成后再打开此链接",
  already_signed: "您已签署过本流程的文件",
  flow_completed: "该签署流程已全部完成",
  flow_cancelled: "该签署流程已被撤回或有签署方拒签",
  flow_expired: "该签署流程已超过截止时间",
  flow_draft: "该签署流程尚未发起",
  signer_declined: "您已拒绝签署本流程",
  signer_cancelled: "该签署流程已撤回",
  signer_expired: "该签署流程已超过截止时间",
  wrong_pin: "印章密码错误",
  seal_locked: "印章密码错误次数过多，印章已锁定，请联系受理点解锁",
  video_required: "请先完成视频双录",
  video_not_required: "本流程无需视频双录",
  document_moved: "文件已被其他签署方更新，请重新获取验证码后签署",
  need_read: "请先阅读全部文件，并勾选“我已完整阅读”",
  too_short: "录制时间过短，请完整宣读声明后再结束录制",
  no_camera: "无法打开摄像头，请允许本页面使用摄像头和麦克风后重试",
});
Object.assign(FIELD_MESSAGES, { pin: "请输入印章密码", reason: "请填写拒签理由（500字以内）" });

const MIN_SECONDS = 3; // a recording shorter than this cannot hold the statement
const PROBLEM_TITLES = {
  already_signed: "您已签署", flow_completed: "签署已完成", flow_cancelled: "流程已撤回",
  flow_expired: "流程已过期", flow_draft: "流程未发起", not_your_turn: "尚未轮到您",
  unknown_link: "链接无效",
};
// what the link's flow became (the API names it on `token`, as it does a link it does not know)
const FINISHED = new Set(["flow_completed", "flow_cancelled", "flow_expired"]);

const $ = (id) => document.getElementById(id);
const token = decodeURIComponent(location.pathname.split("/")[2] || "");
const T = `/sign/${encodeURIComponent(token)}`;
const state = { ctx: null, read: false, video: false };

function pictureWidth(box) {
  const px = (box.clientWidth || 360) * (window.devicePixelRatio || 1);
  return Math.max(400, Math.min(1600, Math.ceil(px / 200) * 200));
}

function pageNumber(placement, count) {
  if (!placement || placement.page == null) return count; // an anchor: the last hit, at the end
  return placement.page > 0 ? placement.page : count + placement.page + 1;
}

function pageImage(doc, info, n, width) {
  const size = info.pages[n - 1];
  return el("figure", { class: "doc-page", "data-page": n },
    el("img", {
      src: `/api/v1${T}/documents/${doc.id}/pages/${n}?width=${width}&v=${info.sha256.slice(0, 12)}`,
      width: width, height: Math.round(width * size.height_mm / size.width_mm),
      alt: `${doc.name} 第 ${n} 页`, loading: n <= 2 ? "eager" : "lazy",
    }),
    el("figcaption", { text: `第 ${n} / ${info.pages.length} 页` }));
}

function showProblem(err) {
  // a link cut short or mistyped (the API refuses the token's form, 422 `invalid` on `token`)
  // is as unusable as one it does not know; the flow's own state (completed, withdrawn, past
  // its deadline, …) is refused on `token` too, and says so
  if (err instanceof ApiError && err.field === "token" && err.code === "invalid") {
    err = new ApiError(404, { code: "unknown_link" });
  }
  $("loading").hidden = true;
  $("link-problem").hidden = false;
  $("problem-title").textContent = PROBLEM_TITLES[err.code] || "无法签署";
  let text = err instanceof ApiError ? messageFor(err) : MESSAGES.internal;
  // past its deadline: which one (the refusal carries it, as the page's facts showed it)
  if (err instanceof ApiError && err.code === "flow_expired" && err.problem.deadline) {
    text += `（截止时间 ${fmtTime(err.problem.deadline)}）`;
  }
  $("problem-text").textContent = text;
}

function facts(ctx) {
  const f = ctx.flow, s = ctx.signer;
  const dl = $("flow-facts");
  dl.replaceChildren();
  const add = (k, v) => dl.append(el("dt", { text: k }), el("dd", { text: v }));
  add("签署人", `${s.subscriber_name}（${s.role}）`);
  add("签署顺序", f.signing_order === "parallel" ? "各方同时签署" : `第 ${s.order} 位签署`);
  add("文件", f.documents.map((d) => d.name).join("、"));
  add("截止时间", fmtTime(f.deadline));
  if (s.requires_video) add("视频双录", "本流程要求签署前录制视频声明");
}

function step(name) {
  for (const li of document.querySelectorAll("#steps li")) {
    const order = ["read", "video", "confirm", "done"];
    const at = order.indexOf(name), mine = order.indexOf(li.dataset.step);
    li.toggleAttribute("aria-current", mine === at);
    li.classList.toggle("done", mine < at);
  }
}

// --- reading ------------------------------------------------------------------------------
async function showDocuments(ctx) {
  const box = $("documents");
  box.replaceChildren();
  const width = pictureWidth(box);
  let last = null;
  for (const doc of ctx.flow.documents) {
    const info = await api("GET", `${T}/documents/${doc.id}/pages`);
    const pages = el("div", { class: "doc-pages", "data-document": doc.id });
    for (let n = 1; n <= info.pages.length; n++) pages.append(pageImage(doc, info, n, width));
    box.append(el("article", { class: "document card compact" },
      el("h3", {}, doc.name, el("span", { class: "muted", text: ` · 共 ${info.pages.length} 页` })),
      pages));
    last = pages.lastElementChild;
  }
  const done = () => {
    state.read = true;
    $("read-confirm").disabled = false;
    $("reading-hint").textContent = "您已阅读至最后一页，请勾选确认后继续。";
  };
  if (last && "IntersectionObserver" in window) {
    const seen = new IntersectionObserver((entries) => {
      if (entries.some((e) => e.isIntersecting)) { seen.disconnect(); done(); }
    }, { threshold: 0.3 });
    seen.observe(last);
  } else done();
}

function afterReading() {
  const needVideo = state.ctx.signer.requires_video && !state.video;
  $("video-step").hidden = !state.ctx.signer.requires_video;
  $("confirm-step").hidden = false;
  $("confirm-heading").textContent = state.ctx.signer.requires_video ? "第三步：验证并签署" : "第二步：验证并签署";
  step(needVideo ? "video" : "confirm");
  ($(needVideo ? "video-step" : "confirm-step")).scrollIntoView({ behavior: "smooth", block: "start" });
}

// --- video dual recording -----------------------------------------------------------------
function videoSection() {
  let stream = null, recorder = null, chunks = [], started = 0, ticker = null, blob = null, key = null;
  const err = $("video-error");
  const fail = (why) => { err.textContent = why instanceof ApiError ? messageFor(why) : MESSAGES[why] || MESSAGES.internal; err.hidden = false; };
  const show = (...ids) => {
    for (const id of ["camera-on", "rec-start", "rec-stop", "rec-again"]) $(id).hidden = !ids.includes(id);
  };

  $("camera-on").addEventListener("click", async () => {
    err.hidden = true;
    try {
      stream = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 480 }, audio: true });
    } catch (_) {
      try { stream = await navigator.mediaDevices.getUserMedia({ video: true }); } catch (e) { return fail("no_camera"); }
    }
    $("camera").srcObject = stream;
    show("rec-start");
  });

  $("rec-start").addEventListener("click", () => {
    err.hidden = true;
    chunks = [];
    const type = ["video/webm;codecs=vp8,opus", "video/webm;codecs=vp8", "video/webm"]
      .find((t) => window.MediaRecorder && MediaRecorder.isTypeSupported(t));
    recorder = new MediaRecorder(stream, type ? { mimeType: type } : undefined);
    recorder.ondataavailable = (e) => { if (e.data && e.data.size) chunks.push(e.data); };
    recorder.start(500);
    started = Date.now();
    $("rec-indicator").hidden = false;
    $("rec-time").textContent = "0";
    ticker = setInterval(() => { $("rec-time").textContent = String(Math.floor((Date.now() - started) / 1000)); }, 500);
    show("rec-stop");
  });

  $("rec-stop").addEventListener("click", async () => {
    const seconds = (Date.now() - started) / 1000;
    if (seconds < MIN_SECONDS) return fail("too_short");
    clearInterval(ticker);
    $("rec-indicator").hidden = true;
    await new Promise((resolve) => { recorder.onstop = resolve; recorder.stop(); });
    blob = new Blob(chunks, { type: "video/webm" });
    blob.seconds = Math.round(seconds);
    key = newKey(); // one recording, one key: a retried upload is the same request
    await send();
  });

  $("rec-again").addEventListener("click", () => {
    $("video-done").hidden = true;
    blob = null;
    show("rec-start");
  });

  async function send() {
    err.hidden = true;
    show();
    $("video-progress").hidden = false;
    const bar = $("video-progress").querySelector(".progress > span");
    try {
      const rec = await upload(`${T}/video`, blob, {
        idempotencyKey: key, onProgress: (f) => { bar.style.width = `${Math.round(f * 100)}%`; },
      });
      key = null;
      state.video = true;
      state.ctx.signer.video_sha256 = rec.sha256;
      $("video-done").textContent =
        `✓ 已录制 ${blob.seconds} 秒（${Math.round(rec.size / 1024)} KB），SHA-256：${rec.sha256}`;
      $("video-done").dataset.sha256 = rec.sha256;
      $("video-done").hidden = false;
      show("rec-again");
      step("confirm");
      const stale = $("sign-form").querySelector(".form-error");
      stale.hidden = true;
    } catch (e) {
      if (!(e instanceof ApiError)) throw e;
      const unknown = e.status === 0 || e.status >= 500 || e.code === "idempotency_in_progress";
      if (!unknown) key = newKey();
      fail(e);
      $("rec-stop").hidden = true;
      const retry = el("button", { type: "button", class: "btn", text: "重新上传" });
      retry.addEventListener("click", () => { retry.remove(); send(); });
      $("video-step").querySelector(".actions").append(retry);
      show("rec-again");
    } finally {
      $("video-progress").hidden = true;
    }
  }
}

// --- code and signature -------------------------------------------------------------------
function confirmSection() {
  let countdown = null;
  bindForm($("code-form"), {
    busyText: "正在发送…",
    submit: (_data, key) => api("POST", `${T}/code`, { idempotencyKey: key }),
    onDone: (ch) => {
      $("challenge-id").value = ch.challenge_id;
      const sent = $("sent-to");
      sent.textContent = `验证码已发送至 ${ch.sent_to_masked}，${fmtTime(ch.expires_at).slice(11, 16)} 前有效`;
      sent.hidden = false;
      const button = $("send-code");
      let left = 60;
      clearInterval(countdown);
      countdown = setInterval(() => {
        left -= 1;
        button.disabled = left > 0;
        button.textContent = left > 0 ? `重新获取（${left} 秒）` : "重新获取验证码";
        if (left <= 0) clearInterval(countdown);
      }, 1000);
      $("code").focus();
    },
  });

  bindForm($("sign-form"), {
    busyText: "正在签署…",
    submit: (data, key) => {
      if (!state.read || !$("read-confirm").checked) throw new ApiError(400, { code: "need_read" });
      if (state.ctx.signer.requires_video && !state.video) throw new ApiError(400, { code: "video_required" });
      if (!data.challenge_id) throw new ApiError(400, { code: "need_code", field: "code" });
      return api("POST", T, {
        json: { pin: data.pin, challenge_id: data.challenge_id, code: data.code.trim() },
        idempotencyKey: key,
      });
    },
    onDone: () => showDone(true),
  });

  $("decline-open").addEventListener("click", () => {
    $("sign-form").hidden = true; $("code-form").hidden = true; $("decline-form").hidden = false;
  });
  $("decline-cancel").addEventListener("click", () => {
    $("sign-form").hidden = false; $("code-form").hidden = false; $("decline-form").hidden = true;
  });
  bindForm($("decline-form"), {
    busyText: "正在提交…",
    submit: (data, key) => api("POST", `${T}/decline`, { json: { reason: data.reason }, idempotencyKey: key }),
    onDone: () => {
      for (const id of ["flow-head", "reading", "video-step", "confirm-step"]) $(id).hidden = true;
      showProblem(new ApiError(409, { code: "signer_declined" }));
      $("problem-title").textContent = "您已拒绝签署";
    },
  });
}

// --- after signing: the seal on the page, downloads ---------------------------------------
async function showDone(justSigned, copy = null) {
  const ctx = copy || await api("GET", `${T}/documents`); // the link still reads: the signer's copy
  state.ctx = ctx;
  for (const id of ["loading", "reading", "video-step", "confirm-step", "link-problem"]) $(id).hidden = true;
  $("flow-head").hidden = false;
  facts(ctx);
  $("flow-title").textContent = ctx.flow.title;
  const badge = $("flow-badge");
  const ended = { cancelled: "已撤回", expired: "已过期" }[ctx.flow.state];
  badge.textContent = ctx.flow.state === "completed" ? "已完成" : ended || "已签署";
  badge.className = ended ? "badge warn" : "badge ok";
  step("done");
  $("done").hidden = false;
  $("done-verdict").textContent = justSigned ? "✓ 签署完成，印章已加盖" : "✓ 您已签署本流程的文件";
  $("done-text").textContent = (ended ? `${MESSAGES[`flow_${ctx.flow.state}`]}。` : "") +
    `签署时间 ${fmtTime(ctx.signer.signed_at)}。下图为加盖您印章的页面；签署后的文件可随时下载，并可在“验证文件”页核验。`;
  const box = $("signed-pages");
  box.replaceChildren();
  const width = pictureWidth(box);
  const downloads = $("downloads");
  downloads.replaceChildren();
  for (const doc of ctx.flow.documents) {
    const info = await api("GET", `${T}/documents/${doc.id}/pages`);
    const placement = ctx.signer.placements.find((p) => p.document === doc.position);
    const n = pageNumber(placement, info.pages.length);
    const fig = pageImage(doc, info, n, width);
    fig.classList.add("sealed");
    fig.querySelector("figcaption").textContent = `《${doc.name}》第 ${n} 页 · 已加盖${ctx.signer.role}印章`;
    box.append(fig);
    const b = el("button", { type: "button", class: "btn", "data-document": doc.id, text: `下载《${doc.name}》` });
    // off, saying so, while the file comes: a double tap is one download
    b.addEventListener("click", () => whileBusy(b, "正在下载…", async () => {
      try { saveBlob(await api("GET", `${T}/documents/${doc.id}`), doc.name); }
      catch (e) { toast(e instanceof ApiError ? messageFor(e) : MESSAGES.internal, "error"); }
    }));
    downloads.append(b);
  }
  if (justSigned) $("done").scrollIntoView({ behavior: "smooth", block: "start" });
}

// --- start --------------------------------------------------------------------------------
async function main() {
  let ctx;
  try {
    ctx = await api("GET", T);
  } catch (e) {
    if (!(e instanceof ApiError)) throw e;
    if (e.code === "already_signed") return showDone(false);
    // signed, and then the flow ended (all signed, or withdrawn, or past its deadline): the link
    // still reads the signer's copy; a signer who had not signed is told what became of it
    if (FINISHED.has(e.code)) {
      const copy = await api("GET", `${T}/documents`).catch(() => null);
      if (copy) return showDone(false, copy);
    }
    return showProblem(e);
  }
  state.ctx = ctx;
  state.video = Boolean(ctx.signer.video_sha256);
  document.title = `签署《${ctx.flow.title}》 — 印信电子认证服务平台`;
  $("loading").hidden = true;
  $("flow-head").hidden = false;
  $("flow-title").textContent = ctx.flow.title;
  facts(ctx);
  if (ctx.signer.requires_video) {
    document.querySelector('#steps li[data-step="video"]').hidden = false;
    $("statement").textContent = ctx.statement;
    if (state.video) {
      $("video-done").textContent = `✓ 已录制，SHA-256：${ctx.signer.video_sha256}`;
      $("video-done").hidden = false;
      $("camera-on").textContent = "重新录制";
    }
    videoSection();
  }
  $("reading").hidden = false;
  confirmSection();
  $("read-confirm").addEventListener("change", (e) => { if (e.target.checked) afterReading(); });
  await showDocuments(ctx);
}

main().catch((e) => showProblem(e));
