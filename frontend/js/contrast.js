// Colour arithmetic for text drawn on coloured cells: WCAG 2 relative luminance and contrast ratio.

const probe = document.createElement("canvas").getContext("2d");

/** [r, g, b] (0–255) of any CSS colour the canvas understands ("#2f62d0", "rgb(…)", "white"). */
export function parseColor(css) {
  probe.fillStyle = "#000";
  probe.fillStyle = css;
  const value = probe.fillStyle; // normalised: "#rrggbb", or "rgba(r, g, b, a)" when translucent
  if (value.startsWith("#")) return [1, 3, 5].map((i) => parseInt(value.slice(i, i + 2), 16));
  return value.match(/[\d.]+/g).slice(0, 3).map(Number);
}

export const toCss = ([r, g, b]) => `rgb(${Math.round(r)}, ${Math.round(g)}, ${Math.round(b)})`;

/** The colour `t` of the way from `a` to `b` (t in 0..1), per channel in sRGB, as Plotly's colour scales blend. */
export const mix = (a, b, t) => a.map((channel, i) => channel + (b[i] - channel) * t);

/** WCAG 2 relative luminance of an [r, g, b] colour. */
export function luminance(rgb) {
  const [r, g, b] = rgb.map((channel) => {
    const c = channel / 255;
    return c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
  });
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
}

/** WCAG 2 contrast ratio of two [r, g, b] colours, 1 to 21. */
export function contrastRatio(a, b) {
  const [light, dark] = [luminance(a), luminance(b)].sort((x, y) => y - x);
  return (light + 0.05) / (dark + 0.05);
}

/** AA for normal-size text. */
export const AA = 4.5;

/**
 * The text colour for a background: the one of `candidates` (e.g. the theme's text and surface colours) with the
 * highest contrast, or black or white when none of them reaches AA (black or white always reaches 4.58).
 */
export function readableOn(background, candidates) {
  const pick = (colors) => colors.reduce((best, color) =>
    (contrastRatio(color, background) > contrastRatio(best, background) ? color : best));
  const best = pick(candidates);
  return contrastRatio(best, background) >= AA ? best : pick([[0, 0, 0], [255, 255, 255]]);
}
