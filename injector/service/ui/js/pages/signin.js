// Sign in with a name and a PIN (a number pad a gloved finger can hit).
import * as api from "../api.js";
import { t } from "../i18n.js";
import { h, show } from "../dom.js";
import { failure } from "../failure.js";
import { keyboard, keypad } from "../keypad.js";

export function signInPage(signedIn) {
  const name = h("input", { id: "name", autocomplete: "username", autocapitalize: "none" });
  const pin = h("input", { id: "pin", type: "password", inputmode: "numeric", autocomplete: "current-password" });
  const message = h("div");
  const letters = keyboard([name], { id: "name-keys", shown: true });
  const pad = keypad([pin], { id: "pin-pad", shown: false });
  async function go() {
    message.replaceChildren();
    try {
      await api.signIn(name.value.trim(), pin.value);
      signedIn();
    } catch (error) {
      pin.value = "";
      message.replaceChildren(failure(error));
    }
  }
  // A form, so Enter signs in; it is never submitted (the page posts the JSON itself).
  show(h("h1", {}, t("signin.title")),
       h("form", { id: "sign-in-form", onsubmit: (event) => { event.preventDefault(); go(); } },
         h("label", { class: "row" }, h("span", {}, t("signin.name")), name),
         letters,
         // Sign in beside the PIN: in sight above the pad on a 600 px screen.
         h("div", { class: "row" }, h("label", { class: "row" }, h("span", {}, t("signin.pin")), pin),
           h("button", { type: "submit", class: "go", id: "sign-in" }, t("signin.go"))),
         pad),
       message);
  name.focus();
}
