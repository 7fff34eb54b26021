// One certificate of the subscriber: its facts, the downloads (GET /certificates/{serial}/pem,
// /der, /chain), the holder's lifecycle requests (freeze, unfreeze, report loss, restore,
// revoke with one of the reasons of 001) and the requests that issue a new certificate in its
// place (renew, rekey, reissue: POST /certificates/{serial}/renew|rekey|reissue) — only the
// forms the certificate's state, dates and fees allow, as the API would judge them. A revocation
// asks first; one for key compromise (or of a certificate reported lost) takes every other
// certificate in force with the same key, anyone's: the question says so beforehand and the
// answer's same_key_revoked is said afterwards. A loss report asks first too, saying what it
// does to the other certificates of the key (the holder's held with it, another's not), and
// names those it held (same_key_held) afterwards; a restore (解除挂失) names those it released
// from the loss with it (same_key_released).
import {
  ApiError, FIELD_MESSAGES, MESSAGES, allItems, api, bindButton, bindForm, commonName, el, fmtTime, label, leaveIfSignedOut,
  messageFor, requireSession, saveBlob, toast,
} from "/static/api.js";
import {
  CERT_REASONS, CERT_REASON_NAMES, HOLDER_CERT_REASONS, certBadge, facts, lossQuestion, options, param, refusedPage,
  revokeQuestion, sameKeyHeld, sameKeyReleased, sameKeyRevoked, yuanOf,
} from "/static/pages/common.js";

await requireSession("subscriber");
const serial = (param("serial") || "").replace(/[^0-9A-Fa-f]/g, "");
options(document.getElementById("reason"), HOLDER_CERT_REASONS.map((r) => [r, CERT_REASONS[r]]), { blank: "请选择吊销原因" });

const YEAR_MS = 365 * 24 * 3600 * 1000; // a year of service, as the registry counts it

function show(c) {
  // past its end the API treats it as expired whether or not the expiry sweep has marked it
  const live = new Date(c.not_after).getTime() > Date.now();
  if (!live && (c.status === "active" || c.status === "on_hold")) c = { ...c, status: "expired", hold_kind: null };
  document.getElementById("status-badge").replaceChildren(certBadge(c));
  facts(document.getElementById("cert-facts"), [
    ["序列号", el("code", { text: c.serial })],
    ["持有人", commonName(c.subject)],
    ["主题", c.subject],
    ["证书类型", label("profile", c.profile)],
    ["状态", certBadge(c)],
    ["有效期", `${fmtTime(c.not_before)} 至 ${fmtTime(c.not_after)}`],
    ["服务费缴至", c.paid_until ? fmtTime(c.paid_until) : "—"],
    ["密钥", c.key === "platform" ? "平台托管（PIN 码保护）" : "用户自备"],
    ["吊销时间", c.revoked_at ? fmtTime(c.revoked_at) : null],
    ["吊销原因", c.revocation_reason ? CERT_REASON_NAMES[c.revocation_reason] || "其他情况" : null],
  ]);
  const held = c.status === "on_hold";
  document.getElementById("freeze-form").hidden = c.status !== "active";
  // a lost key is reported over a freeze or a stop for unpaid fees too
  document.getElementById("loss-form").hidden = !(c.status === "active" || (held && c.hold_kind !== "lost"));
  document.getElementById("unfreeze-form").hidden = !(held && c.hold_kind !== "lost");
  document.getElementById("restore-form").hidden = !(held && c.hold_kind === "lost");
  document.getElementById("revoke-form").hidden = !(c.status === "active" || held);
  document.getElementById("lifecycle").hidden = !(c.status === "active" || held);
  // a certificate stopped for unpaid fees is paid for here, then released (not 解冻 alone,
  // which is refused until the fee is in)
  const unpaid = held && c.hold_kind === "unpaid";
  // a loss reported over a stop for unpaid fees (or the paid time over before the sweep): the
  // fee comes first — a new key is refused until then (API: unpaid)
  const lostUnpaid = held && c.hold_kind === "lost" && c.paid_until && new Date(c.paid_until) <= Date.now();
  // a renewed certificate stays in force beside its renewal, but only the renewal is paid for
  const renewed = document.getElementById("renewed");
  renewed.hidden = !successor;
  if (successor) {
    const link = el("a", { href: `/my/certificate?serial=${successor.serial}`, text: successor.serial });
    if (c.status === "revoked") renewed.replaceChildren("本证书已由新证书 ", link, " 替代。");
    else renewed.replaceChildren("本证书已续期，新证书为 ", link, "。缴费、续期请在新证书上办理；本证书在有效期内仍可使用。");
  }
  document.getElementById("renew-pay-form").hidden = Boolean(successor) || !(c.status === "active" || unpaid || lostUnpaid);
  // …unless the fee is in already (paid while the key was reported lost, then restored: back
  // on the stop for unpaid fees), when 解冻 releases it and no second fee is asked
  const due = unpaid && !(c.paid_until && new Date(c.paid_until) > Date.now());
  document.getElementById("unfreeze-form").hidden ||= due;
  // a freeze the certification authority imposed is lifted by it: not offered to the holder
  const byCa = held && c.hold_kind === "frozen" && c.hold_by !== "holder";
  document.getElementById("unfreeze-form").hidden ||= byCa;
  document.getElementById("ca-hold").hidden = !byCa;
  document.getElementById("renew-pay-text").textContent = due
    ? "本证书因服务费未按期缴纳已停用：缴费后即恢复使用。"
    : unpaid
      ? `服务费已缴至 ${fmtTime(c.paid_until)}：请在下方“解冻证书”恢复使用，无需再次缴费。`
      : lostUnpaid
        ? "本证书的服务费已到期：缴费后方可补办证书。"
        : "按年缴纳证书服务费（001 服务协议），服务期自当前缴至日起顺延。";
  current = c;
  showSuccessorForms(c);
  showAmount();
}

