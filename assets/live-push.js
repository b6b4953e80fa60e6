/* infusion-monitor: the live pages update the moment their chair has something new.
 *
 * The bedside (/chair/<name>) and the overview (/) tick once a second through Dash. This file
 * opens the push channel (GET /live/<chair>, or /live/* for the overview: server-sent events,
 * monitor/web/live.py) and, when the server says the chair changed, runs the page's tick at once
 * by setting the page's push store (bed-push / ov-push), an input of the tick callback. The tick
 * reads only what is new, so a push costs what a second's tick costs.
 *
 * The 1 s tick never stops: it is the fallback whenever the channel is down (server restarting,
 * too many pages, a proxy that buffers), and it keeps the clock and the device checks current.
 * Which one the page is on is shown in the corner ("Updates: instant" / "Updates: every second")
 * and in <body data-live="push|poll">; window.infusionLive holds the counts for tests.
 */
(function () {
  "use strict";
  var REOPEN_MS = 5000;           // after a refused or failed channel, try again this often
  var RECONNECT_GRACE_MS = 2500;  // a channel back within this is no change of mode worth showing
  var GAP_MS = { bed: 60, ov: 250 }; // at most one pushed tick per gap; a push in between waits for it
  var state = {
    mode: "poll", channel: null, source: null, pushes: 0, ticks: 0, lastTick: 0, timer: null,
    reopenAt: 0, reason: "starting", reconnecting: null, renewals: 0
  };
  window.infusionLive = state;

  function wanted() {
    var path = window.location.pathname;
    if (path === "/" || path === "") { return { page: "ov", chair: "*" }; }
    if (path.indexOf("/chair/") === 0 && path.length > 7) {
      return { page: "bed", chair: decodeURIComponent(path.slice(7).replace(/\/+$/, "")) || "1" };
    }
    return null;
  }

  function badge() {
    var b = document.getElementById("live-mode");
    if (!b) {
      b = document.createElement("div");
      b.id = "live-mode";
      b.className = "live-mode";
      b.setAttribute("role", "status");
      document.body.appendChild(b); // outside Dash's tree: React never redraws it
    }
    return b;
  }

  function setMode(mode, reason) {
    state.mode = mode; state.reason = reason || "";
    document.body.setAttribute("data-live", mode);
    var b = badge();
    b.className = "live-mode live-mode-" + mode;
    b.textContent = mode === "push" ? "Updates: instant"
      : "Updates: every second" + (state.reason ? " (" + state.reason + ")" : "");
    b.title = mode === "push" ? "New readings and alarms appear as they arrive."
      : "The instant channel is not available; the page still updates every second.";
  }

  // A tick asked while another of this page is still on its way would replace it (Dash keeps the
  // newest request of a callback): wait for the answer, so a busy server is never asked faster
  // than it answers (connection-watch.js keeps the ticks on their way, per page).
  function busy(page) {
    var ticks = window.infusionTicks;
    return !!(ticks && ticks.busy(page));
  }

  function pushTick() {
    state.timer = null;
    var api = window.dash_clientside;
    if (!api || !api.set_props || !state.channel) { return; }
    // the page's own layout must be drawn first: Dash cannot set a component it has not placed
    if (!document.querySelector(state.channel.page === "bed" ? ".bedside" : ".overview")) { return; }
    if (busy(state.channel.page)) { state.timer = window.setTimeout(pushTick, 20); return; }
    state.lastTick = Date.now(); state.ticks += 1;
    api.set_props(state.channel.page + "-push", { data: state.ticks });
  }

  function onChanged() {
    state.pushes += 1;
    if (state.timer !== null) { return; } // one is already due: it reads this change too
    var wait = state.lastTick + GAP_MS[state.channel.page] - Date.now();
    state.timer = window.setTimeout(pushTick, Math.max(0, wait));
  }

  function close(reason) {
    if (state.source) { state.source.close(); state.source = null; }
    if (state.timer !== null) { window.clearTimeout(state.timer); state.timer = null; }
    state.channel = null;
    setMode("poll", reason);
  }

  // since: the id of the last event of the stream this one follows (on "renew"), so the server
  // tells at once what changed between the two; the page stays "instant" meanwhile.
  function open(want, since) {
    var url = "/live/" + encodeURIComponent(want.chair);
    var source = new EventSource(since ? url + "?since=" + encodeURIComponent(since) : url);
    state.source = source; state.channel = want;
    if (!since) {
      setMode("poll", "connecting");
    } else { // a renewal still "instant": unless the next stream says hello within the grace
      window.setTimeout(function () {
        if (state.source === source && source.readyState !== EventSource.OPEN) {
          setMode("poll", "instant channel reconnecting");
        }
      }, RECONNECT_GRACE_MS);
    }
    source.addEventListener("hello", function () {
      if (state.source === source) { setMode("push"); }
    });
    source.addEventListener("changed", function () { if (state.source === source) { onChanged(); } });
    // the server ends each stream after a while (through the sign-in gate again): the next
    // one is opened now, not after EventSource's own reconnect delay, in which nothing is pushed
    source.addEventListener("renew", function (ev) {
      if (state.source !== source) { return; }
      source.close();
      state.renewals += 1;
      open(want, ev.lastEventId || "renew");
    });
    source.onerror = function () {
      if (state.source !== source) { return; }
      if (source.readyState === EventSource.CLOSED) { // refused (503, 401) or not a stream: try later
        state.source = null; state.channel = null; state.reopenAt = Date.now() + REOPEN_MS;
        setMode("poll", "instant channel refused");
      } else if (state.mode === "push" && !state.reconnecting) {
        // EventSource retries by itself; a stream the server ends on schedule (web/live.py,
        // STREAM_LIFETIME_S) is back within RETRY_MS: say "every second" only if it is not
        state.reconnecting = window.setTimeout(function () {
          state.reconnecting = null;
          if (state.source === source && source.readyState !== EventSource.OPEN) {
            setMode("poll", "instant channel reconnecting");
          }
        }, RECONNECT_GRACE_MS);
      }
    };
  }

  function check() {
    var want = wanted();
    var have = state.channel;
    if (want === null) { // a review page has nothing live to say
      if (state.source) { close(""); }
      var b = document.getElementById("live-mode");
      if (b) { b.parentNode.removeChild(b); }
      document.body.removeAttribute("data-live");
      return;
    }
    if (have && (have.page !== want.page || have.chair !== want.chair)) { close("changing page"); }
    if (!state.source && Date.now() >= state.reopenAt) { open(want); }
  }

  if (typeof window.EventSource !== "function") { return; } // no push: the 1 s tick only
  window.setInterval(check, 500);
  check();
}());
