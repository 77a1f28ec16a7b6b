// Figures with their units (ul, ml, mm, s) and times in the device's local time, worded
// by the language files.
import { t, current } from "./i18n.js";

const number = (value, digits) =>
  new Intl.NumberFormat(current(), { maximumFractionDigits: digits, minimumFractionDigits: 0 }).format(value);

export const ul = (value) => (value === null || value === undefined ? "-" : `${number(value, 1)} ${t("unit.ul")}`);
export const ml = (valueUl) => (valueUl === null || valueUl === undefined ? "-" : `${number(valueUl / 1000, 2)} ${t("unit.ml")}`);
export const mm = (value) => `${number(value, 2)} ${t("unit.mm")}`;
export const hz = (value) => `${number(value, 3)} ${t("unit.hz")}`;
export const plain = (value, digits = 0) => number(value, digits);

export function duration(seconds) {
  if (seconds === null || seconds === undefined || !isFinite(seconds)) return "-";
  const s = Math.max(0, Math.round(seconds));
  const m = Math.floor(s / 60);
  return `${m}:${String(s % 60).padStart(2, "0")}`;
}

export function localTime(iso) {
  if (!iso) return "-";
  const when = new Date(iso);
  return isNaN(when) ? iso : when.toLocaleString(current(), { dateStyle: "medium", timeStyle: "short" });
}

export function localDate(iso) {
  if (!iso) return "-";
  const when = new Date(iso);
  return isNaN(when) ? iso : when.toLocaleDateString(current(), { dateStyle: "medium" });
}
