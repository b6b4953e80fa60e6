/* infusion-monitor: the live pages notice on their own when the monitor's server stops answering.
 *
 * The bedside and the overview update once a second through Dash (POST _dash-update-component).
 * This file watches those requests (it wraps window.fetch; nothing else changes). When a request
 * has failed since the last good answer, or one has waited, and no good answer came for LOST_MS,
 * the connection counts as lost: the page says so in a banner above everything ("connection to
 * the monitor lost", since when), greys its numerics and shows their age, and sounds a technical
 * alarm through the page's own alarm sound (assets/alarm-audio.js reads `infusionConnection.lost`
 * and, no server needed, sounds the higher of the priority the server gave the page while it was
 * up and the last alarm it was sounding, repeating for the whole outage; it also writes the status
 * line and the "Connection to the monitor lost" tile in the technical zone).
 * The first good answer ends all of it by itself.
 *
 * State for people and tests: window.infusionConnection (lost, since, lastOk, reason) and the
 * data-connection attribute on <body> ("ok" / "lost").
 *
 * It also keeps each page's tick from being replaced (monitor/web/ticks.py). Dash keeps only the
 * newest request of a callback: an answer still on its way when the 1 s interval asks again is
 * thrown away, so a server that needs more than a second for a tick (a busy machine, a long
 * session's first tick) would answer every request "ok" while the page never changed. The
 * gate (dash_clientside.infusionTicks) lets the interval through only when no tick of that
 * page is on its way, or when the newest on its way has waited STUCK_MS (it is then reported
 * lost above, and a new request is the way back); a beat held back goes as soon as the answer
 * is in. A tick counts as answered when its body is read, not at its headers, and an answer
 * Dash throws away never counts as the page being current. window.infusionTicks: per page,
 * the requests on their way, the beats held back and sent, and busy(page) for live-push.js.
 */
