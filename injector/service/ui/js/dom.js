// Building elements: h("button", {class: "go", onclick}, t("live.stop")). Strings given as
// children are text nodes; they come from t() or from the API's data, never literals.
export function h(tag, attrs = {}, ...children) {
  const el = document.createElementNS(
    tag === "svg" || attrs.svg ? "http://www.w3.org/2000/svg" : "http://www.w3.org/1999/xhtml", tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (name === "svg" || value === undefined || value === null || value === false) continue;
    if (name.startsWith("on")) el.addEventListener(name.slice(2), value);
    else if (name === "dataset") Object.assign(el.dataset, value);
    else el.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export function show(...children) {
  const view = document.getElementById("view");
  view.replaceChildren(...children.flat());
  window.scrollTo(0, 0);
  return view;
}

export function button(text, onclick, cls = "", attrs = {}) {
  return h("button", { type: "button", class: cls, onclick, ...attrs }, text);
}
