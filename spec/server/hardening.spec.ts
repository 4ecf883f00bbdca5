/**
 * Hardening against the real server: bad frames and bad handshakes
 * from a raw TCP client, large fragmented messages and the fragment budget,
 * connection caps and authentication, and faults (a peer that vanishes
 * mid-frame, close() with 1,000 clients).
 *
 * Every test checks that nothing escapes to the process: an uncaught
 * exception or unhandled rejection anywhere in this file fails it.
 */
import { randomBytes } from 'node:crypto';
import type { WebSocket } from 'ws';
import { CloseCode, refuse, serve, type CloseInfo, type RxServer, type RxSocket, type ServeOptions } from '../../src';
import { closed, delay, listen, nextMessage, open } from '../support/net';
import { closeCodeOf, closePayload, encodeFrame, RawWs, rawExchange, trapEscapes, until, type RawReply } from '../support/raw';

// Nothing may escape to the process: an uncaught exception or unhandled rejection fails the test.
trapEscapes();

// ---------------------------------------------------------------------------
// Helpers

interface EchoServer {
  server: RxServer<unknown>;
  port: number;
  url: (path?: string) => string;
  /** Lines the server logged. */
  lines: string[];
  /** close$ of every server socket, in order. */
  closes: CloseInfo[];
  sockets: RxSocket<unknown>[];
}

/** An rxjs-ws echo server on 127.0.0.1:0 at /ws that records its log lines and closes. */
async function echoServer(options: Omit<ServeOptions<unknown>, 'port'> = {}): Promise<EchoServer> {
  const lines: string[] = [];
  const closes: CloseInfo[] = [];
  const sockets: RxSocket<unknown>[] = [];
  const { server, port, url } = await listen<unknown>({ path: '/ws', log: (line) => lines.push(line), ...options });
  server.connections$.subscribe((socket) => {
    sockets.push(socket);
    socket.messages$.subscribe(socket);
    socket.close$.subscribe((info) => closes.push(info));
  });
  return { server, port, url, lines, closes, sockets };
}

async function expectEcho(ws: WebSocket, text: string): Promise<void> {
  const reply = nextMessage(ws);
  ws.send(text);
  expect((await reply).data.toString()).toBe(text);
}

async function closeCleanly(...clients: WebSocket[]): Promise<void> {
  await Promise.all(
    clients.map((c) => {
      const done = closed(c);
      c.close(1000);
      return done;
    }),
  );
}

const bytes = (...b: number[]) => Buffer.from(b);

/**
 * Opens a well-behaved client, then a raw one that sends `input`; checks the
 * close code the server sends back on the wire, that the server then ends the
 * TCP connection itself, releases the socket and logs exactly one line, and
 * that the first client, and one that connects afterwards, are still served.
 */
async function expectFailure(input: Buffer | Buffer[], code: number, options: Omit<ServeOptions<unknown>, 'port'> = {}) {
  const s = await echoServer(options);
  const before = await open(s.url());
  await expectEcho(before, 'before');
  const raw = await RawWs.connect(s.port);
  await until(() => s.server.sockets.size === 2, 'the raw client to be accepted');

  const sentAt = Date.now();
  for (const chunk of Array.isArray(input) ? input : [input]) await raw.write(chunk);
  await raw.waitFor(() => raw.closeFrame !== undefined, 'the server close frame', 3000);
  expect(closeCodeOf(raw.closeFrame!)).toBe(code);
  expect(raw.dataFrames).toEqual([]); // nothing of the bad input was echoed
  // The server ends the connection itself; it does not wait for our close frame or its closeTimeout (5 s).
  await raw.waitFor(() => raw.endedAt !== null, 'the server to end the TCP connection', 3000);
  expect(raw.endedAt! - sentAt).toBeLessThan(1000);
  await until(() => s.server.sockets.size === 1, 'the server to release the failed socket');

  expect(s.closes).toEqual([expect.objectContaining({ code, wasClean: false })]);
  expect(s.lines).toEqual([expect.stringMatching(new RegExp(`^socket from 127\\.0\\.0\\.1 closed ${code}\\b`))]);
  // Everybody else is still served.
  await expectEcho(before, 'still here');
  const after = await open(s.url());
  await expectEcho(after, 'after');
  await closeCleanly(before, after);
  await until(() => s.server.sockets.size === 0, 'the clean closes');
  expect(s.lines).toHaveLength(1); // clean closes are not logged
  return { raw, ...s };
}

// ---------------------------------------------------------------------------

