// The seals the subscriber holds (an organization: its own and its people's): GET /seals, each
// with its picture (GET /seals/{id}/image).
import { allItems, api, el, requireSession } from "/static/api.js";
import { day, sealBadge } from "/static/pages/common.js";

const session = await requireSession("subscriber");
const seals = { items: await allItems("/seals") }; // every page of them, not the first 100
const list = document.getElementById("seal-list");
if (session.organization_id && session.organization_id === session.subscriber_id) {
  document.getElementById("seals-title").textContent = "本机构的印章";
}

async function picture(img, id) {
  try {
    img.src = URL.createObjectURL(await api("GET", `/seals/${id}/image`));
  } catch (_) { img.alt = "印章图片暂时无法显示"; }
}

list.replaceChildren(...(seals.items.length ? seals.items.map((s) => {
  const img = el("img", { alt: `${s.name}印模`, width: "96", height: "96" });
  picture(img, s.id); // a granted seal's picture too: the grant lets its member read it
  // a seal used through a grant (用印授权) is its organization's: its picture, but no page of it
  if (s.via_grant) {
    return el("div", { class: "seal-item", "data-es-id": s.es_id },
      el("span", { class: "seal-thumb" }, img),
      el("span", { class: "seal-meta" },
        el("strong", { text: `${s.name}（授权使用）` }),
        el("span", { class: "muted", text: `${s.kind_title} · 印章编码 ${s.es_id}` }),
        el("span", {}, sealBadge(s), ` 有效期至 ${day(s.valid_end)}`),
      ),
    );
  }
  return el("a", { class: "seal-item", href: `/my/seal?id=${s.id}`, "data-es-id": s.es_id },
    el("span", { class: "seal-thumb" }, img),
    el("span", { class: "seal-meta" },
      el("strong", { text: s.name }),
      el("span", { class: "muted", text: `${s.kind_title} · 印章编码 ${s.es_id}` }),
      el("span", {}, sealBadge(s), ` 有效期至 ${day(s.valid_end)}`),
    ),
  );
}) : [el("p", { class: "muted", text: "暂无印章。" })]));
