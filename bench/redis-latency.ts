/**
 * Cross-process delivery latency through Redis: two server processes (A and
 * B), each a hub on `redisAdapter()`, one client on each. A publishes at a
 * steady rate; every message carries its publish time (the monotonic clock,
 * which all processes of the machine share). The client on B measures
 * publish → Redis → B's hub → socket → client; the client on A the same
 * message's local path, for comparison. Every message must arrive once, in
 * order. Starts its own redis-server (127.0.0.1, a free port, nothing
 * persisted) unless given `--redis`. Prints a Markdown table on stdout.
 *
 *   npm run build && node dist/bench/redis-latency.js [--rate=1000] [--seconds=5] [--runs=5] [--redis=redis://127.0.0.1:6379]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { createInterface } from 'node:readline';
import { filter, firstValueFrom } from 'rxjs';
import { createHub, redisAdapter, serve } from 'rxjs-ws';
import { Connection } from './client/connection';
import { median, percentile } from './stats';

const TOPIC = 'latency';

// ---- a server process ----

async function runNode(url: string): Promise<void> {
  const server = serve({ port: 0 });
  const hub = createHub({ adapter: redisAdapter({ url }) });
  server.connections$.subscribe((socket) => hub.join(socket, TOPIC));
  let members = 0;
  hub.members$(TOPIC).subscribe((n) => (members = n));
  await firstValueFrom(hub.status$.pipe(filter((s) => s.state === 'connected')));
  const reply = (value: object) => process.stdout.write(`${JSON.stringify(value)}\n`);
  reply({ port: (await server.listening).port });
  const lines = createInterface({ input: process.stdin });
  lines.on('close', () => process.exit(0));
  lines.on('line', (line) => {
    const command = JSON.parse(line) as { type: 'members' } | { type: 'publish'; rate: number; ms: number; first: number };
    if (command.type === 'members') return reply({ members });
    // Paced by the clock, not by timer ticks: late ticks catch up, so the rate holds.
    const started = performance.now();
    let sent = 0;
    const total = Math.round((command.rate * command.ms) / 1000);
    const pace = () => {
      const due = Math.min(total, Math.floor(((performance.now() - started) * command.rate) / 1000) + 1);
      for (; sent < due; sent++) hub.publish(TOPIC, `${command.first + sent} ${process.hrtime.bigint()}`);
      if (sent < total) setTimeout(pace, 1);
      else reply({ sent, stats: hub.stats });
    };
    pace();
  });
}

// ---- the orchestrator ----

/** One client: latencies in ms of this run, and an order check. */
class Probe {
  latencies: number[] = [];
  next = 0;
  violations = 0;
  onMessage(payload: Buffer): void {
    const text = payload.toString('latin1');
    const space = text.indexOf(' ');
    const seq = Number(text.slice(0, space));
    if (seq !== this.next) this.violations++;
    this.next = seq + 1;
    this.latencies.push(Number(process.hrtime.bigint() - BigInt(text.slice(space + 1))) / 1e6);
  }
}

interface RunFigures {
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const redis = args.redis === undefined ? await startRedis() : null;
  const url = args.redis ?? redis!.url;
  const nodes = await Promise.all([startNode(url), startNode(url)]);
  const probes = [new Probe(), new Probe()];
  const clients = await Promise.all(
    nodes.map((node, i) =>
      Connection.open(node.port, i, {
        message: (_connection, _opcode, payload) => probes[i]!.onMessage(payload),
        lost: (_connection, why) => {
          throw new Error(`client ${i} lost: ${why}`);
        },
      }),
    ),
  );
  try {
    // Both hubs must count both members: then each has its subscription in place.
    while (((await Promise.all(nodes.map((node) => node.ask<{ members: number }>({ type: 'members' })))).some((r) => r.members < 2))) await sleep(20);
    const runs: { local: RunFigures; remote: RunFigures }[] = [];
    const expected = Math.round(args.rate * args.seconds);
    for (let run = -1; run < args.runs; run++) {
      for (const probe of probes) probe.latencies = [];
      const first = probes[0]!.next;
      // Run -1 warms up (JIT, connections) for a second and is not counted.
      const ms = run < 0 ? 1000 : args.seconds * 1000;
      await nodes[0]!.ask({ type: 'publish', rate: args.rate, ms, first });
      const want = Math.round((args.rate * ms) / 1000);
      const deadline = Date.now() + 10_000;
      while (probes.some((p) => p.latencies.length < want) && Date.now() < deadline) await sleep(20);
      if (probes.some((p) => p.latencies.length !== want)) throw new Error(`expected ${want} messages at each client, got ${probes.map((p) => p.latencies.length)}`);
      if (run < 0) continue;
      const [local, remote] = probes.map((p) => figures(p.latencies)) as [RunFigures, RunFigures];
      runs.push({ local, remote });
      log(`run ${run + 1}: via Redis p50 ${remote.p50.toFixed(3)} ms, p99 ${remote.p99.toFixed(3)} ms (${expected} messages)`);
    }
    if (probes.some((p) => p.violations > 0)) throw new Error(`out of order or duplicated: ${probes.map((p) => p.violations)}`);
    const m = (path: 'local' | 'remote', key: keyof RunFigures) => median(runs.map((r) => r[path][key])).toFixed(3);
    process.stdout.write(
      [
        `Delivery latency at ${args.rate} messages/s for ${args.seconds} s, from \`hub.publish()\` in process A to a WebSocket client; medians of ${args.runs} runs.`,
        '',
        '| path | p50 | p99 | max |',
        '|---|---:|---:|---:|',
        `| A → Redis → B → client of B | ${m('remote', 'p50')} ms | ${m('remote', 'p99')} ms | ${m('remote', 'max')} ms |`,
        `| A → client of A (local, for comparison) | ${m('local', 'p50')} ms | ${m('local', 'p99')} ms | ${m('local', 'max')} ms |`,
        '',
        `Every message reached both clients once, in order. Command: \`node dist/bench/redis-latency.js ${process.argv.slice(2).join(' ')}\`.`,
        '',
      ].join('\n'),
    );
  } finally {
    for (const client of clients) client.destroy();
    for (const node of nodes) node.stop();
    await redis?.stop();
  }
}

