// New-run form, built from GET /api/schema/run-spec. `#/new?from=<id>` starts from a run's spec.

import { api, ApiError } from "../api.js";
import { h, replaceChildren } from "../dom.js";
import {
  APPLIES_CONTROLLERS,
  fieldsFromSchema,
  createControl,
  setControlValue,
  readControlValue,
  describeBounds,
} from "../schema_form.js";
import { StudyMode } from "../study_form.js";
import { AugmentPreview } from "../augment_preview.js";

/** Shown first, in this order; every other field goes into its group's collapsible section. */
const COMMON_FIELDS = ["method", "dataset", "encoder", "epochs", "batch_size", "lr", "temperature", "seed", "name"];

const GROUPS = [
  ["run", "Run"], ["method", "Method"], ["data", "Data"], ["model", "Model"],
  ["optimisation", "Optimisation"], ["augmentation", "Augmentation"], ["evaluation", "Evaluation"],
];

/** Mount the form; returns a cleanup that ignores late responses. */
export function mount(root, { query }) {
  document.title = "New run · ContrastLab";
  let alive = true;
  const body = h("div", {}, h("p", { class: "muted" }, "Loading the run options…"));
  root.append(h("div", { class: "narrow" },
    h("div", { class: "page-head" }, h("h1", {}, "New run"), h("a", { class: "button", href: "#/" }, "Cancel")),
    body));

  let form = null;
  const fromId = query.get("from");
  Promise.all([api.runSpecSchema(), fromId ? api.getRun(fromId).catch(() => null) : null])
    .then(([schema, source]) => {
      if (!alive) return;
      form = new RunForm(schema, source ? { ...source.spec, name: cloneName(source, schema) } : null);
      const note = source
        ? h("p", { class: "notice" }, `Starting from the settings of run #${source.id} (${source.name || "unnamed"}).`)
        : "";
      body.replaceChildren(note, form.element);
      form.focusFirst();
    })
    .catch((err) => {
      if (!alive) return;
      body.replaceChildren(
        h("p", { class: "notice notice-error", role: "alert" }, `Could not load the run options: ${err.message}`),
      );
    });

  return () => {
    alive = false;
    if (form) form.preview.close();
  };
}

/** A clone's own name: "lr sweep" -> "lr sweep (copy)", "lr sweep (copy)" -> "lr sweep (copy 2)"; an unnamed
 * run's -> "copy of run #12"; cut to the spec's length limit. */
export function cloneName(run, schema) {
  const max = schema?.properties?.name?.maxLength || 120;
  const name = (run.name || "").trim();
  if (!name) return `copy of run #${run.id}`.slice(0, max);
  const match = /^(.*) \(copy(?: (\d+))?\)$/.exec(name);
  const [base, suffix] = match ? [match[1], ` (copy ${Number(match[2] || 1) + 1})`] : [name, " (copy)"];
  return base.slice(0, max - suffix.length) + suffix;
}

/** The form: one row per field, visibility by method, inline server errors. */
class RunForm {
  constructor(schema, initialValues) {
    this.fields = fieldsFromSchema(schema);
    this.rows = new Map(); // name -> {field, row, control, error}
    this.summary = h("div", {
      class: "notice notice-error form-errors",
      role: "alert",
      "data-testid": "form-errors",
      hidden: true,
    });
    // The run is accepted but cannot start now (no connected worker offers its devices): said here, not hidden
    // behind the run page.
    this.warnings = h("div", { class: "notice", role: "status", "data-testid": "submit-warnings", hidden: true });
    this.submitButton = h(
      "button",
      { type: "submit", class: "button primary", "data-testid": "submit-run" },
      "Start run",
    );
    for (const field of this.fields) this.rows.set(field.name, this.createRow(field));
    this.seedsRow = this.createSeedsRow();

    const common = COMMON_FIELDS.filter((name) => this.rows.has(name));
    const rest = this.fields.filter((f) => !common.includes(f.name));
    // Beside the augmentation fields: the views training would draw, redrawn as those fields change.
    this.preview = new AugmentPreview(() => this.values(),
      rest.filter((f) => f.group === "augmentation").map((f) => f.name));
    const knownGroups = GROUPS.map(([key]) => key);
    const groups = [
      ...GROUPS,
      ...[...new Set(rest.map((f) => f.group))].filter((g) => !knownGroups.includes(g)).map((g) => [g, g]),
    ];
    this.sections = groups
      .map(([key, label]) => ({ key, label, names: rest.filter((f) => f.group === key).map((f) => f.name) }))
      .filter((section) => section.names.length > 0)
      .map((section) => ({ ...section, element: this.createSection(section) }));

    this.element = h(
      "form",
      { class: "run-form", "data-testid": "run-form", onSubmit: (e) => this.submit(e) },
      this.summary,
      h(
        "fieldset",
        { class: "form-grid common" },
        h("legend", {}, "Essentials"),
        common.map((name) => this.rows.get(name).row),
        this.seedsRow.row,
      ),
      this.sections.map((s) => s.element),
      this.warnings,
      h(
        "div",
        { class: "form-actions" },
        this.submitButton,
        h("button", { type: "button", class: "button", onClick: () => this.reset() }, "Reset to defaults"),
      ),
    );

    this.applyValues(initialValues || {});
    for (const controller of APPLIES_CONTROLLERS) {
      const row = this.rows.get(controller);
      if (row) row.control.addEventListener("change", () => this.updateVisibility());
    }
    this.updateVisibility();
    const redraw = (event) => {
      const row = event.target.closest && event.target.closest("[data-field]");
      if (row && this.previewShown()) this.preview.changed(row.dataset.field);
    };
    this.element.addEventListener("input", redraw);
    this.element.addEventListener("change", redraw);
    this.study = new StudyMode(this); // "Study" mode: axes of values × seeds, POST /api/studies
  }

