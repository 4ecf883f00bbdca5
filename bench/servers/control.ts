/**
 * The control protocol every bench server speaks to the orchestrator, over
 * its stdio: once listening it prints `{"port":N}`; then each line on stdin is
 * a command answered by one JSON line on stdout.
 *
 *   cpu   → usage counters, cheap (safe while the server is under load)
 *   mem   → the same after a full GC (run the server with --expose-gc)
 *   exit  → exits with code 0 (so that --cpu-prof can write its profile)
 *
 * The server exits too when stdin ends, so it never outlives the bench.
 */
import { createInterface } from 'node:readline';

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

/** Announces the port, then serves the commands until stdin ends. */
export function control(listening: Promise<number>, connections: () => number): void {
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
    if (command === 'mem') collectGarbage();
    if (command !== 'cpu' && command !== 'mem') {
      process.stdout.write(`${JSON.stringify({ error: `unknown command ${JSON.stringify(command)}` })}\n`);
      return;
    }
    process.stdout.write(`${JSON.stringify(sample(connections()))}\n`);
  });
  lines.on('close', () => process.exit(0));
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
