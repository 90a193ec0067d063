// "Study" mode of the new-run form: any field takes a list of values (an axis), the grid of their
// combinations runs once per seed, and the whole study is one POST /api/studies.
// It attaches to the RunForm of views/new_run.js and reuses its rows, seeds field and error display.

import { ApiError } from "./api.js";
import { choiceLabel } from "./catalog.js";
import { h, setText } from "./dom.js";
import { studyApi } from "./study_api.js";

/** Spec fields that never become an axis: the run name, and the seed (the seeds field varies it). */
const NOT_AXES = new Set(["name", "seed"]);
/** The fields whose choice decides which other fields apply (schema tags `methods`, `datasets`, `optimizers`). */
const CONTROLLERS = ["method", "dataset", "optimizer"];

const TRUE_WORDS = new Set(["true", "yes", "on", "1"]);
const FALSE_WORDS = new Set(["false", "no", "off", "0"]);

/**
 * Parse the values typed for one field ("0.1, 0.5" or "simclr, supervised") into JSON values of its kind.
 * @returns {{values: unknown[], error: string}} distinct values in the order typed; `error` names the first bad one
 */
export function parseAxisValues(field, text) {
  const splitter = field.kind === "integer" || field.kind === "number" ? /[\s,;]+/ : /[,;]/;
  const parts = text.split(splitter).map((part) => part.trim()).filter(Boolean);
  const values = [];
  for (const part of parts) {
    const parsed = parseOne(field, part);
    if (parsed.error) return { values: [], error: parsed.error };
    if (!values.some((v) => v === parsed.value)) values.push(parsed.value);
  }
  return { values, error: "" };
}

function parseOne(field, part) {
  const lower = part.toLowerCase();
  if (field.nullable && (lower === "none" || lower === "null")) return { value: null };
  if (field.kind === "integer") {
    return /^-?\d+$/.test(part) ? { value: Number(part) } : { error: `“${part}” is not a whole number.` };
  }
  if (field.kind === "number") {
    const number = Number(part);
    return Number.isFinite(number) ? { value: number } : { error: `“${part}” is not a number (write 0.001 or 1e-3).` };
  }
  if (field.kind === "boolean") {
    if (TRUE_WORDS.has(lower)) return { value: true };
    if (FALSE_WORDS.has(lower)) return { value: false };
    return { error: `“${part}” is not true or false.` };
  }
  if (field.kind === "enum") {
    const match = field.options.find((option) => String(option).toLowerCase() === lower
      || choiceLabel(field.name, option).toLowerCase() === lower); // "simclr" or its label "SimCLR (NT-Xent)"
    return match !== undefined ? { value: match } : { error: `“${part}” is not one of: ${field.options.join(", ")}.` };
  }
  return { value: part };
}

/** Whether `field` applies to a spec (its `appliesTo` conditions on method, dataset and optimiser). */
const appliesTo = (field, spec) =>
  Object.entries(field.appliesTo).every(
    ([controller, choices]) => !(controller in spec) || choices.includes(spec[controller]),
  );

/**
 * The distinct cells of a grid, as the server counts them: a field that does not apply to a
 * combination's method (temperature for supervised) is not varied for it.
 * @param {object} base the spec the axes vary
 * @param {[object, unknown[]][]} axes [field, values] pairs
 */
export function countCells(base, axes) {
  let combos = [{}];
  for (const [field, values] of axes)
    combos = combos.flatMap((combo) => values.map((v) => ({ ...combo, [field.name]: v })));
  const keys = new Set(combos.map((combo) => {
    const spec = { ...base, ...combo };
    return JSON.stringify(
      axes.filter(([field]) => appliesTo(field, spec)).map(([field]) => [field.name, combo[field.name]]),
    );
  }));
  return keys.size;
}

/** "3 cells × 3 seeds = 9 runs". */
export function gridText(cells, seeds) {
  const plural = (n, word) => `${n} ${word}${n === 1 ? "" : "s"}`;
  return `${plural(cells, "cell")} × ${plural(seeds, "seed")} = ${plural(cells * seeds, "run")}`;
}