  createRow(field) {
    const helpId = `help-${field.name}`;
    const errorId = `error-${field.name}`;
    const control = createControl(field, `${helpId} ${errorId}`);
    const help = [field.description, describeBounds(field)].filter(Boolean).join(" ");
    const label = h("label", { for: control.id }, field.title);
    const error = h("p", { class: "field-error", id: errorId, "data-testid": `error-${field.name}`, hidden: true });
    const row = h("div", { class: `field field-${field.kind}`, "data-field": field.name },
      field.kind === "boolean" ? h("div", { class: "checkbox-line" }, control, label) : [label, control],
      h("p", { class: "help", id: helpId }, help),
      error);
    control.addEventListener("input", () => this.clearError(field.name));
    return { field, row, control, error };
  }

  /** "Seeds": not a RunSpec field; several seeds launch the same spec once per seed, as one group. */
  createSeedsRow() {
    const field = { name: "seeds", title: "Seeds (group)", kind: "string", bounds: {} };
    const control = createControl(field, "help-seeds error-seeds");
    control.placeholder = "e.g. 0, 1, 2";
    const error = h("p", { class: "field-error", id: "error-seeds", "data-testid": "error-seeds", hidden: true });
    const row = h(
      "div",
      { class: "field field-string", "data-field": "seeds" },
      h("label", { for: control.id }, field.title),
      control,
      h(
        "p",
        { class: "help", id: "help-seeds" },
        "Several seeds launch this spec once per seed as one group, compared as mean ± std. " +
          "Empty: one run with the seed above.",
      ),
      error,
    );
    const entry = { field, row, control, error };
    control.addEventListener("input", () => this.clearError("seeds"));
    return entry;
  }

  /** The seeds typed, as numbers; null when the field is empty (a single run). */
  seeds() {
    const text = this.seedsRow.control.value.trim();
    if (!text) return null;
    return text.split(/[\s,;]+/).filter(Boolean).map((part) => (/^\d+$/.test(part) ? Number(part) : part));
  }

  createSection({ key, label, names }) {
    const grid = h("div", { class: "form-grid" }, names.map((name) => this.rows.get(name).row));
    const details = h("details", { class: "form-section", "data-group": key },
      h("summary", {}, label, h("span", { class: "muted count" }, ` (${names.length})`)),
      key === "augmentation" ? h("div", { class: "augment-layout" }, grid, this.preview.element) : grid);
    // The preview is drawn (by a worker) only while its section is open.
    if (key === "augmentation") details.addEventListener("toggle", () => details.open && this.preview.changed());
    return details;
  }

  previewShown() {
    const section = this.sections && this.sections.find((s) => s.key === "augmentation");
    return Boolean(section && section.element.open && !section.element.hidden);
  }

  applyValues(values) {
    for (const { field, control } of this.rows.values()) {
      setControlValue(control, field, field.name in values ? values[field.name] : field.default);
    }
  }

  reset() {
    this.applyValues({});
    this.clearErrors();
    this.updateVisibility();
    if (this.previewShown()) this.preview.changed();
  }

  /** Focus the first spec field (the method), not the mode toggle above the fields. */
  focusFirst() {
    const first = this.element.querySelector("[data-testid^='field-']") || this.element.querySelector("select, input");
    if (first) first.focus({ preventScroll: true });
  }

