/**
 * The rxjs-ws echo server as the example runs it: default options (protocol
 * heartbeat on, every limit at its default), plus the echo's own outbound
 * choice (stop reading while echoes wait; close a peer that still overflows
 * the queue). `--heartbeat=off` turns the heartbeat off and
 * `--heartbeat=<ms>` sets its interval, for the heartbeat scale measurement;
 * `--batch-writes=off` turns off per-tick batching, to show what it buys;
 * `--deflate` turns permessage-deflate on with ws's defaults; `--metrics`
 * subscribes to `metrics$()` and scrapes a Prometheus registry every second;
 * `--resume` turns resumable sessions on;
 * `--hub` joins every socket to one topic of a hub, which `broadcast`
 * publishes to (without it, `broadcast` sends one prepared frame to every
 * socket in a loop).
 */
import { createHub, prepare, serve, type HeartbeatOptions, type ServeOptions } from 'rxjs-ws';
import { Registry } from 'prom-client';
import { prometheus } from 'rxjs-ws/prometheus';
import { control } from './control';

const argv = process.argv.slice(2);
// The load client connects from 127.0.0.1 only: the per-address limits are raised for it.
const server = serve({
  port: 0,
  ...heartbeatFlag(argv),
  outbound: outbound(argv),
  maxConnectionsPerAddress: 100_000,
  handshakesPerAddress: Infinity,
  perMessageDeflate: argv.includes('--deflate'),
  resume: argv.includes('--resume'),
});

server.connections$.subscribe((socket) => socket.messages$.subscribe(socket));
server.sessions$.subscribe((session) => session.messages$.subscribe(session));

const TOPIC = 'all';
const hub = argv.includes('--hub') ? createHub() : null;
if (hub !== null) server.connections$.subscribe((socket) => hub.join(socket, TOPIC));

if (argv.includes('--metrics')) {
  // What an operator runs: a metrics$() stream and a Prometheus scrape, each every second (scrapes are usually 15 s apart).
  server.metrics$(1000).subscribe();
  const registry = new Registry();
  prometheus({ registry, server });
  setInterval(() => void registry.metrics(), 1000).unref();
}

control(
  server.listening.then((address) => address.port),
  () => server.sockets.size,
  (text) => {
    if (hub !== null) return hub.publish(TOPIC, text);
    const frame = prepare(text);
    for (const socket of server.sockets) socket.next(frame);
    return server.sockets.size;
  },
);

function outbound(argv: readonly string[]): ServeOptions['outbound'] {
  return { pauseReading: true, policy: 'close', ...(argv.includes('--batch-writes=off') && { batchWrites: false }) };
}

function heartbeatFlag(argv: readonly string[]): { heartbeat?: HeartbeatOptions | false } {
  const value = argv.find((arg) => arg.startsWith('--heartbeat='))?.slice('--heartbeat='.length);
  if (value === undefined || value === 'default') return {};
  if (value === 'off') return { heartbeat: false };
  const interval = Number(value);
  if (!Number.isInteger(interval) || interval < 1) throw new Error(`--heartbeat: expected off, default or an interval in ms, got ${value}`);
  return { heartbeat: { interval } };
}
