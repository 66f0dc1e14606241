// The live countdown page: renders the server's deadline and follows the phase through
// Server-Sent Events. Without JavaScript the page still shows the state and refreshes.
(function () {
  "use strict";
  var root = document.getElementById("propagation");
  if (!root) return;
  root.dataset.live = "true";
  var deadline = Number(root.dataset.deadline) * 1000;
  var submitted = Number(root.dataset.submitted) * 1000;
  // The server's clock decides; the page only renders the time left against it.
  var offset = Number(root.dataset.now) * 1000 - Date.now();
  var terminal = root.dataset.terminal === "true";
  var every = root.dataset.probeEvery;
  var domain = root.dataset.domain;
  var countdown = document.getElementById("countdown");
  var elapsed = document.getElementById("elapsed");
  var phase = document.getElementById("phase");
  var timeline = document.getElementById("timeline");
  var outcome = document.getElementById("outcome");
  var narration = document.getElementById("narration");
  var announce = document.getElementById("announce");
  var steps = document.getElementById("steps");
  var final = document.getElementById("final");
  var TERMINAL = ["verified", "failed", "timed_out", "superseded"];
  var ORDER = ["submitted", "updating", "distributed", "verified"];
  var lastMinute = null;

  function two(n) { return (n < 10 ? "0" : "") + n; }
  function human(s) {
    if (s < 60) return s + " s";
    if (s < 3600) return Math.floor(s / 60) + " m " + (s % 60) + " s";
    return Math.floor(s / 3600) + " h " + Math.floor((s % 3600) / 60) + " m";
  }
  function render() {
    if (terminal) { countdown.textContent = "—"; return; }
    var now = Date.now() + offset;
    var left = Math.max(0, Math.floor((deadline - now) / 1000));
    countdown.textContent = two(Math.floor(left / 60)) + ":" + two(left % 60);
    elapsed.textContent = human(Math.max(0, Math.floor((now - submitted) / 1000)));
    // Told politely once a minute, not every second.
    var minutes = Math.ceil(left / 60);
    if (lastMinute !== null && minutes !== lastMinute && minutes % 5 === 0) {
      announce.textContent = minutes + " minutes left before the deadline.";
    }
    lastMinute = minutes;
  }
  render();
  var timer = setInterval(render, 1000);

  function text(id, value) {
    var node = document.getElementById(id);
    if (node && value) node.textContent = value;
  }

  function sentence(data) {
    var served = data.served_serial ? " (serial " + data.served_serial + (data.served_not_after ? ", expires " + data.served_not_after : "") + ")" : "";
    switch (data.phase) {
      case "submitted": return "Cognito accepted the change and has not started updating the domain yet; checking every " + every + " s.";
      case "updating": return "Cognito is updating " + domain + " (status UPDATING); checking every " + every + " s.";
      case "distributed": return "Cognito is done; waiting for CloudFront to serve the new certificate" + served + "; checking every " + every + " s.";
      case "verified": return "Done: CloudFront is serving the new certificate" + served + " for " + domain + ".";
      case "failed": return "The change failed" + (data.detail ? ": " + data.detail : "") + ". Check the pool's domain before trying again.";
      case "timed_out": return "The edge was not seen serving the new certificate before the deadline" + served + ". Check the pool; AWS may still finish it.";
      case "superseded": return "A later change to this domain replaced this one.";
    }
    return narration.textContent;
  }

  function markSteps(name) {
    var at = ORDER.indexOf(name);
    var failed = TERMINAL.indexOf(name) > 0;
    var items = steps.querySelectorAll("li");
    var reached = -1;
    for (var i = 0; i < items.length; i++) {
      if (items[i].className === "done" || items[i].className === "current") reached = i;
    }
    for (var j = 0; j < items.length; j++) {
      var state;
      if (name === "verified") state = "done";
      else if (failed) state = j <= reached ? "done" : (j === reached + 1 ? "failed" : "pending");
      else state = j < at ? "done" : (j === at ? "current" : "pending");
      items[j].className = state;
      if (state === "current") items[j].setAttribute("aria-current", "step"); else items[j].removeAttribute("aria-current");
      var hidden = items[j].querySelector(".step-state");
      if (hidden) hidden.textContent = " (" + state + ")";
    }
  }

  function onPhase(event) {
    var data = JSON.parse(event.data);
    text("cognito-status", data.cognito_status);
    text("served-serial", data.served_serial);
    text("served-subject", data.served_subject);
    text("served-not-after", data.served_not_after);
    if (data.served_serial) text("probe-error", "answered");
    if (phase.textContent !== data.phase) {
      phase.textContent = data.phase;
      phase.className = "phase-" + data.phase;
      markSteps(data.phase);
      narration.textContent = sentence(data);
      announce.textContent = narration.textContent;
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
      final.className = "final " + (data.phase === "verified" ? "good" : "bad");
      final.hidden = false;
      source.close();
    }
  }

  if (terminal || !window.EventSource) return;
  var source = new EventSource(root.dataset.events);
  source.addEventListener("phase", onPhase);
})();
