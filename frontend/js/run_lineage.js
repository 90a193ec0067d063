// The run page's lineage line: the seed group or study a run belongs to, with links to its siblings (the same
// spec, other seeds) and to their comparison.

import { api } from "./api.js";
import { h } from "./dom.js";
import { studyApi } from "./study_api.js";

/** The line's contents for `run`, or null when it belongs to no group or study. */
export async function lineageNodes(run, signal) {
  if (!run.group_id && !run.study_id) return null;
  let siblings;
  let intro;
  if (run.study_id) {
    const study = await studyApi.get(run.study_id, signal);
    const cell = (study.cells || []).find((c) => c.runs.includes(run.id));
    const page = await studyApi.runs(run.study_id, signal);
    siblings = page.items.filter((other) => !cell || cell.runs.includes(other.id));
    intro = [
      "Study ",
      h("a", { href: `#/studies/${study.id}`, "data-testid": "run-study" }, `${study.name || "study"} #${study.id}`),
      cell ? `, cell ${cell.key}` : "",
    ];
  } else {
    const page = await api.listRuns({ group_id: run.group_id, limit: 100, sort: "id", order: "asc" }, signal);
    siblings = page.items;
    intro = [
      "Seed group ",
      h("a", { href: `#/?group_id=${run.group_id}`, "data-testid": "run-group" }, `#${run.group_id}`),
    ];
  }
  const links = siblings.map((other) =>
    h(
      "a",
      {
        href: `#/runs/${other.id}`,
        "data-testid": "sibling",
        "aria-current": other.id === run.id ? "page" : null,
        title: other.name || null,
      },
      `seed ${other.spec.seed} (#${other.id})`,
    ),
  );
  const ids = siblings.map((other) => other.id).join(",");
  return [
    ...intro,
    `: ${siblings.length} seeds · `,
    ...links.flatMap((link, i) => (i ? [", ", link] : [link])),
    ...(siblings.length > 1
      ? [" · ", h("a", { href: `#/compare?runs=${ids}`, "data-testid": "compare-siblings" }, "Compare them")]
      : []),
  ];
}
