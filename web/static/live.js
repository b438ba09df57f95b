// driftd live tables: follow new Kafka messages, load the consumer lag
// charts, and tick every row of a list at once. Plain JavaScript, no build.
(function () {
  "use strict";

  // Follow: while the box is ticked and the tab is visible, ask the
  // server every 2 seconds for the messages after the offsets seen so far
  // (data-after, "partition:offset,...") and put them on top of the table,
  // keeping at most data-max rows.
  function follow(box) {
    var toggle = box.querySelector("[data-follow-toggle]");
    var status = box.querySelector("[data-follow-status]");
    var wrap = document.querySelector("[data-messages]");
    var body = wrap && wrap.querySelector("tbody");
    var max = parseInt(box.dataset.max, 10) || 500;
    var timer = null, busy = false, added = 0;

    function say(text) { status.textContent = text; }

    function poll() {
      if (busy) { return; }
      busy = true;
      var url = box.dataset.follow + (box.dataset.follow.indexOf("?") < 0 ? "?" : "&") + "after=" + encodeURIComponent(box.dataset.after);
      fetch(url, { headers: { Accept: "text/html" }, credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
        .then(function (html) {
          busy = false;
          var tpl = document.createElement("template");
          tpl.innerHTML = html;
          var fresh = tpl.content.querySelector("tbody");
          if (!fresh) { return; }
          box.dataset.after = fresh.dataset.after;
          var rows = Array.prototype.slice.call(fresh.children);
          rows.forEach(function (tr) { tr.classList.add("fresh"); });
          for (var i = rows.length - 1; i >= 0; i--) { body.insertBefore(rows[i], body.firstChild); }
          while (body.children.length > max) { body.removeChild(body.lastElementChild); }
          if (rows.length > 0) {
            wrap.hidden = false;
            var empty = document.querySelector('[data-testid="messages-empty"]');
            if (empty) { empty.hidden = true; }
          }
          added += rows.length;
          var skipped = parseInt(fresh.dataset.skipped, 10) || 0;
          say("Following: " + added + " new since you started" + (skipped > 0 ? "; " + skipped + " more arrived too fast to show" : "") +
            " (at most " + max + " rows kept).");
        })
        .catch(function () { busy = false; say("Following: the last poll failed; retrying."); });
    }

    function start() {
      if (timer || !toggle.checked || document.hidden) { return; }
      poll();
      timer = setInterval(poll, 2000);
      say("Following new messages…");
    }
    function stop(why) {
      if (timer) { clearInterval(timer); timer = null; }
      say(why);
    }
    toggle.addEventListener("change", function () {
      if (toggle.checked) { start(); } else { stop(""); }
    });
    document.addEventListener("visibilitychange", function () {
      if (!toggle.checked) { return; }
      if (document.hidden) { stop("Paused while the tab is hidden."); } else { start(); }
    });
  }

  // The lag charts: an element with data-lag-src loads the fragment at
  // once and every minute (the server samples once a minute); the range
  // links reload it in place.
  function lagCharts(slot) {
    var src = slot.dataset.lagSrc;
    function load() {
      fetch(src, { headers: { Accept: "text/html" }, credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.text() : null; })
        .then(function (html) { if (html !== null) { slot.innerHTML = html; } })
        .catch(function () { /* the next load retries */ });
    }
    slot.addEventListener("click", function (ev) {
      var a = ev.target.closest && ev.target.closest("a[data-lag-range]");
      if (!a) { return; }
      ev.preventDefault();
      src = "/kafka/lag?fragment=1&range=" + encodeURIComponent(a.dataset.lagRange);
      load();
    });
    load();
    setInterval(function () { if (!document.hidden) { load(); } }, 60000);
  }

  // A checkbox with data-select-all ticks every checkbox of its form.
  document.addEventListener("change", function (ev) {
    var all = ev.target;
    if (!all.matches || !all.matches("input[data-select-all]")) { return; }
    all.form.querySelectorAll('input[type="checkbox"][name="id"]').forEach(function (c) { c.checked = all.checked; });
  });

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-follow]").forEach(follow);
    document.querySelectorAll("[data-lag-src]").forEach(lagCharts);
  });
})();
