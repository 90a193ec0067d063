// The runs list's bars: the selection's actions (compare, move to the trash, restore) and, in the trash, what it
// holds with "Empty trash" (which says how much disk it frees).

import { h, setText } from "./dom.js";
import { api } from "./api.js";
import { formatBytes } from "./format.js";
import { confirmDialog } from "./confirm.js";

const MAX_COMPARE = 20;

/** The bar over the table while runs are selected. `actions`: {onCompare, onTrash, onRestore, onClear}. */
export function selectionBar(actions) {
  const count = h("span", { class: "muted", "data-testid": "selection-count" });
  const button = (label, testid, onClick, css = "button") =>
    h("button", { type: "button", class: css, "data-testid": testid, onClick }, label);
  const compare = button("Compare", "compare-selected", actions.onCompare, "button primary");
  const trash = button("Move to trash", "trash-selected", actions.onTrash);
  const restore = button("Restore", "restore-selected", actions.onRestore);
  const el = h("div", { class: "selection-bar", "data-testid": "selection-bar", hidden: true }, count, compare,
    trash, restore, button("Clear selection", "clear-selection", actions.onClear));

  /** Show the bar for `n` selected runs; in the trash it restores instead of comparing. */
  function render(n, inTrash) {
    el.hidden = n === 0;
    compare.hidden = inTrash;
    trash.hidden = inTrash;
    restore.hidden = !inTrash;
    setText(
      count,
      inTrash
        ? `${n} selected`
        : n < 2
          ? `${n} selected — pick at least 2 to compare`
          : n > MAX_COMPARE
            ? `${n} selected — compare takes at most ${MAX_COMPARE}`
            : `${n} selected`,
    );
    compare.disabled = n < 2 || n > MAX_COMPARE;
  }

  return { el, render };
}

function trashText(held) {
  if (!held.runs && !held.studies) return "The trash is empty.";
  const studies = held.studies ? ` and ${held.studies} ${held.studies === 1 ? "study" : "studies"}` : "";
  const days = held.trash_days ? ` Removed for good after ${held.trash_days} days.` : "";
  return `${held.runs} ${held.runs === 1 ? "run" : "runs"}${studies} in the trash, ` +
    `${formatBytes(held.file_bytes)} of files.${days}`;
}

/** In the trash: what it holds and the button that empties it; `onEmptied(freed)` after it did. */
export function trashBar(onEmptied) {
  const text = h("span", { class: "trash-text", "data-testid": "trash-summary", role: "status" });
  const empty = h("button", { type: "button", class: "button danger", "data-testid": "empty-trash", disabled: true,
    onClick: () => emptyTrash() }, "Empty trash"); // enabled once the trash says what it holds
  const el = h("div", { class: "trash-bar", "data-testid": "trash-bar", hidden: true }, text, empty);
  let held = null;

  async function refresh(signal) {
    held = await api.trash(signal);
    setText(text, trashText(held));
    empty.disabled = !held.runs && !held.studies;
  }

  async function emptyTrash() {
    const ok = await confirmDialog({
      title: "Empty the trash?",
      body: `${trashText(held)} They are removed for good, with their metrics, logs and files ` +
        `(${formatBytes(held.file_bytes)} freed).`,
      confirmLabel: "Empty trash",
    });
    if (!ok) return;
    const freed = await api.emptyTrash();
    await refresh();
    onEmptied(freed);
  }

  return { el, refresh, show: (on) => (el.hidden = !on) };
}

/** "Freed 1.2 MB: 3 runs removed for good." */
export function freedText(freed) {
  return `Freed ${formatBytes(freed.file_bytes)}: ${freed.runs} ${freed.runs === 1 ? "run" : "runs"}` +
    `${freed.studies ? ` and ${freed.studies} studies` : ""} removed for good.`;
}

/** Move to the trash and restore, as the list does them: `selected` loses the ids, `showNotice(text, label,
 * action)` says what happened (moving offers Undo), `refresh()` redraws. */
export function trashActions(selected, showNotice, refresh) {
  async function moveToTrash(params, what) {
    try {
      const { ids } = await api.trashRuns(params);
      for (const id of ids) selected.delete(id);
      showNotice(`${what} moved to the trash.`, "Undo", () => restore(ids, what));
    } catch (err) {
      showNotice(`Could not move ${what.toLowerCase()} to the trash: ${err.message}`);
    }
    refresh();
  }

  async function restore(ids, what) {
    try {
      await api.restoreRuns(ids);
      for (const id of ids) selected.delete(id);
      showNotice(`${what} restored.`);
    } catch (err) {
      showNotice(`Could not restore ${what.toLowerCase()}: ${err.message}`);
    }
    refresh();
  }

  return { moveToTrash, restore };
}
