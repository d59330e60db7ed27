// pikku console: live updates without a build step. The region #live names its SSE stream and the URL of
// its fresh HTML; on each event the region is fetched again and swapped in (the server renders it, this
// script only places it). A run page listens while its run has not settled. Action forms post in the
// background, so the page stays and the stream shows what they changed. Without JavaScript the pages read
// and the forms post the same, and a reload shows the news.
(function () {
  "use strict";
  var live = document.getElementById("live");
  if (!live || !window.EventSource || !window.fetch) return;
  var settled = (live.dataset.settled || "").split(" ").filter(Boolean);
  var busy = false, again = false, source = null;

  function isSettled(status) { return settled.indexOf(status) >= 0; }

  function runStatus() {
    var head = live.querySelector("#run-head");
    return head ? head.dataset.runStatus : null;
  }

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
        if (html === null) return;
        live.innerHTML = html;
        var status = runStatus();
        if (status) {
          syncActions(status);
          if (!isSettled(status)) listen();  // a resumed run: follow it again
        }
      })
      .catch(function () { /* the next event tries again */ })
      .then(function () { busy = false; if (again) { again = false; refresh(); } });
  }

  function listen() {
    if (source) return;
    var version = live.querySelector("[data-version]");
    var shown = version ? version.dataset.version : null;
    source = new EventSource(live.dataset.stream);
    ["run", "step", "runs"].forEach(function (kind) {
      source.addEventListener(kind, function (event) {
        var data = null;
        try { data = JSON.parse(event.data); } catch (e) { return; }
        // The first event repeats what the page shows, unless the run moved since it was rendered.
        if (event.lastEventId !== shown) refresh();
        shown = null;
        if (data && data.run && isSettled(data.run.status)) stop();
      });
    });
    source.addEventListener("stream-error", stop);
    document.body.dataset.live = "on";
  }

  function stop() {
    if (source) { source.close(); source = null; }
    document.body.dataset.live = "off";
  }

  function showNotice(text, failed) {
    var notice = document.getElementById("notice");
    if (!notice) return;
    notice.textContent = text || (failed ? "The request failed." : "Done.");
    notice.classList.toggle("failed", !!failed);
    notice.hidden = false;
  }

  document.querySelectorAll("form[method=post]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      fetch(form.action, { method: "POST", body: new URLSearchParams(new FormData(form)), credentials: "same-origin" })
        .then(function (response) {
          return response.text().then(function (html) {
            var landed = new URL(response.url, location.href);
            if (response.ok && response.redirected && landed.pathname !== location.pathname) {
              location.href = landed.href;  // a fork: the new run's page
              return;
            }
            var doc = new DOMParser().parseFromString(html, "text/html");
            var text = response.ok ? doc.getElementById("notice") : doc.querySelector(".error-page .message");
            showNotice(text && text.textContent.trim(), !response.ok);
            if (response.ok) refresh();
          });
        })
        .catch(function () { showNotice("The server could not be reached.", true); });
    });
  });

  var status = runStatus();
  if (!status || !isSettled(status)) listen();
})();
