/* Shared by the example pages (echo, chat), served at /page.js: the log, the clock and the readyState badge. */
var RxwsPage = (function () {
  'use strict';

  var STATES = ['CONNECTING', 'OPEN', 'CLOSING', 'CLOSED'];
  var CLOSE_NAMES = {
    1000: 'normal closure', 1001: 'going away', 1002: 'protocol error', 1003: 'unsupported data',
    1005: 'no status received', 1006: 'abnormal closure', 1007: 'invalid frame payload data',
    1008: 'policy violation', 1009: 'message too big', 1010: 'mandatory extension',
    1011: 'internal error', 1012: 'service restart', 1013: 'try again later', 1015: 'TLS handshake failure'
  };
  var MAX_LINES = 1000; // older log lines are dropped past this

  function pad(n, width) { return String(n).padStart(width, '0'); }

  function timestamp(at) {
    var d = at ? new Date(at) : new Date();
    return pad(d.getHours(), 2) + ':' + pad(d.getMinutes(), 2) + ':' + pad(d.getSeconds(), 2) + '.' + pad(d.getMilliseconds(), 3);
  }

  /** Appends <div class="line CLASSES"><time/><span.kind>LABEL</span><span.payload>TEXT</span></div>, keeping the view at the bottom. */
  function logLine(logEl, classes, label, text, at) {
    var stick = logEl.scrollTop + logEl.clientHeight >= logEl.scrollHeight - 24;
    var line = document.createElement('div');
    line.className = 'line ' + classes;
    var time = document.createElement('time');
    time.textContent = timestamp(at);
    var kind = document.createElement('span');
    kind.className = 'kind';
    kind.textContent = label;
    kind.title = label;
    var payload = document.createElement('span');
    payload.className = 'payload';
    payload.textContent = text;
    line.append(time, kind, payload);
    logEl.appendChild(line);
    while (logEl.childElementCount > MAX_LINES) logEl.firstElementChild.remove();
    if (stick) logEl.scrollTop = logEl.scrollHeight;
  }

  /** The page's own host, on the WebSocket scheme that matches the page's. */
  function defaultUrl() {
    return location.host ? (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/ws' : 'ws://localhost:8080/ws';
  }

  /** Shows a socket's readyState (or CLOSED without one) on a badge; returns the state. */
  function showState(badge, ws) {
    var state = ws ? ws.readyState : WebSocket.CLOSED;
    var name = STATES[state];
    if (badge.textContent !== name) {
      badge.textContent = name;
      badge.className = 'badge ' + name;
    }
    return state;
  }

  /** "code=1000 (normal closure) reason="…" wasClean=true" for a CloseEvent; `names` adds or overrides code names. */
  function closeText(event, names) {
    var name = (names && names[event.code]) || CLOSE_NAMES[event.code];
    return 'code=' + event.code + (name ? ' (' + name + ')' : '') + ' reason=' + JSON.stringify(event.reason) + ' wasClean=' + event.wasClean;
  }

  return { pad: pad, logLine: logLine, defaultUrl: defaultUrl, showState: showState, closeText: closeText };
})();
