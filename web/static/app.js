// driftd UI: small progressive enhancements, no build step.
document.documentElement.classList.add("js");

// The Menu button folds the navigation on narrow screens.
(function () {
  "use strict";
  document.addEventListener("click", function (ev) {
    var btn = ev.target.closest && ev.target.closest(".nav-toggle");
    if (!btn) { return; }
    var header = btn.closest("header");
    var open = header.classList.toggle("nav-open");
    btn.setAttribute("aria-expanded", open ? "true" : "false");
  });
})();

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

// Training form: only the chosen algorithm's parameter group shows (the
// other is hidden and disabled, so it is not sent), and the target and id
// fields become selects of the data file's columns once a server path is
// typed (GET /training/columns) or a file is chosen (its first line, read
// here). Without JavaScript every field shows and the server ignores the
// other algorithm's.
(function () {
  "use strict";

  function followAlgo(form) {
    var algo = form.querySelector("[data-algo-switch]").value;
    form.querySelectorAll("fieldset[data-algo]").forEach(function (fs) {
      var off = fs.dataset.algo !== algo;
      fs.hidden = off;
      fs.disabled = off;
    });
  }

  // columnField turns the target or id field into a select of cols,
  // keeping its value when it is one of them.
  function columnField(form, name, cols, optional) {
    var old = form.querySelector('[name="' + name + '"]');
    if (!old) { return; }
    var sel = document.createElement("select");
    sel.name = name;
    sel.required = old.required;
    sel.dataset.testid = name + "-select";
    if (optional) { sel.add(new Option("(none)", "")); }
    cols.forEach(function (c) { sel.add(new Option(c, c)); });
    if (cols.indexOf(old.value) >= 0) { sel.value = old.value; }
    else if (!optional) { sel.value = cols[cols.length - 1]; }
    old.replaceWith(sel);
  }

  function showColumns(form, cols, err) {
    var status = form.querySelector('[data-testid="columns-status"]');
    status.textContent = "";
    if (err) {
      var e = document.createElement("span");
      e.className = "error";
      e.textContent = err;
      status.appendChild(e);
      return;
    }
    columnField(form, "target", cols, false);
    columnField(form, "id", cols, true);
    status.textContent = cols.length + " columns read from the file's header.";
  }

  // headerOf splits the first line of a CSV file (quotes respected).
  function headerOf(text) {
    var line = text.replace(/^\ufeff/, "").split(/\r?\n/)[0], out = [], cur = "", q = false;
    for (var i = 0; i < line.length; i++) {
      var ch = line[i];
      if (q && ch === '"' && line[i + 1] === '"') { cur += '"'; i++; }
      else if (ch === '"') { q = !q; }
      else if (ch === "," && !q) { out.push(cur.trim()); cur = ""; }
      else { cur += ch; }
    }
    out.push(cur.trim());
    return out.filter(function (c) { return c !== ""; });
  }

  function readColumns(form, input) {
    if (input.type === "file") {
      var f = input.files && input.files[0];
      if (!f) { return; }
      f.slice(0, 65536).text().then(function (t) {
        var cols = headerOf(t);
        showColumns(form, cols, cols.length ? "" : "the file has no header line");
      });
      return;
    }
    if (!input.value.trim()) { return; }
    fetch(form.dataset.columns + "?data=" + encodeURIComponent(input.value.trim()),
      { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (r) { return r.json(); })
      .then(function (b) { showColumns(form, b.columns || [], b.error || ""); })
      .catch(function () { showColumns(form, [], "could not read the columns"); });
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("form.training-form").forEach(function (form) {
      var sw = form.querySelector("[data-algo-switch]");
      sw.addEventListener("change", function () { followAlgo(form); });
      followAlgo(form);
      form.querySelectorAll("[data-columns-source]").forEach(function (input) {
        input.addEventListener("change", function () { readColumns(form, input); });
      });
    });
  });
})();
