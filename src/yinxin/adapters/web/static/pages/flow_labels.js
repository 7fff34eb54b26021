// Chinese names and badges for sign-flow and signer states, shared by the flow pages.
import { el } from "/static/api.js";

export const FLOW_STATES = {
  draft: ["草稿", "warn"], started: ["签署中", "warn"], completed: ["已完成", "ok"],
  cancelled: ["已撤回", "bad"], expired: ["已过期", "bad"],
};
export const SIGNER_STATES = {
  waiting: ["等待前序签署", "plain"], ready: ["待签署", "warn"], signed: ["已签署", "ok"],
  declined: ["已拒签", "bad"], cancelled: ["已撤回", "bad"], expired: ["已过期", "bad"],
};

export function stateBadge(state, table = FLOW_STATES) {
  const [text, kind] = table[state] || [state, ""];
  return el("span", { class: `badge ${kind}`.trim(), "data-state": state, text });
}