describe('bad frames after a valid handshake (raw TCP)', () => {
  it.each<[string, () => Buffer | Buffer[], number]>([
    ['an unmasked client frame', () => encodeFrame({ opcode: 0x1, payload: 'hi', mask: null }), CloseCode.PROTOCOL_ERROR],
    ['reserved data opcode 0x3', () => encodeFrame({ opcode: 0x3, payload: 'x' }), CloseCode.PROTOCOL_ERROR],
    ['reserved control opcode 0xB', () => encodeFrame({ opcode: 0xb }), CloseCode.PROTOCOL_ERROR],
    ['RSV1 set without an extension', () => encodeFrame({ opcode: 0x1, payload: 'x', rsv: 4 }), CloseCode.PROTOCOL_ERROR],
    ['RSV2 set', () => encodeFrame({ opcode: 0x2, payload: 'x', rsv: 2 }), CloseCode.PROTOCOL_ERROR],
    ['RSV3 set', () => encodeFrame({ opcode: 0x2, payload: 'x', rsv: 1 }), CloseCode.PROTOCOL_ERROR],
    ['RSV1 on a ping', () => encodeFrame({ opcode: 0x9, rsv: 4 }), CloseCode.PROTOCOL_ERROR],
    ['a fragmented control frame (ping with FIN=0)', () => encodeFrame({ opcode: 0x9, payload: 'p', fin: false }), CloseCode.PROTOCOL_ERROR],
    ['a continuation frame without a start', () => encodeFrame({ opcode: 0x0, payload: 'orphan' }), CloseCode.PROTOCOL_ERROR],
    [
      'a new message inside a fragmented one',
      () => [encodeFrame({ opcode: 0x1, payload: 'a', fin: false }), encodeFrame({ opcode: 0x1, payload: 'b' })],
      CloseCode.PROTOCOL_ERROR,
    ],
    ['a ping with a 126-byte payload', () => encodeFrame({ opcode: 0x9, payload: Buffer.alloc(126, 1) }), CloseCode.PROTOCOL_ERROR],
    ['a close frame with a 126-byte payload', () => encodeFrame({ opcode: 0x8, payload: closePayload(1000, 'r'.repeat(124)) }), CloseCode.PROTOCOL_ERROR],
    ['a close frame with a 1-byte payload', () => encodeFrame({ opcode: 0x8, payload: bytes(0x03) }), CloseCode.PROTOCOL_ERROR],
    ...[999, 1004, 1005, 1006, 1015, 2999, 5000].map(
      (c) => [`close code ${c} on the wire`, () => encodeFrame({ opcode: 0x8, payload: closePayload(c) }), CloseCode.PROTOCOL_ERROR] as [string, () => Buffer, number],
    ),
    ['invalid UTF-8 in a text frame (0xFF)', () => encodeFrame({ opcode: 0x1, payload: bytes(0x68, 0xff, 0x69) }), CloseCode.INVALID_PAYLOAD],
    ['an overlong encoding in a text frame', () => encodeFrame({ opcode: 0x1, payload: bytes(0xc0, 0xaf) }), CloseCode.INVALID_PAYLOAD],
    ['a UTF-16 surrogate in a text frame', () => encodeFrame({ opcode: 0x1, payload: bytes(0xed, 0xa0, 0x80) }), CloseCode.INVALID_PAYLOAD],
    [
      'invalid UTF-8 in a close reason',
      () => encodeFrame({ opcode: 0x8, payload: closePayload(1000, bytes(0x62, 0x79, 0x65, 0xff)) }),
      CloseCode.INVALID_PAYLOAD,
    ],
    [
      // "€" is E2 82 AC: split across the first two fragments it is valid, and
      // the message is only invalid at its very end (a truncated sequence).
      'a fragmented text message invalid only at its end',
      () => [
        encodeFrame({ opcode: 0x1, payload: bytes(0x61, 0xe2), fin: false }),
        encodeFrame({ opcode: 0x0, payload: bytes(0x82, 0xac, 0x62), fin: false }),
        encodeFrame({ opcode: 0x0, payload: bytes(0x63, 0xf0, 0x9f, 0x98) }),
      ],
      CloseCode.INVALID_PAYLOAD,
    ],
  ])('%s gets its close code', async (_name, input, code) => {
    await expectFailure(input(), code);
  });

  it('a frame whose length header exceeds maxPayload gets 1009 before any payload is sent', async () => {
    // Only the header and the mask: the server must not wait for 2 KiB that will never come.
    const header = encodeFrame({ opcode: 0x2, length: 2048 });
    await expectFailure(header, CloseCode.MESSAGE_TOO_BIG, { maxPayload: 1024 });
  });

  it('fragments whose sum exceeds maxPayload get 1009 at the fragment that crosses it', async () => {
    await expectFailure(
      [encodeFrame({ opcode: 0x2, payload: Buffer.alloc(600), fin: false }), encodeFrame({ opcode: 0x0, length: 600 })],
      CloseCode.MESSAGE_TOO_BIG,
      { maxPayload: 1024 },
    );
  });

  it('a 64-bit length over 2^53 - 1 gets 1009', async () => {
    await expectFailure(encodeFrame({ opcode: 0x2, length: 2n ** 60n }), CloseCode.MESSAGE_TOO_BIG);
  });

  it('the bad frame fails only its own connection even when it arrives in the same write as good ones', async () => {
    const { raw } = await expectFailure(
      [Buffer.concat([encodeFrame({ opcode: 0x9, payload: 'p' }), encodeFrame({ opcode: 0x3 })])],
      CloseCode.PROTOCOL_ERROR,
    );
    expect(raw.frames.map((f) => f.opcode)).toEqual([0xa, 0x8]); // the pong, then the close frame
  });
});

// ---------------------------------------------------------------------------

/** A request head for /ws with these header lines (plus Host). */
function requestHead(port: number, headers: readonly string[], path = '/ws'): string {
  return `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n${headers.map((h) => `${h}\r\n`).join('')}\r\n`;
}

const UPGRADE = ['Upgrade: websocket', 'Connection: Upgrade'];
const GOOD_KEY = 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==';
const V13 = 'Sec-WebSocket-Version: 13';

