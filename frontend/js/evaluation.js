// The linear probe's confusion matrix (artifact evaluation.json), drawn as a heatmap.

import { chartLayout, drawChart } from "./charts.js";

/**
 * Draw `{classes, confusion_matrix}` (rows: true class, columns: predicted). Colour is the share of
 * each true class (so rare classes read as well as common ones); the cell text is the count.
 * @returns {Promise<number>} the accuracy the matrix implies
 */
export async function drawConfusion(div, evaluation) {
  const matrix = evaluation.confusion_matrix || [];
  const classes = (evaluation.classes || matrix.map((_, i) => i)).map(String);
  const shares = matrix.map((row) => {
    const total = row.reduce((a, b) => a + b, 0) || 1;
    return row.map((count) => count / total);
  });
  const correct = matrix.reduce((sum, row, i) => sum + (row[i] || 0), 0);
  const all = matrix.reduce((sum, row) => sum + row.reduce((a, b) => a + b, 0), 0);
  const small = classes.length <= 15;
  const trace = {
    type: "heatmap", x: classes, y: classes, z: shares, text: matrix, zmin: 0, zmax: 1,
    colorscale: [[0, "rgba(78,121,167,0.04)"], [1, "rgb(47,98,208)"]], showscale: false, xgap: 1, ygap: 1,
    texttemplate: small ? "%{text}" : "", textfont: { size: 11 },
    hovertemplate: "true %{y} → predicted %{x}<br>%{text} images (%{z:.1%} of %{y})<extra></extra>",
  };
  await drawChart(div, [trace], chartLayout({
    xTitle: "predicted", yTitle: "true class", showlegend: false,
    xaxis: { type: "category", side: "bottom", showgrid: false },
    yaxis: { type: "category", autorange: "reversed", showgrid: false, scaleanchor: "x" },
    margin: { l: 64, r: 12, t: 12, b: 52 },
  }));
  return all ? correct / all : NaN;
}
