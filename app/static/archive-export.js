// The export page's progress (app/templates/archive/export.html): asks for the export's state
// every second and updates the bar, its text and the download link. Without JavaScript the
// page refreshes itself (a meta refresh inside <noscript>).
(function () {
  "use strict";
  var box = document.getElementById("export-progress");
  if (!box || box.dataset.finished === "true") { return; }
  var bar = document.getElementById("export-bar");
  var text = document.getElementById("export-text");
  var status = document.getElementById("export-status");
  var download = document.getElementById("export-download");
  var link = document.getElementById("export-download-link");
  var reload = document.getElementById("export-reload");

  function show(state) {
    bar.max = Math.max(state.total_items, 1);
    bar.value = state.total_items ? state.done_items : (state.finished ? 1 : 0);
    bar.textContent = state.text;
    text.textContent = state.text;
    status.textContent = state.label;
    if (!state.finished) { return false; }
    if (state.download) {
      link.href = state.download;
      download.hidden = false;
      if (reload) { reload.hidden = true; }
    } else {
      window.location.reload();  // failed: the page shows why
    }
    return true;
  }

  function poll() {
    fetch(box.dataset.statusUrl, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (state) {
        if (!state || !show(state)) { window.setTimeout(poll, 1000); }
      })
      .catch(function () { window.setTimeout(poll, 1000); });
  }
  window.setTimeout(poll, 1000);
}());
