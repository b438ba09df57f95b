// driftd UI: small progressive enhancements, no build step.
// Tables with data-live="<url>" refresh their rows from a JSON endpoint;
// elements with data-refresh="<url>" re-fetch an HTML fragment.
(function () {
  "use strict";

  function refreshComponents(table) {
    fetch(table.dataset.live, { headers: { Accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (body) {
        if (!body || !body.components) { return; }
        body.components.forEach(function (c) {
          var row = table.querySelector('[data-testid="component-' + c.name + '"]');
          if (!row) { return; }
          var state = row.querySelector('[data-field="state"]');
          state.textContent = c.state;
          state.className = "badge " + (c.state === "ready" ? "ok" : (c.state === "starting" || c.state === "degraded" || c.state === "waiting") ? "warn" : "bad");
          row.querySelector('[data-field="detail"]').textContent = c.detail || "";
        });
      })
      .catch(function () { /* the next tick retries */ });
  }

  // Elements with data-refresh="<url>" replace their content with the HTML
  // fragment the URL answers (same origin, so the session cookie goes along).
  function refreshFragment(el) {
    fetch(el.dataset.refresh, { headers: { Accept: "text/html" }, credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) { if (html !== null) { el.innerHTML = html; } })
      .catch(function () { /* the next tick retries */ });
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("table[data-live]").forEach(function (t) {
      setInterval(function () { refreshComponents(t); }, 2000);
    });
    document.querySelectorAll("[data-refresh]").forEach(function (el) {
      setInterval(function () { refreshFragment(el); }, 2000);
    });
  });
})();

// Pipeline, Schedules and flow run pages: an element with data-poll="<url>"
// fetches that URL every 2 seconds; every [data-slot] element of the answer
// replaces the element with the same data-slot inside it, unless the operator
// is typing in it. An answer holding [data-final] is the last one (a run that
// has ended). Forms with data-confirm="<question>" ask before they submit.
(function () {
  "use strict";

  function poll(el) {
    var busy = false;
    var timer = setInterval(function () {
      if (busy) { return; }
      busy = true;
      fetch(el.dataset.poll, { headers: { Accept: "text/html" }, credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.text() : null; })
        .then(function (html) {
          busy = false;
          if (html === null) { return; }
          var tpl = document.createElement("template");
          tpl.innerHTML = html;
          tpl.content.querySelectorAll("[data-slot]").forEach(function (fresh) {
            var old = el.querySelector('[data-slot="' + fresh.dataset.slot + '"]');
            if (old && !old.contains(document.activeElement)) { old.replaceWith(fresh); }
          });
          if (tpl.content.querySelector("[data-final]")) { clearInterval(timer); }
        })
        .catch(function () { busy = false; /* the next tick retries */ });
    }, 2000);
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-poll]").forEach(function (el) {
      if (!el.querySelector("[data-final]")) { poll(el); }
    });
  });
  document.addEventListener("submit", function (ev) {
    var q = ev.target.dataset && ev.target.dataset.confirm;
    if (q && !window.confirm(q)) { ev.preventDefault(); }
  }, true);
})();
