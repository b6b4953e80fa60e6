/* infusion-monitor: the bedside trend, extended in place (docs/ARCHITECTURE.md, "The live trend").
 *
 * The server sends the trend's figure once (a page's first tick, monitor/web/trend.py `start`);
 * each later tick writes only what is new to the dcc.Store `bed-trend-new`, and this function
 * (a clientside callback, trend.register) appends it with Plotly.extendTraces on the graph's div.
 * The figure prop is never set again, so dcc.Graph never re-plots the whole session.
 *
 * HR and SpO2 show the newest half hour at full resolution. Each message carries the minutes it
 * closed, already decimated by the server (lowest and highest reading of the minute), and where
 * the window now starts; a closed minute waits here until the window start passes its end, then
 * its `n` points leave the full-resolution trace and its decimated points join the older-part
 * trace, in the same extendTraces call. So the figure stays bounded by the window, not the session.
 *
 * Each message names the figure it extends (`base`) and is numbered (`seq`). A message that
 * arrives before its figure is plotted waits; one that cannot be placed (a message missed, or the
 * graph re-plotted without what was added) asks the server for a whole new figure by clearing the
 * page's session in bed-state, so the page never shows a trend with a hole in it.
 * For tests and the benchmark: `bed-trend-applied` holds the last message placed (base, seq), and
 * the graph div's `_infusionTrend` what this page keeps (figure id, seq, pending minutes).
 */
(function () {
  "use strict";
  var RETRY_MS = 100, RETRY_MAX = 50, RESYNC_MS = 1500, RESYNC_TRIES = 20;
  var queue = [], timer = null, lastState = null, resyncing = false;

  function graphDiv() { return document.querySelector("#bed-trend .js-plotly-plot"); }

  function figureMeta(gd) { return gd && gd.layout && gd.layout.meta && gd.layout.meta.trend; }

  // What this page knows of the plotted figure beyond its data: reset from the figure's meta
  // each time the server sends a whole figure.
  function stateOf(gd) {
    var meta = figureMeta(gd);
    if (!meta) { return null; }
    var st = gd._infusionTrend;
    if (!st || st.id !== meta.id) {
      st = {id: meta.id, seq: 0, history: meta.history, events: meta.events, pending: {}, lengths: {}};
      Object.keys(meta.pending || {}).forEach(function (k) { st.pending[k] = meta.pending[k].slice(); });
      Object.keys(meta.history || {}).forEach(function (k) { st.lengths[k] = gd.data[+k].x.length; });
      gd._infusionTrend = st;
    }
    return st;
  }

  // Ask for a whole figure until one comes: a tick already on its way when the page clears its
  // session in bed-state answers with the old bed-state and would undo a single ask.
  function resync() {
    queue = [];
    if (resyncing) { return; }
    var from = (stateOf(graphDiv()) || {}).id, tries = 0;
    resyncing = true;
    (function ask() {
      var now = stateOf(graphDiv());
      if ((now && now.id !== from) || ++tries > RESYNC_TRIES) { resyncing = false; return; }
      if (lastState && window.dash_clientside && window.dash_clientside.set_props) {
        // the next tick then answers with a whole figure (bedside._first_tick)
        window.dash_clientside.set_props("bed-state", {data: {chair: lastState.chair, session_id: null}});
      }
      setTimeout(ask, RESYNC_MS);
    }());
  }

  function place(gd, st, msg) {
    var k, i, t;
    // a window trace that is not as long as this page made it was re-plotted from elsewhere
    for (k in st.lengths) {
      if (gd.data[+k].x.length !== st.lengths[k]) { return false; }
    }
    Object.keys(msg.closed || {}).forEach(function (k) {
      st.pending[k] = (st.pending[k] || []).concat(msg.closed[k]);
    });
    var add = {}, keep = {};
    Object.keys(msg.extend || {}).forEach(function (k) { add[k] = msg.extend[k]; });
    if (msg.boundary !== null && msg.boundary !== undefined) {
      for (k in st.pending) {
        var q = st.pending[k], n = 0, hx = [], hy = [];
        while (q.length && q[0].end <= msg.boundary) {
          var b = q.shift();
          n += b.n; hx = hx.concat(b.x); hy = hy.concat(b.y);
        }
        if (n) {
          keep[k] = -n;
          add[st.history[k]] = [hx, hy];
        }
      }
    }
    var indices = [], xs = [], ys = [], maxPoints = [];
    for (t in add) {
      i = +t;
      var len = gd.data[i].x.length + add[t][0].length + (keep[t] || 0);
      indices.push(i); xs.push(add[t][0]); ys.push(add[t][1]); maxPoints.push(len);
    }
    for (t in keep) {  // a window trace with nothing new that still loses a minute
      if (!(t in add)) {
        i = +t;
        indices.push(i); xs.push([]); ys.push([]); maxPoints.push(gd.data[i].x.length + keep[t]);
      }
    }
    var Plotly = window.Plotly;
    // maxPoints per attribute and trace: each trace keeps its length plus what is new, less what retired
    if (indices.length) { Plotly.extendTraces(gd, {x: xs, y: ys}, indices, {x: maxPoints, y: maxPoints}); }
    if (msg.marks) {
      Plotly.extendTraces(gd, {x: [msg.marks[0]], y: [msg.marks[1]], text: [msg.marks[2]]}, [st.events]);
    }
    var layout = {};
    if (msg.notes && msg.notes.length) {
      var at = (gd.layout.annotations || []).length;
      msg.notes.forEach(function (note, j) { layout["annotations[" + (at + j) + "]"] = note; });
    }
    if (msg.shapes) { layout.shapes = msg.shapes; }
    if (Object.keys(layout).length) { Plotly.relayout(gd, layout); }
    for (k in st.lengths) { st.lengths[k] = gd.data[+k].x.length; }
    st.seq = msg.seq;
    if (window.dash_clientside.set_props) {  // for tests and the benchmark: what the graph now holds
      window.dash_clientside.set_props("bed-trend-applied", {data: {base: msg.base, seq: msg.seq}});
    }
    return true;
  }

  function drain() {
    timer = null;
    while (queue.length) {
      var item = queue[0], gd = graphDiv(), st = stateOf(gd);
      if (!gd || !window.Plotly || !st || st.id !== item.msg.base) {
        if (++item.tries > RETRY_MAX) { resync(); return; }  // its figure never came
        timer = setTimeout(drain, RETRY_MS);
        return;
      }
      queue.shift();
      if (item.msg.seq <= st.seq) { continue; }  // already applied
      var placed = false;
      try {
        placed = item.msg.seq === st.seq + 1 && place(gd, st, item.msg);
      } catch (err) {
        if (window.console) { window.console.error("trend: message not placed", err); }
      }
      if (!placed) { resync(); return; }
    }
  }

  window.dash_clientside = window.dash_clientside || {};
  window.dash_clientside.infusionTrend = {
    apply: function (msg, pageState) {
      if (!msg) { return window.dash_clientside.no_update; }
      lastState = pageState;
      // a message for another figure than the queued ones: those figures are gone
      queue = queue.filter(function (item) { return item.msg.base === msg.base; });
      queue.push({msg: msg, tries: 0});
      if (!timer) { drain(); }
      return window.dash_clientside.no_update;
    }
  };
})();
