// The seal application form of 004 (business type 新申请): POST /seal-applications. While the
// applicant types, the seal's picture is drawn by POST /seal-previews from the same fields
// (nothing is created); a scan may replace the software-made picture. The seal is bound to one
// of the holder's valid certificates of the kind's profile, or asks for a new platform-held key
// (then the answer is a certificate application to pay and have approved).
import {
  ApiError, FIELD_MESSAGES, LABELS, allItems, api, bindForm, label, messageFor, requireSession, toast,
} from "/static/api.js";
import { day, fieldError, liveCheck, options } from "/static/pages/common.js";
import { checkIdDocument } from "/static/pages/idcheck.js";

// The seal's name is the registered one, not a field of this form: when the software cannot draw
// it, say why and what to do (not "请填写名称", which the person cannot).
FIELD_MESSAGES.name = "登记的名称无法按规范软件制作印模（机构名称须为2至40个字，个人姓名须为2至4个字，" +
  "且不含空格或印章字体没有的字符）：请选择“上传实物印章的印模扫描件”";

const KIND_PROFILE = { organization: "organization-signing", contract: "organization-signing", finance: "organization-signing", personal: "person-signing" };
const session = await requireSession("subscriber");
const me = session.subscriber_id;
const subscriber = await api("GET", `/subscribers/${me}`);
const isOrg = subscriber.kind === "organization";
const form = document.getElementById("seal-form");
const kind = form.elements.kind;
const certSel = form.elements.certificate_serial;
const img = document.getElementById("seal-preview");
const status = document.getElementById("preview-status");

options(kind, (isOrg ? ["organization", "contract", "finance"] : ["personal"]).map((k) => [k, LABELS.sealKind[k]]));
options(form.elements.id_type, LABELS.idType);
for (const n of document.querySelectorAll(".org-only")) n.hidden = !isOrg;
if (!isOrg) form.elements.holder_name.value = subscriber.name;
else form.elements.holder_name.value = subscriber.contact_name || "";
liveCheck(form.elements.id_number, (v, o) => checkIdDocument(form.elements.id_type.value, v, o));

const certs = await allItems(`/certificates?subscriber_id=${me}&status=active`);
function fillCerts() {
  const profile = KIND_PROFILE[kind.value];
  const fit = certs.filter((c) => c.profile === profile);
  options(certSel, [
    ...fit.map((c) => [c.serial, `${label("profile", c.profile)} ${c.serial}（至 ${day(c.not_after)}）`]),
    ["new", "申请新证书（平台托管密钥，设置印章密码）"],
  ]);
  document.getElementById("cert-hint").textContent = fit.length
    ? "印章以所选证书签名；使用印章时需输入该证书的 PIN 码。"
    : "您还没有可用的签名证书：将同时申请证书，缴费并审核通过后再完成印章制作。";
  newKey();
}
function newKey() { document.getElementById("new-key").hidden = certSel.value !== "new"; }
certSel.addEventListener("change", newKey);

// --- the scan ---------------------------------------------------------------------------------
let scanBase64 = null;
const scanInput = form.elements.scan;
const showScanField = () => { document.getElementById("scan-field").hidden = form.elements.image.value !== "scan"; };
for (const r of form.querySelectorAll("input[name=image]")) {
  r.addEventListener("change", () => {
    showScanField();
    if (form.elements.image.value !== "scan") scanBase64 = null;
    else if (scanInput.files[0]) readScan();
    schedule();
  });
}
function readScan() {
  const file = scanInput.files[0];
  if (!file) { scanBase64 = null; return schedule(); }
  if (file.size > 5 * 1024 * 1024 || !/^image\/(png|jpeg)$/.test(file.type)) {
    scanBase64 = null;
    return fieldError(scanInput, "请上传 PNG 或 JPEG 格式的印模扫描件（不超过5 MB）");
  }
  fieldError(scanInput, null);
  const reader = new FileReader();
  reader.onload = () => { scanBase64 = String(reader.result).split(",", 2)[1]; schedule(); };
  reader.readAsDataURL(file);
}
scanInput.addEventListener("change", readScan);

