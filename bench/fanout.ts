/**
 * Fan-out: one 64-byte text message to 10,000 sockets in one process, and a
 * burst of 100 such messages, through the hub (`hub.publish`: encoded once
 * with `prepare()`, the same bytes written to every socket) and, for
 * comparison, a plain loop of `socket.next(text)` (framed by ws per socket).
 * The server runs in a child process; the 10,000 clients are raw sockets in
 * this one, so the server's CPU figures are its own. Every client checks that
 * it got every message once, in order. Prints a Markdown table on stdout.
 *
 * With `--deflate=1` the server negotiates permessage-deflate without server
 * context takeover and the message is a 2 KiB JSON text: the hub compresses
 * it once for every socket (a prepared frame), the loop has ws compress it
 * per socket (which is also what a prepared frame costs where the server
 * keeps its compression context).
 *
 *   npm run build && node dist/bench/fanout.js [--sockets=10000] [--rounds=9] [--burst=100] [--burst-rounds=5] [--deflate=0|1]
 */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { constants, inflateRawSync } from 'node:zlib';
import { createHub, serve } from 'rxjs-ws';
import { Connection, type ConnectionEvents } from './client/connection';
import { COMPRESSED } from './client/frames';
import { median } from './stats';

const TOPIC = 'fanout';
const DEFLATE = process.argv.includes('--deflate=1');
const SIZE = DEFLATE ? 2048 : 64;
const OFFER = 'permessage-deflate; server_no_context_takeover';
const MODES = ['hub', 'loop'] as const;
type Mode = (typeof MODES)[number];

interface Published {
  /** process.hrtime.bigint() just before the first publish, as a string. */
  readonly t0: string;
  /** The synchronous publish loop, in ms. */
  readonly loopMs: number;
  /** Until every frame was handed to the kernel (the corked writes go at the end of the tick), in ms. */
  readonly handedMs: number;
  /** Server CPU (user + system) over that, in ms. */
  readonly cpuMs: number;
}

/** The text of message `seq`: its number, then filler to 64 bytes (with deflate: JSON-like rows to 2 KiB). */
function payload(seq: number): string {
  const head = String(seq).padStart(8, '0');
  if (!DEFLATE) return head.padEnd(SIZE, '.');
  let text = head;
  for (let i = 0; text.length < SIZE; i++) text += `{"id":${i},"name":"item ${i}","price":${(i * 1.25).toFixed(2)}},`;
  return text.slice(0, SIZE);
}

// ---- the server (child process) ----

async function runServer(): Promise<void> {
  // Every member connects from 127.0.0.1: the per-address limits are raised for them.
  const server = serve({
    port: 0,
    heartbeat: false,
    maxConnections: 100_000,
    maxConnectionsPerAddress: 100_000,
    handshakesPerAddress: Infinity,
    handshakeTimeout: 60_000,
    perMessageDeflate: DEFLATE && { serverNoContextTakeover: true },
  });
  const hub = createHub();
  server.connections$.subscribe((socket) => hub.join(socket, TOPIC));
  const reply = (value: object) => process.stdout.write(`${JSON.stringify(value)}\n`);
  reply({ port: (await server.listening).port });
  const lines = createInterface({ input: process.stdin });
  lines.on('close', () => process.exit(0));
  lines.on('line', (line) => {
    const command = JSON.parse(line) as { type: 'members' } | { type: 'publish'; mode: Mode; count: number; first: number };
    if (command.type === 'members') return reply({ members: hub.members(TOPIC).size });
    const texts = Array.from({ length: command.count }, (_, i) => payload(command.first + i));
    const cpu = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    if (command.mode === 'hub') for (const text of texts) hub.publish(TOPIC, text);
    else for (const text of texts) for (const socket of server.sockets) socket.next(text);
    const loopMs = Number(process.hrtime.bigint() - t0) / 1e6;
    setImmediate(() => {
      const used = process.cpuUsage(cpu);
      reply({ t0: String(t0), loopMs, handedMs: Number(process.hrtime.bigint() - t0) / 1e6, cpuMs: (used.user + used.system) / 1000 });
    });
  });
}

// ---- the clients and the report (this process) ----

/** What every client receives in one round: each message once, in order; resolves at the last delivery. */
class Round {
  #expected = new Int32Array(0);
  #remaining = 0;
  #last = 0n;
  #done: ((last: bigint) => void) | null = null;
  violations = 0;

  /** What compressed payloads inflated to (every socket gets the same bytes: inflated once). */
  readonly #inflated = new Map<string, Buffer>();
  compressed = 0;

