// Builds plotly.js with only the trace types the pages draw, as plotly.js builds its own partial bundles
// (its esbuild-config.js: the same plugins, aliases and defines). Run by `make plotly-bundle`; node only.
// A page that draws a new trace type needs it added to TRACES (tests/unit/test_plotly_bundle.py checks).
"use strict";

const fs = require("fs");
const path = require("path");
const esbuild = require("esbuild");
const { environmentPlugin } = require("esbuild-plugin-environment");
const { glsl } = require("esbuild-plugin-glsl");
const InlineCSSPlugin = require("esbuild-plugin-inline-css");

const TRACES = ["scatter", "scattergl", "heatmap", "parcoords"];
const outfile = path.resolve(process.argv[2] || "build/plotly.min.js");
const entry = path.join(__dirname, "build", "entry.js");

fs.mkdirSync(path.dirname(entry), { recursive: true });
fs.writeFileSync(entry, [
  'var Plotly = require("plotly.js/lib/core");',
  `Plotly.register([${TRACES.map((name) => `require("plotly.js/lib/${name}")`).join(", ")}]);`,
  "module.exports = Plotly;", ""].join("\n"));

esbuild.build({
  entryPoints: [entry], outfile, format: "iife", globalName: "Plotly", bundle: true, minify: true,
  nodePaths: [path.join(__dirname, "node_modules")],
  plugins: [InlineCSSPlugin(), glsl({ minify: true }), environmentPlugin({ NODE_DEBUG: false })],
  alias: { regl: "@plotly/regl", stream: "stream-browserify" },
  define: { global: "window", "define.amd": "false" },
  target: "es2016", logLevel: "warning",
}).then(() => console.log(`${outfile}: plotly.js with ${TRACES.join(", ")}`), () => process.exit(1));
