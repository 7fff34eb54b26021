// Chinese names and badges for contract states and blank types, shared by the contract pages.
import { el } from "/static/api.js";

export const CONTRACT_STATES = {
  drafted: ["草稿", "warn"], out_for_signing: ["签署中", "warn"], signed: ["已签署", "ok"],
  cancelled: ["已作废", "bad"],
};

export function contractBadge(state) {
  const [text, kind] = CONTRACT_STATES[state] || [state, ""];
  return el("span", { class: `badge ${kind}`.trim(), "data-state": state, text });
}

// A party as the contract prints it: 委托方（甲方）; a party whose title is its role once (甲方).
export function partyLabel(p) {
  return p.title === p.role ? p.role : `${p.title}（${p.role}）`;
}
