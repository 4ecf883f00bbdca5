/**
 * Churn: connect/close cycles against an rxjs-ws echo server in a child process
 * (started with --expose-gc), then compare the server's handles, listeners
 * and RSS after GC with where they were before the cycles.
 *
 *   npm run build && node dist/bench/churn.js                  # 10,000 cycles
 *   node dist/bench/churn.js --cycles 1000 --concurrency 8 --json
 *
 * Each cycle opens a socket, sends one message, waits for its echo, then
 * closes cleanly (1000) on even cycles and terminates (TCP reset, no closing
 * handshake) on odd ones. Prints the figures; exits 1 if a handle or a
 * listener was left behind or RSS grew by more than --rss-tolerance (10 %).
 *
 * The same file is the server: `node --expose-gc dist/bench/churn.js --serve`
 * (forked, with an IPC channel) answers {type:'stats'} with its numbers.
 * The e2e suite (spec/e2e/churn.e2e.spec.ts) uses both halves.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { getHeapSpaceStatistics } from 'node:v8';
import { WebSocket } from 'ws';
import { serve } from '../src';

/** What the server process reports about itself. */
export interface ChurnStats {
  /** process.getActiveResourcesInfo(), counted by type. */
  readonly handles: Record<string, number>;
  /** Listeners on the process, by event. */
  readonly processListeners: Record<string, number>;
  /** Listeners on the server's HTTP server, by event. */
  readonly httpListeners: Record<string, number>;
  /** Open sockets (server.sockets.size). */
  readonly sockets: number;
  /** Connections accepted so far. */
  readonly accepted: number;
  /** Log lines so far (one per abnormal close). */
  readonly logLines: number;
  /** After gc(), in bytes. */
  readonly rss: number;
  readonly heapUsed: number;
  /** V8 heap committed (includes the young generation, which grows under allocation pressure). */
  readonly heapTotal: number;
  /** V8 heap spaces' committed sizes, by space. */
  readonly spaces: Record<string, number>;
  readonly external: number;
  readonly arrayBuffers: number;
}

type Request = { type: 'stats'; id: number } | { type: 'close'; id: number };
type Reply = { type: 'listening'; port: number } | { type: 'stats'; id: number; stats: ChurnStats } | { type: 'closed'; id: number };

/** The repository root, from the source (bench/) or the build (dist/bench/). */
const ROOT = __filename.endsWith('.ts') ? join(__dirname, '..') : join(__dirname, '..', '..');

/** The compiled script, for forking the server half (ts-jest cannot fork the .ts). */
export const CHURN_JS = join(ROOT, 'dist', 'bench', 'churn.js');

// ---------------------------------------------------------------------------
// Server half

async function serveMode(): Promise<void> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined || process.send === undefined) {
    process.stderr.write('churn --serve must be forked with an IPC channel and --expose-gc\n');
    process.exit(2);
  }
  let logLines = 0;
  let accepted = 0;
  // Every cycle comes from 127.0.0.1: the per-address limits are raised for this load.
  const server = serve({ port: 0, path: '/ws', log: () => logLines++, maxConnectionsPerAddress: 100_000, handshakesPerAddress: Infinity });
  server.connections$.subscribe((socket) => {
    accepted++;
    socket.messages$.subscribe(socket);
  });
  const { port } = await server.listening;
  const send = (reply: Reply) => process.send!(reply);
  const count = (names: string[]) => {
    const out: Record<string, number> = {};
    for (const n of names) out[n] = (out[n] ?? 0) + 1;
    return out;
  };
  const listeners = (emitter: NodeJS.EventEmitter) =>
    Object.fromEntries(emitter.eventNames().map((e) => [String(e), emitter.listenerCount(e)]));

  process.on('message', async (request: Request) => {
    if (request.type === 'stats') {
      // Let closing sockets finish, then collect everything collectable.
      await new Promise((resolve) => setTimeout(resolve, 50));
      for (let i = 0; i < 4; i++) {
        gc();
        await new Promise((resolve) => setImmediate(resolve));
      }
      const memory = process.memoryUsage();
      send({
        type: 'stats',
        id: request.id,
        stats: {
          handles: count(process.getActiveResourcesInfo()),
          processListeners: listeners(process),
          httpListeners: listeners(server.http!),
          sockets: server.sockets.size,
          accepted,
          logLines,
          rss: memory.rss,
          heapUsed: memory.heapUsed,
          heapTotal: memory.heapTotal,
          spaces: Object.fromEntries(getHeapSpaceStatistics().map((sp) => [sp.space_name, sp.space_size])),
          external: memory.external,
          arrayBuffers: memory.arrayBuffers,
        },
      });
    } else if (request.type === 'close') {
      await server.close({ timeout: 1000 });
      send({ type: 'closed', id: request.id });
      process.disconnect();
    }
  });
  send({ type: 'listening', port });
}