/**
 * Runs `exchange` against an echo server with a well-behaved client open
 * before it, and checks that this client, and one that connects after, are
 * served, that the server closed the connection itself and logged one line.
 */
async function expectRefused(
  exchange: (port: number) => Promise<RawReply>,
  check: (reply: RawReply) => void,
  logged: RegExp,
  options: Omit<ServeOptions<unknown>, 'port'> = {},
): Promise<RawReply> {
  const s = await echoServer(options);
  const before = await open(s.url());
  const reply = await exchange(s.port);
  expect(reply.closedByServer).toBe(true);
  check(reply);
  await delay(20);
  expect(s.server.sockets.size).toBe(1);
  expect(s.lines).toEqual([expect.stringMatching(logged)]);
  await expectEcho(before, 'before');
  const after = await open(s.url());
  await expectEcho(after, 'after');
  await closeCleanly(before, after);
  return reply;
}

describe('bad handshakes (raw HTTP)', () => {
  it.each([
    ['a malformed Sec-WebSocket-Key', [...UPGRADE, 'Sec-WebSocket-Key: abc', V13]],
    ['a Sec-WebSocket-Key of 15 bytes', [...UPGRADE, `Sec-WebSocket-Key: ${Buffer.alloc(15).toString('base64')}`, V13]],
    ['no Sec-WebSocket-Key', [...UPGRADE, V13]],
  ])('%s gets 400', async (_name, headers) => {
    await expectRefused(
      (port) => rawExchange(port, [requestHead(port, headers)]),
      (reply) => {
        expect(reply.status).toBe(400);
        expect(reply.body.length).toBeLessThan(100);
      },
      /^upgrade refused 400 from 127\.0\.0\.1 \/ws: /,
    );
  });

  it.each([
    ['version 12', [...UPGRADE, GOOD_KEY, 'Sec-WebSocket-Version: 12']],
    ['version 14', [...UPGRADE, GOOD_KEY, 'Sec-WebSocket-Version: 14']],
    ['a non-numeric version', [...UPGRADE, GOOD_KEY, 'Sec-WebSocket-Version: thirteen']],
    ['no version', [...UPGRADE, GOOD_KEY]],
  ])('%s gets 400 with the versions ws supports', async (_name, headers) => {
    await expectRefused(
      (port) => rawExchange(port, [requestHead(port, headers)]),
      (reply) => {
        expect(reply.status).toBe(400);
        expect(reply.headers['sec-websocket-version']).toBe('13, 8');
      },
      /^upgrade refused 400 from 127\.0\.0\.1 \/ws: /,
    );
  });

  it.each([
    ['a line of text', () => Buffer.from('HELLO THERE\r\n\r\n')],
    ['a TLS ClientHello', () => Buffer.from('16030100a5010000a10303', 'hex')],
    ['NUL bytes', () => Buffer.alloc(64)],
    ['a WebSocket frame instead of a request', () => encodeFrame({ opcode: 0x1, payload: 'hi' })],
    ['a request line with a bad version', () => Buffer.from('GET /ws HTTP/9.9\r\n\r\n')],
  ])('garbage instead of HTTP (%s) gets 400 and is closed', async (_name, garbage) => {
    await expectRefused(
      (port) => rawExchange(port, [garbage()]),
      (reply) => {
        expect(reply.status).toBe(400);
        expect(reply.raw.toString('latin1')).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n/);
      },
      /\b400\b.*127\.0\.0\.1|127\.0\.0\.1.*\b400\b/,
    );
  });

  it('request headers over 16 KiB (Node\'s maxHeaderSize) get 431 and are closed', async () => {
    await expectRefused(
      (port) => rawExchange(port, [requestHead(port, [...UPGRADE, GOOD_KEY, V13, `X-Padding: ${'a'.repeat(17 * 1024)}`])]),
      (reply) => {
        expect(reply.status).toBe(431);
      },
      /\b431\b.*127\.0\.0\.1|127\.0\.0\.1.*\b431\b/,
    );
  });

  it('a handshake that never finishes (slowloris) is closed within handshakeTimeout plus one connection check', async () => {
    const handshakeTimeout = 500;
    await expectRefused(
      // Half the headers, then nothing.
      (port) => rawExchange(port, [`GET /ws HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\n`], { timeoutMs: 5000 }),
      (r) => {
        expect(r.status).toBe(408);
        // Node checks headersTimeout every connectionsCheckingInterval (rxjs-ws: min(1000, handshakeTimeout)),
        // so the connection closes between handshakeTimeout and twice that.
        process.stdout.write(`slowloris (half the headers) closed after ${r.closedAfterMs} ms (handshakeTimeout ${handshakeTimeout})\n`);
        expect(r.closedAfterMs).toBeGreaterThanOrEqual(handshakeTimeout - 50);
        expect(r.closedAfterMs).toBeLessThan(2 * handshakeTimeout + 300);
      },
      /\b408\b|timed? ?out/i,
      { handshakeTimeout },
    );
  });

  it('a handshake dripped one byte at a time is closed as early as one that stopped', async () => {
    const handshakeTimeout = 500;
    await expectRefused(
      (port) => {
        const head = requestHead(port, [...UPGRADE, GOOD_KEY, V13]);
        return rawExchange(port, [...head].map((c) => c), { gapMs: 50, timeoutMs: 5000 }); // ~8 s if allowed to finish
      },
      (r) => {
        process.stdout.write(`slowloris (1 byte / 50 ms) closed after ${r.closedAfterMs} ms (handshakeTimeout ${handshakeTimeout})\n`);
        expect(r.status).toBe(408);
        expect(r.closedAfterMs).toBeLessThan(2 * handshakeTimeout + 300);
      },
      /\b408\b|timed? ?out/i,
      { handshakeTimeout },
    );
  });

  it('an authenticate hook that never answers gets 503 after handshakeTimeout, with nothing after it', async () => {
    const handshakeTimeout = 300;
    const reply = await expectRefused(
      (port) => rawExchange(port, [requestHead(port, [...UPGRADE, GOOD_KEY, V13], '/ws?hang')]),
      (r) => {
        expect(r.status).toBe(503);
        expect(r.body.toString()).toBe('Service Unavailable\n');
        expect(r.closedAfterMs).toBeGreaterThanOrEqual(handshakeTimeout - 20);
        expect(r.closedAfterMs).toBeLessThan(handshakeTimeout + 500);
      },
      /^upgrade refused 503 .*authenticate timed out/,
      { handshakeTimeout, authenticate: (req) => (req.url?.includes('hang') ? new Promise<never>(() => {}) : true) },
    );
    expect(reply.raw.length).toBe(reply.raw.indexOf('\r\n\r\n') + 4 + Number(reply.headers['content-length']));
  });
});

