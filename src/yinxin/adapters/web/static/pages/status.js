// CRL/OCSP/TSA addresses and the CA certificates, from GET /api/v1/public/status.
import { api, el, fmtTime } from "/static/api.js";

const link = (url) => el("a", { href: url, class: "mono" }, url);
try {
  const s = await api("GET", "/public/status");
  const rows = [
    ["证书吊销列表（CRL）", s.crl[0], "签发 CA 的吊销列表（DER 格式），定期更新"],
    ["根 CA 吊销列表", s.crl[1], "根 CA 的吊销列表"],
    ["在线证书状态（OCSP）", s.ocsp, "RFC 6960，支持 GET 与 POST"],
    ["时间戳服务（TSA）", s.tsa, "RFC 3161，POST application/timestamp-query"],
  ];
  // the SM2 hierarchy beside the default one, when this CA has it (yinxin ca add-hierarchy)
  if (s.crl.length > 2) {
    rows.push(["SM2 签发 CA 吊销列表", s.crl[2], "SM2 签发 CA 的吊销列表（SM3withSM2 签名）"]);
    rows.push(["SM2 根 CA 吊销列表", s.crl[3], "SM2 根 CA 的吊销列表"]);
  }
  if (s.tsas && s.tsas.sm2) rows.push(["SM2 时间戳服务", s.tsas.sm2, "RFC 3161，SM3withSM2 签名"]);
  document.querySelector("#status-table tbody").replaceChildren(
    ...rows.map(([name, url, note]) => el("tr", {}, el("td", { text: name }), el("td", {}, link(url)), el("td", { class: "muted", text: note }))),
  );
  document.querySelector("#ca-table tbody").replaceChildren(
    ...s.ca_certificates.map((c) => el("tr", {},
      el("td", {}, el("a", { href: c.url }, c.title)),
      el("td", { class: "mono", text: c.subject }),
      el("td", { text: fmtTime(c.not_after).slice(0, 10) }),
      el("td", { class: "mono", text: c.sha256.match(/../g).join(":").toUpperCase() }),
    )),
  );
} catch (e) {
  document.querySelector("#status-table tbody").replaceChildren(el("tr", {}, el("td", { colspan: 3, text: "暂时无法加载，请稍后刷新。" })));
}
