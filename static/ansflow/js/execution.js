/* The execution page: one socket feeds the log viewer, the DAG's node states and the summary.
 *
 * Status messages recolour the DAG nodes at once and re-fetch the summary (status, actions, steps
 * table) from the server, so the buttons shown are always the ones the server allows.
 */
(function () {
  "use strict";

  function init() {
    const card = document.getElementById("log-card");
    if (!card) return;
    const summary = document.getElementById("summary");
    const conn = document.getElementById("log-conn");
    const view = new window.AnsFlow.LogView(document.getElementById("log"), {
      countEl: document.getElementById("log-count"),
      followButton: document.getElementById("log-follow"),
      emptyEl: document.getElementById("log-empty"),
    });
    let snapshots = 0;
    let refreshTimer = 0;

    function setNode(step, status) {
      const node = document.querySelector('#execution-dag .dag-node[data-step="' + CSS.escape(step) + '"]');
      if (!node) return;
      node.setAttribute("class", "dag-node s-" + status + (node.classList.contains("selected") ? " selected" : ""));
      const title = node.querySelector("title");
      if (title) title.textContent = step + ": " + status.replace("_", " ");
    }

    function refreshSummary() {
      clearTimeout(refreshTimer);
      refreshTimer = setTimeout(async () => {
        const active = document.activeElement;
        if (active && summary.contains(active) && active.tagName === "INPUT" && active.value) {
          refreshSummary(); // the user is typing a comment: try again later
          return;
        }
        try {
          const response = await fetch(summary.dataset.summaryUrl, { headers: { "HX-Request": "true" } });
          if (!response.ok) return;
          summary.innerHTML = await response.text();
          summary.dataset.refreshed = String(Number(summary.dataset.refreshed || 0) + 1);
          if (window.htmx) window.htmx.process(summary);
        } catch (error) {
          /* the next status message tries again */
        }
      }, 250);
    }

    // A connected socket reads "live" while the run goes on and "ended" once it is over: no more
    // lines can come, though the socket stays open for a retry's statuses.
    const TERMINAL = card.dataset.terminal.split(" "); // the server's ExecutionStatus.terminal()
    let socketState = "connecting";
    function showConn() {
      const state = socketState === "live" && TERMINAL.includes(card.dataset.status) ? "ended" : socketState;
      conn.dataset.state = state;
      conn.textContent = { connecting: "connecting…", live: "live", ended: "ended", reconnecting: "reconnecting…",
                           refused: "not allowed" }[state] || state;
    }

    const socket = new window.AnsFlow.LogSocket(card.dataset.wsPath, {
      line: (line) => view.add(line),
      state: (state) => {
        socketState = state;
        showConn();
      },
      status: (message) => {
        if (message.kind === "snapshot") {
          for (const step of message.steps) setNode(step.step, step.status);
          card.dataset.status = message.status;
          showConn();
          if (snapshots++ > 0) refreshSummary(); // after a reconnect things may have changed
        } else if (message.kind === "step") {
          setNode(message.step, message.status);
          refreshSummary();
        } else if (message.kind === "execution") {
          card.dataset.status = message.status;
          showConn();
          refreshSummary();
        }
      },
    });

    const select = document.getElementById("log-step");
    select.addEventListener("change", () => {
      view.filter(select.value);
      document.querySelectorAll("#execution-dag .dag-node").forEach((node) => {
        node.classList.toggle("selected", node.dataset.step === select.value);
      });
    });
    document.querySelectorAll("#execution-dag .dag-node").forEach((node) => {
      const choose = () => {
        select.value = select.value === node.dataset.step ? "" : node.dataset.step;
        select.dispatchEvent(new Event("change"));
      };
      node.addEventListener("click", choose);
      node.addEventListener("keydown", (event) => {
        if (event.key === "Enter" || event.key === " ") {
          event.preventDefault();
          choose();
        }
      });
    });
    const wrap = document.getElementById("log-wrap");
    wrap.addEventListener("change", () => document.getElementById("log").classList.toggle("wrap", wrap.checked));

    // A very long log starts near its tail (or at the linked line); the download has the rest.
    const lastSeq = Number(card.dataset.lastSeq || 0);
    const linked = /^#L(\d+)$/.exec(window.location.hash);
    let start = Math.max(0, lastSeq - window.AnsFlow.LogView.MAX_LINES);
    if (linked && Number(linked[1]) <= start) start = Number(linked[1]) - 1;
    if (start > 0) {
      socket.lastSeq = start;
      view.note("Lines 1–" + start + " are not shown here: download the whole log.");
    }

    window.AnsFlow.execution = { socket: socket, view: view };
    socket.start();
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
