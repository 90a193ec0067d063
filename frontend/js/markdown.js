// Markdown for notes, rendered safely: the text becomes DOM nodes (never innerHTML), so a <script> or an
// onerror= in a note is shown as the text it is; links keep only http(s), mailto and relative addresses.
// What it knows: paragraphs, # headings, - and 1. lists, ``` code blocks, `code`, **bold**, *emphasis*, [links](…).

import { h } from "./dom.js";

const SAFE_HREF = /^(https?:\/\/|mailto:|#|\/(?!\/))/i;
const INLINE = /(`[^`]+`)|(\*\*[^*]+\*\*)|(\*[^*\s][^*]*\*)|(\[[^\]]+\]\([^)\s]+\))/g;

/** Inline spans of one line of text as nodes. */
function inline(text) {
  const out = [];
  let at = 0;
  for (const match of text.matchAll(INLINE)) {
    if (match.index > at) out.push(text.slice(at, match.index));
    const [token] = match;
    if (match[1]) out.push(h("code", {}, token.slice(1, -1)));
    else if (match[2]) out.push(h("strong", {}, ...inline(token.slice(2, -2))));
    else if (match[3]) out.push(h("em", {}, ...inline(token.slice(1, -1))));
    else {
      const [, label, href] = /^\[([^\]]+)\]\(([^)\s]+)\)$/.exec(token);
      out.push(SAFE_HREF.test(href)
        ? h("a", { href, rel: "noopener noreferrer nofollow", target: "_blank" }, label)
        : `${label} (${href})`);
    }
    at = match.index + token.length;
  }
  if (at < text.length) out.push(text.slice(at));
  return out;
}

/** The notes as a list of block elements. */
export function renderMarkdown(source) {
  const lines = String(source || "").replace(/\r\n?/g, "\n").split("\n");
  const blocks = [];
  let paragraph = [];
  let list = null;
  const endParagraph = () => {
    if (paragraph.length) blocks.push(h("p", {}, ...inline(paragraph.join(" "))));
    paragraph = [];
  };
  const endList = () => {
    if (list) blocks.push(list);
    list = null;
  };
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    if (line.trim().startsWith("```")) {
      endParagraph();
      endList();
      const code = [];
      while (++i < lines.length && !lines[i].trim().startsWith("```")) code.push(lines[i]);
      blocks.push(h("pre", {}, h("code", {}, code.join("\n"))));
      continue;
    }
    const heading = /^(#{1,3})\s+(.*)$/.exec(line);
    const item = /^\s*(?:[-*]|(\d+)\.)\s+(.*)$/.exec(line);
    if (heading) {
      endParagraph();
      endList();
      blocks.push(h(`h${heading[1].length + 2}`, {}, ...inline(heading[2])));
    } else if (item) {
      endParagraph();
      const tag = item[1] ? "ol" : "ul";
      if (!list || list.tagName.toLowerCase() !== tag) {
        endList();
        list = h(tag);
      }
      list.append(h("li", {}, ...inline(item[2])));
    } else if (!line.trim()) {
      endParagraph();
      endList();
    } else {
      endList();
      paragraph.push(line.trim());
    }
  }
  endParagraph();
  endList();
  return blocks;
}
