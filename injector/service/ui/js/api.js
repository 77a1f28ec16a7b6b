// The API of the service that served this page: same origin, the sign-in token in
// sessionStorage (never a cookie), sent only as Authorization: Bearer.
const TOKEN = "injector.token";
const BASE = "/api/v1";

export class ApiError extends Error {
  constructor(status, body) {
    super(body && body.detail ? body.detail : `HTTP ${status}`);
    this.status = status;
    this.body = body || {};
  }
}

export function token() { return sessionStorage.getItem(TOKEN); }
export function forget() { sessionStorage.removeItem(TOKEN); sessionStorage.removeItem("injector.me"); }

export function me() {
  const text = sessionStorage.getItem("injector.me");
  return text ? JSON.parse(text) : null;
}

async function call(method, path, body, accept) {
  const headers = {};
  const t = token();
  if (t) headers.Authorization = `Bearer ${t}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const answer = await fetch(BASE + path, {
    method, headers, body: body === undefined ? undefined : JSON.stringify(body),
    credentials: "omit", cache: "no-store",
  });
  if (!answer.ok) {
    let detail = null;
    try { detail = await answer.json(); } catch (e) { detail = null; }
    if (answer.status === 401 && path !== "/auth/sign-in") {
      forget();
      window.dispatchEvent(new CustomEvent("injector:signed-out"));
    }
    throw new ApiError(answer.status, detail);
  }
  if (accept === "blob") return answer.blob();
  if (accept === "text") return answer.text();
  return answer.json();
}

export const get = (path) => call("GET", path);
export const post = (path, body = {}) => call("POST", path, body);
export const blob = (path, body) => call(body === undefined ? "GET" : "POST", path, body, "blob");

export async function signIn(name, secret) {
  const answer = await call("POST", "/auth/sign-in", { name, secret });
  sessionStorage.setItem(TOKEN, answer.token);
  sessionStorage.setItem("injector.me", JSON.stringify({ name: answer.name, role: answer.role }));
  return answer;
}

export async function signOut() {
  try { await post("/auth/sign-out"); } finally { forget(); }
}

/** A picture (SVG) from the API as an object URL an <img> can show. */
export async function pictureUrl(path, body) {
  return URL.createObjectURL(await blob(path, body));
}

/** A file from the API saved by the browser (the credentials stay in the header). */
export async function download(path, name) {
  const url = URL.createObjectURL(await blob(path));
  const link = document.createElement("a");
  link.href = url;
  link.download = name;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}
