/**
 * Property-based hardening: random frame sequences and random bytes
 * thrown at a real rxjs-ws echo server after a valid handshake.
 *
 * Properties, for every run:
 * - nothing escapes to the process (no uncaught exception or rejection);
 * - a well-formed prefix (text and binary messages, fragmented at random
 *   points, pings in between) is echoed exactly, in order, pongs included;
 * - then the server either goes on (and answers a clean close with 1000), or
 *   fails the connection with a close frame whose code is one an endpoint may
 *   send (1000-1003, 1007-1014, 3000-4999: never 1005/1006 on the wire), and
 *   never cuts the connection without a close frame;
 * - whatever happened, the socket is released once the client is gone, the
 *   server logs at most one line for it, a healthy client is still echoed,
 *   and nothing leaks: handles, listeners and sockets are back where they started.
 */
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import type { WebSocket } from 'ws';
import { type RxServer } from '../../src';
import { closed, listen, nextMessage, open } from '../support/net';
import {
  closeCodeOf,
  closePayload,
  encodeFrame,
  isValidWireCloseCode,
  RawWs,
  realProcess,
  trapEscapes,
  until,
  type FrameSpec,
  type ServerFrame,
} from '../support/raw';

trapEscapes();

const MAX_PAYLOAD = 1024;

/** A frame we expect back: opcode and payload. */
interface Expected {
  readonly opcode: number;
  readonly payload: Buffer;
}

/** A piece of well-formed traffic: the bytes, and what the echo server must send back for it. */
interface Valid {
  readonly bytes: Buffer[];
  readonly expected: Expected[];
}

const ping = fc.uint8Array({ maxLength: 125 }).map((p): Valid => {
  const payload = Buffer.from(p);
  return { bytes: [encodeFrame({ opcode: 0x9, payload })], expected: [{ opcode: 0xa, payload }] };
});

const unsolicitedPong = fc.uint8Array({ maxLength: 20 }).map((p): Valid => ({ bytes: [encodeFrame({ opcode: 0xa, payload: Buffer.from(p) })], expected: [] }));

/** A text or binary message (within maxPayload), cut into 1-4 fragments at random byte offsets, maybe with pings between them. */
const message = fc
  .record({
    binary: fc.boolean(),
    text: fc.string({ unit: 'binary', maxLength: 200 }),
    bin: fc.uint8Array({ maxLength: MAX_PAYLOAD }),
    cuts: fc.array(fc.nat(), { maxLength: 3 }),
    pings: fc.array(fc.option(fc.uint8Array({ maxLength: 10 }), { freq: 2 }), { minLength: 3, maxLength: 3 }),
    zeroMask: fc.boolean(),
  })
  .map(({ binary, text, bin, cuts, pings, zeroMask }): Valid => {
    const payload = binary ? Buffer.from(bin) : Buffer.from(text).subarray(0, MAX_PAYLOAD);
    const opcode = binary ? 0x2 : 0x1;
    const at = [...new Set(cuts.map((c) => (payload.length === 0 ? 0 : c % payload.length)))].sort((a, b) => a - b);
    const edges = [0, ...at.filter((c) => c > 0), payload.length];
    const bytes: Buffer[] = [];
    const expected: Expected[] = [];
    const mask = zeroMask ? Buffer.alloc(4) : undefined;
    for (let i = 0; i < edges.length - 1; i++) {
      const last = i === edges.length - 2;
      bytes.push(encodeFrame({ opcode: i === 0 ? opcode : 0x0, payload: payload.subarray(edges[i], edges[i + 1]), fin: last, mask }));
      const p = pings[i];
      if (!last && p) {
        bytes.push(encodeFrame({ opcode: 0x9, payload: Buffer.from(p) }));
        expected.push({ opcode: 0xa, payload: Buffer.from(p) });
      }
    }
    expected.push({ opcode, payload });
    return { bytes, expected };
  });

const valid = fc.oneof({ arbitrary: message, weight: 4 }, { arbitrary: ping, weight: 1 }, { arbitrary: unsolicitedPong, weight: 1 });