// renew, rekey, reissue: offered as the API accepts them (registry/lifecycle.py) — renew and
// rekey on a certificate in force, reissue over a loss report or a freeze the holder asked for
// (not under a freeze by the certification authority, a loss reported over it included: the
// API refuses the holder, frozen_by_ca), none on one already renewed
function showSuccessorForms(c) {
  const paidNow = !c.paid_until || new Date(c.paid_until) > Date.now(); // rekey, reissue: API unpaid
  const free = !successor && (c.status === "active" || c.status === "on_hold");
  const active = free && c.status === "active";
  const paidAhead = Boolean(c.paid_until) && new Date(c.paid_until) > new Date(c.not_after);
  const reissuable = free && c.status === "on_hold"
    && ((c.hold_kind === "frozen" && c.hold_by === "holder") || (c.hold_kind === "lost" && c.hold_by !== "ca"));
  document.getElementById("renew-form").hidden = !(active && paidAhead);
  document.getElementById("renew-unpaid").hidden = !(active && !paidAhead);
  document.getElementById("rekey-form").hidden = !(active && paidNow);
  document.getElementById("reissue-form").hidden = !(reissuable && paidNow);
  document.getElementById("successors").hidden = !(active || (reissuable && paidNow));
  for (const f of document.querySelectorAll("#successors [data-key]")) f.hidden = f.dataset.key !== c.key;
  // a holder's own reissue, and rekey of a key the holder holds, are proved by an SMS code
  // (the API answers 202 code_required); a rekey of a platform-held key by its current PIN
  for (const f of document.querySelectorAll("#successors [data-code]")) {
    f.hidden = f.dataset.code === "rekey" && c.key === "platform";
  }
  if (active && paidAhead) {
    facts(document.getElementById("renew-facts"), [
      ["新证书有效期", `办理之时 至 ${fmtTime(c.paid_until)}`],
      ["密钥", "不变"],
      ["服务费", `已缴至 ${fmtTime(c.paid_until)}，续期不另收费`],
    ]);
  }
}

// what renewing costs when the service is not yet paid beyond the certificate's end: the fewest
// years that pay past it (a payment runs from the paid-until date, or from now if that passed)
function showRenewFee() {
  const box = document.getElementById("renew-unpaid-text");
  if (!box || !current) return;
  const c = current;
  const base = Math.max(c.paid_until ? new Date(c.paid_until).getTime() : 0, Date.now());
  const years = Math.max(1, Math.floor((new Date(c.not_after).getTime() - base) / YEAR_MS) + 1);
  const plan = fees && fees.plans.find((p) => p.code === c.plan);
  const cost = plan ? `，应缴 ${yuanOf(plan.renewal_fen * years)}（每年 ${yuanOf(plan.renewal_fen)}）` : "";
  box.textContent = `续期前须先缴纳服务费至证书有效期（${fmtTime(c.not_after)}）之后：至少缴费 ${years} 年${cost}。`
    + "请在上方“缴纳服务费”中缴费，缴费后即可在此续期。";
  const select = document.getElementById("renew-years");
  if (!document.getElementById("renew-unpaid").hidden && select.dataset.chosen !== "true") {
    if (![...select.options].some((o) => o.value === String(years))) select.append(el("option", { value: years, text: `${years} 年` }));
    select.value = String(years);
  }
}