// ---------------------------------------------------------------------------
// Driver half

/** The server child, and how to ask it for its numbers. */
export interface ChurnServer {
  readonly port: number;
  readonly url: string;
  readonly pid: number;
  stats(): Promise<ChurnStats>;
  /** Closes the server and waits for the process to exit; resolves with its exit code. */
  stop(): Promise<number | null>;
}

/**
 * V8 flags of the server child. The young generation is pinned to one size:
 * V8 otherwise grows it (8 MB to 32 MB committed) under allocation pressure
 * and keeps it, which is RSS that no leak explains and no GC gives back.
 */
export const SERVER_FLAGS: readonly string[] = ['--expose-gc', '--min-semi-space-size=1', '--max-semi-space-size=1'];

/** Forks `node --expose-gc <script> --serve` and waits for it to listen. */
export async function startChurnServer(script = CHURN_JS, flags: readonly string[] = SERVER_FLAGS): Promise<ChurnServer> {
  const child: ChildProcess = fork(script, ['--serve'], { execArgv: [...flags], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const waiting = new Map<number, (reply: Reply) => void>();
  let nextId = 1;
  const port = await new Promise<number>((resolve, reject) => {
    const onExit = (code: number | null) => reject(new Error(`churn server exited (code ${code}) before listening`));
    child.once('exit', onExit);
    child.on('message', (reply: Reply) => {
      if (reply.type === 'listening') {
        child.removeListener('exit', onExit);
        resolve(reply.port);
      } else waiting.get(reply.id)?.(reply);
    });
  });
  const ask = (type: Request['type']) =>
    new Promise<Reply>((resolve, reject) => {
      const id = nextId++;
      const onExit = () => reject(new Error(`churn server exited while asked for ${type}`));
      child.once('exit', onExit);
      waiting.set(id, (reply) => {
        waiting.delete(id);
        child.removeListener('exit', onExit);
        resolve(reply);
      });
      child.send({ type, id } satisfies Request);
    });
  let stopped: Promise<number | null> | null = null;
  return {
    port,
    url: `ws://127.0.0.1:${port}/ws`,
    pid: child.pid!,
    stats: async () => ((await ask('stats')) as Extract<Reply, { type: 'stats' }>).stats,
    stop: () =>
      (stopped ??= (async () => {
        if (child.connected) await ask('close').catch(() => undefined);
        const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
        try {
          return await exited;
        } finally {
          clearTimeout(timer);
        }
      })()),
  };
}

/** One cycle: open, one echo, then a clean close (1000) or a terminate. Resolves once the client is closed. */
export function cycle(url: string, clean: boolean): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const ws = new WebSocket(url);
    const timer = setTimeout(() => {
      ws.terminate();
      reject(new Error('churn cycle timed out'));
    }, 10_000);
    ws.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    ws.once('open', () => ws.send('churn'));
    ws.once('message', () => {
      if (clean) ws.close(1000);
      else ws.terminate();
    });
    ws.once('close', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/** Runs `cycles` cycles, `concurrency` at a time; half clean (even), half terminated (odd). */
export async function churn(url: string, cycles: number, concurrency = 8): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < cycles) {
      const i = next++;
      await cycle(url, i % 2 === 0);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, cycles) }, worker));
}