// ---------------------------------------------------------------------------

/** `payload` as one message of `opcode`, in fragments of `size` bytes (the last one may be shorter). */
function fragmented(opcode: number, payload: Buffer, size: number): Buffer {
  const count = Math.max(1, Math.ceil(payload.length / size));
  const mask = Buffer.from([0x5a, 0xa5, 0x0f, 0xf0]);
  const frames: Buffer[] = [];
  for (let i = 0; i < count; i++) {
    frames.push(
      encodeFrame({ opcode: i === 0 ? opcode : 0x0, payload: payload.subarray(i * size, (i + 1) * size), fin: i === count - 1, mask }),
    );
  }
  return Buffer.concat(frames);
}

describe('large messages in many small fragments (fragments = maxPayload / 64, at most 65,536)', () => {
  const MiB = 1024 * 1024;
  const big = { maxPayload: 16 * MiB };

  it('accepts 4 MiB of binary sent as 65,536 fragments of 64 bytes and echoes it whole (maxPayload 16 MiB)', async () => {
    const s = await echoServer(big);
    const raw = await RawWs.connect(s.port);
    const payload = randomBytes(4 * MiB);
    const started = Date.now();
    await raw.write(fragmented(0x2, payload, 64));
    await raw.waitFor(() => raw.dataFrames.length === 1 || raw.closeFrame !== undefined, 'the echo', 15_000);
    expect(raw.summary()).toEqual([`op2[${4 * MiB}]`]);
    expect(raw.dataFrames[0]!.fin).toBe(true);
    expect(raw.dataFrames[0]!.payload.equals(payload)).toBe(true);
    process.stdout.write(`4 MiB in 65,536 fragments of 64 bytes echoed in ${Date.now() - started} ms\n`);
    expect(s.sockets[0]!.stats.received).toBe(1);
    expect(s.lines).toEqual([]);
  });

  it('accepts 4 MiB of text in 64-byte fragments that split its characters, and echoes it as text (maxPayload 16 MiB)', async () => {
    const s = await echoServer(big);
    const raw = await RawWs.connect(s.port);
    const message = 'a€😀'.repeat(Math.floor((4 * MiB) / 8)); // 1 + 3 + 4 bytes: fragment edges fall inside characters
    const payload = Buffer.from(message);
    await raw.write(fragmented(0x1, payload, 64));
    await raw.waitFor(() => raw.dataFrames.length === 1 || raw.closeFrame !== undefined, 'the echo', 15_000);
    expect(raw.summary()).toEqual([`op1[${payload.length}]`]);
    expect(raw.dataFrames[0]!.payload.equals(payload)).toBe(true);
  });

  it('accepts up to 32 fragments of any size: a message in 32 fragments of 1 byte is echoed whole', async () => {
    const s = await echoServer();
    const raw = await RawWs.connect(s.port);
    const payload = randomBytes(32);
    await raw.write(fragmented(0x2, payload, 1));
    await raw.waitFor(() => raw.dataFrames.length === 1 || raw.closeFrame !== undefined, 'the echo', 15_000);
    expect(raw.summary()).toEqual([`op2[32]`]);
    expect(raw.dataFrames[0]!.payload.equals(payload)).toBe(true);
  });

  it.each([33, 16_384])('past 32 fragments, refuses fragments that carry under 64 bytes on average with 1008 (%d fragments of 1 byte)', async (count) => {
    const { closes } = await expectFailure(fragmented(0x2, randomBytes(count), 1), CloseCode.POLICY_VIOLATION);
    expect(closes[0]!.reason).toBe('Too many message fragments');
  });

  it('past 32 fragments, takes fragments of any size as long as they average 64 bytes', async () => {
    const s = await echoServer();
    const raw = await RawWs.connect(s.port);
    // 30 fragments of 1 byte, one of 128 KiB, then 1,900 more of 1 byte: what the message carries allows 2,048 more.
    const sizes = [...Array<number>(30).fill(1), 128 * 1024, ...Array<number>(1900).fill(1)];
    const payload = randomBytes(sizes.reduce((a, b) => a + b, 0));
    const frames: Buffer[] = [];
    let at = 0;
    sizes.forEach((size, i) => {
      frames.push(encodeFrame({ opcode: i === 0 ? 0x2 : 0x0, payload: payload.subarray(at, at + size), fin: i === sizes.length - 1 }));
      at += size;
    });
    await raw.write(Buffer.concat(frames));
    await raw.waitFor(() => raw.dataFrames.length === 1 || raw.closeFrame !== undefined, 'the echo', 15_000);
    expect(raw.summary()).toEqual([`op2[${payload.length}]`]);
    expect(raw.dataFrames[0]!.payload.equals(payload)).toBe(true);
  });

  it('caps fragments at maxPayload / 64, at most 65,536, as ws counts them: fragment 65,537 of 64 bytes is refused (maxPayload 16 MiB)', async () => {
    const { closes } = await expectFailure(fragmented(0x2, randomBytes(65_537 * 64), 64), CloseCode.POLICY_VIOLATION, big);
    expect(closes[0]!.reason).toBe('Too many message fragments');
  });

  it('scales the budget with maxPayload: 64 KiB allows 1,024 fragments', async () => {
    const s = await echoServer({ maxPayload: 64 * 1024 });
    const raw = await RawWs.connect(s.port);
    const payload = randomBytes(64 * 1024);
    await raw.write(fragmented(0x2, payload, 64)); // 1,024 fragments: the whole maxPayload
    await raw.waitFor(() => raw.dataFrames.length === 1 || raw.closeFrame !== undefined, 'the echo');
    expect(raw.summary()).toEqual([`op2[${64 * 1024}]`]);
    await expectFailure(fragmented(0x2, randomBytes(1025), 1), CloseCode.POLICY_VIOLATION, { maxPayload: 64 * 1024 });
  });

  it('counts empty fragments against the budget too', async () => {
    const frames = [encodeFrame({ opcode: 0x2, fin: false })];
    for (let i = 0; i < 1024; i++) frames.push(encodeFrame({ opcode: 0x0, fin: false }));
    await expectFailure(Buffer.concat(frames), CloseCode.POLICY_VIOLATION, { maxPayload: 64 * 1024 });
  });

  it('does not count control frames interleaved with the fragments', async () => {
    // 40 fragments of 64 bytes (the whole budget) with a ping between each two.
    const s = await echoServer({ maxPayload: 40 * 64 });
    const raw = await RawWs.connect(s.port);
    const payload = randomBytes(40 * 64);
    const frames: Buffer[] = [];
    for (let i = 0; i < 40; i++) {
      frames.push(encodeFrame({ opcode: i === 0 ? 0x2 : 0x0, payload: payload.subarray(i * 64, (i + 1) * 64), fin: i === 39 }));
      if (i < 39) frames.push(encodeFrame({ opcode: 0x9, payload: String(i) }));
    }
    await raw.write(Buffer.concat(frames));
    await raw.waitFor(() => raw.dataFrames.length === 1 || raw.closedAt !== null, 'the echo');
    expect(raw.dataFrames[0]!.payload.equals(payload)).toBe(true);
    expect(raw.frames.filter((f) => f.opcode === 0xa)).toHaveLength(39);
  });
});

