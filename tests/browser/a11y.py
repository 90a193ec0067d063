"""Accessibility checks the browser tests run in the page: axe-core (installed by `make browser-deps` from
tests/browser/package-lock.json, injected from disk, never from a CDN) and a walk through the page with Tab.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page

AXE_JS = Path(__file__).with_name("node_modules") / "axe-core" / "axe.min.js"

# Plotly's own markup, which we cannot change: the hover toolbar (icon links without text or href) and the
# drag layers of a plot. Our controls around a chart (legend buttons, Log y, Reset y) are checked.
THIRD_PARTY = [".modebar-container"]

RUN_AXE = """async (exclude) => {
  const result = await axe.run({ exclude: exclude.map((selector) => [selector]) }, { resultTypes: ["violations"] });
  return result.violations.filter((v) => v.impact === "serious" || v.impact === "critical")
    .map((v) => ({ id: v.id, impact: v.impact, help: v.help, targets: v.nodes.map((n) =>
      `${n.target.join(" ")}: ${[...n.any, ...n.all, ...n.none].map((check) => check.message).join("; ")}`) }));
}"""

# Notes every element that gets a click or key listener (the page's own and Plotly's), before any script runs.
LISTENER_SPY = """(() => {
  const clickable = new Set();
  const keyed = new Set();
  const original = EventTarget.prototype.addEventListener;
  EventTarget.prototype.addEventListener = function (type, ...rest) {
    if (this instanceof Element && ["click", "mousedown", "pointerdown", "mouseup"].includes(type)) clickable.add(this);
    if (this instanceof Element && ["keydown", "keyup", "keypress"].includes(type)) keyed.add(this);
    return original.call(this, type, ...rest);
  };
  window.__a11y = { clickable, keyed, tabbed: new Set() };
})();"""

DESCRIBE = """(el) => {
  const name = (el.getAttribute("aria-label") || el.textContent || el.value || el.title || "").trim().slice(0, 40);
  const id = el.dataset.testid ? `[data-testid=${el.dataset.testid}]` : el.id ? `#${el.id}` : "";
  return `<${el.tagName.toLowerCase()}${id}${el.type ? ` type=${el.type}` : ""}> “${name}”`;
}"""

# The element that has focus now, noted as tabbed; its description, whether a focus ring is drawn, and the
# scrolling or clipping box that cuts the ring off, if any (a ring drawn outside a box with overflow is cut).
FOCUSED = f"""() => {{
  const el = document.activeElement;
  if (!el || el === document.body || el === document.documentElement) return null;
  const first = !window.__a11y.tabbed.has(el);
  window.__a11y.tabbed.add(el);
  const style = getComputedStyle(el);
  const outline = style.outlineStyle !== "none" && parseFloat(style.outlineWidth) > 0;
  const grow = outline ? Math.max(0, parseFloat(style.outlineOffset) + parseFloat(style.outlineWidth)) : 0;
  const r = el.getBoundingClientRect();
  let clippedBy = null;
  for (let box = el.parentElement; box && box !== document.body && !clippedBy; box = box.parentElement) {{
    const overflow = getComputedStyle(box);
    if (overflow.overflowX === "visible" && overflow.overflowY === "visible") continue;
    const b = box.getBoundingClientRect();
    const left = b.left + box.clientLeft, top = b.top + box.clientTop;
    if (r.left - grow < left - 0.5 || r.top - grow < top - 0.5 || r.right + grow > left + box.clientWidth + 0.5
        || r.bottom + grow > top + box.clientHeight + 0.5) clippedBy = ({DESCRIBE})(box) + `.${{box.className}}`;
  }}
  return {{ first, what: ({DESCRIBE})(el), ring: outline || style.boxShadow !== "none", clippedBy,
            focusVisible: el.matches(":focus-visible") }};
}}"""

NATIVE = "a[href], button, input, select, textarea, summary, label, option"
CONTROLS = "a[href], button, input, select, textarea, summary, [tabindex]"

# Controls a user can see that Tab never reached. A radio group is one tab stop (arrows move in it); a link
# hidden from assistive technology with tabindex=-1 repeats another one on purpose (the runs table's #id).
MISSED = f"""() => {{
  const tabbed = window.__a11y.tabbed;
  const radioGroups = new Set([...tabbed].filter((el) => el.type === "radio").map((el) => el.name));
  return [...document.querySelectorAll({CONTROLS!r})].filter((el) => {{
    if (tabbed.has(el) || el.disabled || !el.checkVisibility({{ visibilityProperty: true }})) return false;
    if (el.closest(".js-plotly-plot")) return false;  // Plotly's own markup
    if (el.matches("[tabindex]:not(a, button, input, select, textarea, summary)") && el.tabIndex < 0) return false;
    if (el.tabIndex < 0 && el.getAttribute("aria-hidden") === "true") return false;
    if (el.type === "radio" && radioGroups.has(el.name)) return false;
    return true;
  }}).map({DESCRIBE});
}}"""

# Elements we made clickable that are not controls by nature: each must be one for the keyboard too (a role,
# tabindex 0 and a key handler), or hold a link that goes where its click goes (a table row whose click
# repeats its link). Plotly's own drag and hover layers are left out.
MOUSE_ONLY = f"""() => [...window.__a11y.clickable].filter((el) => {{
  if (!el.isConnected || el.closest({NATIVE!r}) || el.parentElement?.closest(".js-plotly-plot")) return false;
  if (el === document.querySelector("main")) return false;
  if (!el.checkVisibility({{ visibilityProperty: true }})) return false;
  const operable = el.tabIndex >= 0 && el.hasAttribute("role") && window.__a11y.keyed.has(el);
  return !operable && !el.querySelector("a[href]");
}}).map({DESCRIBE})"""


def install(page: Page) -> None:
    """Call before the first navigation: loads axe-core and notes the click and key listeners the page adds.

    An init script, not a <script> tag: the service's Content-Security-Policy refuses inline scripts.
    """
    if not AXE_JS.exists():
        pytest.fail(f"axe-core is not installed ({AXE_JS} is missing): run `make browser-deps` "
                    "(npm ci --prefix tests/browser), which `make test` does")
    page.add_init_script(path=AXE_JS)
    page.add_init_script(LISTENER_SPY)


def serious_violations(page: Page) -> list[dict]:
    """axe-core's serious and critical violations on the page as it is now (after `install`)."""
    assert page.evaluate("typeof window.axe !== 'undefined'"), "axe-core is not in the page: call a11y.install first"
    return page.evaluate(RUN_AXE, THIRD_PARTY)


