// 联系方式: a holder's own mobile phone and e-mail, PATCH /subscribers/{me}. The current ones as
// the API gives them (the phone masked). A new phone takes two SMS codes: 获取验证码 sends the
// change without them and the API answers 202 with two challenges — one code sent to the
// registered (原) phone, one to the new phone —, the same change sent again with both codes is
// made. A refusal of either code is said at its field naming the phone it was sent to (the API
// names the field: current_phone_code or phone_code). A holder with no registered mobile phone
// is sent to the desk (403 phone_change_at_desk). A new e-mail takes the code sent to it:
// 获取验证码 sends the change without it (202 email_confirmation_required), 确认更换 sends it
// again with the code; a refused code is said at 新邮箱收到的验证码 (the API names email_code or
// email_challenge_id). Removing the e-mail ("") takes no code.
import { ApiError, MESSAGES, api, bindForm, messageFor, requireSession, toast } from "/static/api.js";
import { facts } from "/static/pages/common.js";

const session = await requireSession("subscriber");
const path = `/subscribers/${session.subscriber_id}`;

Object.assign(MESSAGES, {
  need_codes: "请先点击“获取验证码”，原手机号和新手机号将各收到一条验证码",
  wrong_document: "验证码不是为此新手机号发送的，请重新获取验证码",
});

// the phone each code was sent to, by the form's field (and the challenge the API names with it)
const WHICH = { current_phone_code: "原手机号", phone_code: "新手机号" };
const CODE_OF = { current_phone_challenge_id: "current_phone_code", phone_challenge_id: "phone_code" };
// a refusal after which the codes sent cannot be used again: both are asked for anew
const SPENT = ["code_expired", "code_used", "challenge_dead", "wrong_document"];

const phoneForm = document.getElementById("phone-form");
const emailForm = document.getElementById("email-form");
const emailInput = document.getElementById("email");
const emailCodeField = document.getElementById("email-code-field");
const emailCode = document.getElementById("email-code");
const emailSave = document.getElementById("email-save");
const emailSentTo = document.getElementById("email-sent-to");
const removeButton = document.getElementById("email-remove");
const sentTo = document.getElementById("phone-sent-to");
const SENT_HINT = sentTo.textContent;
let record = null;

function show(sub) {
  record = sub;
  facts(document.getElementById("contact-facts"), [
    ["名称", sub.name],
    ["手机号码", sub.phone || "未登记"],
    ["电子邮箱", sub.email || "未登记"],
  ]);
  document.getElementById("phone-at-desk").hidden = Boolean(sub.phone);
  phoneForm.hidden = !sub.phone;
  emailForm.hidden = false;
  emailInput.value = sub.email || "";
  // with no mobile phone the notices go by e-mail: it is not removed (the API refuses it)
  removeButton.hidden = !sub.email || !sub.phone;
  document.getElementById("email-hint").textContent = sub.phone
    ? "点击“删除电子邮箱”即删除已登记的电子邮箱，无需验证码。"
    : "未登记手机号时，通知发送到电子邮箱，不能删除，可改为其他邮箱。";
}

/** A refusal the page words itself, at `field`. */
const explained = (field, detail) => new ApiError(422, { code: "explained", field, detail });

// --- 更换手机号 ---------------------------------------------------------------------------
let sent = null; // the codes sent: { phone, challenge, current } while they wait
let asking = false; // 获取验证码 pressed: the next submission asks for the codes

function forget() {
  sent = null;
  sentTo.textContent = SENT_HINT;
  document.getElementById("current-phone-hint").textContent = "";
  document.getElementById("new-phone-hint").textContent = "";
}

document.getElementById("phone-send-codes").addEventListener("click", () => {
  asking = true;
  phoneForm.requestSubmit();
});
// another number typed: the codes sent were for the one before
document.getElementById("new-phone").addEventListener("input", (ev) => {
  if (sent && ev.target.value.trim() !== sent.phone) forget();
});

