// The data handover page (数据移交, 002 §6.2.10), administrators only: POST /exports makes an
// export of the whole platform (seconds: the button stays busy, one Idempotency-Key per click
// so a retry does not export twice), GET /exports lists them, the download is a plain link to
// GET /exports/{name}/archive (the browser streams it to disk; the server refuses a folder
// changed since export), DELETE /exports/{name} removes one after a confirmation.
import { MESSAGES, api, bindForm, el, emptyRow, fmtTime, messageFor, requireSession, toast, whileBusy } from "/static/api.js";
import { badge } from "/static/pages/common.js";

Object.assign(MESSAGES, {
  export_modified: "该导出在生成后被改动过，已拒绝下载",
});

const session = await requireSession("staff");
const body = document.querySelector("#exports tbody");

if (session.role !== "administrator") {
  document.getElementById("admin-only").hidden = false;
  document.getElementById("make-card").hidden = true;
  body.replaceChildren(emptyRow(6, "无权查看"));
} else {
  bindForm(document.getElementById("make-form"), {
    busyText: "正在导出…",
    submit: (_data, key) => api("POST", "/exports", { idempotencyKey: key }),
    onDone: async (made) => {
      const v = document.getElementById("made");
      v.className = "verdict ok";
      // the hash may break every 16 characters (a phone's width) and still copies whole
      const groups = made.manifest_sha256.match(/.{1,16}/g).flatMap((g, i) => (i ? [el("wbr"), g] : [g]));
      v.replaceChildren(el("span", {},
        `已导出 ${made.name}：${made.rows} 行数据、${made.files} 个文件；清单 SHA-256 `,
        el("code", { class: "manifest-sha" }, ...groups),
        "（请告知接收方）",
      ));
      v.hidden = false;
      await load();
    },
  });
  await load();
}

function row(x) {
  const sha = el("code", { class: "small", text: x.manifest_sha256.slice(0, 16) + "…", title: x.manifest_sha256 });
  const flag = x.manifest_as_exported ? null : badge("清单已改动", "bad");
  const download = el("a", {
    class: "btn secondary download-export",
    href: `/api/v1/exports/${encodeURIComponent(x.name)}/archive`,
    download: `yinxin-export-${x.name}.zip`,
    text: "下载",
  });
  const del = el("button", { type: "button", class: "btn secondary delete-export", text: "删除" });
  del.addEventListener("click", () => {
    if (!confirm(`删除导出 ${x.name}？此操作不可撤销。`)) return;
    return whileBusy(del, "正在删除…", async () => {
      try {
        await api("DELETE", `/exports/${encodeURIComponent(x.name)}`);
        toast(`已删除 ${x.name}`);
        await load();
      } catch (e) {
        toast(messageFor(e), "error");
      }
    });
  });
  return el("tr", { "data-name": x.name },
    el("td", {}, el("code", { text: x.name })),
    el("td", { text: fmtTime(x.exported_at) }),
    el("td", { class: "num", text: String(x.rows) }),
    el("td", { class: "num", text: String(x.files) }),
    el("td", {}, sha, flag ? " " : null, flag),
    el("td", { class: "actions" }, download, " ", del),
  );
}

async function load() {
  const items = await api("GET", "/exports");
  body.replaceChildren(...(items.length ? items.map(row) : [emptyRow(6, "还没有导出")]));
}