  /** Hide fields that do not apply to the chosen method, dataset or optimiser, and sections left empty. */
  updateVisibility() {
    const chosen = (name) => {
      const row = this.rows.get(name);
      return row ? readControlValue(row.control, row.field) : null;
    };
    for (const { field, row } of this.rows.values()) {
      const wasHidden = row.hidden;
      row.hidden = Object.entries(field.appliesTo).some(([controller, choices]) => {
        const value = chosen(controller);
        return value !== null && !choices.includes(value);
      });
      // A field the user's choice just brought in (image_folder's path, SGD's Nesterov) is shown, not folded away.
      const section = row.closest("details");
      if (wasHidden && !row.hidden && section) section.open = true;
    }
    for (const section of this.sections) {
      const shown = section.names.filter((name) => !this.rows.get(name).row.hidden).length;
      section.element.hidden = shown === 0;
      const count = section.element.querySelector("summary .count");
      if (count) count.textContent = ` (${shown})`; // the fields that apply to the current choice
    }
  }

  values() {
    const spec = {};
    for (const { field, control } of this.rows.values()) spec[field.name] = readControlValue(control, field);
    return spec;
  }

  async submit(event) {
    if (this.study.active) return this.study.submit(event);
    event.preventDefault();
    const form = this.element;
    if (!form.noValidate && !form.reportValidity()) return;
    this.clearErrors();
    this.submitButton.disabled = true;
    this.submitButton.textContent = "Starting…";
    try {
      const seeds = this.seeds();
      if (seeds && seeds.length > 1) {
        const group = await api.createGroup(this.values(), seeds);
        this.submitted(`#/?group_id=${group.group_id}`, `the group #${group.group_id}`, group.warnings);
      } else {
        const run = await api.createRun(seeds ? { ...this.values(), seed: seeds[0] } : this.values());
        this.submitted(`#/runs/${run.id}`, `run #${run.id}`, run.warnings);
      }
    } catch (err) {
      this.showErrors(err);
    } finally {
      this.submitButton.disabled = false;
      this.submitButton.textContent = "Start run";
    }
  }

  /** Open the new run's page; or, when the server warned, stay and say so with a link to it. */
  submitted(href, what, warnings) {
    if (!warnings || !warnings.length) {
      location.hash = href;
      return;
    }
    this.warnings.replaceChildren(
      h("strong", {}, `Queued as ${what}, but: `),
      warnings.join(" "),
      " ",
      h("a", { href, "data-testid": "submitted-link" }, `Open ${what}`),
    );
    this.warnings.hidden = false;
    this.warnings.scrollIntoView({ block: "center" });
  }

  clearError(name) {
    const entry = name === "seeds" ? this.seedsRow : this.rows.get(name);
    if (!entry || entry.error.hidden) return;
    entry.error.hidden = true;
    entry.error.textContent = "";
    entry.row.classList.remove("has-error");
    entry.control.removeAttribute("aria-invalid");
  }

  clearErrors() {
    this.warnings.hidden = true;
    for (const name of [...this.rows.keys(), "seeds"]) this.clearError(name);
    this.summary.hidden = true;
    this.summary.replaceChildren();
  }

  /** Put each 422 error next to the field it names; others (and non-422 failures) go to the summary. */
  showErrors(err) {
    const general = [];
    const placed = [];
    const errors = err instanceof ApiError ? err.validationErrors : [];
    for (const item of errors) {
      // A group's errors name `spec.<field>` or `seeds`; a single run's name the field itself.
      const loc = (item.loc || []).filter((part, i) => part !== "body" && !(i === 1 && part === "spec"));
      const entry = loc[0] === "seeds" ? this.seedsRow : this.rows.get(String(loc[0]));
      const message = namingInput(String(item.msg || "Invalid value").replace(/^Value error, /, ""), item.input);
      if (!entry) {
        general.push(loc.length ? `${loc.join(".")}: ${message}` : message);
        continue;
      }
      entry.error.textContent = entry.error.textContent ? `${entry.error.textContent} ${message}` : message;
      entry.error.hidden = false;
      entry.row.classList.add("has-error");
      entry.control.setAttribute("aria-invalid", "true");
      entry.row.hidden = false;
      const section = entry.row.closest("details");
      if (section) {
        section.hidden = false;
        section.open = true;
      }
      placed.push(entry);
    }
    if (errors.length === 0) general.push(err.message || String(err));
    const heading = placed.length
      ? `Please correct ${placed.length === 1 ? "the field" : `${placed.length} fields`} marked below.`
      : `The ${this.study && this.study.active ? "study" : "run"} could not be started.`;
    replaceChildren(this.summary,
      h("strong", {}, heading),
      general.length ? h("ul", {}, general.map((text) => h("li", {}, text))) : null);
    this.summary.hidden = false;
    if (placed.length) placed[0].control.focus();
    else this.summary.scrollIntoView({ block: "nearest" });
  }
}

/** "Input should be a valid integer" says which value when the server echoed it: `… (got “one”)`. */
function namingInput(message, input) {
  const scalar = ["string", "number", "boolean"].includes(typeof input);
  return scalar && !message.includes(String(input)) ? `${message} (got “${input}”)` : message;
}
