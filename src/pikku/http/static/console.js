// pikku console: live updates without a build step. The region #live names its SSE stream and the URL of
// its fresh HTML; on each event the region is fetched again and swapped in (the server renders it, this
// script only places it). A run page stops listening once its run has settled. Without JavaScript the
// pages read and post the same, and a reload shows the news.
(function () {
  "use strict";
  var live = document.getElementById("live");
  if (!live || !window.EventSource || !window.fetch) return;
  var settled = (live.dataset.settled || "").split(" ").filter(Boolean);
  var busy = false, again = false, source = null;

  function isSettled(status) { return settled.indexOf(status) >= 0; }

  function syncActions(status) {
    // Buttons outside the live region say when they apply: "unsettled", or a list of statuses.
    document.querySelectorAll("[data-enabled]").forEach(function (button) {
      var when = button.dataset.enabled;
      button.disabled = when === "unsettled" ? isSettled(status) : when.split(" ").indexOf(status) < 0;
    });
    document.body.dataset.runStatus = status;
  }

  function refresh() {
    if (busy) { again = true; return; }
    busy = true;
    fetch(live.dataset.fragment, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (response) { return response.ok ? response.text() : null; })
      .then(function (html) {
        if (html !== null) {
          live.innerHTML = html;
          var head = live.querySelector("[data-run-status]#run-head");
          if (head) syncActions(head.dataset.runStatus);
        }
      })
      .catch(function () { /* the next event tries again */ })
      .then(function () { busy = false; if (again) { again = false; refresh(); } });
  }

  function onEvent(event) {
    refresh();
    var data = null;
    try { data = JSON.parse(event.data); } catch (e) { return; }
    if (data && data.run && isSettled(data.run.status) && source) { source.close(); }
  }

  var head = live.querySelector("#run-head");
  if (head && isSettled(head.dataset.runStatus)) return;  // a settled run changes no more (but by a resume)
  var first = true;
  source = new EventSource(live.dataset.stream);
  ["run", "step", "runs"].forEach(function (kind) {
    source.addEventListener(kind, function (event) {
      // The first event repeats what the page already shows, unless the run moved since it was rendered.
      if (first && event.lastEventId && event.lastEventId === live.dataset.version) { first = false; return; }
      first = false;
      onEvent(event);
    });
  });
  source.addEventListener("stream-error", function () { source.close(); });
  document.body.dataset.live = "on";
})();
