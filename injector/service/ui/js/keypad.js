// A number pad for the screen at the chair, which has no keyboard: large keys a gloved finger
// hits, typing into the field of those it serves that was touched last (the first until
// then), and telling the page as typing would (an input and a change event on each key).
import { t } from "./i18n.js";
import { h, button } from "./dom.js";

// `point`: the field takes decimals; `list`: it takes several values separated by commas;
// `shown`: false keeps the pad out of the way until one of its fields is touched.
export function keypad(fields, { id, point = false, list = false, shown = true } = {}) {
  let target = fields[0];
  let pad = null;
  for (const field of fields) {
    field.addEventListener("focus", () => { target = field; pad.hidden = false; });
  }
  const set = (value) => {
    target.value = value;
    target.dispatchEvent(new Event("input", { bubbles: true }));
    target.dispatchEvent(new Event("change", { bubbles: true }));
  };
  const key = (text) => button(text, () => set(target.value + text), "key", { "data-key": text });
  pad = h("div", { class: "keypad", id, hidden: !shown },
    ..."123456789".split("").map(key),
    point ? key(".") : null,
    key("0"),
    list ? key(",") : null,
    button(t("keypad.back"), () => set(target.value.slice(0, -1)), "key", { "data-key": "back" }),
    button(t("keypad.clear"), () => set(""), "key", { "data-key": "clear" }));
  return pad;
}
