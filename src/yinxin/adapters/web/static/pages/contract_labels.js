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

export async function requireSubscriber(currentSession, goLogin) {
  const session = await currentSession();
  if (!session || session.expired) {
    goLogin("subscriber", Boolean(session && session.expired));
    await new Promise(() => {});
  }
  return session;
}
