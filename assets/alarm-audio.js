/* infusion-monitor: alarm sound and audio pause, in the browser (no network, no files).
 *
 * IEC 60601-1-8 conventions: HIGH = 10-pulse burst (3+2, pause, 3+2) repeated every 6 s;
 * MEDIUM = 3-pulse burst every 8 s; LOW = a 2-pulse burst once per new alarm. Tones are
 * synthesised with Web Audio (a fundamental with 5 harmonics), lower pitch for lower priority.
 *
 * The server sends the alarm board (what the engine stored); this file only decides what
 * the page SOUNDS like: the highest unacknowledged priority, unless audio is paused.
 * A pause lasts 2 min; a new alarm of higher priority than the one paused (and any new HIGH
 * alarm) breaks through and ends the pause.
 * The page's alarm state is published as data-* attributes on #<prefix>-alarm-state.
 *
 * Which priority outranks which, and its word, come from the server with every update
 * (the #<prefix>-priorities store: the model's priority table, most urgent first); this
 * file keeps no copy. Only the sound of each priority is defined here.
 *
 * When the server stops answering (assets/connection-watch.js) the page adds a technical alarm
 * of its own, "connection lost", at the priority in the alarm state's data-connection-priority.
 * No alarm can reach the page then, so it never sounds less than it did: until the server answers
 * again it sounds the higher of that priority and the last alarm the server sent (the highest
 * unacknowledged one when the connection was lost), and it repeats for the whole outage whatever
 * the priority (a priority that does not repeat, low, repeats at the MEDIUM cadence then). The
 * status line and the technical zone say so ("connection to the monitor lost (last alarm: …)"),
 * written by this file: while a request hangs, Dash runs none of the page's callbacks.
 *
 * An escalation (an alarm nobody acknowledged in time, any chair: web/escalation.py's banner, on every
 * page) sounds through the same loop at the most urgent priority's pattern, beside the page's own
 * alarms; the page's pause does not silence it, the banner's own pause (same rules) does.
 *
 * Sound cannot be switched off from the page: the only silence is the 2-minute pause
 * (with break-through). The sound button only (re)enables audio the browser blocked, and
 * while it is blocked the status line says so instead of claiming an alarm is sounding.
 */
