// ESLint flat config for the dashboard's ES modules (frontend/js). `make lint` and
// tests/unit/test_js_lint.py run it. The linter is installed with axe-core by
// `npm ci --prefix tests/browser` (tests/browser/package-lock.json pins both), so its
// packages resolve from there rather than from a node_modules at the repository root.
import { createRequire } from "node:module";

const require = createRequire(new URL("./tests/browser/package.json", import.meta.url));
const js = require("@eslint/js");
const globals = require("globals");

export default [
  { ignores: ["**/node_modules/**", "site/**", ".venv/**"] },
  {
    files: ["frontend/js/**/*.js"],
    languageOptions: {
      ecmaVersion: 2022,
      sourceType: "module",
      globals: { ...globals.browser, Plotly: "readonly" },
    },
    linterOptions: { reportUnusedDisableDirectives: "error" },
    rules: {
      ...js.configs.recommended.rules,
      "max-len": ["error", {
        code: 120,
        ignoreUrls: true,
        ignoreRegExpLiterals: true,
        ignoreStrings: false,
        ignoreTemplateLiterals: false,
      }],
      eqeqeq: ["error", "always", { null: "ignore" }],
      "no-var": "error",
      "prefer-const": "error",
    },
  },
];
