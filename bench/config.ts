/** What the bench runs: scenario parameters, and the command-line flags that change them. */
import { availableParallelism } from 'node:os';
import type { ServerKind } from './server-process';

export const SCENARIOS = ['small', 'large', 'handshakes', 'scaling', 'idle', 'deflate', 'metrics', 'resume', 'fanout'] as const;
export type ScenarioName = (typeof SCENARIOS)[number];

export interface EchoParams {
  readonly connections: number;
  readonly window: number;
  readonly size: number;
  readonly binary: boolean;
  readonly rounds: number;
  /** Measured time of each run. */
  readonly durationMs: number;
  /** Load before each run's measurement. */
  readonly warmupMs: number;
  /** One unmeasured run per server before the rounds (JIT, pools). */
  readonly firstRunMs: number;
}

export interface BenchConfig {
  readonly only: ReadonlySet<ScenarioName>;
  /** Worker threads of the load client. */
  readonly clientThreads: number;
  /** Also run the small-message scenario against rxjs-ws with `batchWrites: false`. */
  readonly unbatched: boolean;
  /** Servers to run under `node --cpu-prof`. */
  readonly cpuProf: readonly ServerKind[];
  readonly resultsDir: string;
  readonly small: EchoParams;
  readonly large: EchoParams;
  readonly handshakes: { readonly connections: number; readonly parallel: number; readonly rounds: number; readonly warmup: number };
  readonly scaling: { readonly levels: readonly number[] } & Omit<EchoParams, 'connections'>;
  readonly idle: {
    readonly levels: readonly number[];
    readonly parallel: number;
    /** How long idle CPU is measured with the most sockets open. */
    readonly cpuMs: number;
    /** The short heartbeat interval that shows the cost of pinging every socket. */
    readonly shortIntervalMs: number;
  };
  /** JSON echo, with and without permessage-deflate, by ws clients. */
  readonly deflate: { readonly connections: number; readonly window: number; readonly size: number; readonly rounds: number; readonly durationMs: number; readonly warmupMs: number };
  /** Small-message echo against rxjs-ws with metrics off and on (metrics$ every second, a Prometheus scrape every second). */
  readonly metrics: EchoParams;
  /** Small-message echo with resumable sessions off and on, by rxjs-ws clients. */
  readonly resume: { readonly connections: number; readonly window: number; readonly size: number; readonly rounds: number; readonly durationMs: number; readonly warmupMs: number };
  /** One small text message to every one of `sockets` sockets, raw ws's loop of ws.send against rxjs-ws's hub.publish. */
  readonly fanout: {
    readonly sockets: number;
    readonly size: number;
    /** Measured rounds per server, split evenly over the blocks. */
    readonly rounds: number;
    /** Unmeasured rounds at the start of each block. */
    readonly warmup: number;
    /** Blocks per server (A B, B A, …), each on freshly opened sockets: the client cannot hold both servers' sockets at once. */
    readonly blocks: number;
    /** Handshakes in flight while the sockets open. */
    readonly parallel: number;
  };
}

const USAGE = `Usage: npm run bench -- [--only=small,large,handshakes,scaling,idle,deflate,metrics,resume,fanout] [--quick] [--unbatched]
                           [--client-threads=N] [--cpu-prof=rxjs-ws|raw|raw,rxjs-ws]

  --only            run these scenarios (default: all)
  --quick           one short round of each (a smoke test; the figures are not for docs/performance.md)
  --unbatched       small messages also against rxjs-ws with outbound.batchWrites false (what batching buys)
  --client-threads  worker threads of the load client (default: 2, or 1 on a 2-core machine)
  --cpu-prof        run these servers under node --cpu-prof and print their top functions`;

// The servers need a core; on a 2-core machine a second client thread only fights them for the other one (latency tails).
const DEFAULT_CLIENT_THREADS = Math.max(1, Math.min(2, availableParallelism() - 1));

export function parseArgs(argv: readonly string[], resultsDir: string): BenchConfig {
  let only: ReadonlySet<ScenarioName> = new Set(SCENARIOS);
  let quick = false;
  let unbatched = false;
  let clientThreads = DEFAULT_CLIENT_THREADS;
  let cpuProf: ServerKind[] = [];
  for (const arg of argv) {
    const [name, value] = arg.split('=', 2) as [string, string | undefined];
    if (name === '--help' || name === '-h') {
      process.stdout.write(`${USAGE}\n`);
      process.exit(0);
    } else if (name === '--quick' && value === undefined) {
      quick = true;
    } else if (name === '--unbatched' && value === undefined) {
      unbatched = true;
    } else if (name === '--client-threads' && value !== undefined && /^[1-9]\d*$/.test(value)) {
      clientThreads = Number(value);
    } else if (name === '--only' && value !== undefined) {
      only = new Set(value.split(',').map((s) => oneOf(s, SCENARIOS, '--only')));
    } else if (name === '--cpu-prof' && value !== undefined) {
      cpuProf = value.split(',').map((s) => oneOf(s, ['raw', 'rxjs-ws'] as const, '--cpu-prof'));
    } else {
      throw new Error(`unknown argument ${JSON.stringify(arg)}\n${USAGE}`);
    }
  }
  const q = (full: number, short: number) => (quick ? short : full);
  const timing = { warmupMs: q(500, 200), firstRunMs: q(1000, 300) };
  return {
    only,
    unbatched,
    clientThreads,
    cpuProf,
    resultsDir,
    small: { connections: 50, window: 8, size: 64, binary: false, rounds: q(3, 1), durationMs: q(5000, 1000), ...timing },
    large: { connections: 4, window: 2, size: 1024 * 1024, binary: true, rounds: q(3, 1), durationMs: q(2000, 500), ...timing },
    handshakes: { connections: q(2000, 500), parallel: 64, rounds: q(11, 1), warmup: q(4000, 500) },
    scaling: { levels: [10, 100, 1000], window: 8, size: 64, binary: false, rounds: q(2, 1), durationMs: q(1500, 500), ...timing },
    deflate: { connections: 50, window: 4, size: 1024, rounds: q(3, 1), durationMs: q(4000, 1000), warmupMs: timing.warmupMs },
    resume: { connections: 50, window: 8, size: 64, rounds: q(3, 1), durationMs: q(4000, 1000), warmupMs: timing.warmupMs },
    metrics: { connections: 50, window: 8, size: 64, binary: false, rounds: q(5, 1), durationMs: q(4000, 1000), ...timing },
    idle: { levels: quick ? [200, 1000, 2000] : [1000, 5000, 10_000], parallel: 128, cpuMs: q(5000, 1000), shortIntervalMs: 1000 },
    fanout: { sockets: q(10_000, 2000), size: 64, rounds: q(20, 4), warmup: q(2, 1), blocks: q(4, 2), parallel: 128 },
  };
}

function oneOf<T extends string>(value: string, allowed: readonly T[], flag: string): T {
  if (!(allowed as readonly string[]).includes(value)) throw new Error(`${flag}: expected one of ${allowed.join(', ')}, got ${JSON.stringify(value)}`);
  return value as T;
}
