// The runs list's filter controls: the spec-field filter with its chips, and the Columns menu.

import { h } from "./dom.js";
import { metricLabel, summaryMetrics } from "./catalog.js";

/**
 * Any spec field = a value: the server keeps the runs whose spec holds it (typed as the spec types it). The
 * filters show as removable chips; `onChange(filters)` gets the list ("lr=0.001", …) after each change.
 * @returns {{chips: HTMLElement, control: (names: string[]) => HTMLElement, clear: () => void, values: () => string[]}}
 */
export function specFilterBar(initial, onChange) {
  let filters = [...initial];
  const chips = h("span", { class: "spec-chips" });
  const changed = () => {
    render();
    onChange(filters);
  };

  function render() {
    chips.replaceChildren(
      ...filters.map((filter) =>
        h(
          "span",
          { class: "chip", "data-testid": "spec-chip" },
          filter.replace("=", " = "),
          h(
            "button",
            {
              type: "button",
              class: "link",
              "aria-label": `Remove the filter ${filter}`,
              onClick: () => {
                filters = filters.filter((f) => f !== filter);
                changed();
              },
            },
            "×",
          ),
        ),
      ),
    );
  }

  function control(names) {
    const field = h(
      "select",
      { "aria-label": "Spec field", "data-testid": "spec-filter-field" },
      h("option", { value: "" }, "Spec field…"),
      names.filter((n) => n !== "name").map((n) => h("option", { value: n }, n)),
    );
    const value = h("input", {
      type: "text",
      class: "spec-filter-value",
      placeholder: "value",
      "aria-label": "Spec value",
      "data-testid": "spec-filter-value",
    });
    const add = (event) => {
      event.preventDefault();
      if (!field.value) return field.focus();
      const filter = `${field.value}=${value.value.trim()}`;
      if (!filters.includes(filter)) filters = [...filters, filter];
      value.value = "";
      changed();
    };
    return h("form", { class: "spec-filter", onSubmit: add }, field, value,
      h("button", { type: "submit", class: "button small", "data-testid": "spec-filter-add" }, "Filter"), chips);
  }

  render();
  return {
    chips,
    control,
    clear: () => {
      filters = [];
      render();
    },
    values: () => filters,
  };
}

/** Columns: any final metric of the catalogue and any spec field; `onChoose(keys)` gets the checked keys. */
export function columnsMenu(names, view, onChoose) {
  const box = (key, label, checked) =>
    h(
      "label",
      { class: "checkbox-line" },
      h("input", {
        type: "checkbox",
        value: key,
        checked,
        "data-testid": `col-${key}`,
        onChange: () => onChoose([...menu.querySelectorAll("input:checked")].map((input) => input.value)),
      }),
      label,
    );
  const menu = h(
    "details",
    { class: "columns-menu", "data-testid": "columns-menu" },
    h("summary", { class: "button" }, "Columns"),
    h(
      "div",
      { class: "columns-list" },
      h(
        "fieldset",
        {},
        h("legend", {}, "Final metrics"),
        summaryMetrics().map((key) => box(key, metricLabel(key), view.metrics.includes(key))),
      ),
      h("fieldset", {}, h("legend", {}, "Spec fields"), names.map((n) => box(`spec.${n}`, n, view.spec.includes(n)))),
    ),
  );
  return menu;
}