/** Study mode of a RunForm: a toggle, a values input beside each field, a study name and the live grid size. */
export class StudyMode {
  /** @param {object} form the RunForm (rows, seedsRow, sections, element, submitButton, values, showErrors…) */
  constructor(form) {
    this.form = form;
    this.active = false;
    this.axisInputs = new Map(); // field name -> input
    for (const [name, entry] of form.rows) if (!NOT_AXES.has(name)) this.addAxisInput(entry);
    this.nameInput = h("input", {
      type: "text",
      id: "study-name",
      maxlength: 120,
      autocomplete: "off",
      "data-testid": "study-name",
      placeholder: "e.g. optimisers on digits",
    });
    this.gridSize = h("output", { class: "grid-size", "data-testid": "grid-size", "aria-live": "polite" });
    this.panel = h(
      "div",
      { class: "study-panel", "data-testid": "study-panel", hidden: true },
      h("div", { class: "field" }, h("label", { for: "study-name" }, "Study name"), this.nameInput),
      h(
        "p",
        { class: "help" },
        "Type several values, comma-separated, beside any field to vary it (an axis). ",
        "Every combination of the axes runs once per seed; " +
          "a field that does not apply to a combination's method is not varied for it.",
      ),
      this.gridSize,
    );
    this.toggle = this.createToggle();
    form.summary.after(this.toggle, this.panel);
    form.seedsRow.control.addEventListener("input", () => this.update());
    for (const name of CONTROLLERS) form.rows.get(name)?.control.addEventListener("change", () => this.update());
    const wanted = new URLSearchParams(location.hash.split("?")[1] || "").get("mode") === "study";
    if (wanted) this.setActive(true);
  }

  createToggle() {
    const option = (value, label, checked) => h("label", { class: "mode-option" },
      h("input", { type: "radio", name: "form-mode", value, checked, "data-testid": `mode-${value}`,
        onChange: () => this.setActive(value === "study") }), label);
    return h("fieldset", { class: "mode-toggle", "data-testid": "mode-toggle" },
      h("legend", { class: "visually-hidden" }, "What to start"),
      option("run", "One run", true), option("study", "Study: a grid of runs over seeds", false));
  }

  addAxisInput({ field, row, control }) {
    const example = field.kind === "enum" ? field.options.slice(0, 2).join(", ")
      : field.kind === "boolean" ? "true, false" : field.kind === "string" ? "a, b" : "0.1, 0.5, 1";
    const input = h("input", { type: "text", class: "axis-input", id: `axis-${field.name}`, autocomplete: "off",
      "data-testid": `axis-${field.name}`, placeholder: `vary: ${example}`, title: "Values to try, comma-separated",
      "aria-label": `${field.title}: values to try, comma-separated` });
    input.addEventListener("input", () => {
      this.form.clearError(field.name);
      row.classList.toggle("is-axis", input.value.trim() !== "");
      this.update();
    });
    (control.closest(".checkbox-line") || control).after(h("div", { class: "axis-values", hidden: true }, input));
    this.axisInputs.set(field.name, input);
  }

  /** Switch between one run and a study; the URL remembers it (#/new?mode=study). */
  setActive(active) {
    this.active = active;
    this.panel.hidden = !active;
    this.form.element.classList.toggle("study-mode", active);
    for (const input of this.axisInputs.values()) input.parentElement.hidden = !active;
    const radio = this.toggle.querySelector(`input[value=${active ? "study" : "run"}]`);
    if (radio && !radio.checked) radio.checked = true;
    const heading = this.form.element.closest(".narrow")?.querySelector(".page-head h1");
    if (heading) setText(heading, active ? "New study" : "New run");
    const params = new URLSearchParams(location.hash.split("?")[1] || "");
    if (active) params.set("mode", "study");
    else params.delete("mode");
    const search = params.toString();
    history.replaceState(null, "", `#/new${search ? `?${search}` : ""}`);
    this.update();
  }

  /** The axes typed so far, as [field, values] pairs, and the first field whose values do not parse. */
  axes() {
    const axes = [];
    const errors = [];
    for (const [name, input] of this.axisInputs) {
      if (!input.value.trim()) continue;
      const { field } = this.form.rows.get(name);
      const { values, error } = parseAxisValues(field, input.value);
      if (error) errors.push({ loc: ["body", name], msg: error });
      else if (values.length) axes.push([field, values]);
    }
    return { axes, errors };
  }