bindForm(phoneForm, {
  busyText: "正在提交…",
  submit: async (d, key) => {
    const phone = d.phone.trim();
    const ask = asking;
    asking = false;
    try {
      if (ask) {
        const out = await api("PATCH", path, { json: { phone }, idempotencyKey: key });
        if (!out || out.status !== "phone_confirmation_required") {
          // the same number as registered: nothing to confirm, nothing changed
          throw explained("phone", "新手机号与当前登记的手机号相同，无需更换");
        }
        sent = { phone, challenge: out.challenge_id, current: out.current_phone_challenge_id };
        sentTo.textContent =
          `验证码已分别发送至原手机号 ${out.current_phone_sent_to_masked} 和新手机号 ${out.sent_to_masked}，请填写后点击“确认更换”`;
        document.getElementById("current-phone-hint").textContent = `已发送至原手机号 ${out.current_phone_sent_to_masked}`;
        document.getElementById("new-phone-hint").textContent = `已发送至新手机号 ${out.sent_to_masked}`;
        return { codesSent: true };
      }
      if (!sent) throw new ApiError(403, { code: "need_codes", field: "current_phone_code" });
      for (const field of ["current_phone_code", "phone_code"]) {
        if (!/^\d{6}$/.test((d[field] || "").trim())) {
          throw new ApiError(422, { code: "invalid", field, detail: "empty" });
        }
      }
      return await api("PATCH", path, {
        json: {
          phone,
          current_phone_challenge_id: sent.current,
          current_phone_code: d.current_phone_code.trim(),
          phone_challenge_id: sent.challenge,
          phone_code: d.phone_code.trim(),
        },
        idempotencyKey: key,
      });
    } catch (e) {
      if (!(e instanceof ApiError)) throw e;
      const field = CODE_OF[e.field] || e.field;
      if (WHICH[field] && e.code !== "invalid" && e.code !== "need_codes") {
        if (SPENT.includes(e.code)) forget();
        // which phone's code: 原手机号的验证码错误，还可尝试 4 次
        e.problem = { ...e.problem, code: "explained", field, detail: `${WHICH[field]}的${messageFor(e)}` };
      }
      throw e;
    }
  },
  onDone: (out) => {
    if (out && out.codesSent) {
      document.getElementById("current-phone-code").focus();
      return;
    }
    phoneForm.reset();
    forget();
    show(out);
    toast(`手机号已更换为 ${out.phone}`);
  },
});

// --- 电子邮箱 -----------------------------------------------------------------------------
let removing = false; // 删除电子邮箱 pressed
removeButton.addEventListener("click", () => {
  removing = true;
  emailInput.value = "";
  emailForm.requestSubmit();
});

let mailSent = null; // the code sent to the new address: { email, challenge } while it waits

/** The button's label, also the one bindForm puts back after 正在保存…. */
function saveLabel(text) {
  emailSave.textContent = text;
  emailSave.dataset.label = text;
}

function forgetMail() {
  mailSent = null;
  emailCodeField.hidden = true;
  emailCode.value = "";
  emailSentTo.textContent = "";
  saveLabel("获取验证码");
}

// another address typed: the code sent was for the one before
emailInput.addEventListener("input", () => {
  if (mailSent && emailInput.value.trim() !== mailSent.email) forgetMail();
});

bindForm(emailForm, {
  busyText: "正在保存…",
  submit: async (d, key) => {
    const email = removing ? "" : d.email.trim();
    removing = false;
    if (!email && !record.email) throw explained("email", "尚未登记电子邮箱，请填写后保存");
    if (!email && !record.phone) {
      throw explained("email", "未登记手机号时，通知发送到电子邮箱，不能删除；可改为其他邮箱");
    }
    if (email === record.email) throw explained("email", "与当前登记的电子邮箱相同，无需修改");
    if (!email) return api("PATCH", path, { json: { email }, idempotencyKey: key });
    if (!mailSent || mailSent.email !== email) {
      const out = await api("PATCH", path, { json: { email }, idempotencyKey: key });
      if (!out || out.status !== "email_confirmation_required") return out;
      mailSent = { email, challenge: out.email_challenge_id };
      emailCodeField.hidden = false;
      emailSentTo.textContent = `验证码已发送至新邮箱 ${out.email_sent_to_masked}，请填写后点击“确认更换”`;
      saveLabel("确认更换");
      return { codeSent: true };
    }
    const code = (d.email_code || "").trim();
    if (!/^\d{6}$/.test(code)) throw new ApiError(422, { code: "invalid", field: "email_code", detail: "empty" });
    try {
      return await api("PATCH", path, {
        json: { email, email_challenge_id: mailSent.challenge, email_code: code },
        idempotencyKey: key,
      });
    } catch (e) {
      if (!(e instanceof ApiError)) throw e;
      if (e.field === "email_code" || e.field === "email_challenge_id") {
        if (SPENT.includes(e.code)) forgetMail();
        const said = e.code === "wrong_document" ? "验证码不是为此邮箱发送的，请重新获取验证码" : `新邮箱的${messageFor(e)}`;
        // a spent code: the address field is where to start again (获取验证码)
        const field = SPENT.includes(e.code) ? "email" : "email_code";
        e.problem = { ...e.problem, code: "explained", field, detail: said };
      }
      throw e;
    }
  },
  onDone: (out) => {
    if (out && out.codeSent) {
      emailCode.focus();
      return;
    }
    forgetMail();
    show(out);
    toast(out.email ? "电子邮箱已更新" : "电子邮箱已删除");
  },
});

show(await api("GET", path));