(function () {
  "use strict";
  var RANK = { none: 0 }; // urgency: higher sounds first; filled from the server's table
  var WORD = {};
  var TOP = null; // the most urgent priority: a new one always breaks through a pause
  function learn(table) {
    if (!table || !table.length) { return; }
    var n = table.length, rank = { none: 0 }, word = {};
    for (var i = 0; i < n; i++) {
      rank[table[i].name] = n - table[i].rank; // server rank 0 = most urgent
      word[table[i].name] = table[i].word;
      if (table[i].rank === 0) { TOP = table[i].name; }
    }
    RANK = rank; WORD = word;
  }
  function urgency(p) { return RANK[p] || 0; }
  var PAUSE_MS = 120000;
  var STALE_MS = 3500; // no update from any page for this long: stop sounding
  var CONNECTION_LOST_TEXT = "Connection to the monitor lost";
  var PATTERNS = {
    high: { freq: 880, pulse: 0.15, every: 6.0,
            onsets: [0, 0.21, 0.42, 0.84, 1.05, 1.9, 2.11, 2.32, 2.74, 2.95] },
    medium: { freq: 660, pulse: 0.2, every: 8.0, onsets: [0, 0.3, 0.6] },
    low: { freq: 520, pulse: 0.2, every: 0, onsets: [0, 0.35] }
  };
  // A lost connection is never a one-shot burst: its tone repeats at least as often as MEDIUM's.
  function repeating(priority) {
    var p = PATTERNS[priority];
    if (!p || (p.every && p.every <= PATTERNS.medium.every)) { return p; }
    return { freq: p.freq, pulse: p.pulse, every: PATTERNS.medium.every, onsets: p.onsets };
  }
  function connectionLost() { var c = window.infusionConnection; return !!(c && c.lost); }
  function louder(a, b) { return urgency(b) > urgency(a) ? b : a; }

  try { window.localStorage.removeItem("im-sound"); } catch (e) { /* an old "off" switch no longer counts */ }

  var audio = {
    ctx: null, wave: null, bus: null, wanted: true, sounding: "none", playing: "none", pausedUntil: null, nextAt: 0,
    lastUpdate: 0, onceHeard: {}, played: {},
    lastAlarm: "none", // the highest unacknowledged priority the server sent while it answered

    ensure: function () {
      if (!this.wanted) { return; }
      var AC = window.AudioContext || window.webkitAudioContext;
      if (!AC) { return; }
      try {
        if (!this.ctx) {
          this.ctx = new AC();
          var n = 6, real = new Float32Array(n), imag = new Float32Array(n);
          var amps = [0, 1, 0.55, 0.4, 0.3, 0.22];
          for (var i = 0; i < n; i++) { imag[i] = amps[i]; }
          this.wave = this.ctx.createPeriodicWave(real, imag);
        }
        if (this.ctx.state === "suspended") { this.ctx.resume(); }
      } catch (e) { this.ctx = null; }
    },
    status: function () {
      if (!this.ctx || this.ctx.state !== "running") { return "blocked"; }
      return "on";
    },
    enable: function () { this.ensure(); },
    silence: function () {
      if (this.bus) { try { this.bus.disconnect(); } catch (e) { /* already */ } this.bus = null; }
    },
    burst: function (priority, pattern) {
      var p = pattern || PATTERNS[priority];
      if (!p || this.status() !== "on") { return false; }
      var ctx = this.ctx, t0 = ctx.currentTime + 0.05;
      if (!this.bus) { this.bus = ctx.createGain(); this.bus.gain.value = 0.6; this.bus.connect(ctx.destination); }
      for (var i = 0; i < p.onsets.length; i++) {
        var t = t0 + p.onsets[i], osc = ctx.createOscillator(), g = ctx.createGain();
        osc.setPeriodicWave(this.wave);
        osc.frequency.value = p.freq;
        g.gain.setValueAtTime(0, t);
        g.gain.linearRampToValueAtTime(0.35, t + 0.02);
        g.gain.setValueAtTime(0.35, t + p.pulse - 0.03);
        g.gain.linearRampToValueAtTime(0, t + p.pulse);
        osc.connect(g); g.connect(this.bus);
        osc.start(t); osc.stop(t + p.pulse + 0.02);
      }
      this.played[priority] = (this.played[priority] || 0) + 1;
      return true;
    },
    update: function (sounding, unacked) {
      this.lastUpdate = Date.now();
      if (urgency(sounding) > urgency(this.sounding)) { this.nextAt = 0; }
      if (sounding !== this.sounding && urgency(sounding) < urgency(this.sounding)) { this.silence(); }
      this.sounding = sounding;
      if (sounding === "none") { return; }
      var fresh = [];
      for (var i = 0; i < unacked.length; i++) {
        var a = unacked[i], p = PATTERNS[a.priority];
        if (p && !p.every && !this.onceHeard[a.id]) { fresh.push(a.id); }
      }
      // a priority that does not repeat (low) is announced once per new alarm,
      // unless a higher one is sounding anyway
      if (fresh.length) {
        var q = PATTERNS[sounding];
        if (q && !q.every) { this.burst(sounding); }
        for (var j = 0; j < fresh.length; j++) { this.onceHeard[fresh[j]] = true; }
      }
    },
    paused: function () { return !!(this.pausedUntil && Date.now() < this.pausedUntil); },
    // What sounds now: the board's level, raised while the server is gone (unless paused) to the
    // higher of the connection-lost alarm and the last alarm the server sent. Decided here, not
    // only in update(): while a request hangs, Dash holds back the callbacks that would call
    // update(), and the page must sound anyway.
    // An escalation (the banner, web/escalation.py) sounds besides the page's own alarms, whatever
    // the page's own pause: only the banner's pause silences it.
    level: function () {
      var own = this.sounding;
      if (connectionLost() && !this.paused()) { own = louder(louder(own, this.lastAlarm), connectionPriority()); }
      return louder(own, this.escalationLevel());
    },
    escalated: "none", escalatedAt: 0,
    escalationLevel: function () { return Date.now() - this.escalatedAt > STALE_MS ? "none" : this.escalated; },
    loop: function () {
      if (this.sounding !== "none" && Date.now() - this.lastUpdate > STALE_MS) {
        this.sounding = "none"; this.silence();
      }
      var level = this.level();
      if (level !== this.playing) {
        if (urgency(level) > urgency(this.playing)) { this.nextAt = 0; } else { this.silence(); }
        this.playing = level;
      }
      showConnection(this);
      var p = connectionLost() ? repeating(level) : PATTERNS[level];
      if (!p || !p.every || this.status() !== "on") { return; }
      var now = this.ctx.currentTime;
      if (now >= this.nextAt && this.burst(level, p)) { this.nextAt = now + p.every; }
    }
  };
  window.setInterval(function () { audio.loop(); }, 200);
  if (audio.wanted) { audio.ensure(); }
  // Browsers allow sound only after a click: any click on the page (re)starts it if wanted.
  document.addEventListener("click", function (ev) {
    var t = ev.target;
    if (t && t.closest && t.closest(".btn-sound")) { return; } // the switch decides for itself
    if (audio.wanted && audio.status() !== "on") { audio.ensure(); }
  }, true);

  // The priority of "connection lost", put on the page's alarm state by the server while it was
  // up (data-connection-priority: the profile's device_disconnected priority).
  function connectionPriority() {
    var el = document.querySelector(".alarm-state");
    return (el && el.getAttribute("data-connection-priority")) || leastUrgent();
  }

  function leastUrgent() {
    var out = null;
    for (var p in RANK) {
      if (p !== "none" && (out === null || RANK[p] < RANK[out])) { out = p; }
    }
    return out || "none";
  }
  // The words of the priorities that still sound during a pause at this level (those
  // more urgent than it, and always the most urgent), least urgent first, joined by "/".
  function breaking(level) {
    var names = [];
    for (var p in RANK) {
      if (p !== "none" && (urgency(p) > urgency(level) || p === TOP)) { names.push(p); }
    }
    names.sort(function (a, b) { return urgency(a) - urgency(b); });
    return names.map(function (p) { return WORD[p]; }).join("/");
  }

  // The status line while the connection is lost: what sounds and why.
  function connectionText(level, paused, st, lastAlarm) {
    var why = "connection to the monitor lost" + (urgency(lastAlarm) > 0 ?
      " (last alarm: " + (WORD[lastAlarm] || lastAlarm) + ")" : "");
    if (paused) { return "AUDIO PAUSED " + clock(audio.pausedUntil - Date.now()) + " \u2014 " + why; }
    var word = WORD[level] || level.toUpperCase();
    if (st !== "on") {
      return "\u26A0 " + word + " ALARM SILENT: " + why + " and the browser blocks sound " +
             "\u2014 click anywhere on this page to enable it";
    }
    return "\u266A " + word + ": " + why + " \u2014 sounding until the monitor answers";
  }

  // While the connection is lost Dash may run no callback at all (a request hangs), so this file
  // writes the outage itself, beside the nodes React owns and never into them: a status line in
  // place of the alarm state's (hidden, not changed) and a tile on top of the technical zone
  // (its "No technical alarm" hidden). The first good answer removes both.
  function showConnection(a) {
    var state = document.querySelector(".alarm-state");
    if (!state) { return; }
    var id = state.id + "-connection", line = document.getElementById(id);
    var zone = document.querySelector(".technical-zone"), tile = document.getElementById("connection-lost-alarm");
    var none = zone ? zone.querySelectorAll(".alarm-none") : [];
    var i;
    if (!connectionLost()) {
      if (line) { line.parentNode.removeChild(line); state.hidden = false; }
      if (tile) { tile.parentNode.removeChild(tile); }
      for (i = 0; i < none.length; i++) { none[i].hidden = false; }
      return;
    }
    var level = a.level(), paused = a.paused();
    if (!line) {
      line = document.createElement("div");
      line.id = id; line.className = "alarm-state-connection"; line.setAttribute("role", "status");
      line.style.fontWeight = "bold"; line.style.fontSize = "1.2rem"; line.style.flex = "1 1 16rem";
      state.parentNode.insertBefore(line, state.nextSibling);
      state.hidden = true;
    }
    var text = connectionText(level, paused, a.status(), a.lastAlarm);
    if (line.textContent !== text) { line.textContent = text; }
    line.setAttribute("data-sounding", paused ? "none" : level);
    line.style.color = paused ? "#d2a8ff" : "var(--" + level + ")";
    if (!zone) { return; }
    var prio = connectionPriority();
    if (!tile) {
      tile = document.createElement("div");
      tile.id = "connection-lost-alarm";
      tile.setAttribute("data-kind", "technical"); tile.setAttribute("data-state", "active");
      var word = document.createElement("span"), msg = document.createElement("span"), since = document.createElement("span");
      word.className = "alarm-priority"; msg.className = "alarm-message"; since.className = "alarm-since";
      msg.textContent = CONNECTION_LOST_TEXT;
      var conn = window.infusionConnection, t = new Date(conn.since || Date.now());
      since.textContent = "since " + [t.getHours(), t.getMinutes(), t.getSeconds()].map(function (n) {
        return (n < 10 ? "0" : "") + n; }).join(":") + " \u00B7 until the monitor answers";
      tile.appendChild(word); tile.appendChild(msg); tile.appendChild(since);
      zone.insertBefore(tile, zone.firstChild);
    }
    tile.className = "alarm alarm-technical alarm-" + prio;
    tile.setAttribute("data-priority", prio);
    tile.firstChild.textContent = WORD[prio] || prio.toUpperCase();
    for (i = 0; i < none.length; i++) { none[i].hidden = true; }
  }

  function clock(ms) {
    var s = Math.max(0, Math.ceil(ms / 1000)), m = Math.floor(s / 60);
    s = s % 60;
    return m + ":" + (s < 10 ? "0" : "") + s;
  }

  function update(board, nTick, pauseClicks, soundClicks, prev, priorities) {
    learn(priorities);
    var cc = (window.dash_clientside && window.dash_clientside.callback_context) || {};
    var trig = (cc.triggered || []).map(function (t) { return t.prop_id || ""; });
    var hit = function (suffix) { return trig.some(function (id) { return id.slice(-suffix.length) === suffix; }); };
    var now = Date.now();
    var s = Object.assign({ paused_until: null, pause_level: null, known: [], breakthrough: false }, prev || {});
    board = board || [];
    // The server is gone (assets/connection-watch.js): the page sounds that on its own, as a
    // technical alarm at the priority the server gave the page while it was up.
    var conn = window.infusionConnection;
    if (!(conn && conn.lost)) {
      audio.lastAlarm = board.filter(function (a) { return !a.acked; }).reduce(function (m, a) {
        return louder(m, a.priority); }, "none");
    }
    if (conn && conn.lost) {
      board = board.concat([{ id: "connection-lost", priority: connectionPriority(), kind: "technical",
                              latched: false, acked: false }]);
    }
    var unacked = board.filter(function (a) { return !a.acked; });
    var highest = unacked.reduce(function (m, a) { return urgency(a.priority) > urgency(m) ? a.priority : m; }, "none");

    if (hit("sound-toggle.n_clicks") && soundClicks) { audio.enable(); }
    if (hit("audio-pause.n_clicks") && pauseClicks) {
      if (s.paused_until && now < s.paused_until) {
        s.paused_until = null; // resume early
      } else {
        s.paused_until = now + PAUSE_MS;
        s.pause_level = highest === "none" ? leastUrgent() : highest;
        s.known = board.map(function (a) { return a.id; });
        s.breakthrough = false;
      }
    }
    if (s.paused_until && now >= s.paused_until) { s.paused_until = null; }
    if (s.paused_until) {
      var brk = unacked.filter(function (a) { // a new HIGH alarm is never silenced by an earlier pause
        return s.known.indexOf(a.id) < 0 && (urgency(a.priority) > urgency(s.pause_level) || a.priority === TOP);
      });
      if (brk.length) { s.paused_until = null; s.breakthrough = true; s.breakthrough_id = brk[0].id; }
    }
    var paused = !!s.paused_until;
    audio.pausedUntil = s.paused_until;
    var remaining = paused ? Math.ceil((s.paused_until - now) / 1000) : 0;
    var sounding = paused ? "none" : highest;
    audio.update(sounding, unacked);
    var st = audio.status();

    var text;
    if (conn && conn.lost) {
      sounding = audio.level(); // the same as the sound: see level()
      text = connectionText(sounding, paused, st, audio.lastAlarm);
      showConnection(audio); // the visible status line, now rather than at the next loop
    } else if (paused) {
      text = "AUDIO PAUSED " + clock(s.paused_until - now) + " \u2014 new " +
             breaking(s.pause_level) + " alarms still sound";
    } else if (sounding !== "none" && st !== "on") {  // never claim a sound that is not playing
      text = "\u26A0 " + (WORD[sounding] || sounding.toUpperCase()) + " ALARM SILENT: the browser blocks sound " +
             "\u2014 click anywhere on this page to enable it";
    } else if (sounding !== "none") {
      text = "\u266A " + (WORD[sounding] || sounding.toUpperCase()) + " alarm sounding" +
             (s.breakthrough ? " (pause ended: higher-priority alarm)" : "");
    } else {
      text = unacked.length ? "" : "No alarm sounding";
    }
    var pauseLabel = paused ? "Audio paused " + clock(s.paused_until - now) + " \u2014 resume" : "Pause audio 2 min";
    var pauseClass = "btn btn-pause" + (paused ? " btn-paused" : "");
    var soundLabel = { on: "\u266A Sound on (to silence: Pause audio 2 min)",
                       blocked: "\u2715 SOUND BLOCKED by the browser \u2014 click to enable" }[st];
    var soundClass = "btn btn-sound sound-" + st;
    return [s, highest, sounding, String(paused), String(remaining), String(!!s.breakthrough), st,
            String(unacked.length), text,
            pauseLabel, pauseClass, soundLabel, soundClass];
  }

  // The escalation banner (web/escalation.py): alarms nobody acknowledged in time, from any chair.
  // They sound at the most urgent priority's pattern, on every page. The banner's own pause follows
  // the page's rules: 2 minutes, and an escalation not there when it began breaks through.
  function escalation(rows, nTick, pauseClicks, prev, priorities) {
    learn(priorities);
    var cc = (window.dash_clientside && window.dash_clientside.callback_context) || {};
    var trig = (cc.triggered || []).map(function (t) { return t.prop_id || ""; });
    var now = Date.now();
    var s = Object.assign({ paused_until: null, known: [], breakthrough: false }, prev || {});
    rows = rows || [];
    var ids = rows.map(function (a) { return a.id; });
    if (trig.indexOf("esc-audio-pause.n_clicks") >= 0 && pauseClicks) {
      if (s.paused_until && now < s.paused_until) { s.paused_until = null; } else if (rows.length) {
        s.paused_until = now + PAUSE_MS; s.known = ids; s.breakthrough = false;
      }
    }
    if (s.paused_until && now >= s.paused_until) { s.paused_until = null; }
    if (s.paused_until && ids.some(function (i) { return s.known.indexOf(i) < 0; })) {
      s.paused_until = null; s.breakthrough = true;
    }
    var paused = !!s.paused_until;
    var sounding = rows.length && !paused ? (TOP || "high") : "none";
    audio.escalated = sounding; audio.escalatedAt = now;
    if (sounding !== "none" && audio.wanted && audio.status() !== "on") { audio.ensure(); }
    var st = audio.status(), text;
    if (!rows.length) { text = ""; } else if (paused) {
      text = "AUDIO PAUSED " + clock(s.paused_until - now) + " \u2014 a new escalation still sounds";
    } else if (st !== "on") {
      text = "\u26A0 ALARM SILENT: the browser blocks sound \u2014 click anywhere on this page to enable it";
    } else {
      text = "\u266A sounding until acknowledged at the bedside" + (s.breakthrough ? " (pause ended: new escalation)" : "");
    }
    var label = paused ? "Audio paused " + clock(s.paused_until - now) + " \u2014 resume" : "Pause audio 2 min";
    return [s, sounding, st, text, label, "btn btn-pause" + (paused ? " btn-paused" : "")];
  }

  window.infusionAudio = audio;
  window.dash_clientside = Object.assign({}, window.dash_clientside, {
    infusionAlarms: { update: update, escalation: escalation }
  });
}());