  readonly events: ConnectionEvents = {
    message: (connection, opcode, data) => {
      if ((opcode & COMPRESSED) !== 0) {
        this.compressed++;
        const key = data.toString('latin1');
        let plain = this.#inflated.get(key);
        if (plain === undefined) {
          if (this.#inflated.size > 1000) this.#inflated.clear();
          plain = inflateRawSync(Buffer.concat([data, Buffer.from([0, 0, 0xff, 0xff])]), { finishFlush: constants.Z_SYNC_FLUSH });
          this.#inflated.set(key, plain);
        }
        data = plain;
      }
      const seq = Number(data.toString('latin1', 0, 8));
      if (data.length !== SIZE || seq !== this.#expected[connection.id]) this.violations++;
      this.#expected[connection.id] = seq + 1;
      this.#last = process.hrtime.bigint();
      if (--this.#remaining === 0) this.#done?.(this.#last);
    },
    lost: (connection, why) => {
      throw new Error(`client ${connection.id} lost: ${why}`);
    },
  };

  /** Expects `count` messages from `first` on each of `sockets` clients. */
  expect(sockets: number, first: number, count: number): Promise<bigint> {
    if (this.#expected.length !== sockets) this.#expected = new Int32Array(sockets);
    this.#expected.fill(first);
    this.#remaining = sockets * count;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${this.#remaining} deliveries missing after 60 s`)), 60_000);
      this.#done = (last) => {
        clearTimeout(timer);
        resolve(last);
      };
    });
  }
}

interface Figures {
  readonly toLastMs: number;
  readonly perSecond: number;
  readonly handedMs: number;
  readonly cpuMs: number;
}

async function main(): Promise<void> {
  const args = flags(process.argv.slice(2), { sockets: 10_000, rounds: 9, burst: 100, 'burst-rounds': 5, deflate: 0 });
  const child = spawn(process.execPath, [__filename, '--role=server', ...(DEFLATE ? ['--deflate=1'] : [])], { stdio: ['pipe', 'pipe', 'inherit'] });
  const replies = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const ask = async <T>(command?: object): Promise<T> => {
    if (command !== undefined) child.stdin.write(`${JSON.stringify(command)}\n`);
    const next = await replies.next();
    if (next.done === true) throw new Error('the bench server exited');
    return JSON.parse(next.value) as T;
  };
  const { port } = await ask<{ port: number }>();
  const round = new Round();
  const connections: Connection[] = [];
  const started = performance.now();
  let opened = 0;
  await Promise.all(
    Array.from({ length: 200 }, async () => {
      while (opened < args.sockets) connections.push(await Connection.open(port, opened++, round.events, DEFLATE ? OFFER : undefined));
    }),
  );
  while ((await ask<{ members: number }>({ type: 'members' })).members < args.sockets) await sleep(50);
  log(`${args.sockets} clients connected in ${Math.round(performance.now() - started)} ms`);

  let seq = 0;
  const measure = async (mode: Mode, count: number): Promise<Figures> => {
    const delivered = round.expect(args.sockets, seq, count);
    const published = await ask<Published>({ type: 'publish', mode, count, first: seq });
    seq += count;
    const toLastMs = Number((await delivered) - BigInt(published.t0)) / 1e6;
    return { toLastMs, perSecond: (args.sockets * count) / (toLastMs / 1000), handedMs: published.handedMs, cpuMs: published.cpuMs };
  };
  const results: Record<string, { one: Figures[]; burst: Figures[] }> = {};
  for (const mode of MODES) {
    for (let i = 0; i < 3; i++) await measure(mode, 1); // warm-up (JIT)
    const one: Figures[] = [];
    const burst: Figures[] = [];
    for (let i = 0; i < args.rounds; i++) one.push(await measure(mode, 1));
    for (let i = 0; i < args['burst-rounds']; i++) burst.push(await measure(mode, args.burst));
    results[mode] = { one, burst };
    log(`${mode}: done`);
  }
  for (const connection of connections) connection.destroy();
  child.stdin.end();
  if (round.violations > 0) throw new Error(`${round.violations} deliveries out of order, duplicated or corrupt`);
  if (DEFLATE && round.compressed === 0) throw new Error('no message came compressed: permessage-deflate was not negotiated');

  const m = (list: Figures[], key: keyof Figures) => median(list.map((f) => f[key]));
  const n = (value: number, digits = 1) => value.toLocaleString('en-US', { maximumFractionDigits: digits });
  const out = [
    `Fan-out of ${SIZE}-byte text messages${DEFLATE ? ' (permessage-deflate, no server context takeover)' : ''} to ${n(args.sockets)} sockets, server in its own process; medians of ${args.rounds} rounds (one message) and ${args['burst-rounds']} rounds (bursts of ${args.burst}).`,
    '',
    `| how | 1 message: to last delivery | deliveries/s | handed to kernel | server CPU | ${args.burst} messages: to last delivery | deliveries/s | server CPU |`,
    '|---|---:|---:|---:|---:|---:|---:|---:|',
    ...MODES.map((mode) => {
      const { one, burst } = results[mode]!;
      const label =
        mode === 'hub'
          ? `\`hub.publish\` (prepared${DEFLATE ? ' and compressed' : ''} once)`
          : `\`socket.next(text)\` loop${DEFLATE ? ' (compressed per socket)' : ''}`;
      return `| ${label} | ${n(m(one, 'toLastMs'))} ms | ${n(m(one, 'perSecond'), 0)} | ${n(m(one, 'handedMs'))} ms | ${n(m(one, 'cpuMs'))} ms | ${n(m(burst, 'toLastMs'))} ms | ${n(m(burst, 'perSecond'), 0)} | ${n(m(burst, 'cpuMs'))} ms |`;
    }),
    '',
    `Every client got every message once, in order. Command: \`node dist/bench/fanout.js ${process.argv.slice(2).join(' ')}\`.`,
  ];
  process.stdout.write(`${out.join('\n')}\n`);
}

function flags<T extends Record<string, number>>(argv: readonly string[], defaults: T): T {
  const values: Record<string, number> = { ...defaults };
  for (const arg of argv) {
    const match = /^--([a-z-]+)=(\d+)$/.exec(arg);
    if (!match || !(match[1]! in defaults)) throw new Error(`unknown flag ${arg}; flags: ${Object.keys(defaults).map((k) => `--${k}=N`).join(' ')}`);
    values[match[1]!] = Number(match[2]);
  }
  return values as T;
}

function log(line: string): void {
  process.stderr.write(`${line}\n`);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

if (process.argv.includes('--role=server')) void runServer();
else
  main().catch((err: Error) => {
    process.stderr.write(`${err.stack ?? err.message}\n`);
    process.exit(1);
  });
