// The subscriber agreement in force, from GET /api/v1/public/agreement.
import { api } from "/static/api.js";

const box = document.getElementById("agreement-text");
try {
  const a = await api("GET", "/public/agreement");
  box.textContent = a.text;
  document.getElementById("agreement-version").textContent = `版本 ${a.version}`;
  document.getElementById("agreement-sha256").textContent = a.sha256;
} catch (e) {
  box.textContent = "协议文本暂时无法加载，请稍后刷新。";
}
