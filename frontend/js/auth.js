// Sign-in when the server asks for a token (API_TOKEN): asked once, then kept for the browser session
// as an HttpOnly, SameSite=Strict cookie that EventSource and download links send too.

import { h } from "./dom.js";

let pending = null;

/** Ask for the token (one dialog however many requests were refused); resolves once the server took it. */
export function signIn() {
  if (!pending) pending = askForToken().finally(() => { pending = null; });
  return pending;
}

function askForToken() {
  return new Promise((resolve) => {
    const input = h("input", { type: "password", name: "token", id: "signin-token", required: true,
      autocomplete: "current-password", "aria-describedby": "signin-error", "data-testid": "signin-token" });
    const error = h("p", { class: "field-error", id: "signin-error", role: "alert" });
    const form = h("form", { method: "dialog", class: "signin" },
      h("h2", {}, "Sign in"),
      h("p", {}, h("label", { for: "signin-token" }, "API token of this server")),
      h("p", {}, input),
      error,
      h("button", { type: "submit", class: "button primary", "data-testid": "signin-submit" }, "Sign in"));
    const dialog = h("dialog", { class: "signin-dialog", "aria-label": "Sign in" }, form);
    dialog.addEventListener("cancel", (event) => event.preventDefault()); // nothing works without it
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const response = await fetch("/api/login", { method: "POST", headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ token: input.value }) }).catch(() => null);
      if (response && response.ok) {
        dialog.close();
        dialog.remove();
        resolve();
        return;
      }
      if (!response) error.textContent = "Cannot reach the server.";
      else if (response.status === 429) {
        const wait = response.headers.get("Retry-After") || "60";
        error.textContent = `Too many wrong tokens from this computer; try again in ${wait} s.`;
      } else error.textContent = "That token was not accepted; check it and try again.";
      input.select();
    });
    document.body.append(dialog);
    dialog.showModal();
    input.focus();
  });
}

/** "Sign out": ends the session on the server (every copy of the cookie stops working), then asks again. */
export function signOutButton() {
  return h("button", { type: "button", class: "link signout", "data-testid": "signout", onClick: async () => {
    await fetch("/api/logout", { method: "POST", headers: { "X-Requested-With": "contrastlab" } }).catch(() => null);
    window.location.reload();
  } }, "Sign out");
}