function figures(latencies: number[]): RunFigures {
  const sorted = Float64Array.from(latencies).sort();
  return { p50: percentile(sorted, 0.5), p99: percentile(sorted, 0.99), max: sorted[sorted.length - 1]! };
}

interface NodeProcess {
  readonly port: number;
  ask<T>(command: object): Promise<T>;
  stop(): void;
}

async function startNode(url: string): Promise<NodeProcess> {
  const child = spawn(process.execPath, [__filename, '--role=node', `--redis=${url}`], { stdio: ['pipe', 'pipe', 'inherit'] });
  const replies = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const read = async <T>(): Promise<T> => {
    const next = await replies.next();
    if (next.done === true) throw new Error('a bench node exited');
    return JSON.parse(next.value) as T;
  };
  const { port } = await read<{ port: number }>();
  return {
    port,
    ask: <T>(command: object) => {
      child.stdin.write(`${JSON.stringify(command)}\n`);
      return read<T>();
    },
    stop: () => child.stdin.end(),
  };
}

/** A redis-server of our own: 127.0.0.1, a free port, no persistence. */
async function startRedis(): Promise<{ url: string; stop(): Promise<void> }> {
  const port = await new Promise<number>((resolve, reject) => {
    const probe = createServer().once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port: free } = probe.address() as { port: number };
      probe.close(() => resolve(free));
    });
  });
  const child: ChildProcess = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await new Promise<void>((resolve, reject) => {
    child.once('error', (err) => reject(new Error(`cannot run redis-server (apt-get install redis-server): ${err.message}`)));
    child.stdout!.on('data', (chunk: Buffer) => String(chunk).includes('Ready to accept connections') && resolve());
  });
  child.stdout!.resume();
  return {
    url: `redis://127.0.0.1:${port}`,
    stop: () => new Promise<void>((resolve) => (child.exitCode !== null ? resolve() : (child.once('exit', () => resolve()), child.kill('SIGTERM')))),
  };
}

function parseArgs(argv: readonly string[]): { rate: number; seconds: number; runs: number; redis: string | undefined } {
  const args = { rate: 1000, seconds: 5, runs: 5, redis: undefined as string | undefined };
  for (const arg of argv) {
    const match = /^--(rate|seconds|runs|redis)=(.+)$/.exec(arg);
    if (match === null) throw new Error(`unknown flag ${arg}; flags: --rate=N --seconds=N --runs=N --redis=URL`);
    if (match[1] === 'redis') args.redis = match[2];
    else if (!/^\d+$/.test(match[2]!) || Number(match[2]) < 1) throw new Error(`--${match[1]} must be a positive integer, got ${match[2]}`);
    else args[match[1] as 'rate' | 'seconds' | 'runs'] = Number(match[2]);
  }
  return args;
}

function log(line: string): void {
  process.stderr.write(`${line}\n`);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

if (process.argv.includes('--role=node')) void runNode(parseArgs(process.argv.slice(2).filter((arg) => arg !== '--role=node')).redis!);
else
  main().catch((err: Error) => {
    process.stderr.write(`${err.stack ?? err.message}\n`);
    process.exit(1);
  });