let current = null;
let successor = null; // the certificate issued in this one's place (renewal, rekey, reissue), if any
let fees = null;
function showAmount() {
  if (!document.getElementById("renew-years")) return; // the page became a "not found" notice
  showRenewFee(); // may choose the years that renewing needs
  const plan = fees && current && fees.plans.find((p) => p.code === current.plan);
  const years = Number(document.getElementById("renew-years").value);
  document.getElementById("renew-amount").textContent = plan ? `应缴 ${yuanOf(plan.renewal_fen * years)}` : "";
}
document.getElementById("renew-years").addEventListener("change", (ev) => { ev.target.dataset.chosen = "true"; showAmount(); });
api("GET", "/public/fees").then((f) => { fees = f; showAmount(); }, () => {});


for (const b of document.querySelectorAll("[data-download]")) {
  // off, saying so, while the file comes: a double click is one download (rendered off: on
  // only from here, once bound)
  bindButton(b, "正在下载…", async () => {
    const kind = b.dataset.download;
    try {
      const blob = await api("GET", `/certificates/${serial}/${kind}`);
      saveBlob(blob, kind === "der" ? `${serial}.cer` : kind === "chain" ? `${serial}-chain.pem` : `${serial}.pem`);
    } catch (e) {
      // refused: said (or, the session over, to the login page), never dropped unseen
      if (!leaveIfSignedOut(e)) toast(e instanceof ApiError ? messageFor(e) : "下载失败，请稍后重试", "error");
    }
  });
}

const act = (id, verb, body, done) => bindForm(document.getElementById(id), {
  busyText: "正在办理…",
  submit: (data, key) => api("POST", `/certificates/${serial}/${verb}`, { json: body(data), idempotencyKey: key }),
  onDone: (c) => { document.getElementById(id).reset(); show(c); toast(done); },
});
// the fee, then (for a certificate stopped for unpaid fees) its release: each its own key, kept
// for a retry, so a double click or a retry after a lost answer pays once
bindForm(document.getElementById("renew-pay-form"), {
  busyText: "正在缴费…",
  submit: async (data, key) => {
    const paid = await api("POST", `/certificates/${serial}/payments`, {
      json: { years: Number(data.years) }, idempotencyKey: key,
    });
    // paid: whatever happens next is not a reason to submit (and pay) again
    let c = current;
    let held = null;
    try {
      c = await api("GET", `/certificates/${serial}`);
      if (c.status === "on_hold" && c.hold_kind === "unpaid") {
        c = await api("POST", `/certificates/${serial}/unfreeze`, { idempotencyKey: `${key}:release` });
      }
    } catch (e) {
      if (!(e instanceof ApiError)) throw e;
      held = e;
    }
    return { paid, c, held };
  },
  onDone: ({ paid, c, held }) => {
    show(c);
    const done = `已缴费 ¥${paid.amount_yuan}`;
    if (held) toast(`${done}，但证书未能恢复使用：${messageFor(held)}`, "error");
    else toast(`${done}，服务费缴至 ${fmtTime(c.paid_until)}`);
  },
});
// a new certificate in this one's place: shown at the top with its serial and validity, this
// one as it now stands (renewed: still in force; rekeyed or reissued: revoked) below it, and
// the other certificates of the old key revoked with it (same_key_revoked) named
function issued(out, done) {
  successor = out.certificate;
  show(out.previous);
  const n = out.certificate;
  document.getElementById("new-cert-title").textContent = done;
  facts(document.getElementById("new-cert-facts"), [
    ["新证书序列号", el("code", { text: n.serial })],
    ["有效期", `${fmtTime(n.not_before)} 至 ${fmtTime(n.not_after)}`],
    ["状态", certBadge(n)],
    ["原证书", out.previous.status === "revoked" ? "已吊销" : `在有效期内（至 ${fmtTime(out.previous.not_after)}）仍可使用`],
  ]);
  document.getElementById("new-cert-link").href = `/my/certificate?serial=${n.serial}`;
  const card = document.getElementById("new-cert");
  card.hidden = false;
  card.scrollIntoView({ block: "nearest" });
  const said = sameKeyRevoked(out);
  const notice = document.getElementById("new-cert-same-key");
  notice.textContent = said || "";
  notice.hidden = !said;
  toast(said ? `${done}，新证书序列号 ${n.serial}。${said}` : `${done}，新证书序列号 ${n.serial}`);
  sealsLeftBehind(out.previous).catch(() => {}); // a note only: the new certificate is issued
}