describe('ping bursts', () => {
  it.each([100, 5000])(
    'a burst of %i pings in one write is answered, or refused with a close frame and a logged reason, never cut off bare',
    async (count) => {
      const s = await echoServer();
      const healthy = await open(s.url());
      const raw = await RawWs.connect(s.port);
      await raw.write(Buffer.concat(Array.from({ length: count }, (_, i) => encodeFrame({ opcode: 0x9, payload: String(i) }))));
      const pongs = () => raw.frames.filter((f) => f.opcode === 0xa).length;
      await raw.waitFor(() => pongs() === count || raw.closeFrame !== undefined || raw.closedAt !== null, 'the pongs, a close frame or the end');
      await delay(20);
      if (raw.closeFrame === undefined) {
        // Answered (RFC 6455 §5.5.2: a Pong for every Ping), and the connection goes on.
        expect(raw.closedAt).toBeNull(); // not cut off without a close frame
        expect(pongs()).toBe(count);
        expect(s.lines).toEqual([]);
      } else {
        // Refused as a flood: with a close frame (1008), and the log says why.
        expect(closeCodeOf(raw.closeFrame)).toBe(CloseCode.POLICY_VIOLATION);
        await raw.write(encodeFrame({ opcode: 0x8, payload: closePayload(CloseCode.POLICY_VIOLATION) }));
        await until(() => s.server.sockets.size === 1, 'the release');
        expect(s.lines).toEqual([expect.stringMatching(/^socket from 127\.0\.0\.1 closed 1008 \(.+\)$/)]);
      }
      await expectEcho(healthy, 'still here');
    },
  );
});

// ---------------------------------------------------------------------------

/** Opens `n` ws clients at once and reports, for each, 'open' or the HTTP status that refused it. */
async function openMany(url: string, n: number, options: { headers?: Record<string, string>; localAddress?: string } = {}) {
  const results = await Promise.allSettled(Array.from({ length: n }, () => open(url, options)));
  return results.map((r) => {
    if (r.status === 'fulfilled') return { outcome: 'open' as const, ws: r.value };
    const status = /Unexpected server response: (\d+)/.exec(String(r.reason))?.[1];
    return { outcome: status === undefined ? String(r.reason) : Number(status) };
  });
}

