// Pure helpers of the compare view: smoothing, seed-group bands, best values (spec differences: compare_tables.js).

/** 20 colours, one per run, the same in every chart and table (Tableau 10, then its light companions). */
export const RUN_COLORS = [
  "#4e79a7", "#f28e2b", "#e15759", "#59a14f", "#76b7b2", "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#8c8c8c",
  "#1f3f73", "#b3590d", "#8f1d22", "#2e6b28", "#3b8a84", "#a38711", "#74457a", "#d45f73", "#6b4b36", "#4f4f4f",
];

/**
 * TensorBoard's debiased exponential moving average: `weight` 0 is the raw curve, 0.99 very smooth.
 * Gaps (null) are kept as gaps and do not reset the average.
 */
export function ema(ys, weight) {
  if (!(weight > 0)) return ys.slice();
  const out = new Array(ys.length);
  let last = 0;
  let steps = 0;
  for (let i = 0; i < ys.length; i++) {
    const y = ys[i];
    if (y === null || !Number.isFinite(y)) {
      out[i] = null;
      continue;
    }
    last = last * weight + (1 - weight) * y;
    steps += 1;
    out[i] = last / (1 - weight ** steps);
  }
  return out;
}

/** Linear interpolation of a series (x ascending) at `x`; null outside its range or across a gap. */
function valueAt(xs, ys, x) {
  if (!xs.length || x < xs[0] || x > xs[xs.length - 1]) return null;
  let lo = 0;
  let hi = xs.length - 1;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (xs[mid] <= x) lo = mid;
    else hi = mid;
  }
  const [y0, y1] = [ys[lo], ys[hi]];
  if (y0 === null || y1 === null) return null;
  if (xs[hi] === xs[lo]) return y0;
  return y0 + ((y1 - y0) * (x - xs[lo])) / (xs[hi] - xs[lo]);
}

/**
 * Mean and standard deviation of several series on a shared grid of `points` x values
 * (where at least two series have data; one series gives its own values and a zero band).
 * @param {{x: number[], y: (number|null)[]}[]} series
 */
export function meanStd(series, points = 300) {
  const usable = series.filter((s) => s && s.x.length);
  if (!usable.length) return { x: [], mean: [], lower: [], upper: [] };
  const start = Math.min(...usable.map((s) => s.x[0]));
  const end = Math.max(...usable.map((s) => s.x[s.x.length - 1]));
  const n = end > start ? points : 1;
  const out = { x: [], mean: [], lower: [], upper: [] };
  for (let i = 0; i < n; i++) {
    const x = n === 1 ? start : start + ((end - start) * i) / (n - 1);
    const values = usable.map((s) => valueAt(s.x, s.y, x)).filter((v) => v !== null);
    if (!values.length) continue;
    const mean = values.reduce((a, b) => a + b, 0) / values.length;
    const variance = values.length > 1 ? values.reduce((a, v) => a + (v - mean) ** 2, 0) / (values.length - 1) : 0;
    const std = Math.sqrt(variance);
    out.x.push(x);
    out.mean.push(mean);
    out.lower.push(mean - std);
    out.upper.push(mean + std);
  }
  return out;
}

/** Mean and sample standard deviation of the finite numbers given; null when there are none. */
export function summarize(values) {
  const finite = values.filter((v) => typeof v === "number" && Number.isFinite(v));
  if (!finite.length) return null;
  const mean = finite.reduce((a, b) => a + b, 0) / finite.length;
  const std = finite.length > 1 ? Math.sqrt(finite.reduce((a, v) => a + (v - mean) ** 2, 0) / (finite.length - 1)) : 0;
  return { mean, std, n: finite.length };
}

/** Index of the best value (highest, or lowest when `lowerIsBetter`); -1 when none is a number. */
export function bestIndex(values, lowerIsBetter = false) {
  let best = -1;
  values.forEach((value, i) => {
    if (typeof value !== "number" || !Number.isFinite(value)) return;
    if (best < 0 || (lowerIsBetter ? value < values[best] : value > values[best])) best = i;
  });
  return best;
}

/**
 * What the charts draw: seed groups with two or more selected runs become one entity (mean ± std),
 * every other run is its own. Each run keeps its colour; a group takes its first run's.
 * @returns {{key: string, label: string, color: string, runs: object[], group: boolean}[]}
 */
export function chartEntities(runs, colorOf, aggregate) {
  return bySeedGroup(runs, aggregate).map((members) => {
    const run = members[0];
    if (members.length > 1) {
      const name = run.name || `group #${run.group_id}`;
      return {
        key: `g${run.group_id}`,
        label: `${name} (${members.length} seeds, mean ± std)`,
        color: colorOf(run.id),
        runs: members,
        group: true,
      };
    }
    return {
      key: `r${run.id}`,
      label: `${run.name || "Run"} #${run.id}`,
      color: colorOf(run.id),
      runs: [run],
      group: false,
    };
  });
}

/** The runs by seed group, in the order each group's first run comes: [[run], [seed, seed, …], …]. A run
 * outside a group, or every run when `fold` is false, is a group of its own. */
export function bySeedGroup(runs, fold = true) {
  const groups = new Map();
  for (const run of runs) {
    const key = fold && run.group_id ? `g${run.group_id}` : `r${run.id}`;
    if (!groups.has(key)) groups.set(key, []);
    groups.get(key).push(run);
  }
  return [...groups.values()];
}

/** A seed group's name: its runs' name without the seed ("losses · method=supcon · seed 2" → "losses ·
 * method=supcon"), the part they share when they differ, else "Group #id". */
export function groupName(members, groupId) {
  const bare = members.map((run) => (run.name || "").replace(/\s*[·-]?\s*seed\s*\d+\s*$/i, "").trim());
  let shared = bare[0] || "";
  for (const name of bare.slice(1)) {
    let i = 0;
    while (i < shared.length && i < name.length && shared[i] === name[i]) i += 1;
    shared = shared.slice(0, i);
  }
  shared = shared.replace(/[\s·,=-]+$/, "").trim();
  return shared || `Group #${groupId}`;
}
