// The Control Center's only script: it refreshes the live view every few seconds and sends
// the light switches with fetch (the forms also work without it). It never builds HTML from
// data: the server renders and escapes the view with html/template.
(function () {
  "use strict";
  var view = document.getElementById("view");
  if (!view) { return; }
  var csrf = view.getAttribute("data-csrf");
  var pending = {};

  function refresh() {
    fetch("/view", { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (r) {
        if (r.status === 401) { window.location.assign("/login"); return null; }
        return r.ok ? r.text() : null;
      })
      .then(function (html) {
        if (html === null) { return; }
        var doc = new DOMParser().parseFromString(html, "text/html");
        view.replaceChildren.apply(view, Array.prototype.slice.call(doc.body.childNodes));
        Object.keys(pending).forEach(function (thing) {
          var row = document.getElementById("dev-" + thing);
          var btn = row && row.querySelector(".switch-button");
          if (btn) { btn.textContent = pending[thing]; btn.disabled = true; }
        });
      })
      .catch(function () { /* the next tick retries */ });
  }

  view.addEventListener("submit", function (ev) {
    var form = ev.target;
    if (!form.classList.contains("switch")) { return; }
    ev.preventDefault();
    var btn = form.querySelector(".switch-button");
    var thing = btn.getAttribute("data-thing");
    var on = form.querySelector("input[name=on]").value;
    btn.disabled = true;
    pending[thing] = "Sending " + (on === "true" ? "on" : "off") + "...";
    btn.textContent = pending[thing];
    fetch(form.getAttribute("action"), {
      method: "POST", credentials: "same-origin",
      headers: { "X-CSRF-Token": csrf, "Content-Type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ on: on }).toString()
    }).then(function (r) {
      // Wait for the device to report the change: the view refresh shows it.
      setTimeout(function () { delete pending[thing]; refresh(); }, r.ok ? 4000 : 0);
      refresh();
    }).catch(function () { delete pending[thing]; refresh(); });
  });

  setInterval(refresh, 2000);
})();
