// The live countdown page: renders the server's deadline and follows the phase through
// Server-Sent Events. Without JavaScript the page still shows the state and refreshes.
(function () {
  "use strict";
  var root = document.getElementById("propagation");
  if (!root) return;
  var deadline = Number(root.dataset.deadline) * 1000;
  // The server's clock decides; the page only renders the time left against it.
  var offset = Number(root.dataset.now) * 1000 - Date.now();
  var terminal = root.dataset.terminal === "true";
  var countdown = document.getElementById("countdown");
  var phase = document.getElementById("phase");
  var timeline = document.getElementById("timeline");
  var outcome = document.getElementById("outcome");
  var TERMINAL = ["verified", "failed", "timed_out", "superseded"];

  function two(n) { return (n < 10 ? "0" : "") + n; }
  function render() {
    if (terminal) { countdown.textContent = "—"; return; }
    var left = Math.max(0, Math.floor((deadline - (Date.now() + offset)) / 1000));
    countdown.textContent = two(Math.floor(left / 60)) + ":" + two(left % 60);
  }
  render();
  var timer = setInterval(render, 1000);

  function text(id, value) {
    var node = document.getElementById(id);
    if (node && value) node.textContent = value;
  }

  function onPhase(event) {
    var data = JSON.parse(event.data);
    text("cognito-status", data.cognito_status);
    text("served-serial", data.served_serial);
    text("served-subject", data.served_subject);
    text("served-not-after", data.served_not_after);
    if (phase.textContent !== data.phase) {
      phase.textContent = data.phase;
      phase.className = "phase-" + data.phase;
      if (!timeline.querySelector('[data-phase="' + data.phase + '"]')) {
        var item = document.createElement("li");
        item.dataset.phase = data.phase;
        var name = document.createElement("strong");
        name.textContent = data.phase;
        item.appendChild(name);
        item.appendChild(document.createTextNode(" " + new Date(data.at_ms).toISOString().replace("T", " ").slice(0, 19) + " UTC" + (data.detail ? " — " + data.detail : "")));
        timeline.appendChild(item);
      }
    }
    if (TERMINAL.indexOf(data.phase) >= 0) {
      terminal = true;
      clearInterval(timer);
      render();
      if (data.detail) outcome.textContent = data.detail;
      source.close();
    }
  }

  if (terminal || !window.EventSource) return;
  var source = new EventSource(root.dataset.events);
  source.addEventListener("phase", onPhase);
})();
