// A number pad for the screen at the chair, which has no keyboard: large keys a gloved finger
// hits, typing into the field of those it serves that was touched last (the first until
// then), and telling the page as typing would (an input and a change event on each key).
// A field says what it takes: a decimal point if its inputmode is "decimal", commas between
// values if it has data-list; the pad offers those keys only while it types into it.
import { t } from "./i18n.js";
import { h, button } from "./dom.js";

const takes = (field, key) =>
  key === "." ? field.inputMode === "decimal" : key === "," ? "list" in field.dataset : true;

// `shown`: false keeps the pad out of the way until one of its fields is touched.
export function keypad(fields, { id, shown = true } = {}) {
  let target = fields[0];
  const key = (text) => button(text, () => type((value) => value + text), "key", { "data-key": text });
  const extras = [".", ","].filter((text) => fields.some((field) => takes(field, text))).map(key);
  function aim(field) {
    target = field;
    for (const extra of extras) extra.disabled = !takes(field, extra.dataset.key);
  }
  // A field the page no longer shows (another kind chosen) is not typed into unseen: the
  // pad goes until a field is touched again.
  function type(change) {
    if (!target.isConnected) {
      pad.hidden = true;
      return;
    }
    target.value = change(target.value);
    target.dispatchEvent(new Event("input", { bubbles: true }));
    target.dispatchEvent(new Event("change", { bubbles: true }));
  }
  const pad = h("div", { class: "keypad", id, hidden: !shown },
    ..."123456789".split("").map(key), ...extras, key("0"),
    button(t("keypad.back"), () => type((value) => value.slice(0, -1)), "key", { "data-key": "back" }),
    button(t("keypad.clear"), () => type(() => ""), "key", { "data-key": "clear" }));
  for (const field of fields) field.addEventListener("focus", () => { aim(field); pad.hidden = false; });
  aim(target);
  return pad;
}
