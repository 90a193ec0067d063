// Tag chips with inline edit: each tag a chip with ×, and "+ tag" opening a small input (Enter adds, Escape
// closes). The server checks a tag (`key` or `key:value`); its 422 shows under the input.

import { h, setText } from "./dom.js";

/** The same check as the server's, so a typo is caught before the request (the server still decides). */
const TAG_RE = /^[\p{L}\p{N}_.-]+(:[\p{L}\p{N}_.+/=@%#-]+)?$/u;
export const MAX_TAGS = 32;

/**
 * A run's (or a study's) tags, editable in place.
 * `save(tags)`: sends the whole new list and resolves with the saved one (rejects with the server's error).
 * `onTag(tag)`: clicking a chip's text (filter the list by it); optional.
 * @returns {{el: HTMLElement, update: (tags: string[]) => void}}
 */
export function tagEditor({ label, save, onTag = null, editable = true }) {
  let tags = [];
  let shown = "";
  const chips = h("span", { class: "tag-chips" });
  const error = h("span", { class: "tag-error", role: "alert", hidden: true });
  const input = h("input", {
    type: "text",
    class: "tag-input",
    maxlength: 64,
    placeholder: "key or key:value",
    "aria-label": `Add a tag to ${label}`,
    "data-testid": "tag-input",
    hidden: true,
  });
  const add = h(
    "button",
    { type: "button", class: "tag-add", "aria-label": `Add a tag to ${label}`, "data-testid": "tag-add",
      hidden: !editable, onClick: () => open() },
    "+ tag",
  );
  const el = h("span", { class: "tags", "data-testid": "tags" }, chips, add, input, error);

  function open() {
    add.hidden = true;
    input.hidden = false;
    input.value = "";
    input.focus();
  }

  function close() {
    input.hidden = true;
    add.hidden = !editable;
    setText(error, "");
    error.hidden = true;
  }

  function fail(message) {
    setText(error, message);
    error.hidden = false;
  }

  async function commit(next) {
    try {
      render(await save(next));
      close();
    } catch (err) {
      fail(err.message);
      if (!input.hidden) input.focus();
    }
  }

  input.addEventListener("keydown", (event) => {
    if (event.key === "Escape") return close();
    if (event.key !== "Enter") return;
    event.preventDefault();
    const tag = input.value.trim();
    if (!tag) return close();
    if (!TAG_RE.test(tag)) return fail(`“${tag}”: write key or key:value (letters, digits, _ . -), no spaces`);
    if (tags.length >= MAX_TAGS && !tags.includes(tag)) return fail(`at most ${MAX_TAGS} tags`);
    commit(tags.includes(tag) ? tags : [...tags, tag]);
  });
  input.addEventListener("blur", () => {
    if (!input.value.trim()) close();
  });

  function render(next) {
    tags = [...(next || [])];
    const signature = JSON.stringify(tags);
    if (signature === shown) return;
    shown = signature;
    chips.replaceChildren(
      ...tags.map((tag) =>
        h(
          "span",
          { class: "chip tag-chip", "data-testid": "tag-chip", "data-tag": tag },
          onTag
            ? h("button", { type: "button", class: "link tag-text", title: `Show the runs tagged ${tag}`,
              onClick: () => onTag(tag) }, tag)
            : h("span", { class: "tag-text" }, tag),
          editable
            ? h(
              "button",
              { type: "button", class: "link", "aria-label": `Remove the tag ${tag}`, "data-testid": "tag-remove",
                onClick: () => commit(tags.filter((t) => t !== tag)) },
              "×",
            )
            : null,
        ),
      ),
    );
  }

  return { el, update: render };
}
