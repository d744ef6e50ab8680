/* The live log viewer of the execution page.
 *
 * LogSocket keeps one WebSocket to /ws/executions/{id}/?after=<last seq>&batch=1 (lines arrive in
 * batches, {"type": "logs", "lines": [...]}, rather than one message each): it
 * reconnects by itself (with backoff) from the last sequence number it has, drops any line it already
 * has (dedupe by seq), and when a line arrives past a gap, or a resync points past what it has, it
 * reconnects from its last seq so the server fills the gap from the database.
 *
 * LogView renders lines (ANSI colours, a step column, line numbers that link to #L<seq>), follows the
 * tail unless the user scrolled up, filters by step, and keeps at most MAX_LINES in the page.
 */
(function () {
  "use strict";

  const MAX_LINES = 20000;
  const STREAM_CLASS = { e: "e", s: "sys" };

  class LogView {
    constructor(container, options) {
      this.el = container;
      this.countEl = options.countEl;
      this.followButton = options.followButton;
      this.emptyEl = options.emptyEl;
      this.count = 0;
      this.follow = true;
      this.pending = [];
      this.frame = 0;
      this.ansiState = new Map(); // SGR attributes carried across lines, per step
      this.target = null;
      this.filterStyle = document.createElement("style");
      document.head.appendChild(this.filterStyle);
      const hash = /^#L(\d+)$/.exec(window.location.hash);
      if (hash) {
        this.target = Number(hash[1]);
        this.follow = false;
      }
      this.el.addEventListener("scroll", () => this.onScroll(), { passive: true });
      this.el.addEventListener("click", (event) => {
        if (event.target.classList && event.target.classList.contains("n")) this.setFollow(false);
      });
      window.addEventListener("hashchange", () => {
        const jump = /^#L(\d+)$/.exec(window.location.hash);
        if (jump) this.jumpTo(Number(jump[1]));
      });
      if (this.followButton) {
        this.followButton.addEventListener("click", () => {
          this.setFollow(true);
          this.scrollToEnd();
        });
      }
    }

    atBottom() {
      return this.el.scrollTop + this.el.clientHeight >= this.el.scrollHeight - 4;
    }

    onScroll() {
      // Lines are appended and the tail scrolled to in the same frame, so at any scroll event
      // "at the bottom" means "following"; anywhere else the user (or a line link) moved away.
      this.setFollow(this.atBottom());
    }

    setFollow(value) {
      this.follow = value;
      if (this.followButton) this.followButton.hidden = value;
      this.el.dataset.follow = value ? "1" : "0";
    }

    scrollToEnd() {
      this.el.scrollTop = this.el.scrollHeight;
    }

    /** Queue one line message ({seq, step, stream, text}); lines are drawn once per animation frame. */
    add(line) {
      this.pending.push(line);
      if (!this.frame) this.frame = requestAnimationFrame(() => this.flush());
    }

    flush() {
      this.frame = 0;
      if (!this.pending.length) return;
      const fragment = document.createDocumentFragment();
      for (const line of this.pending) fragment.appendChild(this.row(line));
      this.count += this.pending.length;
      this.pending = [];
      if (this.emptyEl) {
        this.emptyEl.remove();
        this.emptyEl = null;
      }
      this.el.appendChild(fragment);
      this.trim();
      if (this.countEl) this.countEl.textContent = this.count + (this.count === 1 ? " line" : " lines");
      if (this.target !== null) {
        this.jumpTo(this.target);
      } else if (this.follow) {
        this.scrollToEnd();
      }
    }

    /** Highlight line ``seq`` and scroll to it (when it has not arrived yet: as soon as it does). */
    jumpTo(seq) {
      this.setFollow(false);
      const row = document.getElementById("L" + seq);
      if (!row) {
        this.target = seq;
        return;
      }
      this.target = null;
      this.el.querySelectorAll(".l.hl").forEach((other) => other.classList.remove("hl"));
      row.classList.add("hl");
      row.scrollIntoView({ block: "center" });
    }

    row(line) {
      const row = document.createElement("div");
      row.className = "l" + (STREAM_CLASS[line.stream] ? " " + STREAM_CLASS[line.stream] : "");
      row.id = "L" + line.seq;
      row.dataset.seq = line.seq;
      row.dataset.step = line.step || "";
      const number = document.createElement("a");
      number.className = "n";
      number.href = "#L" + line.seq;
      number.textContent = line.seq;
      const step = document.createElement("span");
      step.className = "s";
      step.textContent = line.step || "";
      step.title = line.step || "";
      const text = document.createElement("span");
      text.className = "t";
      const key = line.step || "";
      if (!this.ansiState.has(key)) this.ansiState.set(key, window.AnsFlow.ansi.initialState());
      text.appendChild(window.AnsFlow.ansi.render(line.text, this.ansiState.get(key)));
      row.append(number, step, text);
      return row;
    }

    /** A line of explanation above the log (earlier lines left out). */
    note(text) {
      let note = this.el.querySelector(".log-note");
      if (!note) {
        note = document.createElement("div");
        note.className = "log-note";
        this.el.prepend(note);
      }
      note.textContent = text;
      return note;
    }

    trim() {
      let extra = this.el.querySelectorAll(".l").length - MAX_LINES;
      if (extra <= 0) return;
      const note = this.note("Earlier lines are not shown here: download the whole log.");
      while (extra-- > 0) {
        const first = note.nextElementSibling;
        if (!first || !first.classList.contains("l")) break;
        first.remove();
      }
    }

    /** Show only one step's lines ("" for all), with one CSS rule rather than touching every row. */
    filter(step) {
      this.filterStyle.textContent = step
        ? "#" + this.el.id + ' .l:not([data-step="' + CSS.escape(step) + '"]) { display: none; }'
        : "";
      this.el.dataset.filter = step;
      if (this.follow) this.scrollToEnd();
    }
  }

  class LogSocket {
    /** options.batch: false asks for one message per line (the socket's default) instead of batches. */
    constructor(path, handlers, options) {
      this.path = path;
      this.handlers = handlers;
      this.batch = !options || options.batch !== false;
      this.lastSeq = 0;
      this.ws = null;
      this.delay = 250;
      this.timer = 0;
      this.closedByPage = false;
      window.addEventListener("pagehide", () => this.stop());
    }

    url() {
      const scheme = window.location.protocol === "https:" ? "wss:" : "ws:";
      return scheme + "//" + window.location.host + this.path + "?after=" + this.lastSeq + (this.batch ? "&batch=1" : "");
    }

    start() {
      this.closedByPage = false;
      this.connect();
    }

    stop() {
      this.closedByPage = true;
      clearTimeout(this.timer);
      if (this.ws) this.ws.close();
    }

    connect() {
      clearTimeout(this.timer);
      const ws = new WebSocket(this.url());
      this.ws = ws;
      this.handlers.state("connecting");
      ws.onopen = () => {
        this.delay = 250;
        this.handlers.state("live");
      };
      ws.onmessage = (event) => this.receive(ws, JSON.parse(event.data));
      ws.onclose = (event) => {
        if (this.ws !== ws) return; // an older socket we replaced on purpose
        this.ws = null;
        if (this.closedByPage) return;
        if (event.code === 4401 || event.code === 4403 || event.code === 4404) {
          this.handlers.state("refused");
          return;
        }
        this.handlers.state("reconnecting");
        this.timer = setTimeout(() => this.connect(), this.delay);
        this.delay = Math.min(this.delay * 2, 10000);
      };
    }

    /** Replace the socket with a new one from our last seq (the server fills any gap from the database). */
    resume() {
      const old = this.ws;
      this.ws = null;
      if (old) old.close();
      this.connect();
    }

    /** One line ({seq, step, stream, text}); false when it lies past a gap and the socket was replaced. */
    take(line) {
      if (line.seq <= this.lastSeq) return true; // already have it
      if (line.seq > this.lastSeq + 1) {
        this.resume(); // a gap: never show lines out of order
        return false;
      }
      this.lastSeq = line.seq;
      this.handlers.line(line);
      return true;
    }

    receive(ws, message) {
      if (ws !== this.ws) return;
      if (message.type === "logs") {
        for (const line of message.lines) if (!this.take(line)) return;
      } else if (message.type === "log") {
        this.take(message);
      } else if (message.type === "resync") {
        if (message.after > this.lastSeq) this.resume();
      } else if (message.type === "status") {
        this.handlers.status(message);
      }
    }
  }

  window.AnsFlow = window.AnsFlow || {};
  LogView.MAX_LINES = MAX_LINES;
  window.AnsFlow.LogView = LogView;
  window.AnsFlow.LogSocket = LogSocket;
})();