/** Polls the server until it holds no socket (closing handshakes and resets take a moment). */
export async function settled(server: ChurnServer, timeoutMs = 10_000): Promise<ChurnStats> {
  const started = Date.now();
  for (;;) {
    const stats = await server.stats();
    if (stats.sockets === 0 || Date.now() - started > timeoutMs) return stats;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** The difference between two stats, for the report and the checks. */
export function compare(before: ChurnStats, after: ChurnStats) {
  const diff = (a: Record<string, number>, b: Record<string, number>) => {
    const out: Record<string, number> = {};
    for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) {
      const d = (b[k] ?? 0) - (a[k] ?? 0);
      if (d !== 0) out[k] = d;
    }
    return out;
  };
  return {
    handles: diff(before.handles, after.handles),
    processListeners: diff(before.processListeners, after.processListeners),
    httpListeners: diff(before.httpListeners, after.httpListeners),
    rssRatio: after.rss / before.rss,
    heapRatio: after.heapUsed / before.heapUsed,
  };
}

interface Args {
  cycles: number;
  warmup: number;
  concurrency: number;
  rssTolerance: number;
  json: boolean;
  v8Defaults: boolean;
}

function parse(argv: readonly string[]): Args {
  const args: Args = { cycles: 10_000, warmup: 200, concurrency: 8, rssTolerance: 0.1, json: false, v8Defaults: false };
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i]!.split('=', 2) as [string, string | undefined];
    const value = () => Number(inline ?? argv[++i]);
    if (flag === '--cycles') args.cycles = value();
    else if (flag === '--warmup') args.warmup = value();
    else if (flag === '--concurrency') args.concurrency = value();
    else if (flag === '--rss-tolerance') args.rssTolerance = value();
    else if (flag === '--json') args.json = true;
    else if (flag === '--v8-defaults') args.v8Defaults = true;
    else if (flag === '--help' || flag === '-h') {
      process.stdout.write(
        'Usage: node dist/bench/churn.js [--cycles 10000] [--warmup 200] [--concurrency 8] [--rss-tolerance 0.1] [--json] [--v8-defaults]\n' +
          '  --v8-defaults  run the server with V8\'s own young-generation sizing (RSS then grows by up to ~24 MB that is not a leak)\n',
      );
      process.exit(0);
    } else {
      process.stderr.write(`unknown argument ${JSON.stringify(argv[i])}\n`);
      process.exit(2);
    }
  }
  for (const [k, v] of Object.entries(args)) {
    if (typeof v === 'number' && !(Number.isFinite(v) && v >= 0)) {
      process.stderr.write(`--${k} must be a number >= 0\n`);
      process.exit(2);
    }
  }
  return args;
}

const MB = (n: number) => `${(n / 1024 / 1024).toFixed(1)} MB`;
const fmt = (r: Record<string, number>) =>
  Object.entries(r)
    .map(([k, v]) => `${k}=${v}`)
    .join(' ') || '(none)';

async function driverMode(args: Args): Promise<number> {
  const server = await startChurnServer(__filename, args.v8Defaults ? ['--expose-gc'] : SERVER_FLAGS);
  try {
    const fresh = await server.stats();
    await churn(server.url, args.warmup, args.concurrency);
    const before = await settled(server);
    const started = performance.now();
    await churn(server.url, args.cycles, args.concurrency);
    const took = performance.now() - started;
    const after = await settled(server);
    const d = compare(before, after);
    const leaks = Object.keys(d.handles).length + Object.keys(d.processListeners).length + Object.keys(d.httpListeners).length;
    const rssOk = d.rssRatio <= 1 + args.rssTolerance;
    const ok = leaks === 0 && rssOk && after.sockets === 0;
    if (args.json) {
      process.stdout.write(`${JSON.stringify({ cycles: args.cycles, warmup: args.warmup, concurrency: args.concurrency, ms: Math.round(took), fresh, before, after, diff: d, ok })}\n`);
    } else {
      const lines = [
        `churn: ${args.cycles} connect/echo/close cycles (half clean 1000, half terminated), ${args.concurrency} at a time, after ${args.warmup} warm-up cycles`,
        `  time            ${took.toFixed(0)} ms (${((args.cycles / took) * 1000).toFixed(0)} cycles/s)`,
        `  sockets         ${after.sockets} open after; ${after.accepted - before.accepted} accepted; ${after.logLines - before.logLines} abnormal closes logged`,
        `  handles         before ${fmt(before.handles)}; after ${fmt(after.handles)}; diff ${fmt(d.handles)}`,
        `  listeners       process ${fmt(d.processListeners)} diff; http ${fmt(d.httpListeners)} diff`,
        `  RSS after GC    fresh ${MB(fresh.rss)}; before ${MB(before.rss)}; after ${MB(after.rss)} (${((d.rssRatio - 1) * 100).toFixed(1)} %, tolerance ${(args.rssTolerance * 100).toFixed(0)} %)`,
        `  heap after GC   used ${MB(before.heapUsed)} -> ${MB(after.heapUsed)} (${((d.heapRatio - 1) * 100).toFixed(1)} %); young generation ${MB(before.spaces.new_space ?? 0)} -> ${MB(after.spaces.new_space ?? 0)}${args.v8Defaults ? '' : ' (pinned)'}`,
        `  ${ok ? 'OK' : 'FAILED'}`,
      ];
      process.stdout.write(`${lines.join('\n')}\n`);
    }
    return ok ? 0 : 1;
  } finally {
    await server.stop();
  }
}

if (require.main === module) {
  if (process.argv.includes('--serve')) {
    serveMode().catch((err: Error) => {
      process.stderr.write(`churn server failed: ${err.stack}\n`);
      process.exit(1);
    });
  } else {
    driverMode(parse(process.argv.slice(2))).then(
      (code) => process.exit(code),
      (err: Error) => {
        process.stderr.write(`churn failed: ${err.stack}\n`);
        process.exit(1);
      },
    );
  }
}
