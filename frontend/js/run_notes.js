// The run page's notes: Markdown rendered safely (markdown.js), edited in place (PATCH /api/runs/{id}).

import { h, setText } from "./dom.js";
import { api } from "./api.js";
import { renderMarkdown } from "./markdown.js";
import { tagEditor } from "./tags.js";

const MAX_NOTES = 20000; // as the server's bound

/** The notes panel of run `run`, with its tags; returns the panel element. */
export function notesPanel(run) {
  const shown = h("div", { class: "notes", "data-testid": "run-notes" });
  const editor = h("textarea", { class: "notes-editor", rows: 8, maxlength: MAX_NOTES, hidden: true,
    "aria-label": "Notes (Markdown)", "data-testid": "notes-editor" });
  const error = h("p", { class: "field-error", role: "alert", hidden: true });
  const edit = h("button", { type: "button", class: "button small", "data-testid": "notes-edit" }, "Edit notes");
  const save = h("button", { type: "button", class: "button small primary", hidden: true,
    "data-testid": "notes-save" }, "Save");
  const tags = tagEditor({ label: `run #${run.id}`,
    save: async (next) => (await api.patchRun(run.id, { tags: next })).tags });
  let notes = run.notes || "";

  const show = () => {
    shown.replaceChildren(...(notes ? renderMarkdown(notes) : [h("p", { class: "muted" }, "No notes yet.")]));
  };
  const editing = (on) => {
    editor.hidden = !on;
    save.hidden = !on;
    shown.hidden = on;
    setText(edit, on ? "Cancel" : "Edit notes");
  };
  edit.addEventListener("click", () => {
    const on = editor.hidden;
    if (on) editor.value = notes;
    editing(on);
    if (on) editor.focus();
  });
  save.addEventListener("click", async () => {
    try {
      notes = (await api.patchRun(run.id, { notes: editor.value })).notes;
      error.hidden = true;
      show();
      editing(false);
    } catch (err) {
      setText(error, err.message);
      error.hidden = false;
    }
  });
  tags.update(run.tags);
  show();
  return h("section", { class: "panel", "data-testid": "notes-panel" },
    h("div", { class: "panel-head" }, h("h2", {}, "Notes"), h("div", { class: "form-actions" }, edit, save)),
    tags.el, shown, editor, error);
}
