// The treatment being prepared, step by step, kept for this browser tab only.
const KEY = "injector.draft";

export function draft() { return JSON.parse(sessionStorage.getItem(KEY) || "{}"); }
export function change(values) {
  const next = { ...draft(), ...values };
  sessionStorage.setItem(KEY, JSON.stringify(next));
  return next;
}
export function clear() { sessionStorage.removeItem(KEY); }
