// The applicant's identity documents (申请材料) with a certificate application, shared by the
// apply page (/my/apply) and the review desk (/desk/applications): GET and POST
// /applications/{id}/documents, each shown as a thumbnail (a picture) or a link (a PDF) that
// opens the file in a new tab (GET …/documents/{doc}: the session cookie goes with it).
import { LABELS, MESSAGES, el, fmtTime, label, upload } from "/static/api.js";

Object.assign(MESSAGES, {
  empty: "文件为空，请重新选择",
  need_file: "请选择要上传的文件",
  unsupported_type: "只接受 PDF、JPG 或 PNG 格式的文件",
  type_mismatch: "文件内容与其类型不符，请重新选择",
  too_many_documents: "每份申请最多上传10份材料",
  too_large: "文件过大（不超过10 MB）",
});

Object.assign(LABELS, {
  docKind: {
    id_front: "身份证人像面", id_back: "身份证国徽面", business_licence: "营业执照",
    authorization_letter: "授权委托书", other: "其他证明材料",
  },
});

/** The kinds an applicant of this kind is asked for (001/004 申请材料), in order. */
export function kindsFor(subscriberKind) {
  return subscriberKind === "organization"
    ? ["business_licence", "authorization_letter", "id_front", "id_back", "other"]
    : ["id_front", "id_back", "other"];
}

const fileUrl = (d) => `/api/v1/applications/${d.application_id}/documents/${d.id}`;
const sizeOf = (n) => (n >= 1048576 ? `${(n / 1048576).toFixed(1)} MB` : `${Math.max(1, Math.round(n / 1024))} KB`);

/** One document as a card: picture thumbnail or PDF mark, kind, name, size, time; a link. */
export function docItem(d) {
  const pic = d.media_type === "application/pdf"
    ? el("span", { class: "doc-pdf", text: "PDF" })
    : el("img", { src: fileUrl(d), alt: label("docKind", d.kind), loading: "lazy" });
  return el("a", {
    class: "doc-item", href: fileUrl(d), target: "_blank", rel: "noopener",
    "data-document": String(d.id), "data-kind": d.kind, title: "在新窗口中打开",
  },
  el("span", { class: "doc-thumb" }, pic),
  el("span", { class: "doc-meta" },
    el("strong", { text: label("docKind", d.kind) }),
    el("span", { class: "muted", text: d.file_name || "" }),
    el("span", { class: "muted", text: `${sizeOf(d.size)} · ${fmtTime(d.uploaded_at)}` }),
  ));
}

/** Fill ``box`` with the application's documents (or ``emptyText``); returns them. */
export async function showDocs(box, api, applicationId, emptyText = "未上传申请材料") {
  const docs = await api("GET", `/applications/${applicationId}/documents`);
  box.replaceChildren(...(docs.length ? docs.map(docItem) : [el("p", { class: "muted", text: emptyText })]));
  return docs;
}

/** Upload one file as the body (its own type, or octet-stream: the server reads the bytes). */
export function uploadDoc(applicationId, kind, file, key, onProgress) {
  const body = file.type ? file : new Blob([file], { type: "application/octet-stream" });
  const q = new URLSearchParams({ kind, name: file.name || "" });
  return upload(`/applications/${applicationId}/documents?${q}`, body, { idempotencyKey: key, onProgress });
}
