// A modal confirmation (<dialog>): keyboard friendly, Escape cancels, focus starts on "Cancel".

import { h } from "./dom.js";

/**
 * Ask before doing something that cannot be undone.
 * @returns {Promise<boolean>} true when confirmed
 */
export function confirmDialog({ title, body, confirmLabel = "Delete" }) {
  return new Promise((resolve) => {
    const cancel = h(
      "button",
      { type: "button", class: "button", value: "cancel", "data-testid": "confirm-cancel" },
      "Cancel",
    );
    const ok = h(
      "button",
      { type: "button", class: "button danger-solid", value: "ok", "data-testid": "confirm-ok" },
      confirmLabel,
    );
    const dialog = h(
      "dialog",
      { class: "confirm", "data-testid": "confirm-dialog", "aria-labelledby": "confirm-title" },
      h("h2", { id: "confirm-title" }, title),
      h("p", {}, body),
      h("div", { class: "form-actions" }, cancel, ok),
    );
    const done = (answer) => {
      dialog.close();
      dialog.remove();
      resolve(answer);
    };
    cancel.addEventListener("click", () => done(false));
    ok.addEventListener("click", () => done(true));
    dialog.addEventListener("cancel", (event) => {
      event.preventDefault();
      done(false);
    });
    document.body.append(dialog);
    dialog.showModal();
    cancel.focus();
  });
}
