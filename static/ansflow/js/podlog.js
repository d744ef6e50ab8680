/* The pod log page: the server rendered the last lines; the log socket follows from there.
 *
 * The socket is the execution page's LogSocket and the view its LogView. Each line carries the kubelet's
 * timestamp: a reconnect asks for the lines after the last one shown (after=<seq>&since=<time>), so the
 * log has no gap and no duplicate. When the container stops, or the cluster fails, the server says so in a
 * status message and closes; the page then stops instead of reconnecting.
 */
(function () {
  "use strict";

  const STATES = { connecting: "connecting…", live: "live", reconnecting: "reconnecting…", refused: "not allowed",
                   ended: "container stopped", error: "cluster error" };

  function init() {
    document.querySelectorAll("[data-autosubmit]").forEach((field) => {
      field.addEventListener("change", () => field.form.submit());
    });
    const card = document.getElementById("log-card");
    if (!card || document.getElementById("cluster-error")) return;
    const conn = document.getElementById("log-conn");
    const log = document.getElementById("log");
    const wrap = document.getElementById("log-wrap");
    const view = new window.AnsFlow.LogView(log, {
      countEl: document.getElementById("log-count"),
      followButton: document.getElementById("log-follow"),
      emptyEl: document.getElementById("log-empty"),
    });
    view.count = Number(card.dataset.lastSeq || 0);
    // The server rendered the tail as plain text: give it the colours that live lines get.
    log.querySelectorAll(".l > .t").forEach((text) => {
      const key = text.parentElement.dataset.step || "";
      if (!view.ansiState.has(key)) view.ansiState.set(key, window.AnsFlow.ansi.initialState());
      text.replaceChildren(window.AnsFlow.ansi.render(text.textContent, view.ansiState.get(key)));
    });
    if (view.target !== null) view.jumpTo(view.target); // a link to one line of the tail
    else view.scrollToEnd();
    let lastTime = card.dataset.lastTime || "";

    function show(state, detail) {
      conn.dataset.state = state;
      conn.textContent = STATES[state] || state;
      conn.title = detail || "";
    }

    const socket = new window.AnsFlow.LogSocket(card.dataset.wsPath, {
      line: (line) => {
        if (line.time) lastTime = line.time;
        view.add(line);
      },
      state: (state) => show(state),
      status: (message) => {
        if (message.kind === "ended" || message.kind === "error") {
          socket.stop();
          show(message.kind, message.detail);
          if (message.detail) view.note(message.detail);
        }
      },
    });
    socket.lastSeq = Number(card.dataset.lastSeq || 0);
    socket.url = function () {
      const scheme = window.location.protocol === "https:" ? "wss:" : "ws:";
      let url = scheme + "//" + window.location.host + this.path + "&after=" + this.lastSeq;
      if (lastTime) url += "&since=" + encodeURIComponent(lastTime);
      return url;
    };
    if (wrap) wrap.addEventListener("change", () => log.classList.toggle("wrap", wrap.checked));
    socket.start();
    window.AnsFlow.podLog = { socket: socket, view: view };
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
