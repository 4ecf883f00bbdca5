/**
 * The control protocol every bench server speaks to the orchestrator, over
 * its stdio: once listening it prints `{"port":N}`; then each line on stdin is
 * a command answered by one JSON line on stdout.
 *
 *   cpu   → usage counters, cheap (safe while the server is under load)
 *   mem   → the same after a full GC (run the server with --expose-gc)
 *   exit  → exits with code 0 (so that --cpu-prof can write its profile)
 *   broadcast <seq> <size>
 *         → sends fanoutText(seq, size) to every open socket the server's
 *           own way, and answers once the writes have been handed to the
 *           kernel (a `Broadcast`)
 *
 * One command at a time: the orchestrator waits for each answer.
 * The server exits too when stdin ends, so it never outlives the bench.
 */
import { createInterface } from 'node:readline';
import { fanoutText } from '../client/payload';

/** What a server reports about itself. */
export interface ServerStats {
  /** Open WebSocket connections, as the server counts them. */
  readonly connections: number;
  readonly rss: number;
  readonly heapUsed: number;
  readonly external: number;
  readonly arrayBuffers: number;
  /** process.cpuUsage(), microseconds. */
  readonly cpuUser: number;
  readonly cpuSystem: number;
  /** Time of the sample (process.hrtime), ms. */
  readonly at: number;
}

/** What `broadcast` answers. */
export interface Broadcast {
  /** process.hrtime.bigint() just before the first send, as a string (the same clock as the load client's, on Linux). */
  readonly t0: string;
  /** Sockets the message was given to. */
  readonly sent: number;
  /** The synchronous send loop, ms. */
  readonly loopMs: number;
  /** Until the end of the tick's writes (the corked ones go at its end): setImmediate after the loop, ms. */
  readonly handedMs: number;
  /** Server CPU over that, ms: in the process itself, and in the kernel (system calls: the writes). */
  readonly userMs: number;
  readonly systemMs: number;
}

/** Sends `text` to every open socket; returns how many it was given to. */
export type Broadcaster = (text: string) => number;

/** Announces the port, then serves the commands until stdin ends. */
export function control(listening: Promise<number>, connections: () => number, broadcast: Broadcaster): void {
  listening.then(
    (port) => process.stdout.write(`${JSON.stringify({ port })}\n`),
    (err: Error) => {
      process.stderr.write(`bench server cannot listen: ${err.message}\n`);
      process.exit(1);
    },
  );
  const lines = createInterface({ input: process.stdin });
  lines.on('line', (line) => {
    const command = line.trim();
    if (command === 'exit') process.exit(0);
    if (command.startsWith('broadcast ')) {
      const [seq, size] = command.split(' ').slice(1).map(Number) as [number, number];
      timeBroadcast(broadcast, fanoutText(seq, size));
      return;
    }
    if (command === 'mem') collectGarbage();
    if (command !== 'cpu' && command !== 'mem') {
      process.stdout.write(`${JSON.stringify({ error: `unknown command ${JSON.stringify(command)}` })}\n`);
      return;
    }
    process.stdout.write(`${JSON.stringify(sample(connections()))}\n`);
  });
  lines.on('close', () => process.exit(0));
}

function timeBroadcast(broadcast: Broadcaster, text: string): void {
  const cpu = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  const sent = broadcast(text);
  const loopMs = Number(process.hrtime.bigint() - t0) / 1e6;
  setImmediate(() => {
    const handedMs = Number(process.hrtime.bigint() - t0) / 1e6;
    const used = process.cpuUsage(cpu);
    const reply: Broadcast = { t0: String(t0), sent, loopMs, handedMs, userMs: used.user / 1000, systemMs: used.system / 1000 };
    process.stdout.write(`${JSON.stringify(reply)}\n`);
  });
}

function sample(connections: number): ServerStats {
  const memory = process.memoryUsage();
  const cpu = process.cpuUsage();
  return {
    connections,
    rss: memory.rss,
    heapUsed: memory.heapUsed,
    external: memory.external,
    arrayBuffers: memory.arrayBuffers,
    cpuUser: cpu.user,
    cpuSystem: cpu.system,
    at: Number(process.hrtime.bigint()) / 1e6,
  };
}

/** Two full collections: the second frees what finalizers of the first released. */
function collectGarbage(): void {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) return;
  gc();
  gc();
}
