// Numbers, sizes, durations and dates for display (dates in the viewer's local time zone).

export const DASH = "—";

const isNumber = (v) => typeof v === "number" && Number.isFinite(v);

/** An accuracy in [0, 1] as a percentage: 0.9342 -> "93.4 %". */
export function formatPercent(value, digits = 1) {
  return isNumber(value) ? `${(value * 100).toFixed(digits)} %` : DASH;
}

/** A general number with a sensible number of significant digits. */
export function formatNumber(value, digits = 4) {
  if (!isNumber(value)) return DASH;
  if (Number.isInteger(value)) return value.toLocaleString();
  const abs = Math.abs(value);
  if (abs !== 0 && (abs < 1e-3 || abs >= 1e6)) return value.toExponential(2);
  return Number(value.toPrecision(digits)).toString();
}

/** A small or large number in short scientific notation: 0.001 -> "1e-3", 0.00099 -> "9.9e-4". */
export function formatScientific(value) {
  if (!isNumber(value)) return DASH;
  if (value === 0) return "0";
  const [mantissa, exponent] = value.toExponential(1).split("e");
  return `${mantissa.replace(/\.0$/, "")}e${Number(exponent)}`;
}

/** A count, rounded, with the locale's thousands separators: 12345.2 -> "12,345". */
export function formatInteger(value) {
  return isNumber(value) ? Math.round(value).toLocaleString() : DASH;
}

/** A byte count: 1536 -> "1.5 KiB". */
export function formatBytes(size) {
  if (!isNumber(size)) return DASH;
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let value = size;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`;
}

/** Seconds as "1 h 02 m", "3 m 07 s" or "12.3 s". */
export function formatDuration(seconds) {
  if (!isNumber(seconds) || seconds < 0) return DASH;
  if (seconds < 60) return `${seconds.toFixed(seconds < 10 ? 1 : 0)} s`;
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const pad = (n) => String(n).padStart(2, "0");
  return h > 0 ? `${h} h ${pad(m)} m` : `${m} m ${pad(s % 60)} s`;
}

const dateTime = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
const timeOnly = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit", second: "2-digit" });

/** Parse an ISO-8601 string; null for missing or invalid input. */
/** "3, 1,x,3" -> [3, 1]: the positive integer ids of a URL list, each once, in order. */
export function parseIds(text) {
  return [
    ...new Set(
      (text || "")
        .split(",")
        .map((part) => Number(part.trim()))
        .filter((n) => Number.isInteger(n) && n > 0),
    ),
  ];
}

export function parseDate(iso) {
  if (!iso) return null;
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? null : date;
}

/** An ISO timestamp as local date and time: "25 Nov 2025, 21:36". */
export function formatDateTime(iso) {
  const date = parseDate(iso);
  return date ? dateTime.format(date) : DASH;
}

const thisYear = new Intl.DateTimeFormat(undefined, {
  month: "short",
  day: "numeric",
  hour: "numeric",
  minute: "2-digit",
});

/** Compact for tables: "Nov 25, 9:36 PM" this year, the full date and time otherwise. */
export function formatShortDateTime(iso) {
  const date = parseDate(iso);
  if (!date) return DASH;
  return date.getFullYear() === new Date().getFullYear() ? thisYear.format(date) : dateTime.format(date);
}

/** An ISO timestamp as local wall-clock time: "21:36:05". */
export function formatTime(iso) {
  const date = parseDate(iso);
  return date ? timeOnly.format(date) : DASH;
}

/** Seconds between two ISO timestamps (the second defaults to now). */
export function secondsBetween(startIso, endIso) {
  const start = parseDate(startIso);
  if (!start) return null;
  const end = parseDate(endIso) || new Date();
  return Math.max(0, (end.getTime() - start.getTime()) / 1000);
}

/** A spec value for tables: booleans as yes/no, null as a dash. */
export function formatValue(value) {
  if (value === null || value === undefined || value === "") return DASH;
  if (typeof value === "boolean") return value ? "yes" : "no";
  if (typeof value === "number") return formatNumber(value, 6);
  return String(value);
}

/** Decimals that show a spread to one significant digit, two when it starts with a 1 (0.14, not 0.1). */
function decimalsFor(spread) {
  const rounded = Number(spread.toExponential(1)); // two significant digits, so that 0.096 counts as 0.1
  const exponent = Math.floor(Math.log10(rounded));
  return (rounded.toExponential(1)[0] === "1" ? 1 : 0) - exponent;
}

// [scale, unit said once at the end, fewest decimals a mean shows (0: any)] per display format.
const SPREAD_UNITS = { percent: [100, " %", 1], duration: [1, " s", 0], integer: [1, "", 0] };
const MAX_DECIMALS = 6;

/**
 * Mean ± spread in one unit, said once, to the precision the spread carries: "97.3 ± 0.4 %", "0.284 ± 0.004",
 * "187 ± 12 s"; a zero spread is "± 0". The CLI's rule (contrastlab/client/formats.py format_mean_spread).
 */
export function formatMeanSpread(kind, mean, spread) {
  if (!isNumber(mean)) return DASH;
  const [scale, unit, least] = SPREAD_UNITS[kind] || [1, "", 0];
  const fewest = kind === "duration" && Math.abs(mean * scale) < 10 ? 1 : least; // as one duration: "8.3 s"
  const [m, s] = [mean * scale, Math.abs(spread) * scale];
  if (s === 0) return kind in SPREAD_UNITS ? `${m.toFixed(fewest)} ± 0${unit}` : `${formatNumber(m)} ± 0${unit}`;
  const decimals = Math.min(fewest ? Math.max(decimalsFor(s), fewest) : decimalsFor(s), MAX_DECIMALS);
  if (decimals < 0) { // a spread of hundreds: both rounded to its tens or hundreds
    const step = 10 ** -decimals;
    return `${(Math.round(m / step) * step).toFixed(0)} ± ${(Math.round(s / step) * step).toFixed(0)}${unit}`;
  }
  return `${m.toFixed(decimals)} ± ${s.toFixed(decimals)}${unit}`;
}
