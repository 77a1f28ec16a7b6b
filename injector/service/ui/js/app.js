// The touchscreen: one screen per step, chosen by the address's #fragment.
import * as api from "./api.js";
import * as i18n from "./i18n.js";
import { t } from "./i18n.js";
import { show, h, button } from "./dom.js";
import { failure } from "./failure.js";
import { signInPage } from "./pages/signin.js";
import { mapPage, presetsPage, confirmPage, checklistPage, planPage } from "./pages/treat.js";
import { livePage } from "./pages/live.js";
import { historyPage, summaryPage } from "./pages/history.js";
import { techPage, wizardPage, libraryPage } from "./pages/technician.js";

const ROUTES = [
  [/^#\/treat$/, mapPage],
  [/^#\/treat\/presets$/, presetsPage],
  [/^#\/treat\/confirm$/, confirmPage],
  [/^#\/treat\/checklist$/, checklistPage],
  [/^#\/treat\/plan$/, planPage],
  [/^#\/live\/(\d+)$/, livePage],
  [/^#\/history$/, historyPage],
  [/^#\/sessions\/(\d+)$/, summaryPage],
  [/^#\/tech$/, techPage],
  [/^#\/tech\/wizard$/, wizardPage],
  [/^#\/tech\/library$/, libraryPage],
];

// What runs on a gun is in sight on every screen, with the way back to its Hold and Stop: a
// clinician who left the live page (or signed out and in again) can always reach them.
async function showRunning() {
  const banner = document.getElementById("running");
  let guns = [];
  try { guns = await api.get("/guns"); } catch (error) { guns = []; }
  const here = location.hash;
  const runs = guns.filter((g) => g.session_id && here !== `#/live/${g.session_id}`);
  banner.hidden = runs.length === 0;
  banner.replaceChildren(...runs.map((g) => g.run_kind === "calibration"
    ? h("div", { class: "notice warn row", "data-running": String(g.session_id) },
        h("span", {}, t("running.calibration", { id: g.session_id, gun: g.number })),
        button(t("running.stop"), async () => {
          try { await api.post(`/sessions/${g.session_id}/stop`); } catch (error) { banner.append(failure(error)); }
          showRunning();
        }, "stop", { "data-stop": String(g.session_id) }))
    : h("div", { class: "notice warn row", "data-running": String(g.session_id) },
        h("span", {}, t(g.held ? "running.session_held" : "running.session", { id: g.session_id, gun: g.number })),
        button(t("running.open"), () => { location.hash = `#/live/${g.session_id}`; }, "primary",
               { "data-open": String(g.session_id) }))));
}

let leaving = null;
/** A page may give back a function to call when the screen changes (close a socket). */
async function route() {
  if (leaving) { leaving(); leaving = null; }
  const who = api.me();
  document.getElementById("nav").hidden = !who;
  document.getElementById("sign-out").hidden = !who;
  document.getElementById("who").textContent = who ? t("nav.signed_in_as", { name: who.name, role: t(`role.${who.role}`) }) : "";
  if (!who) { document.getElementById("running").hidden = true; return signInPage(() => { location.hash = "#/treat"; route(); }); }
  showRunning();
  const hash = location.hash || "#/treat";
  for (const [pattern, page] of ROUTES) {
    const found = hash.match(pattern);
    if (found) {
      try {
        const result = await page(...found.slice(1));
        leaving = typeof result === "function" ? result : null;
      } catch (error) {
        show(failure(error));
      }
      return;
    }
  }
  location.hash = "#/treat";
}

window.addEventListener("hashchange", route);
window.addEventListener("injector:signed-out", () => route());

async function main() {
  await i18n.start();
  for (const el of document.querySelectorAll("[data-go]")) el.addEventListener("click", () => { location.hash = el.dataset.go; });
  document.getElementById("language").addEventListener("click", async () => { await i18n.use(i18n.next()); route(); });
  document.getElementById("sign-out").addEventListener("click", async () => { await api.signOut(); location.hash = ""; route(); });
  document.body.dataset.ready = "true";
  route();
}
main();
