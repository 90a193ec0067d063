// Build form controls from a JSON Schema (pydantic v2 style), so a new RunSpec option
// appears in the form without touching the page.

import { h } from "./dom.js";
import { catalog, choiceGroup, choiceLabel } from "./catalog.js";

/**
 * @typedef {object} FieldSpec
 * @property {string} name
 * @property {string} title
 * @property {"enum"|"boolean"|"integer"|"number"|"string"} kind
 * @property {boolean} nullable
 * @property {unknown[]} [options] enum values
 * @property {unknown} default
 * @property {string} description
 * @property {string} group
 * @property {Object<string, string[]>} appliesTo choices of other fields it applies to, e.g. {method: ["simclr"]}
 * @property {object} bounds minimum/maximum/exclusiveMinimum/exclusiveMaximum/maxLength/minLength
 */

const BOUND_KEYS = ["minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "maxLength", "minLength"];

function resolveRef(schema, node) {
  let current = node;
  for (let i = 0; i < 10 && current && current.$ref; i++) {
    const path = current.$ref.replace(/^#\//, "").split("/");
    const target = path.reduce((obj, key) => (obj ? obj[key] : undefined), schema);
    current = { ...target, ...current, $ref: undefined };
  }
  // pydantic sometimes wraps a $ref in allOf to attach a default or description.
  if (current && Array.isArray(current.allOf) && current.allOf.length === 1) {
    current = { ...resolveRef(schema, current.allOf[0]), ...current, allOf: undefined };
  }
  return current;
}

/** Words that pydantic's auto-titles spell badly ("Lr", "Knn K"). */
const TITLE_WORDS = { Lr: "Learning rate", Knn: "k-NN", Tsne: "t-SNE", Prob: "probability"};

const humanize = (name) => name.replace(/_/g, " ").replace(/^./, (c) => c.toUpperCase());
/** Sentence case, with the known acronyms spelled out: "Batch Size" -> "Batch size", "Knn K" -> "k-NN k". */
const polishTitle = (title) =>
  title.split(" ").map((word, i) => TITLE_WORDS[word] ?? (i === 0 ? word : word.toLowerCase())).join(" ");

/** Turn a schema property into a flat FieldSpec. */
function describeField(schema, name, prop) {
  let node = resolveRef(schema, prop);
  let nullable = false;
  const variants = node.anyOf || node.oneOf;
  if (Array.isArray(variants)) {
    const nonNull = variants.filter((v) => v.type !== "null");
    nullable = nonNull.length < variants.length;
    node = { ...resolveRef(schema, nonNull[0] || {}), ...node, anyOf: undefined, oneOf: undefined };
  }
  let kind = node.type;
  if (Array.isArray(node.enum)) kind = "enum";
  else if (!["boolean", "integer", "number", "string"].includes(kind)) kind = "string";
  const bounds = {};
  for (const key of BOUND_KEYS) if (typeof node[key] === "number") bounds[key] = node[key];
  return {
    name,
    title: polishTitle(prop.title || (node.title && kind !== "enum" ? node.title : humanize(name))),
    kind,
    nullable,
    options: node.enum,
    default: "default" in prop ? prop.default : null,
    description: prop.description || node.description || "",
    group: prop.group || node.group || "other",
    appliesTo: appliesTo(prop),
    bounds,
  };
}

/** The spec tags a field's schema with the choices it applies to: `methods`, `datasets`, `optimizers`, `schedules`. */
const APPLIES_TAGS = { methods: "method", datasets: "dataset", optimizers: "optimizer", schedules: "schedule" };

/** The fields whose choice decides whether others apply (the form re-checks visibility when they change). */
export const APPLIES_CONTROLLERS = Object.values(APPLIES_TAGS);

/** The choices of other fields a field applies to, from its schema tags: {method: ["simclr", "supcon"]}. */
export function appliesTo(prop) {
  const conditions = {};
  for (const [tag, controller] of Object.entries(APPLIES_TAGS)) {
    if (Array.isArray(prop[tag])) conditions[controller] = prop[tag];
  }
  return conditions;
}

/** Whether a spec field's schema property applies to a whole spec (e.g. `margin` only to margin losses). */
export function appliesToSpec(prop, spec) {
  return Object.entries(appliesTo(prop || {})).every(
    ([controller, choices]) => !(controller in spec) || choices.includes(spec[controller]),
  );
}

/** All fields of a schema, in the schema's property order. */
export function fieldsFromSchema(schema) {
  return Object.entries(schema.properties || {}).map(([name, prop]) => describeField(schema, name, prop));
}

/** "1 to 10,000", "> 0 and ≤ 100", "at most 120 characters": the bounds in words, for help text. */
export function describeBounds({ bounds, kind }) {
  if (kind === "string") return bounds.maxLength ? `At most ${bounds.maxLength} characters.` : "";
  const fmt = (n) => n.toLocaleString(undefined, { maximumFractionDigits: 6 });
  const lower = "exclusiveMinimum" in bounds ? `> ${fmt(bounds.exclusiveMinimum)}`
    : "minimum" in bounds ? `≥ ${fmt(bounds.minimum)}` : "";
  const upper = "exclusiveMaximum" in bounds ? `< ${fmt(bounds.exclusiveMaximum)}`
    : "maximum" in bounds ? `≤ ${fmt(bounds.maximum)}` : "";
  if (!lower && !upper) return "";
  return `Range: ${[lower, upper].filter(Boolean).join(" and ")}.`;
}

/** The control for one field: <select>, checkbox, number or text input. */
export function createControl(field, describedBy) {
  const common = {
    id: `field-${field.name}`,
    name: field.name,
    "aria-describedby": describedBy,
    "data-testid": `field-${field.name}`,
  };
  if (field.kind === "enum") {
    // Choices the catalogue describes (methods, datasets) read as its labels; the spec's name is the tooltip.
    const options = field.options.map((value, index) =>
      h("option", { value: String(index), title: String(value) }, choiceLabel(field.name, value)),
    );
    // Methods sit under their family (contrastive, self-distillation, ...), in the catalogue's order.
    const groups = new Map();
    field.options.forEach((value, index) => {
      const group = choiceGroup(field.name, value);
      if (group) groups.set(group, [...(groups.get(group) || []), options[index]]);
    });
    const order = Object.values(catalog().families || {});
    const sorted = [...groups].sort(([a], [b]) => order.indexOf(a) - order.indexOf(b));
    const children = groups.size > 1 ? sorted.map(([label, items]) => h("optgroup", { label }, items)) : options;
    if (field.nullable) children.unshift(h("option", { value: "" }, "(none)"));
    return h("select", common, children);
  }
  if (field.kind === "boolean") return h("input", { ...common, type: "checkbox" });
  if (field.kind === "integer" || field.kind === "number") {
    const b = field.bounds;
    const input = h("input", {
      ...common,
      type: "number",
      inputmode: field.kind === "integer" ? "numeric" : "decimal",
      step: field.kind === "integer" ? "1" : "any",
      min: b.minimum ?? b.exclusiveMinimum,
      max: b.maximum ?? b.exclusiveMaximum,
      required: !field.nullable,
      placeholder: field.nullable ? "empty: none" : null,
    });
    input.addEventListener("input", () => checkExclusiveBounds(input, field));
    return input;
  }
  return h("input", { ...common, type: "text", maxlength: field.bounds.maxLength, autocomplete: "off" });
}

// Browsers only know inclusive min/max; exclusive bounds get a custom validity message.
function checkExclusiveBounds(input, field) {
  const value = input.valueAsNumber;
  const b = field.bounds;
  let message = "";
  if (!Number.isNaN(value)) {
    if ("exclusiveMinimum" in b && value <= b.exclusiveMinimum) message = `Must be greater than ${b.exclusiveMinimum}.`;
    if ("exclusiveMaximum" in b && value >= b.exclusiveMaximum) message = `Must be less than ${b.exclusiveMaximum}.`;
  }
  input.setCustomValidity(message);
}

/** Put a value into a control made by createControl. */
export function setControlValue(control, field, value) {
  if (field.kind === "boolean") control.checked = Boolean(value);
  else if (field.kind === "enum") {
    const index = field.options.findIndex((option) => option === value);
    control.value = index >= 0 ? String(index) : field.nullable ? "" : "0";
  } else control.value = value === null || value === undefined ? "" : String(value);
  if (field.kind === "integer" || field.kind === "number") checkExclusiveBounds(control, field);
}

/**
 * Read a control's value as JSON. Empty number inputs give null; a number the browser
 * could not parse is sent as typed, so the server's message explains what is wrong.
 */
export function readControlValue(control, field) {
  if (field.kind === "boolean") return control.checked;
  if (field.kind === "enum") return control.value === "" ? null : field.options[Number(control.value)];
  if (field.kind === "integer" || field.kind === "number") {
    if (control.value === "") return control.validity && control.validity.badInput ? "" : null;
    const number = Number(control.value);
    return Number.isNaN(number) ? control.value : number;
  }
  return control.value;
}
