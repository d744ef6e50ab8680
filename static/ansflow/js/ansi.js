/* ANSI escape sequences → DOM nodes for the log viewer.
 *
 * SGR ("ESC [ ... m") sets bold, dim, italic, underline and colours: the 16 basic colours become
 * classes (ansi-fg-N / ansi-bg-N), 256-colour and 24-bit colours inline styles. Every other escape
 * sequence (cursor moves, erase line, OSC titles) is dropped. Text is only ever set with
 * textContent, never parsed as HTML.
 */
(function () {
  "use strict";

  // CSI sequences (ESC [ params intermediates final), OSC (ESC ] ... BEL or ESC \), and lone 2-byte escapes.
  const ESCAPE = /\u001b\[([0-?]*)([ -\/]*)([@-~])|\u001b\][^\u0007\u001b]*(?:\u0007|\u001b\\)?|\u001b[@-Z\\-_]?/g;

  function initialState() {
    return { bold: false, dim: false, italic: false, underline: false, fg: null, bg: null };
  }

  // xterm's 256-colour palette: 16 basic, a 6×6×6 cube, 24 greys.
  function palette(n) {
    if (n < 16) return { index: n };
    if (n < 232) {
      const c = n - 16;
      const level = (v) => (v === 0 ? 0 : 55 + v * 40);
      return { rgb: [level(Math.floor(c / 36)), level(Math.floor(c / 6) % 6), level(c % 6)] };
    }
    const grey = 8 + (n - 232) * 10;
    return { rgb: [grey, grey, grey] };
  }

  function extended(codes, i) {
    // 38;5;n or 38;2;r;g;b (same for 48): returns [colour, codes consumed]
    const mode = codes[i + 1];
    if (mode === 5 && codes.length > i + 2) {
      const n = codes[i + 2];
      return [n >= 0 && n <= 255 ? palette(n) : null, 3];
    }
    if (mode === 2 && codes.length > i + 4) {
      const rgb = [codes[i + 2], codes[i + 3], codes[i + 4]].map((v) => Math.max(0, Math.min(255, v | 0)));
      return [{ rgb: rgb }, 5];
    }
    return [null, codes.length - i];
  }

  function applySgr(state, params) {
    const codes = params === "" ? [0] : params.split(/[;:]/).map((p) => (p === "" ? 0 : parseInt(p, 10)));
    for (let i = 0; i < codes.length; i++) {
      const code = codes[i];
      if (code === 0) Object.assign(state, initialState());
      else if (code === 1) state.bold = true;
      else if (code === 2) state.dim = true;
      else if (code === 3) state.italic = true;
      else if (code === 4) state.underline = true;
      else if (code === 22) state.bold = state.dim = false;
      else if (code === 23) state.italic = false;
      else if (code === 24) state.underline = false;
      else if (code >= 30 && code <= 37) state.fg = { index: code - 30 };
      else if (code >= 90 && code <= 97) state.fg = { index: code - 90 + 8 };
      else if (code === 39) state.fg = null;
      else if (code >= 40 && code <= 47) state.bg = { index: code - 40 };
      else if (code >= 100 && code <= 107) state.bg = { index: code - 100 + 8 };
      else if (code === 49) state.bg = null;
      else if (code === 38 || code === 48) {
        const [colour, used] = extended(codes, i);
        if (code === 38) state.fg = colour;
        else state.bg = colour;
        i += used - 1;
      }
    }
  }

  function styled(state) {
    return state.bold || state.dim || state.italic || state.underline || state.fg || state.bg;
  }

  function span(text, state) {
    if (!styled(state)) return document.createTextNode(text);
    const el = document.createElement("span");
    const classes = [];
    if (state.bold) classes.push("ansi-b");
    if (state.dim) classes.push("ansi-d");
    if (state.italic) classes.push("ansi-i");
    if (state.underline) classes.push("ansi-u");
    for (const [key, colour] of [["fg", state.fg], ["bg", state.bg]]) {
      if (!colour) continue;
      if (colour.index !== undefined) classes.push("ansi-" + key + "-" + colour.index);
      else {
        const css = "rgb(" + colour.rgb.join(",") + ")";
        if (key === "fg") el.style.color = css;
        else el.style.backgroundColor = css;
      }
    }
    if (classes.length) el.className = classes.join(" ");
    el.textContent = text;
    return el;
  }

  /** Render one line into a DocumentFragment; ``state`` carries SGR attributes to the next line. */
  function render(text, state) {
    state = state || initialState();
    const fragment = document.createDocumentFragment();
    let last = 0;
    ESCAPE.lastIndex = 0;
    let match;
    while ((match = ESCAPE.exec(text)) !== null) {
      if (match.index > last) fragment.appendChild(span(text.slice(last, match.index), state));
      if (match[3] === "m" && match[2] === "") applySgr(state, match[1]);
      last = ESCAPE.lastIndex;
      if (match[0].length === 0) ESCAPE.lastIndex++; // never loop on an empty match
    }
    if (last < text.length) fragment.appendChild(span(text.slice(last), state));
    return fragment;
  }

  /** The text without any escape sequence (for searching and copying). */
  function strip(text) {
    return text.replace(ESCAPE, "");
  }

  window.AnsFlow = window.AnsFlow || {};
  window.AnsFlow.ansi = { render: render, strip: strip, initialState: initialState };
})();