// --- the live preview ---------------------------------------------------------------------------
let timer = null, seq = 0, shown = null;
function previewBody() {
  const b = { subscriber_id: me, kind: kind.value };
  if (isOrg) {
    const c = form.elements.center_text.value.trim(), code = form.elements.code.value.trim();
    if (c) b.center_text = c;
    if (code) b.code = code;
  }
  if (form.elements.image.value === "scan" && scanBase64) b.scan_base64 = scanBase64;
  return b;
}
function schedule() { clearTimeout(timer); timer = setTimeout(preview, 250); }
async function preview() {
  const mine = ++seq;
  status.textContent = "正在生成预览…";
  try {
    const blob = await api("POST", "/seal-previews", { json: previewBody() });
    if (mine !== seq) return; // a newer preview is on its way
    if (shown) URL.revokeObjectURL(shown);
    shown = URL.createObjectURL(blob);
    img.src = shown;
    img.dataset.version = String(mine);
    for (const n of ["center_text", "code"]) fieldError(form.elements[n], null);
    status.textContent = form.elements.image.value === "scan" && scanBase64 ? "印模扫描件（已去除底色）" : `${LABELS.sealKind[kind.value]} · 软件制作`;
  } catch (e) {
    if (mine !== seq || !(e instanceof ApiError)) return;
    const input = e.field && form.elements[e.field];
    if (input && input.name) fieldError(input, messageFor(e));
    status.textContent = "预览未更新：" + messageFor(e);
  }
}
for (const n of ["center_text", "code"]) form.elements[n].addEventListener("input", schedule);
function showDefaultText() {
  const spec = { contract: "合同专用章", finance: "财务专用章" }[kind.value];
  form.elements.center_text.placeholder = spec ? `默认：${spec}` : "";
}
kind.addEventListener("change", () => {
  showDefaultText();
  fillCerts();
  schedule();
});
// the kind and the picture's source as chosen while the certificates were read (the radios are
// on from the start, the kinds once the subscriber is read): a choice made then was checked and
// its field never shown
showDefaultText();
showScanField();
fillCerts();
preview();

// --- submit -------------------------------------------------------------------------------------
bindForm(form, {
  busyText: "正在提交…",
  submit: (data, key) => {
    const body = {
      business_type: "new", subscriber_id: me, kind: data.kind, project: data.project.trim(),
      holder_name: data.holder_name.trim(), id_type: data.id_type, id_number: data.id_number.trim(),
      declaration_accepted: Boolean(data.declaration_accepted),
    };
    if (isOrg && data.center_text.trim()) body.center_text = data.center_text.trim();
    if (isOrg && data.code.trim()) body.code = data.code.trim();
    if (data.image === "scan") {
      if (!scanBase64) throw new ApiError(422, { code: "invalid", field: "scan", detail: "no scan" });
      body.scan_base64 = scanBase64;
    }
    if (data.certificate_serial === "new") {
      if (!data.pin || data.pin.length < 6) throw new ApiError(422, { code: "invalid", field: "pin", detail: "short" });
      if (data.pin !== data.pin2) throw new ApiError(422, { code: "invalid", field: "pin2", detail: "differ" });
      body.new_key = { pin: data.pin, acceptance_point: "网上受理" };
    } else {
      body.certificate_serial = data.certificate_serial;
    }
    return api("POST", "/seal-applications", { json: body, idempotencyKey: key });
  },
  onDone: (out) => {
    if (out.status === "done") {
      toast("电子印章已制作");
      location.assign(`/my/seal?id=${out.seal.id}&made=1`);
      return;
    }
    const a = out.certificate_application;
    form.hidden = true;
    document.querySelector(".preview-card").hidden = true;
    document.getElementById("pending").hidden = false;
    document.getElementById("pending-text").textContent =
      `已为印章申请新的签名证书（受理号 ${a.id}）。请先缴费，受理员审核通过、证书签发后，再回到本页选择该证书完成印章申请。`;
    document.getElementById("pending-pay").href = `/my/apply?application=${a.id}&years=${a.years}`;
  },
});
// the button stays disabled until the form is bound: a native submission would put the PIN in
// the address
form.querySelector("button[type=submit]").disabled = false;