/** Checks that `reply` is exactly one short HTTP error response, then the end: no 101, no frame, nothing after the body. */
function expectBareRefusal(reply: RawReply, status: number, body: string): void {
  expect(reply.status).toBe(status);
  expect(reply.closedByServer).toBe(true);
  expect(reply.headers.connection).toBe('close');
  expect(reply.headers['sec-websocket-accept']).toBeUndefined();
  expect(reply.headers.upgrade).toBeUndefined();
  expect(reply.body.toString()).toBe(body);
  // Nothing follows the body: no WebSocket frame, no second response.
  expect(reply.raw.length).toBe(reply.raw.indexOf('\r\n\r\n') + 4 + Number(reply.headers['content-length']));
}

describe('connection caps', () => {
  const upgrade = (port: number, path = '/ws') => requestHead(port, [...UPGRADE, GOOD_KEY, V13], path);

  it('past maxConnections an upgrade gets a bare HTTP 503 (not 101 then 1013), is logged, and frees up when a socket leaves', async () => {
    const s = await echoServer({ maxConnections: 2 });
    const [a, b] = [await open(s.url()), await open(s.url())];
    const reply = await rawExchange(s.port, [Buffer.concat([Buffer.from(upgrade(s.port)), encodeFrame({ opcode: 0x1, payload: 'x' })])]);
    expectBareRefusal(reply, 503, 'Service Unavailable\n');
    expect(s.lines).toEqual(['upgrade refused 503 from 127.0.0.1 /ws: connection limit']);
    await expectEcho(a!, 'a is still served');
    await closeCleanly(a!);
    await until(() => s.server.sockets.size === 1, 'the release of a');
    const c = await open(s.url());
    await expectEcho(c, 'c took its place');
    await closeCleanly(b!, c);
  });

  it('past maxConnectionsPerAddress one address gets 503 while another address is served', async () => {
    const s = await echoServer({ maxConnectionsPerAddress: 2 });
    const local = await openMany(s.url(), 3);
    expect(local.map((r) => r.outcome).sort()).toEqual([503, 'open', 'open']);
    const other = await openMany(s.url(), 2, { localAddress: '127.0.0.2' });
    expect(other.map((r) => r.outcome)).toEqual(['open', 'open']);
    expect(s.lines).toEqual(['upgrade refused 503 from 127.0.0.1 /ws: per-address connection limit']);
    const refused = await openMany(s.url(), 1, { localAddress: '127.0.0.2' });
    expect(refused[0]!.outcome).toBe(503);
    expect(s.server.sockets.size).toBe(4);
    await closeCleanly(...[...local, ...other].flatMap((r) => (r.ws ? [r.ws] : [])));
  });

  it('holds maxConnections while authenticate is still deciding (concurrent upgrades)', async () => {
    const s = await echoServer({ maxConnections: 2, authenticate: () => delay(50).then(() => ({ ok: true })) });
    const results = await openMany(s.url(), 6);
    const outcomes = results.map((r) => r.outcome);
    expect(s.server.sockets.size).toBeLessThanOrEqual(2);
    expect(outcomes.filter((o) => o === 'open')).toHaveLength(2);
    expect(outcomes.filter((o) => o === 503)).toHaveLength(4);
    await closeCleanly(...results.flatMap((r) => (r.ws ? [r.ws] : [])));
  });

  it('holds maxConnectionsPerAddress while authenticate is still deciding (concurrent upgrades)', async () => {
    const s = await echoServer({ maxConnectionsPerAddress: 1, authenticate: () => delay(50).then(() => ({ ok: true })) });
    const results = await openMany(s.url(), 4);
    expect(results.map((r) => r.outcome).sort()).toEqual([503, 503, 503, 'open']);
    await closeCleanly(...results.flatMap((r) => (r.ws ? [r.ws] : [])));
  });
});

