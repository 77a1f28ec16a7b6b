// Every text of the pages, one JSON file per language (i18n/en.json first). A page never
// writes a text of its own: it asks t(KEY) or marks an element data-i18n="KEY".
const LANGUAGES = ["en", "de"];
const CHOSEN = "injector.language";
let texts = {};
let fallback = {};
let language = "en";

async function load(code) {
  const answer = await fetch(`i18n/${code}.json`, { cache: "no-store" });
  return answer.json();
}

export async function start() {
  fallback = await load("en");
  const wanted = localStorage.getItem(CHOSEN) || "en";
  await use(LANGUAGES.includes(wanted) ? wanted : "en");
}

export async function use(code) {
  texts = code === "en" ? fallback : await load(code);
  language = code;
  localStorage.setItem(CHOSEN, code);
  document.documentElement.lang = code;
  apply(document);
}

export function next() { return LANGUAGES[(LANGUAGES.indexOf(language) + 1) % LANGUAGES.length]; }
export function current() { return language; }

/** The text for `key`, with {name} filled from `values`; a missing key shows itself. */
export function t(key, values = {}) {
  const text = texts[key] ?? fallback[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => (name in values ? String(values[name]) : `{${name}}`));
}

/** Whether a key exists (for texts keyed by the API's ids: alarms, checklist questions). */
export function has(key) { return key in texts || key in fallback; }

export function apply(root) {
  for (const el of root.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll("[data-i18n-placeholder]")) el.placeholder = t(el.dataset.i18nPlaceholder);
}