def describe_violations(violations: list[dict]) -> str:
    return "\n".join(f"{v['impact']} {v['id']}: {v['help']}\n    " + "\n    ".join(v["targets"][:12])
                     + (f"\n    … and {len(v['targets']) - 12} more" if len(v["targets"]) > 12 else "")
                     for v in violations)


def assert_axe_clean(page: Page, what: str) -> None:
    """No serious or critical violation in the light or the dark colour scheme; leaves the page light."""
    found = []
    for scheme in ("light", "dark"):
        page.emulate_media(color_scheme=scheme)
        page.wait_for_timeout(300)  # charts restyle on the colour-scheme change
        found += [f"[{scheme}] {line}" for line in describe_violations(serious_violations(page)).splitlines() if line]
    page.emulate_media(color_scheme="light")
    assert not found, f"axe-core on {what}:\n" + "\n".join(found)


def tab_through(page: Page, limit: int = 800) -> list[dict]:
    """Press Tab from the top of the page until focus leaves it or comes round again; each stop once, in order."""
    page.evaluate("() => { window.__a11y.tabbed.clear(); document.querySelector('.skip-link').focus(); }")
    page.keyboard.press("Shift+Tab")  # out of the page, so that the first Tab lands on the skip link as a user's does
    stops: list[dict] = []
    for _ in range(limit):
        page.keyboard.press("Tab")
        stop = page.evaluate(FOCUSED)
        if stop is None or not stop["first"]:
            return stops
        stops.append(stop)
    raise AssertionError(f"focus did not come round after {limit} presses of Tab")


def tab_within(page: Page, container: str, limit: int = 60) -> list[dict]:
    """Press Tab until focus comes round; fails if it lands on an element outside `container` (an open modal
    dialog holds focus; leaving the page for the browser's own controls is allowed)."""
    page.evaluate("() => window.__a11y.tabbed.clear()")
    stops: list[dict] = []
    for _ in range(limit):
        page.keyboard.press("Tab")
        stop = page.evaluate(FOCUSED)
        if stop is None:
            continue
        if not stop["first"]:
            return stops
        assert page.evaluate("(s) => Boolean(document.activeElement.closest(s))", container), \
            f"Tab left the open {container} for {stop['what']}"
        stops.append(stop)
    raise AssertionError(f"focus did not come round in {container} after {limit} presses of Tab")


def missed_by_tab(page: Page) -> list[str]:
    return page.evaluate(MISSED)


def mouse_only(page: Page) -> list[str]:
    return page.evaluate(MOUSE_ONLY)