describe('authenticate with a token', () => {
  const TOKEN = 'tok-3f9a1c-secret';
  const WRONG = 'tok-3f9a1c-secreT';
  const authenticate = (req: { headers: Record<string, string | string[] | undefined>; url?: string }) => {
    const header = req.headers.authorization;
    const fromHeader = typeof header === 'string' && header.startsWith('Bearer ') ? header.slice(7) : undefined;
    const fromQuery = new URL(req.url ?? '/', 'http://localhost').searchParams.get('token') ?? undefined;
    return (fromHeader ?? fromQuery) === TOKEN ? { user: 'alice' } : false;
  };

  it.each([
    ['the right token in Authorization: Bearer', [`Authorization: Bearer ${TOKEN}`], '/ws'],
    ['the right token in the query string', [], `/ws?token=${TOKEN}`],
  ])('%s opens the socket with socket.auth', async (_name, headers, path) => {
    const s = await echoServer({ authenticate });
    const raw = await RawWs.connect(s.port, { path, headers });
    await until(() => s.sockets.length === 1, 'the socket');
    expect(s.sockets[0]!.auth).toEqual({ user: 'alice' });
    await raw.write(encodeFrame({ opcode: 0x1, payload: 'authed' }));
    await raw.waitFor(() => raw.dataFrames.length === 1, 'the echo');
    expect(s.lines).toEqual([]);
  });

  it.each([
    ['a wrong token in the header', [`Authorization: Bearer ${WRONG}`], '/ws'],
    ['an empty Bearer header', ['Authorization: Bearer '], '/ws'],
    ['another scheme (Basic)', [`Authorization: Basic ${Buffer.from(`alice:${TOKEN}`).toString('base64')}`], '/ws'],
    ['no token at all', [], '/ws'],
    ['a wrong token in the query string', [], `/ws?token=${WRONG}`],
    ['an empty token in the query string', [], '/ws?token='],
  ])('%s gets a bare 401 before any WebSocket frame, and the log does not hold the token', async (_name, headers, path) => {
    const s = await echoServer({ authenticate });
    const before = await open(s.url(`/ws?token=${TOKEN}`));
    // A client frame pipelined right after the request: it must never be read as one.
    const request = Buffer.concat([
      Buffer.from(requestHead(s.port, [...UPGRADE, GOOD_KEY, V13, ...headers], path)),
      encodeFrame({ opcode: 0x1, payload: 'should never be echoed' }),
    ]);
    const reply = await rawExchange(s.port, [request]);
    expectBareRefusal(reply, 401, 'Unauthorized\n');
    expect(reply.raw.toString('latin1')).not.toContain(TOKEN.slice(0, 10)); // neither token nor anything like it
    expect(s.lines).toHaveLength(1);
    expect(s.lines[0]).toMatch(/^upgrade refused 401 from 127\.0\.0\.1 \/ws\b/);
    // Tokens of failed attempts are usually typos of real ones: they must not end up in the log.
    expect(s.lines[0]).not.toContain(WRONG);
    expect(s.lines[0]).not.toContain(TOKEN);
    await expectEcho(before, 'still served');
    await closeCleanly(before);
  });

  it('refuse(403, message) sends only that short message; a thrown error sends only "Internal Server Error"', async () => {
    const s = await echoServer({
      authenticate: (req) => {
        if (req.url?.includes('banned')) throw refuse(403, 'Forbidden');
        throw new Error(`lookup failed for ${req.headers.authorization}: connect ECONNREFUSED 10.0.0.5:5432`);
      },
    });
    const banned = await rawExchange(s.port, [requestHead(s.port, [...UPGRADE, GOOD_KEY, V13], '/ws?banned')]);
    expectBareRefusal(banned, 403, 'Forbidden\n');
    const failing = await rawExchange(s.port, [requestHead(s.port, [...UPGRADE, GOOD_KEY, V13, `Authorization: Bearer ${TOKEN}`])]);
    expectBareRefusal(failing, 500, 'Internal Server Error\n');
    expect(failing.raw.toString('latin1')).not.toMatch(/ECONNREFUSED|10\.0\.0\.5|tok-/);
    expect(s.lines).toHaveLength(2);
  });
});

// ---------------------------------------------------------------------------

/** The TCP socket under a server-side RxSocket (socket.request is not always kept). */
const tcpOf = (socket: RxSocket<unknown>) => (socket.ws as unknown as { _socket: import('node:net').Socket })._socket;

