/**
 * The probe's own process (see probe.ts, which forks it with an IPC
 * channel): a `ws` client from `localAddress` that sends `probe <seq>` every
 * `everyMs` whatever happened to the previous one (open loop), and records
 * each echo's latency and this process's event-loop delay. It runs apart from
 * the test process, whose hundreds of attacker sockets would otherwise delay
 * the probe's timers and reads and show as server latency.
 *
 * Plain CommonJS, run by `node` without ts-jest: argv is `url everyMs
 * localAddress`. It tells the parent `{ type: 'open' }` (or `{ type: 'error',
 * message }` and exits 1), then `{ type: 'sent', seq }` for each message and
 * `{ type: 'closed', code, reason }` if the server closes it. The parent asks
 * `{ cmd: 'startWindow' }`, `{ cmd: 'figures', id, from, to, settleMs }`,
 * `{ cmd: 'roundTrip', id, timeoutMs }` (answered `{ type: 'reply', id,
 * value | error }`) and `{ cmd: 'close' }`: it closes (1000) and exits. It
 * exits too when the channel goes ('disconnect': the parent died), so it is
 * never left behind.
 */
'use strict';
const { monitorEventLoopDelay, performance } = require('node:perf_hooks');
const { WebSocket } = require('ws');

const [url, everyArg, localAddress] = process.argv.slice(2);
const everyMs = Number(everyArg);

/** Send time of each message, by sequence number; latency once echoed. */
const sentAt = [];
const latency = [];
const lag = monitorEventLoopDelay({ resolution: 10 });
let timer = null;
let closed = null;
let exiting = false;
let opened = false;

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Same as measure.ts's: the `p`-th percentile (0–100), nearest rank; NaN when empty. */
function percentile(values, p) {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

function tell(message) {
  if (process.connected) process.send(message, undefined, undefined, () => {}); // a failed send: the parent is gone, 'disconnect' follows
}

function exit(code) {
  if (exiting) return;
  exiting = true;
  if (timer !== null) clearInterval(timer);
  timer = null;
  lag.disable();
  process.exit(code);
}

const ws = new WebSocket(url, { localAddress });

ws.once('open', () => {
  opened = true;
  ws.on('message', (data, isBinary) => {
    if (isBinary) return;
    const text = String(data);
    if (!text.startsWith('probe ')) return; // the echo example's "heart beat"
    const seq = Number(text.slice(6));
    const at = sentAt[seq];
    if (at !== undefined && latency[seq] === undefined) latency[seq] = performance.now() - at;
  });
  ws.on('close', (code, reason) => {
    closed = { code, reason: String(reason) };
    tell({ type: 'closed', code, reason: closed.reason });
  });
  ws.on('error', () => {}); // seen as the close
  timer = setInterval(send, everyMs);
  lag.enable();
  tell({ type: 'open' });
});

ws.once('error', (err) => {
  if (opened) return; // seen as the close
  tell({ type: 'error', message: err.message });
  // Let the message go before exiting.
  setTimeout(() => exit(1), 100);
});

function send() {
  const seq = sentAt.length;
  sentAt.push(performance.now());
  if (ws.readyState === WebSocket.OPEN) ws.send(`probe ${seq}`);
  tell({ type: 'sent', seq });
  return seq;
}

async function figures(from, to, settleMs) {
  const deadline = performance.now() + settleMs;
  const pending = () => latency.slice(from, to).filter((l) => l === undefined).length + Math.max(0, to - latency.length);
  while (pending() > 0 && performance.now() < deadline && closed === null) await sleep(10);
  const window = Array.from({ length: to - from }, (_, i) => latency[from + i]);
  const echoed = window.filter((l) => l !== undefined);
  // A message never echoed counts as infinitely late.
  const all = window.map((l) => l ?? Infinity);
  return {
    sent: window.length,
    echoed: echoed.length,
    lost: window.length - echoed.length,
    p50: percentile(all, 50),
    p99: percentile(all, 99),
    max: all.length === 0 ? NaN : Math.max(...all),
    ownLagP99: lag.percentile(99) / 1e6,
  };
}

async function roundTrip(timeoutMs) {
  const seq = send();
  const deadline = performance.now() + timeoutMs;
  while (latency[seq] === undefined) {
    if (performance.now() > deadline || closed !== null) throw new Error(`the probe got no echo within ${timeoutMs} ms (closed: ${JSON.stringify(closed)})`);
    await sleep(5);
  }
  return latency[seq];
}

/** Stops sending, closes (1000) and waits for the close (terminating after 2 s), then exits. */
async function close() {
  if (timer !== null) clearInterval(timer);
  timer = null;
  if (ws.readyState !== WebSocket.CLOSED) {
    const done = new Promise((resolve) => ws.once('close', resolve));
    if (ws.readyState === WebSocket.OPEN) ws.close(1000);
    else ws.terminate();
    const force = setTimeout(() => ws.terminate(), 2000);
    await done;
    clearTimeout(force);
  }
  exit(0);
}

function reply(id, work) {
  work.then(
    (value) => tell({ type: 'reply', id, value }),
    (err) => tell({ type: 'reply', id, error: err instanceof Error ? err.message : String(err) }),
  );
}

process.on('message', (message) => {
  switch (message.cmd) {
    case 'startWindow':
      lag.reset();
      break;
    case 'figures':
      reply(message.id, figures(message.from, message.to, message.settleMs));
      break;
    case 'roundTrip':
      reply(message.id, roundTrip(message.timeoutMs));
      break;
    case 'close':
      void close();
      break;
  }
});

// The parent died (or let go of us): nobody will ask for anything again.
process.on('disconnect', () => {
  ws.terminate();
  exit(0);
});