// the seals still bound to the certificate replaced: they move by the seal form (续费 or 变更,
// 绑定证书); on a revoked certificate they cannot sign until then
async function sealsLeftBehind(old) {
  const left = (await allItems("/seals")).filter(
    (x) => x.certificate_serial === old.serial && (x.state === "active" || x.state === "frozen"));
  const box = document.getElementById("new-cert-seals");
  box.hidden = !left.length;
  if (!left.length) return;
  const links = left.flatMap((x, i) => [i ? "、" : "", el("a", { href: `/my/seal?id=${x.id}`, text: x.name })]);
  box.replaceChildren("电子印章 ", ...links, old.status === "revoked"
    ? " 仍绑定原证书（已吊销），暂不能签署：请在印章页办理“变更”，改绑到新证书。"
    : " 仍绑定原证书：请在印章页办理“续费”或“变更”时改绑到新证书。");
}

// a refusal because the certificate changed since the page was shown (renewed, rekeyed or
// frozen meanwhile — in another tab, at the desk): the page shows it as it now is and says so;
// a refusal that leaves the form still offered is said at the form, as any other
async function unlessChanged(form, call) {
  try {
    return await call();
  } catch (e) {
    if (!(e instanceof ApiError) || !["illegal_transition", "frozen_by_ca", "unpaid"].includes(e.code)) throw e;
    const c = await api("GET", `/certificates/${serial}`);
    successor = (await allItems("/certificates")).find((x) => x.predecessor_id === c.id) || null;
    show(c);
    if (!form.hidden) throw e;
    toast("证书状态已发生变化（可能已在其他页面或受理点办理），页面已更新，请查看后再办理", "error");
    return null;
  }
}

const renewForm = document.getElementById("renew-form");
bindForm(renewForm, {
  busyText: "正在签发新证书…",
  submit: (_data, key) => unlessChanged(renewForm,
    () => api("POST", `/certificates/${serial}/renew`, { idempotencyKey: key })),
  onDone: (out) => out && issued(out, "证书已续期"),
});

// a new key: the PIN that will protect it (a platform-held key) or the holder's CSR for it; for a
// rekey of a platform-held key, the current PIN too; for a reissue (and a rekey of the holder's
// own key), the code sent by SMS to the registered phone: 发送验证码 asks for it (the API answers
// 202 code_required with the challenge), the same request sent again with the code issues. The
// PINs leave the form as soon as the request is answered, unless it waits for the code.
Object.assign(MESSAGES, {
  code_required: "请先获取并填写短信验证码",
  current_pin_required: "请输入当前 PIN 码",
  pin_locked: "PIN 码错误次数过多，原密钥已锁定：请联系受理点解锁，或办理补办",
});
Object.assign(FIELD_MESSAGES, { current_pin: "请输入当前 PIN 码", sms_code: "请输入6位数字短信验证码" });