describe('faults', () => {
  it.each<[string, () => Buffer]>([
    ['half a frame header', () => encodeFrame({ opcode: 0x2, payload: Buffer.alloc(300) }).subarray(0, 3)],
    ['half a payload', () => encodeFrame({ opcode: 0x2, payload: Buffer.alloc(1000) }).subarray(0, 500)],
    ['a fragmented message cut in its second fragment', () =>
      Buffer.concat([encodeFrame({ opcode: 0x1, payload: 'one', fin: false }), encodeFrame({ opcode: 0x0, payload: 'two-two' }).subarray(0, 6)])],
  ])('a client that vanishes (RST) after %s is cleaned up: close$ 1006, nothing left behind', async (_name, partial) => {
    const s = await echoServer();
    const healthy = await open(s.url());
    const raw = await RawWs.connect(s.port);
    await until(() => s.sockets.length === 2, 'the raw socket');
    const victim = s.sockets[1]!;
    const ended: string[] = [];
    victim.messages$.subscribe({ error: (e: Error) => ended.push(`error ${e.name}`), complete: () => ended.push('complete') });
    await raw.write(partial());
    await delay(20);
    raw.socket.resetAndDestroy();
    await until(() => s.server.sockets.size === 1, 'the server to release the vanished socket');
    expect(s.closes).toEqual([{ code: 1006, reason: '', wasClean: false, error: expect.objectContaining({ code: 'ECONNRESET' }) }]);
    expect(victim.state).toBe('closed');
    expect(ended).toEqual(['complete']); // a vanished peer ends messages$ without an error: nothing to crash a handler
    expect(['message', 'close', 'error', 'open', 'ping', 'pong'].map((e) => victim.ws.listenerCount(e))).toEqual([0, 0, 0, 0, 0, 0]);
    expect(tcpOf(victim).destroyed).toBe(true);
    expect(s.lines).toEqual(['socket from 127.0.0.1 closed 1006']);
    await expectEcho(healthy, 'still here');
    await closeCleanly(healthy);
  });

  it('a client that vanishes while the server is sending it a large backlog is cleaned up and the backlog reported', async () => {
    // A queue larger than what loopback's kernel buffers absorb, so that something is still queued at the RST.
    const s = await echoServer({ outbound: { maxBytes: 64 * 1024 * 1024, maxMessages: 10_000 } });
    const raw = await RawWs.connect(s.port);
    raw.socket.pause(); // stop reading: the server's writes back up
    await until(() => s.sockets.length === 1, 'the socket');
    const victim = s.sockets[0]!;
    const dropped: number[] = [];
    victim.errors$.subscribe((e) => {
      if (e.code === 'RXJS_WS_FRAME_DROPPED') dropped.push((e as unknown as { count: number }).count);
    });
    let accepted = 0;
    const chunk = Buffer.alloc(64 * 1024, 1);
    try {
      for (; accepted < 200; accepted++) victim.send(chunk);
    } catch {
      /* the outbound queue is full: that is the point */
    }
    await delay(20);
    expect(accepted).toBe(200);
    expect(victim.bufferedAmount).toBeGreaterThan(0);
    raw.socket.resetAndDestroy();
    await until(() => s.server.sockets.size === 0, 'the release');
    expect(s.closes).toEqual([{ code: 1006, reason: '', wasClean: false, error: expect.objectContaining({ code: 'ECONNRESET' }) }]);
    expect(victim.bufferedAmount).toBe(0);
    expect(victim.stats.dropped).toBeGreaterThan(0); // what never left is reported, not silently lost
    expect(dropped.reduce((a, b) => a + b, 0)).toBe(victim.stats.dropped);
  });

  it('close() with 1,000 clients: each gets what it was promised, then 1001, within the deadline', async () => {
    const N = 1000;
    // From one address: the per-address limits are raised for it. closeTimeout: the default 5 s.
    const s = await echoServer({ maxConnectionsPerAddress: N, handshakesPerAddress: Infinity });
    const clients: { ws: WebSocket; got: string[]; close: Promise<{ code: number; reason: string; got: string[] }> }[] = [];
    for (let i = 0; i < N; i += 100) {
      const batch = await Promise.all(Array.from({ length: Math.min(100, N - i) }, () => open(s.url())));
      for (const ws of batch) {
        const got: string[] = [];
        ws.on('message', (m) => got.push(m.toString()));
        const close = new Promise<{ code: number; reason: string; got: string[] }>((resolve) =>
          ws.once('close', (code, reason) => resolve({ code, reason: reason.toString(), got: [...got] })),
        );
        clients.push({ ws, got, close });
      }
    }
    await until(() => s.server.sockets.size === N, 'every socket', 10_000);
    // Right before close(), each socket is promised a message naming its client's port.
    for (const socket of s.server.sockets) socket.next(`promised to ${tcpOf(socket).remotePort}`);
    const started = performance.now();
    await s.server.close();
    const took = performance.now() - started;
    process.stdout.write(`close() with ${N} clients took ${took.toFixed(0)} ms\n`);
    const closes = await Promise.all(clients.map((c) => c.close));
    closes.forEach((c, i) => {
      const port = (clients[i]!.ws as unknown as { _socket: { localPort: number } })._socket?.localPort;
      expect({ code: c.code, reason: c.reason }).toEqual({ code: 1001, reason: 'Server shutting down' });
      expect(c.got).toEqual([port === undefined ? expect.any(String) : `promised to ${port}`]);
    });
    expect(s.closes.every((c) => c.code === 1001 && c.wasClean)).toBe(true); // nobody had to be terminated
    // Within the deadline (closeTimeout, 5 s), plus slack for a loaded machine: this process runs all 2,000 ends.
    expect(took).toBeLessThan(5000 + 1000);
    expect(s.lines).toEqual([]);
  }, 60_000);

  it('close() flushes a backlog each client was promised past its socket buffer, in order, before 1001', async () => {
    const s = await echoServer();
    const clients = await Promise.all(Array.from({ length: 20 }, () => open(s.url())));
    const received = clients.map((ws) => {
      const port = String((ws as unknown as { _socket: { localPort: number } })._socket.localPort);
      const got: Buffer[] = [];
      ws.on('message', (m) => got.push(m as Buffer));
      return { port, got, close: new Promise<{ code: number; count: number }>((r) => ws.once('close', (code) => r({ code, count: got.length }))) };
    });
    await until(() => s.server.sockets.size === 20, 'every socket');
    const promised = new Map<string, number>();
    for (const socket of s.server.sockets) {
      let n = 0;
      // 16 KiB frames until the outbound queue refuses one (about 1 MiB queued past the socket buffer).
      try {
        for (; n < 1000; n++) socket.send(Buffer.alloc(16 * 1024, n & 0xff));
      } catch {
        /* full */
      }
      expect(socket.bufferedAmount).toBeGreaterThan(0);
      promised.set(String(tcpOf(socket).remotePort), n);
    }
    await s.server.close();
    for (const { port, close, got } of received) {
      const r = await close;
      expect(r.code).toBe(1001);
      expect(r.count).toBe(promised.get(port));
      expect(got.every((m, k) => m.length === 16 * 1024 && m[0] === (k & 0xff))).toBe(true);
    }
  }, 30_000);
});

describe('lifecycle', () => {
  it('close() called before the server is listening leaves nothing listening', async () => {
    const server = serve({ port: 0 });
    await server.close();
    await server.listening.catch(() => undefined);
    await delay(50);
    const still = server.http!.listening;
    if (still) await new Promise((resolve) => server.http!.close(resolve)); // do not leak it from the test
    expect(still).toBe(false);
  });
});
