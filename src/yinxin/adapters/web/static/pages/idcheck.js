// Identity numbers checked as they are typed, with the same rules as the API
// (src/yinxin/identity/__init__.py): GB 11643 resident ID numbers and GB 32100 unified social
// credit codes. Each check returns null when the value is right, else the Chinese message; the
// API checks again, so this only spares the user a round trip.

const ID_WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
const ID_CHECK = "10X98765432";
export const USCC_CHARSET = "0123456789ABCDEFGHJKLMNPQRTUWXY";
const USCC_WEIGHTS = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28];

export function idCardCheckChar(first17) {
  let total = 0;
  for (let i = 0; i < 17; i++) total += Number(first17[i]) * ID_WEIGHTS[i];
  return ID_CHECK[total % 11];
}

export function usccCheckChar(first17) {
  let total = 0;
  for (let i = 0; i < 17; i++) total += USCC_CHARSET.indexOf(first17[i]) * USCC_WEIGHTS[i];
  return USCC_CHARSET[(31 - (total % 31)) % 31];
}

/** GB 11643. `partial`: the user is still typing — a short but so far well-formed value is fine. */
export function checkIdCard(value, { partial = false, today = new Date() } = {}) {
  const v = (value || "").trim().toUpperCase();
  if (!v) return partial ? null : "请输入身份证号码";
  if (partial && v.length < 18) {
    return /^[0-9]*$/.test(v) || /^[0-9]{17}X$/.test(v) ? null : "身份证号码只能由数字和末位的X组成";
  }
  if (!/^[0-9]{17}[0-9X]$/.test(v)) return "身份证号码应为18位：17位数字加1位数字或X";
  if (!"12345678".includes(v[0])) return "身份证号码的地区码不正确";
  const y = Number(v.slice(6, 10)), m = Number(v.slice(10, 12)), d = Number(v.slice(12, 14));
  const born = new Date(Date.UTC(y, m - 1, d));
  if (born.getUTCFullYear() !== y || born.getUTCMonth() !== m - 1 || born.getUTCDate() !== d) {
    return "身份证号码中的出生日期不存在";
  }
  // today's day in Beijing (UTC+8, as the API judges it), as the UTC midnight `born` is: the
  // instant `today` itself is still the day before from 00:00 to 08:00 Beijing time
  const bj = new Date(today.getTime() + 8 * 3600e3);
  const bjDay = Date.UTC(bj.getUTCFullYear(), bj.getUTCMonth(), bj.getUTCDate());
  if (y < 1880 || born.getTime() > bjDay) return "身份证号码中的出生日期超出范围";
  if (idCardCheckChar(v.slice(0, 17)) !== v[17]) return "身份证号码校验位错误，请核对后重新输入";
  return null;
}

/** GB 32100 (the API's validate_uscc). */
export function checkUscc(value, { partial = false } = {}) {
  const v = (value || "").trim().toUpperCase();
  if (!v) return partial ? null : "请输入统一社会信用代码";
  const badChar = [...v].find((c) => !USCC_CHARSET.includes(c));
  if (badChar) return `统一社会信用代码不能含有“${badChar}”（只用数字和除 I、O、S、V、Z 外的大写字母）`;
  if (partial && v.length < 18) return null;
  if (v.length !== 18) return "统一社会信用代码应为18位";
  if (!"123456789ANY".includes(v[0])) return "统一社会信用代码的登记管理部门代码不正确";
  if (!/^[0-9]{6}$/.test(v.slice(2, 8))) return "统一社会信用代码的第3至8位（行政区划码）应为数字";
  if (usccCheckChar(v.slice(0, 17)) !== v[17]) return "统一社会信用代码校验位错误，请核对后重新输入";
  return null;
}

export function checkMobile(value, { partial = false } = {}) {
  let v = (value || "").replace(/[\s-]/g, "");
  if (v.startsWith("+86")) v = v.slice(3);
  if (!v) return partial ? null : "请输入手机号码";
  if (partial && v.length < 11) return /^1?[0-9]*$/.test(v) ? null : "请输入正确的11位手机号码";
  return /^1[3-9][0-9]{9}$/.test(v) ? null : "请输入正确的11位手机号码";
}

/** The check for an ID document of `idType` (other documents are left to the API). */
export function checkIdDocument(idType, value, opts) {
  if (idType === "id_card") return checkIdCard(value, opts);
  const v = (value || "").trim();
  if (!v) return opts && opts.partial ? null : "请输入证件号码";
  return null;
}