for (const [verb, done] of [["rekey", "密钥已更新"], ["reissue", "证书已补办"]]) {
  const form = document.getElementById(`${verb}-form`);
  const codeBox = form.querySelector("[data-code]");
  const sentTo = document.getElementById(`${verb}-sent-to`);
  let challenge = null; // the code sent for this form, while it waits for it
  let asking = false; // 发送验证码 pressed: the next submission asks for a code
  document.getElementById(`${verb}-send-code`).addEventListener("click", () => {
    asking = true;
    form.requestSubmit();
  });
  bindForm(form, {
    busyText: () => (asking ? "正在发送验证码…" : "正在签发新证书…"),
    submit: async (d, key) => {
      let waiting = false;
      try {
        const body = {};
        if (current.key === "platform") {
          if (verb === "rekey" && !d.current_pin) {
            throw new ApiError(422, { code: "invalid", field: "current_pin", detail: "empty" });
          }
          if (!d.pin) throw new ApiError(422, { code: "invalid", field: "pin", detail: "empty" });
          if (d.pin !== d.pin2) throw new ApiError(422, { code: "invalid", field: "pin2", detail: "differ" });
          body.pin = d.pin;
          if (verb === "rekey") body.current_pin = d.current_pin;
        } else {
          if (!d.csr.trim()) throw new ApiError(422, { code: "invalid", field: "csr", detail: "empty" });
          body.csr = d.csr.trim();
        }
        const needsCode = !codeBox.hidden;
        if (needsCode && !asking) {
          if (!challenge) {
            waiting = true; // nothing sent: the PINs stay for 发送验证码
            throw new ApiError(403, { code: "code_required", field: "sms_code" });
          }
          if (!/^\d{6}$/.test((d.sms_code || "").trim())) {
            throw new ApiError(422, { code: "invalid", field: "sms_code", detail: "empty" });
          }
          body.challenge_id = challenge;
          body.code = d.sms_code.trim();
        }
        const out = await unlessChanged(form,
          () => api("POST", `/certificates/${serial}/${verb}`, { json: body, idempotencyKey: key }));
        if (out && out.status === "code_required") {
          challenge = out.challenge_id;
          const button = form.querySelector("button[type=submit]"); // busy now: its own label kept aside
          sentTo.textContent = `验证码已发送至 ${out.sent_to_masked}，请填写后点击“${button.dataset.label || button.textContent}”`;
          waiting = true;
          return { codeSent: true };
        }
        return out;
      } catch (e) {
        // the API names the code "code" (and its request "challenge_id"): the form's field
        if (e instanceof ApiError && e.problem && ["code", "challenge_id"].includes(e.problem.field)) {
          e.problem.field = "sms_code";
          if (["code_expired", "code_used", "challenge_dead"].includes(e.code)) challenge = null;
        }
        throw e;
      } finally {
        asking = false;
        if (!waiting) for (const p of form.querySelectorAll("input[type=password]")) p.value = "";
      }
    },
    onDone: (out) => {
      if (out && out.codeSent) { document.getElementById(`${verb}-code`).focus(); return; }
      form.reset();
      challenge = null;
      if (out) issued(out, done);
    },
  });
}

act("freeze-form", "freeze", (d) => ({ note: d.note.trim() || null }), "证书已冻结");
act("unfreeze-form", "unfreeze", () => undefined, "证书已解冻");
bindForm(document.getElementById("loss-form"), {
  busyText: "正在办理…",
  submit: (_d, key) => {
    if (!confirm(lossQuestion(current))) return null; // the holder said no: nothing sent
    return api("POST", `/certificates/${serial}/report-loss`, { idempotencyKey: key });
  },
  onDone: (c) => {
    if (!c) return;
    document.getElementById("loss-form").reset();
    show(c);
    const said = sameKeyHeld(c);
    document.getElementById("same-key-released").hidden = true;
    const notice = document.getElementById("same-key-held");
    notice.textContent = said;
    notice.hidden = false;
    toast(`已挂失，证书已暂停使用。${said}`);
  },
});
bindForm(document.getElementById("restore-form"), {
  busyText: "正在办理…",
  submit: (_d, key) => api("POST", `/certificates/${serial}/restore`, { idempotencyKey: key }),
  onDone: (c) => {
    document.getElementById("restore-form").reset();
    show(c);
    // the loss is over: what its report held is said no more, what the restore released is
    document.getElementById("same-key-held").hidden = true;
    const said = sameKeyReleased(c);
    const notice = document.getElementById("same-key-released");
    notice.textContent = said || "";
    notice.hidden = !said;
    toast(said ? `已解除挂失。${said}` : "已解除挂失");
  },
});
bindForm(document.getElementById("revoke-form"), {
  busyText: "正在办理…",
  submit: (d, key) => {
    if (!confirm(revokeQuestion(current, d.reason))) return null; // the holder said no: nothing sent
    return api("POST", `/certificates/${serial}/revoke`, { json: { reason: d.reason }, idempotencyKey: key });
  },
  onDone: (c) => {
    if (!c) return;
    document.getElementById("revoke-form").reset();
    show(c);
    const said = sameKeyRevoked(c);
    const notice = document.getElementById("same-key-revoked");
    notice.textContent = said || "";
    notice.hidden = !said;
    toast(said ? `证书已吊销。${said}` : "证书已吊销");
  },
});

// the forms are bound above, before the certificate is shown and its forms with it
try {
  // no serial (a link cut off): /certificates/ would answer the listing, not a certificate
  if (!serial) throw new ApiError(404, { code: "not_found" });
  const c = await api("GET", `/certificates/${serial}`);
  successor = (await allItems("/certificates")).find((x) => x.predecessor_id === c.id) || null;
  show(c);
} catch (e) {
  await refusedPage(e, { title: "证书详情", missing: "未找到该证书，或您无权查看。", back: ["/my/certificates", "返回证书与申请"] });
}