  /** The seeds typed, or the single seed of the form when none is. */
  seeds() {
    const seeds = this.form.seeds();
    if (seeds && seeds.length) return seeds;
    const seed = this.form.values().seed;
    return [typeof seed === "number" ? seed : 0];
  }

  /** Refresh the grid size, the submit label and which fields show. */
  update() {
    this.refreshVisibility();
    if (!this.active) {
      setText(this.form.submitButton, "Start run");
      return;
    }
    const { axes } = this.axes();
    const cells = countCells(this.form.values(), axes);
    const seeds = this.seeds().length;
    setText(this.gridSize, gridText(cells, seeds));
    setText(this.form.submitButton, `Start study (${cells * seeds} run${cells * seeds === 1 ? "" : "s"})`);
  }

  /** In study mode a field shows when it applies to any value of the method, dataset and optimiser axes. */
  refreshVisibility() {
    this.form.updateVisibility();
    if (!this.active) return;
    const { axes } = this.axes();
    const spec = this.form.values();
    const choices = (name) => axes.find(([field]) => field.name === name)?.[1] ?? [spec[name]];
    for (const { field, row } of this.form.rows.values()) {
      row.hidden = Object.entries(field.appliesTo).some(([controller, allowed]) =>
        !choices(controller).some((value) => value === null || value === undefined || allowed.includes(value)));
    }
    for (const section of this.form.sections) {
      const shown = section.names.filter((name) => !this.form.rows.get(name).row.hidden).length;
      section.element.hidden = shown === 0;
      const count = section.element.querySelector("summary .count");
      if (count) count.textContent = ` (${shown})`;
    }
  }

  /** POST /api/studies; a 422 is shown at the field it names; success opens the study page. */
  async submit(event) {
    event.preventDefault();
    const form = this.form;
    if (!form.element.noValidate && !form.element.reportValidity()) return;
    form.clearErrors();
    const { axes, errors } = this.axes();
    if (!axes.length && !errors.length) // a bad axis is named where it is; "at least one" would contradict it
      errors.push({
        loc: ["body"],
        msg:
          "A study varies at least one field: type its values, comma-separated, beside it " +
          "(e.g. method: simclr, supervised).",
      });
    if (errors.length) {
      form.showErrors(new ApiError(422, errors));
      return;
    }
    const base = form.values();
    const body = {
      name: this.nameInput.value.trim() || defaultName(base, axes),
      base,
      axes: Object.fromEntries(axes.map(([field, values]) => [field.name, values])),
      seeds: this.seeds(),
    };
    form.submitButton.disabled = true;
    setText(form.submitButton, "Starting…");
    try {
      const study = await studyApi.create(body);
      location.hash = `#/studies/${study.id}`;
    } catch (err) {
      form.showErrors(
        err instanceof ApiError ? new ApiError(err.status, placeErrors(err.validationErrors, form)) : err,
      );
    } finally {
      form.submitButton.disabled = false;
      this.update();
    }
  }
}

/** "method × optimizer on digits" when the user named nothing. */
function defaultName(base, axes) {
  const varied = axes.map(([field]) => field.name).join(" × ");
  return `${varied || "seeds"} on ${base.dataset || "?"}`.slice(0, 120);
}

/**
 * Rewrite a study's 422 locations (`["body", "base", "lr"]`, `["body", "axes", "lr", 1]`, `["body", "seeds"]`,
 * or a cell's `["body", "cells", "<key>", "lr"]`) to the `["body", field]` the RunForm places at its rows,
 * keeping the cell in the message so the user knows which combination failed.
 */
export function placeErrors(errors, form) {
  return errors.map((item) => {
    const loc = (item.loc || []).filter((part) => part !== "body");
    if (!loc.length) return { ...item, loc: ["body"] }; // the study as a whole (too many runs): the summary says it
    const field = loc.find((part) => form.rows.has(String(part)) || part === "seeds");
    const cell = loc[0] === "cells" && typeof loc[1] === "string" ? loc[1] : null;
    const msg = cell ? `In cell ${cell}: ${item.msg}` : item.msg;
    if (field !== undefined && !(loc[0] === "name" && loc.length === 1))
      return { ...item, loc: ["body", String(field)], msg };
    return { ...item, loc: ["body", loc[0] === "name" ? "study name" : loc.join(".")], msg };
  });
}
