// On-screen keys for the screen at the chair, which has no keyboard: a number pad and a
// letter keyboard of large keys a gloved finger hits. Each types into the field of those it
// serves that was touched last (the first until then), marked while it types there, and
// tells the page as typing would (an input and a change event on each key). Touching a
// field it does not serve, or the page taking its field away, puts it out of the way.
import { t } from "./i18n.js";
import { h, button } from "./dom.js";

function keys(fields, { id, shown, cls, onAim = () => {} }) {
  let target = fields[0];
  const pad = h("div", { class: cls, id, hidden: !shown });
  const mark = () => { for (const field of fields) field.classList.toggle("typing", field === target && !pad.hidden); };
  const hide = () => { pad.hidden = true; mark(); };
  function aim(field) { target = field; pad.hidden = false; onAim(field); mark(); }
  function elsewhere(event) {
    if (!pad.isConnected) { document.removeEventListener("focusin", elsewhere); return; }
    if (event.target instanceof HTMLInputElement && !fields.includes(event.target)) hide();
  }
  document.addEventListener("focusin", elsewhere);
  for (const field of fields) field.addEventListener("focus", () => aim(field));
  function type(change) {
    if (!target.isConnected) { hide(); return; }
    target.value = change(target.value);
    mark();
    target.dispatchEvent(new Event("input", { bubbles: true }));
    target.dispatchEvent(new Event("change", { bubbles: true }));
  }
  const key = (text, change, attrs = {}) => button(text, () => type(change), "key", attrs);
  const edits = () => [key(t("keypad.back"), (value) => value.slice(0, -1), { "data-key": "back" }),
                       key(t("keypad.clear"), () => "", { "data-key": "clear" })];
  onAim(target);
  return { pad, key, edits };
}

const takes = (field, text) =>
  text === "." ? field.inputMode === "decimal" : text === "," ? "list" in field.dataset : true;

// One number, or a list of them: no second point in a number, no empty item, no leading 0.
function appended(value, text) {
  const item = value.split(",").pop();
  if (text === "." && item.includes(".")) return value;
  if (text === "," && item === "") return value;
  if (text !== "." && text !== "," && item === "0") return value.slice(0, -1) + text;
  return value + text;
}

// A field says what it takes: a decimal point if its inputmode is "decimal", commas between
// values if it has data-list; the pad offers those keys only while it types into it.
// `shown`: false keeps the pad out of the way until one of its fields is touched.
export function keypad(fields, { id, shown = true } = {}) {
  let extras = [];
  const board = keys(fields, { id, shown, cls: "keypad", onAim: (field) => {
    for (const extra of extras) extra.disabled = !takes(field, extra.dataset.key);
  } });
  const key = (text) => board.key(text, (value) => appended(value, text), { "data-key": text });
  extras = [".", ","].filter((text) => fields.some((field) => takes(field, text))).map(key);
  board.pad.append(..."123456789".split("").map(key), ...extras, key("0"), ...board.edits());
  for (const extra of extras) extra.disabled = !takes(fields[0], extra.dataset.key);
  return board.pad;
}

// Letters, digits and the marks names, serial numbers and reasons use; Shift for capitals.
export function keyboard(fields, { id, shown = false } = {}) {
  const board = keys(fields, { id, shown, cls: "keyboard" });
  let shift = false;
  const letters = [];
  const key = (text) => {
    const made = board.key(text, (value) => value + (shift ? made.textContent : text), { "data-key": text });
    if (/[a-z]/.test(text)) letters.push(made);
    return made;
  };
  const shiftKey = button(t("keypad.shift"), () => {
    shift = !shift;
    shiftKey.classList.toggle("chosen", shift);
    for (const letter of letters) letter.textContent = shift ? letter.dataset.key.toUpperCase() : letter.dataset.key;
  }, "key", { "data-key": "shift" });
  board.pad.append(...[..."1234567890qwertyuiopasdfghjkl-zxcvbnm._"].map(key), shiftKey,
                   board.key(t("keypad.space"), (value) => `${value} `, { "data-key": "space", class: "key wide" }),
                   ...board.edits());
  return board.pad;
}
