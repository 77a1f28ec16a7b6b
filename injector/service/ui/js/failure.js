// A refusal or failure shown in the API's own words (they name the limit and the value).
import { ApiError } from "./api.js";
import { t } from "./i18n.js";
import { h } from "./dom.js";

export function failure(error) {
  const status = error instanceof ApiError ? error.status : 0;
  const title = status === 403 ? t("error.refused_role") : t("error.title");
  return h("div", { class: "error", role: "alert", "data-status": String(status) },
           h("strong", {}, title), " ", error.message);
}