/** Any frame at all: every field at random, biased toward the edges the server must check. */
const anyFrame: fc.Arbitrary<FrameSpec> = fc.record(
  {
    opcode: fc.oneof(fc.constantFrom(0x0, 0x1, 0x2, 0x8, 0x9, 0xa), fc.integer({ min: 0, max: 15 })),
    fin: fc.boolean(),
    rsv: fc.oneof({ arbitrary: fc.constant(0), weight: 3 }, { arbitrary: fc.integer({ min: 0, max: 7 }), weight: 1 }),
    mask: fc.oneof(
      { arbitrary: fc.uint8Array({ minLength: 4, maxLength: 4 }).map((m) => Buffer.from(m)), weight: 6 },
      { arbitrary: fc.constant(null), weight: 1 },
    ),
    payload: fc.oneof(
      fc.uint8Array({ maxLength: 200 }).map((p) => Buffer.from(p)),
      fc.record({ code: fc.integer({ min: 0, max: 65535 }), reason: fc.uint8Array({ maxLength: 10 }) }).map(({ code, reason }) => closePayload(code, Buffer.from(reason))),
      fc.constantFrom(closePayload(1000), closePayload(1005), closePayload(4000, 'bye'), Buffer.from([0xff, 0xfe]), Buffer.alloc(126), Buffer.alloc(0)),
    ),
    length: fc.oneof(
      { arbitrary: fc.constant(undefined), weight: 6 },
      { arbitrary: fc.integer({ min: 0, max: 2 * MAX_PAYLOAD }), weight: 1 },
      { arbitrary: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), weight: 1 },
    ),
    lengthEncoding: fc.constantFrom(undefined, undefined, undefined, 16, 64),
  },
  { requiredKeys: ['opcode'] },
) as fc.Arbitrary<FrameSpec>;

/** What follows the well-formed prefix. */
const tail = fc.oneof(
  { arbitrary: fc.constant({ kind: 'none' as const }), weight: 2 },
  { arbitrary: fc.array(anyFrame, { minLength: 1, maxLength: 4 }).map((frames) => ({ kind: 'frames' as const, frames })), weight: 5 },
  { arbitrary: fc.uint8Array({ minLength: 1, maxLength: 300 }).map((b) => ({ kind: 'bytes' as const, bytes: Buffer.from(b) })), weight: 2 },
  {
    // A well-formed close frame with any code an endpoint may send: the server answers with the same code.
    arbitrary: fc
      .record({
        code: fc.oneof(fc.constantFrom(1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014), fc.integer({ min: 3000, max: 4999 })),
        reason: fc.string({ maxLength: 30 }),
      })
      .map(({ code, reason }) => ({ kind: 'frames' as const, frames: [{ opcode: 0x8, payload: closePayload(code, reason) }] as FrameSpec[] })),
    weight: 1,
  },
);

const scenario = fc.record({
  prefix: fc.array(valid, { maxLength: 4 }),
  tail,
  /** Where to cut the byte stream into separate writes (partial frames across reads). */
  cuts: fc.array(fc.nat(), { maxLength: 3 }),
});

type Scenario = typeof scenario extends fc.Arbitrary<infer T> ? T : never;

/** Whether `bytes` could hold a close frame with no payload (header 0x?8 then length 0), wherever it starts. */
function mayHoldEmptyClose(bytes: Buffer): boolean {
  for (let i = 0; i + 1 < bytes.length; i++) if ((bytes[i]! & 0x0f) === 0x8 && (bytes[i + 1]! & 0x7f) === 0) return true;
  return false;
}

function describeFrame(f: ServerFrame): string {
  return f.opcode === 8 ? `close(${closeCodeOf(f)})` : `op${f.opcode}[${f.payload.length}]`;
}

/** Counts of what a leak would grow: active handles by type, and listeners on the process and the HTTP server. */
function footprint(server: RxServer<unknown>) {
  const handles: Record<string, number> = {};
  for (const r of realProcess.getActiveResourcesInfo()) handles[r] = (handles[r] ?? 0) + 1;
  const listeners = (emitter: NodeJS.EventEmitter) =>
    Object.fromEntries(emitter.eventNames().map((e) => [String(e), emitter.listenerCount(e)]));
  // Timers come and go with the test's own waits: only a growth would be a leak.
  const timers = handles.Timeout ?? 0;
  delete handles.Timeout;
  return { handles, timers, process: listeners(realProcess), http: listeners(server.http!) };
}

function expectNoGrowth(after: ReturnType<typeof footprint>, before: ReturnType<typeof footprint>): void {
  expect({ ...after, timers: 0 }).toEqual({ ...before, timers: 0 });
  // Jest's own progress display keeps a short timer that may fall in one snapshot and not the other;
  // a leak would leave one per socket, dozens of them.
  expect(after.timers).toBeLessThanOrEqual(before.timers + 2);
}

