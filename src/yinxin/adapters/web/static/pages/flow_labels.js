// Chinese names and badges for sign-flow and signer states, shared by the flow pages.
import { chineseDetail, el } from "/static/api.js";

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

// why a file cannot be signed, by the code of the refusal that names it (items[3].pdf,
// documents[0].pdf), said after 文件「名称」: the general 填写的内容不符合要求 (批量签署) and
// 请选择可读取的合同 PDF 文件 (发起签署) said neither which file nor why
export const FILE_REFUSALS = {
  not_pdf: "不是完整的 PDF 文件（可能已损坏或未下载完整）",
  truncated: "不是完整的 PDF 文件（可能已损坏或未下载完整）",
  unreadable: "无法读取（文件已损坏或没有页面）",
  encrypted: "设有密码保护，请先解除加密再签署",
  broken_signature: "中已有的签名无法核验或与文件不符（签署后被改动），不能再签署",
  modified_after_signing: "在已有签名之后被改动，不能再签署",
  locked: "已被之前的签名锁定，不允许再签署",
  mixed_signatures: "带有 GB/T 38540 电子签章，不能在此签署",
  field_exists: "中已有同名的签名域，不能再签署",
  too_large: "超过 50 MB",
};

// why a seal placed beside (a new field) is refused at create: a field another signer seals
// into first forbids it (its lock covers new fields, ends the document, or certifies it)
const PLACEMENT_LOCKED = {
  field_locked: "先签署一方的签名域签署后将锁定新增的签名域，此处不能按位置盖章：请调整签署顺序或改选签名域",
  locked: "文档将被先签署一方的签名锁定，此处不能再盖章：请调整签署顺序或改选签名域",
  certified: "先签署一方的签名域签署后文档仅允许盖入预留的签名域，此处不能按位置盖章：请改选签名域",
};

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
  } else if (/\.seal$/.test(f)) {
    // a seal not of the party the contract names: the API says whose it is, in Chinese first
    // (the party's name as the contract gives it may itself hold " / ": chineseDetail)
    say(err.code === "not_found" ? "未找到该印章编码"
      : err.code === "not_the_party" ? chineseDetail(err.problem.detail) || "该印章不属于合同所写的这一方"
      : "该印章不能由此签署人使用（未授权、已冻结或已失效）");
  }
  // a placement an earlier signer's field lock forbids (create judges the rows' fields:
  // field_locked, locked, certified) is not an invalid placement: say why
  else if (/\.placements?(\[\d+\])?$/.test(f)) {
    say(PLACEMENT_LOCKED[err.code] || (/anchor/.test(err.problem.detail || "") ? "文件中找不到该关键字" : "盖章位置无效或超出页面"));
  }
  else if (/\.field_names?(\[\d+\])?$/.test(f)) {
    // a prepared signature field: another signer's, not in the contract, or one needed; a
    // certified contract with fewer empty fields than signers says what the starter must do
    say(/one empty field per signer/.test(err.problem.detail || "")
      ? "该合同已认证，仅允许盖入预留的签名域，而其空白签名域已被前面的签署方选用：请在认证前为每个签署方各预留一个签名域（或不认证该合同），或去掉此签署方"
      : err.code === "field_taken" ? "各签署方须盖入不同的签名域"
      : err.code === "certified" ? "该合同已被认证，仅允许盖入预留的签名域：请为此签署方选择一个签名域"
      : err.code === "no_such_field" ? "合同中没有该空白签名域"
      : /not both/.test(err.problem.detail || "") ? "签名域与盖章位置只能选择一种"
      : err.code === "field_locked" || err.code === "locked"
        ? "该签名域已被锁定，或将被先签署一方的签名域锁定，不能盖章：请调整签署顺序或改选签名域"
      : "该签名域不能盖章（已签署、已锁定或类型不符）");
  }
  else if (/\.role$/.test(f)) say("请选择签署角色");
  else if (/\.order$/.test(f)) say("签署顺序重复");
  else if (f === "deadline") say(DEADLINE_MESSAGE);
  return err;
}