(function () {
  "use strict";
  var LOST_MS = 4000; // the live pages tick every second: about four missed ticks
  var CHECK_MS = 500;
  var STUCK_MS = 10000; // a tick on its way this long may be replaced (the page already says "lost")
  // the inputs that make a request a page's tick (monitor/web/ticks.py): the gated beat, the push
  var TICK_INPUT = /^(bed|ov|esc)-(beat|push)$/;
  var watch = {
    lost: false, since: null, lastOk: Date.now(), failedAt: null, reason: "", pending: {}, nextId: 0,
    wasLive: false
  };
  window.infusionConnection = watch;

  function isUpdate(input) {
    var url = typeof input === "string" ? input : (input && input.url) || "";
    return url.indexOf("_dash-update-component") >= 0;
  }

  var ticks = {
    pending: { bed: {}, ov: {}, esc: {} },   // per page: request id -> when it was sent
    held: { bed: 0, ov: 0, esc: 0 }, sent: { bed: 0, ov: 0, esc: 0 }, owed: { bed: 0, ov: 0, esc: 0 },
    paid: { bed: 0, ov: 0, esc: 0 },         // owed beats sent when the answer came
    newest: {}                               // per callback (its outputs): the id of its newest request
  };
  window.infusionTicks = ticks;

  // Which page's tick a callback request is ("bed", "ov", "esc"), or null, and which callback
  // (its outputs): by its inputs, so the first tick of a page (no input changed yet) counts as
  // well as the beats and pushes after it.
  function tickOf(init) {
    var body = init && typeof init.body === "string" ? init.body : "";
    if (body.indexOf("-beat") < 0 && body.indexOf("-push") < 0) { return null; }
    try {
      var parsed = JSON.parse(body), inputs = parsed.inputs || [];
      for (var i = 0; i < inputs.length; i++) {
        var m = typeof inputs[i].id === "string" && TICK_INPUT.exec(inputs[i].id);
        if (m) { return { page: m[1], callback: String(parsed.output) }; }
      }
    } catch (e) { /* not Dash's JSON: not a tick */ }
    return null;
  }

  function oldestOf(map) {
    var oldest = null;
    for (var k in map) {
      if (Object.prototype.hasOwnProperty.call(map, k) && (oldest === null || map[k] < oldest)) { oldest = map[k]; }
    }
    return oldest;
  }

  function newestOf(map) {
    var newest = null;
    for (var k in map) {
      if (Object.prototype.hasOwnProperty.call(map, k) && (newest === null || map[k] > newest)) { newest = map[k]; }
    }
    return newest;
  }

  // A tick of this page is on its way, and not for STUCK_MS yet (the newest: one that never
  // settles does not keep the gate open for the rest of the page's life).
  ticks.busy = function (page) {
    var since = newestOf(ticks.pending[page] || {});
    return since !== null && Date.now() - since < STUCK_MS;
  };

  // The clientside callback between a page's dcc.Interval and its beat store: the beat goes only
  // when the page's last tick has been answered (see the top of this file). A beat held back is
  // owed, and goes the moment that answer is in (settled below): pushes that keep the page busy
  // cannot starve what only the beat runs (the overview's new chairs).
  function gate(page) {
    return function (n) {
      if (ticks.busy(page)) {
        ticks.held[page] += 1; ticks.owed[page] = 1;
        return window.dash_clientside.no_update;
      }
      ticks.sent[page] += 1;
      return n;
    };
  }
  window.dash_clientside = Object.assign({}, window.dash_clientside, {
    infusionTicks: { bed: gate("bed"), ov: gate("ov"), esc: gate("esc") }
  });

  // what is drawn while each page is (a dcc.Store has no element of its own to look for)
  var PAGE_ELEMENT = { bed: ".bedside", ov: ".overview", esc: "#escalation-banner" };

  function payOwed(page) {
    var api = window.dash_clientside;
    if (!ticks.owed[page] || ticks.busy(page) || !api || !api.set_props) { return; }
    if (!document.querySelector(PAGE_ELEMENT[page])) { ticks.owed[page] = 0; return; } // the page was left
    ticks.owed[page] = 0; ticks.sent[page] += 1; ticks.paid[page] += 1;
    api.set_props(page + "-beat", { data: -ticks.sent[page] }); // any new value: the beat's n is not needed
  }

  function lostReason(status) {
    return status === 401 ? "this screen is signed out: reload the page and sign in again"
      : status === 403 ? "this screen's login may not see this page (HTTP 403)"
      : "the monitor answers with an error (HTTP " + status + ")";
  }

  var plainFetch = window.fetch;
  window.fetch = function (input, init) {
    if (!isUpdate(input)) { return plainFetch.apply(this, arguments); }
    var id = ++watch.nextId, which = tickOf(init), page = which && which.page;
    // Only the live tick's answer (the bedside's or the overview's, beat or push) says the page is
    // current: a form's answer (which may report a database problem with HTTP 200) during an
    // outage must not end the banner and its sound.
    var tick = page === "bed" || page === "ov";
    watch.pending[id] = Date.now();
    if (page) { ticks.pending[page][id] = watch.pending[id]; ticks.newest[which.callback] = id; }
    function failed(reason, signedOut) {
      delete watch.pending[id];
      if (page) { delete ticks.pending[page][id]; payOwed(page); }
      watch.failedAt = Date.now(); watch.reason = reason; watch.signedOut = !!signedOut;
    }
    // A tick is answered once its body is read and Dash has applied it, not at its headers: until
    // then it is still on its way, for the gate (a beat in between would replace it) and for the
    // banner (a body that stalls is a page that does not change).
    function settled() {
      delete watch.pending[id];
      // an answer Dash throws away (a newer request of the same callback went, after STUCK_MS)
      // does not make the page current
      if (tick && ticks.newest[which.callback] === id) {
        watch.lastOk = Date.now(); watch.failedAt = null; watch.reason = ""; watch.signedOut = false;
        check();
      }
      window.setTimeout(function () { delete ticks.pending[page][id]; payOwed(page); }, 50);
    }
    return plainFetch.apply(this, arguments).then(function (res) {
      if (!res.ok) {
        failed(lostReason(res.status), res.status === 401);
        return res;
      }
      if (!page) {
        delete watch.pending[id];
        return res;
      }
      res.clone().text().then(settled, function () { failed("the monitor's answer was cut off"); });
      return res;
    }, function (err) {
      failed("the monitor does not answer");
      throw err;
    });
  };

  function livePage() { return !!document.querySelector(".alarm-state"); }

  function oldestPending() { return oldestOf(watch.pending); }

  function two(n) { return (n < 10 ? "0" : "") + n; }
  function clockText(ms) {
    var d = new Date(ms);
    return two(d.getHours()) + ":" + two(d.getMinutes()) + ":" + two(d.getSeconds());
  }
  function ageText(ms) {
    var s = Math.max(0, Math.round(ms / 1000));
    return s < 120 ? s + " s" : Math.floor(s / 60) + " min";
  }

  function banner() {
    var b = document.getElementById("connection-banner");
    if (!b) {
      b = document.createElement("div");
      b.id = "connection-banner";
      b.className = "connection-banner";
      b.setAttribute("role", "alert");
      b.setAttribute("aria-live", "assertive");
      document.body.insertBefore(b, document.body.firstChild); // outside Dash's tree: React never redraws it
    }
    return b;
  }

  function show(now) {
    var age = ageText(now - watch.lastOk);
    var stale = ") \u2014 the values on this page are from " + clockText(watch.lastOk) + ", " + age +
      " old, and no new alarm can reach this page. ";
    banner().textContent = watch.signedOut
      ? "\u26A0 SIGNED OUT: THIS SCREEN IS NOT MONITORING (the login ended" + stale +
        "Reload the page and sign in again to resume alarms; watch the patients and their devices meanwhile."
      : "\u26A0 CONNECTION TO THE MONITOR LOST (" + (watch.reason || "the monitor does not answer") + stale +
        "Watch the patients and their devices; check the monitor computer.";
    var numerics = document.querySelectorAll(".numeric, .tile");
    for (var i = 0; i < numerics.length; i++) { numerics[i].setAttribute("data-stale-age", age + " old"); }
  }

  function recover() {
    watch.lost = false; watch.since = null;
    document.body.classList.remove("connection-lost");
    document.body.setAttribute("data-connection", "ok");
    var b = document.getElementById("connection-banner");
    if (b) { b.parentNode.removeChild(b); }
    var stale = document.querySelectorAll("[data-stale-age]");
    for (var i = 0; i < stale.length; i++) { stale[i].removeAttribute("data-stale-age"); }
  }

  function check() {
    var now = Date.now();
    if (!livePage()) { // a review page has no tick to miss
      watch.wasLive = false;
      if (watch.lost) { recover(); }
      return;
    }
    if (!watch.wasLive) { watch.wasLive = true; watch.lastOk = Math.max(watch.lastOk, now); }
    var waiting = oldestPending();
    var silent = now - watch.lastOk > LOST_MS &&
      ((watch.failedAt !== null && watch.failedAt >= watch.lastOk) || (waiting !== null && now - waiting > LOST_MS));
    if (silent && !watch.lost) {
      watch.lost = true; watch.since = now;
      document.body.classList.add("connection-lost");
      document.body.setAttribute("data-connection", "lost");
    } else if (!silent && watch.lost) {
      recover();
    }
    if (watch.lost) { show(now); }
  }

  window.setInterval(check, CHECK_MS);
}());