describe('random traffic after a valid handshake (fast-check)', () => {
  let server: RxServer<unknown>;
  let port: number;
  let url: (path?: string) => string;
  let lines: string[];
  let healthy: WebSocket;
  /** How the runs ended, for the record: close codes sent, or 'open'. */
  const outcomes = new Map<string, number>();

  beforeEach(async () => {
    lines = [];
    ({ server, port, url } = await listen<unknown>({ path: '/ws', maxPayload: MAX_PAYLOAD, log: (l) => lines.push(l) }));
    server.connections$.subscribe((socket) => socket.messages$.subscribe(socket));
    healthy = await open(url());
  });

  afterEach(async () => {
    const done = closed(healthy);
    healthy.close(1000);
    await done;
  });

  async function expectHealthyEcho(): Promise<void> {
    const text = `healthy ${randomBytes(4).toString('hex')}`;
    const reply = nextMessage(healthy);
    healthy.send(text);
    expect((await reply).data.toString()).toBe(text);
  }

  /** One run: connect, write, check what came back, leave, check the release. */
  async function run({ prefix, tail, cuts }: Scenario): Promise<void> {
    const linesBefore = lines.length;
    const raw = await RawWs.connect(port);
    const tailBytes =
      tail.kind === 'none' ? [] : tail.kind === 'bytes' ? [tail.bytes] : tail.frames.map((f) => encodeFrame(f));
    const stream = Buffer.concat([...prefix.flatMap((v) => v.bytes), ...tailBytes]);
    const expected = prefix.flatMap((v) => v.expected);
    const edges = [...new Set(cuts.map((c) => (stream.length === 0 ? 0 : c % stream.length)))].filter((c) => c > 0).sort((a, b) => a - b);
    let from = 0;
    for (const to of [...edges, stream.length]) {
      await raw.write(stream.subarray(from, to));
      from = to;
      await new Promise((resolve) => setImmediate(resolve));
    }

    // Every echo and pong of the well-formed prefix, in order.
    await raw.waitFor(
      () => raw.frames.length >= expected.length || raw.closeFrame !== undefined || raw.closedAt !== null,
      `${expected.length} replies`,
      3000,
    );
    if (tail.kind !== 'none') {
      // The tail may fail the connection: give the server a moment to say so.
      await raw.waitFor(() => raw.closedAt !== null, 'the end', 25).catch(() => undefined);
    }
    const got = raw.frames.slice(0, expected.length);
    expect(got.map(describeFrame)).toEqual(expected.map((e) => `op${e.opcode}[${e.payload.length}]`));
    got.forEach((f, i) => expect(f.payload.equals(expected[i]!.payload)).toBe(true));

    for (const f of raw.frames) {
      expect(f.masked).toBe(false); // a server never masks
      expect(f.rsv).toBe(0);
      expect(f.opcode === 0x1 || f.opcode === 0x2 || f.opcode === 0x8 || f.opcode === 0xa).toBe(true);
    }
    const close = raw.closeFrame;
    const outcome = close === undefined ? 'open' : String(closeCodeOf(close) ?? 'empty');
    outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
    if (close !== undefined) {
      const code = closeCodeOf(close);
      // An empty close frame only answers an empty one from us.
      if (code === null) expect(mayHoldEmptyClose(Buffer.concat(tailBytes))).toBe(true);
      else expect(isValidWireCloseCode(code)).toBe(true);
      expect(raw.frames.indexOf(close)).toBe(raw.frames.length - 1); // nothing after the close frame
    } else if (raw.closedAt !== null) {
      throw new Error(`the server closed the connection without a close frame; it sent ${raw.frames.map(describeFrame).join(' ')}`);
    }

    if (tail.kind === 'none') {
      // Well-formed only: the connection is alive and closes cleanly.
      expect(close).toBeUndefined();
      await raw.write(encodeFrame({ opcode: 0x8, payload: closePayload(1000) }));
      await raw.waitFor(() => raw.closeFrame !== undefined && raw.endedAt !== null, 'the closing handshake', 3000);
      expect(closeCodeOf(raw.closeFrame!)).toBe(1000);
    }
    raw.destroy();
    await until(() => server.sockets.size === 1, 'the server to release the socket', 3000);
    expect(lines.length - linesBefore).toBeLessThanOrEqual(1);
    if (tail.kind === 'none') expect(lines.length).toBe(linesBefore); // clean close: nothing logged
    await expectHealthyEcho();
  }

  it('never crashes, echoes the well-formed prefix, fails only with valid close codes, and releases every socket', async () => {
    await expectHealthyEcho();
    await new Promise((resolve) => setTimeout(resolve, 20));
    const before = footprint(server);
    const started = Date.now();
    await fc.assert(fc.asyncProperty(scenario, run), { numRuns: 150 });
    await new Promise((resolve) => setTimeout(resolve, 50));
    expectNoGrowth(footprint(server), before);
    expect(server.sockets.size).toBe(1);
    const seen = [...outcomes].sort().map(([k, v]) => `${k}: ${v}`).join(', ');
    process.stdout.write(`fuzz: 150 frame-sequence runs in ${Date.now() - started} ms, ${lines.length} log lines; endings ${seen}\n`);
    outcomes.clear();
  }, 60_000);

  it('random bytes right after the handshake: the server closes with a valid code or waits, and never crashes', async () => {
    const before = footprint(server);
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ minLength: 1, maxLength: 512 }), async (bytes) =>
        run({ prefix: [], tail: { kind: 'bytes', bytes: Buffer.from(bytes) }, cuts: [] }),
      ),
      { numRuns: 100 },
    );
    await new Promise((resolve) => setTimeout(resolve, 50));
    expectNoGrowth(footprint(server), before);
  }, 60_000);
});
