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

/** A flow's (or its contract's) 说明 as the platform wrote it, in Chinese: a refusal to sign is
 * stored as "signer 3 (乙方) declined: 价格有误", said 乙方拒签，理由：价格有误. */
export function reasonText(text) {
  return text ? text.replace(/signer \d+ \((.*?)\) declined: /g, "$1拒签，理由：") : text;
}

export const DEADLINE_MESSAGE = "请选择截止时间（晚于现在，一年以内）";

/** A refusal of a flow's signers or deadline (the API names the field, e.g. signers[1].seal,
 * and says what is wrong in English), said in Chinese: the page shows `detail` at the field.
 * Shared by 发起签署 and the contract page's 发起签署 form. */
export function explainSigners(err) {
  const f = err.field || "";
  const say = (text) => { err.problem = { ...err.problem, code: "explained", detail: text }; };
  if (/\.subscriber_id$/.test(f)) {
    say(err.code === "not_found" ? "未找到该签署人编号"
      : /integer/.test(err.problem.detail || "") ? "签署人编号应为数字" : "签署人不能重复，且须为已登记的用户");
  } else if (/\.seal$/.test(f)) say(err.code === "not_found" ? "未找到该印章编码" : "该印章不能由此签署人使用（未授权、已冻结或已失效）");
  else if (/\.placements?$/.test(f)) say(/anchor/.test(err.problem.detail || "") ? "文件中找不到该关键字" : "盖章位置无效或超出页面");
  else if (/\.role$/.test(f)) say("请选择签署角色");
  else if (/\.order$/.test(f)) say("签署顺序重复");
  else if (f === "deadline") say(DEADLINE_MESSAGE);
  return err;
}
