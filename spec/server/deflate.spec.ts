/**
 * permessage-deflate on serve() and connect(), in the manner of Autobahn's
 * sections 12 and 13 (compressed echoes under each negotiated parameter) and
 * of its failure cases: compressed fragments, data that does not inflate
 * (1007), a message that inflates past maxPayload (1009); and the bounds:
 * the compressor's backlog, the memory budget, prepared frames.
 */
import { randomBytes } from 'node:crypto';
import * as zlib from 'node:zlib';
import { WebSocket, type ClientOptions } from 'ws';
import { connect, createHub, InvalidArgumentError, prepare, PreparedFrame, serve, type RxSocket } from '../../src';
import { preparedPath, rawSocket, senderBytes } from '../../src/socket/ws-internals';
import { listen, open } from '../support/net';
import { encodeFrame, RawWs, until } from '../support/raw';

/** What `ws` answered in Sec-WebSocket-Extensions, as parameter → value. */
function negotiated(response: string): Record<string, string | true> | null {
  const line = response.split('\r\n').find((l) => l.toLowerCase().startsWith('sec-websocket-extensions:'));
  if (line === undefined) return null;
  const [name, ...params] = line.slice(line.indexOf(':') + 1).split(';').map((p) => p.trim());
  expect(name).toBe('permessage-deflate');
  return Object.fromEntries(params.map((p) => (p.includes('=') ? (p.split('=') as [string, string]) : [p, true])));
}

/** A message compressed as a peer without context takeover sends it: raw deflate, sync-flushed, the empty block dropped. */
function compress(data: Buffer | string, options: zlib.ZlibOptions = {}): Buffer {
  const out = zlib.deflateRawSync(data, { ...options, finishFlush: zlib.constants.Z_SYNC_FLUSH });
  return out.subarray(0, out.length - 4);
}

function inflate(payload: Buffer): Buffer {
  return zlib.inflateRawSync(Buffer.concat([payload, Buffer.from([0, 0, 0xff, 0xff])]), { finishFlush: zlib.constants.Z_SYNC_FLUSH });
}

const NO_TAKEOVER = ['Sec-WebSocket-Extensions: permessage-deflate; client_no_context_takeover; server_no_context_takeover'];

/** Messages of Autobahn 12.x's kinds: text and binary, 16 B to 128 KiB, compressible JSON and random bytes. */
function corpus(): (string | Buffer)[] {
  const json = (n: number) => JSON.stringify(Array.from({ length: n }, (_, i) => ({ id: i, name: `item ${i}`, tags: ['a', 'b'], price: i * 1.25 })));
  return [
    'hello',
    json(1),
    json(40),
    json(2000),
    'é€𝄞'.repeat(3000),
    randomBytes(16),
    randomBytes(20_000),
    Buffer.alloc(131_072, 7),
    json(40), // again: with context takeover, the second one refers to the first
  ];
}

/** Echoes every message of the corpus through `client`; resolves with what came back. */
async function echoAll(client: WebSocket, messages: readonly (string | Buffer)[]): Promise<(string | Buffer)[]> {
  const got: (string | Buffer)[] = [];
  const done = new Promise<void>((resolve) =>
    client.on('message', (data: Buffer, isBinary) => {
      got.push(isBinary ? data : data.toString());
      if (got.length === messages.length) resolve();
    }),
  );
  for (const m of messages) client.send(m, { binary: typeof m !== 'string' });
  await done;
  return got;
}

function echoServer(options: Parameters<typeof listen>[0]) {
  return listen({ heartbeat: false, ...options }).then((listening) => {
    listening.server.connections$.subscribe((s) => s.messages$.subscribe(s));
    return listening;
  });
}

describe('perMessageDeflate options', () => {
  it.each([
    [{ perMessageDeflate: 'yes' }, 'Expected `perMessageDeflate` to be a boolean or an object, got `"yes"` (string)'],
    [{ perMessageDeflate: { serverMaxWindowBits: 16 } }, 'Expected `perMessageDeflate.serverMaxWindowBits` to be an integer in [8, 15], got `16` (number)'],
    [{ perMessageDeflate: { clientNoContextTakeover: 1 } }, 'Expected `perMessageDeflate.clientNoContextTakeover` to be a boolean, got `1` (number)'],
    [{ perMessageDeflate: { threshold: -1 } }, 'Expected `perMessageDeflate.threshold` to be an integer >= 0, got `-1` (number)'],
    [{ perMessageDeflate: { concurrencyLimit: 0 } }, 'Expected `perMessageDeflate.concurrencyLimit` to be an integer >= 1, got `0` (number)'],
    [{ perMessageDeflate: { zlibDeflateOptions: { level: 10 } } }, 'Expected `perMessageDeflate.zlibDeflateOptions.level` to be an integer in [-1, 9], got `10` (number)'],
    [{ perMessageDeflate: { zlibDeflateOptions: { windowBits: 9 } } }, 'Unknown `perMessageDeflate.zlibDeflateOptions` option `windowBits`'],
    [{ perMessageDeflate: { serverMaxWindow: 9 } }, 'Unknown `perMessageDeflate` option(s) `serverMaxWindow`'],
  ])('refuses %j on serve() and connect() at once, with RXJS_WS_INVALID_ARGUMENT', (options, message) => {
    const onServe = () => serve({ port: 0, ...(options as object) });
    expect(onServe).toThrow(InvalidArgumentError);
    expect(onServe).toThrow(message);
    const onConnect = () => connect('ws://127.0.0.1:9/', options as object);
    expect(onConnect).toThrow(message);
    try {
      onConnect();
    } catch (err) {
      expect((err as InvalidArgumentError).code).toBe('RXJS_WS_INVALID_ARGUMENT');
    }
  });

  it('is an upgrade option: refused beside an adopted wss, whose own options apply', async () => {
    const { WebSocketServer } = await import('ws');
    const wss = new WebSocketServer({ noServer: true });
    expect(() => serve({ wss, perMessageDeflate: true })).toThrow(/`perMessageDeflate`.* act on upgrades/);
    wss.close();
  });

  it('is off by default: an offer gets no extension, and frames go as they are', async () => {
    const { port } = await echoServer({});
    const raw = await RawWs.connect(port, { headers: NO_TAKEOVER });
    expect(negotiated(raw.response)).toBeNull();
    raw.destroy();
  });
});

describe('permessage-deflate negotiation (Autobahn 13.x)', () => {
  it.each<[string, object, string, Record<string, string | true>]>([
    ['defaults', {}, 'permessage-deflate', {}],
    ['client_max_window_bits offered, the server picks 9', { clientMaxWindowBits: 9 }, 'permessage-deflate; client_max_window_bits', { client_max_window_bits: '9' }],
    ['server_max_window_bits=10 asked', {}, 'permessage-deflate; server_max_window_bits=10', { server_max_window_bits: '10' }],
    ['server_no_context_takeover asked', {}, 'permessage-deflate; server_no_context_takeover', { server_no_context_takeover: true }],
    ['client_no_context_takeover offered', {}, 'permessage-deflate; client_no_context_takeover', { client_no_context_takeover: true }],
    ['the server imposes server_no_context_takeover', { serverNoContextTakeover: true }, 'permessage-deflate', { server_no_context_takeover: true }],
  ])('%s', async (_name, deflate, offer, answer) => {
    const { port } = await echoServer({ perMessageDeflate: deflate });
    const raw = await RawWs.connect(port, { headers: [`Sec-WebSocket-Extensions: ${offer}`] });
    expect(negotiated(raw.response)).toEqual(answer);
    raw.destroy();
  });

  it('refuses an offer it cannot accept (a window bits value out of range) with 400', async () => {
    const { port } = await echoServer({ perMessageDeflate: true });
    await expect(RawWs.connect(port, { headers: ['Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=7'] })).rejects.toThrow(/400/);
  });

  const combinations: [string, object, ClientOptions['perMessageDeflate']][] = [];
  for (const bits of [8, 9, 12, 15]) combinations.push([`server and client window ${bits} bits`, {}, { serverMaxWindowBits: bits, clientMaxWindowBits: bits }]);
  combinations.push(['no context takeover either way', {}, { serverNoContextTakeover: true, clientNoContextTakeover: true }]);
  combinations.push(['server without context takeover, window 9 and level 1', { serverNoContextTakeover: true, zlibDeflateOptions: { level: 1, memLevel: 1 } }, { serverMaxWindowBits: 9 }]);
  combinations.push(['threshold 0: every message compressed', { threshold: 0 }, { threshold: 0 }]);
  it.each(combinations)('echoes every message exactly with %s', async (_name, server, client) => {
    const { url } = await echoServer({ perMessageDeflate: server, maxPayload: 1 << 20 });
    const ws = await open(url(), { perMessageDeflate: client });
    expect(ws.extensions).toBe('permessage-deflate');
    const messages = corpus();
    expect(await echoAll(ws, messages)).toEqual(messages);
    ws.terminate();
  });

  it('negotiates from connect() too: the client compresses and the echoes come back exact', async () => {
    const { url, server } = await echoServer({ perMessageDeflate: true });
    const accepted = new Promise<RxSocket>((resolve) => server.connections$.subscribe((s) => resolve(s as RxSocket)));
    const client = connect(url(), { perMessageDeflate: { clientMaxWindowBits: 10, serverNoContextTakeover: true }, reconnect: false });
    const got: unknown[] = [];
    const messages = corpus();
    const done = new Promise<void>((resolve) => client.messages$.subscribe((m) => got.push(m) === messages.length && resolve()));
    for (const m of messages) client.next(m);
    await done;
    expect(got).toEqual(messages);
    expect((await accepted).ws.extensions).toBe('permessage-deflate');
    client.close();
  });
});

describe('compressed frames from a peer', () => {
  it('takes a compressed message in three fragments (RSV1 on the first only) and echoes it compressed', async () => {
    const { port } = await echoServer({ perMessageDeflate: true });
    const raw = await RawWs.connect(port, { headers: NO_TAKEOVER });
    const text = JSON.stringify({ fragments: Array.from({ length: 300 }, (_, i) => `part ${i}`) });
    const body = compress(text);
    const third = Math.ceil(body.length / 3);
    await raw.write(
      Buffer.concat([
        encodeFrame({ opcode: 0x1, rsv: 4, fin: false, payload: body.subarray(0, third) }),
        encodeFrame({ opcode: 0x0, fin: false, payload: body.subarray(third, 2 * third) }),
        encodeFrame({ opcode: 0x0, fin: true, payload: body.subarray(2 * third) }),
      ]),
    );
    await raw.waitFor(() => raw.dataFrames.length === 1, 'the echo');
    const [echo] = raw.dataFrames;
    expect(echo).toMatchObject({ opcode: 0x1, fin: true, rsv: 4 });
    expect(echo!.payload.length).toBeLessThan(text.length / 2);
    expect(inflate(echo!.payload).toString()).toBe(text);
    raw.destroy();
  });

  it('closes with 1007 on data that does not inflate, and says so on close$', async () => {
    const { port, server } = await echoServer({ perMessageDeflate: true });
    const accepted = new Promise<RxSocket>((resolve) => server.connections$.subscribe((s) => resolve(s as RxSocket)));
    const raw = await RawWs.connect(port, { headers: NO_TAKEOVER });
    await raw.write(encodeFrame({ opcode: 0x1, rsv: 4, payload: Buffer.from([0xff, 0xff, 0xff, 0xff, 0x00, 0x12]) }));
    await raw.waitFor(() => raw.closeFrame !== undefined, 'the close frame');
    expect(raw.closeFrame!.payload.readUInt16BE(0)).toBe(1007);
    const socket = await accepted;
    await until(() => socket.state === 'closed', 'the socket closed');
    expect(socket.closeInfo).toMatchObject({ code: 1007, wasClean: false });
  });

  it('closes with 1009 on a bomb (64 KiB inflating to 64 MiB) as it inflates, before the memory is spent', async () => {
    const { port, server } = await echoServer({ perMessageDeflate: true, maxPayload: 1 << 20 });
    const accepted = new Promise<RxSocket>((resolve) => server.connections$.subscribe((s) => resolve(s as RxSocket)));
    const raw = await RawWs.connect(port, { headers: NO_TAKEOVER });
    const bomb = compress(Buffer.alloc(64 << 20), { level: 9 });
    expect(bomb.length).toBeLessThan(100 * 1024);
    const before = process.memoryUsage().arrayBuffers;
    let peak = before;
    const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().arrayBuffers)), 1);
    const started = performance.now();
    await raw.write(encodeFrame({ opcode: 0x2, rsv: 4, payload: bomb }));
    await raw.waitFor(() => raw.closeFrame !== undefined, 'the close frame');
    const took = performance.now() - started;
    clearInterval(sampler);
    expect(raw.closeFrame!.payload.readUInt16BE(0)).toBe(1009);
    const socket = await accepted;
    await until(() => socket.state === 'closed', 'the socket closed');
    expect(socket.closeInfo).toMatchObject({ code: 1009, reason: 'Max payload size exceeded', wasClean: false });
    process.stdout.write(`bomb: closed 1009 after ${took.toFixed(0)} ms; buffers grew by at most ${((peak - before) / 1048576).toFixed(1)} MiB\n`);
    expect(peak - before).toBeLessThan(16 << 20);
  });

  it('counts what unfinished compressed fragments inflate to against the memory budget', async () => {
    const lines: string[] = [];
    const budget = 4 << 20;
    const { port, url, server } = await echoServer({ perMessageDeflate: true, maxPayload: 64 << 20, memoryBudget: budget, log: (l) => lines.push(l) });
    const sockets: RxSocket[] = [];
    server.connections$.subscribe((s) => sockets.push(s as RxSocket));
    const raw = await RawWs.connect(port, { headers: NO_TAKEOVER });
    // 6 MiB of 'a' in about 6 KiB: six fragments of a message that never ends.
    const body = compress(Buffer.alloc(6 << 20, 'a'));
    const size = Math.ceil(body.length / 6);
    const frames = [];
    for (let i = 0; i < 6; i++) frames.push(encodeFrame({ opcode: i === 0 ? 0x2 : 0x0, rsv: i === 0 ? 4 : 0, fin: false, payload: body.subarray(i * size, (i + 1) * size) }));
    expect(Buffer.concat(frames).length).toBeLessThan(16 * 1024);
    await raw.write(Buffer.concat(frames));
    await raw.waitFor(() => raw.closeFrame !== undefined, 'the eviction', 10_000);
    expect(raw.closeFrame!.payload.readUInt16BE(0)).toBe(1008);
    expect(lines).toContainEqual(expect.stringMatching(/closed 1008 \(server memory budget: it held [\d.]+ MiB\)$/));
    await until(() => sockets[0]!.state === 'closed', 'the evicted socket released');
    // Everyone else is served, compressed.
    const ws = await open(url(), { perMessageDeflate: true });
    expect(await echoAll(ws, ['still here'])).toEqual(['still here']);
    ws.terminate();
  });
});

describe('flow control with a compressor', () => {
  it('keeps what waits in ws (compressing or behind) near the TCP high-water mark, and the rest under the queue bounds, for a client that does not read', async () => {
    const { server, url } = await listen({ heartbeat: false, perMessageDeflate: true, outbound: { policy: 'drop-newest' } });
    const accepted = new Promise<RxSocket>((resolve) => server.connections$.subscribe(resolve));
    const client = await open(url(), { perMessageDeflate: true });
    const socket = await accepted;
    rawSocket(client)!.pause(); // never reads
    const writable: boolean[] = [];
    socket.writable$.subscribe((w) => writable.push(w));
    const frame = (i: number) => Buffer.concat([Buffer.from(String(i).padStart(8, '0')), randomBytes(16 * 1024 - 8)]);
    const hwm = rawSocket(socket.ws)!.writableHighWaterMark;
    let most = 0;
    // 2,000 frames of 16 KiB (32 MiB, incompressible) in one go, then more as the queue drains.
    for (let i = 0; i < 2000; i++) {
      socket.next(frame(i));
      most = Math.max(most, senderBytes(socket.ws));
    }
    expect(most).toBeLessThanOrEqual(hwm + 16 * 1024);
    expect(socket.bufferedAmount).toBeLessThanOrEqual((1 << 20) + hwm + 2 * 16 * 1024);
    expect(writable).toEqual([true, false]);
    expect(socket.stats.dropped).toBeGreaterThan(1900);
    expect(socket.memoryCost()).toBeGreaterThanOrEqual(socket.bufferedAmount - rawSocket(socket.ws)!.writableLength);
    // Compressing and writing go on; what ws holds stays bounded as the queue drains into it.
    for (let t = 0; t < 20; t++) {
      await new Promise((resolve) => setTimeout(resolve, 10));
      most = Math.max(most, senderBytes(socket.ws));
    }
    expect(most).toBeLessThanOrEqual(hwm + 16 * 1024);
    // The client reads now: what was taken arrives whole and in order, and writable$ comes back.
    const sent = socket.stats.sent;
    const got: number[] = [];
    client.on('message', (data: Buffer) => got.push(Number(data.subarray(0, 8).toString())));
    rawSocket(client)!.resume();
    await until(() => got.length === sent, `${sent} frames`, 10_000);
    expect(got).toEqual([...got].sort((a, b) => a - b));
    expect(got[0]).toBe(0);
    await until(() => writable.at(-1) === true, 'writable again');
    client.terminate();
  });
});

describe('prepared frames with permessage-deflate', () => {
  const json = JSON.stringify({ update: Array.from({ length: 200 }, (_, i) => ({ id: i, v: `value ${i}` })) });

  it('are compressed once for every socket without server context takeover, and sent as they are to the others', async () => {
    const { server, port, url } = await listen({ heartbeat: false, perMessageDeflate: { serverNoContextTakeover: true } });
    const hub = createHub();
    server.connections$.subscribe((s) => hub.join(s, 'news'));
    const raws = await Promise.all([1, 2, 3].map(() => RawWs.connect(port, { headers: NO_TAKEOVER })));
    const plain = await RawWs.connect(port);
    const wsClient = await open(url(), { perMessageDeflate: true });
    const wsGot = new Promise<string>((resolve) => wsClient.once('message', (d) => resolve(d.toString())));
    await until(() => hub.members('news').size === 5, 'five members');
    const deflated = jest.spyOn(PreparedFrame.prototype, 'deflated');
    let copies: unknown[];
    try {
      expect(hub.publish('news', json)).toBe(5);
      copies = deflated.mock.results.map((r) => r.value);
      expect(hub.publish('news', 'short')).toBe(5); // under the threshold: as it is
    } finally {
      deflated.mockRestore();
    }
    // Asked by each of the three raw sockets and the ws client's, made once: the same buffer every time.
    expect(copies).toHaveLength(4);
    for (const copy of copies) expect(copy).toBe(copies[0]);
    for (const raw of raws) await raw.waitFor(() => raw.dataFrames.length === 2, 'two messages');
    await plain.waitFor(() => plain.dataFrames.length === 2, 'two messages');
    const first = raws[0]!.dataFrames[0]!;
    expect(first.rsv).toBe(4);
    expect(first.payload.length).toBeLessThan(json.length / 4);
    for (const raw of raws) {
      expect(raw.dataFrames[0]!.payload.equals(first.payload)).toBe(true);
      expect(raw.dataFrames[1]).toMatchObject({ rsv: 0, payload: Buffer.from('short') });
    }
    expect(inflate(first.payload).toString()).toBe(json);
    expect(plain.dataFrames.map((f) => [f.rsv, f.payload.toString()])).toEqual([[0, json], [0, 'short']]);
    expect(await wsGot).toBe(json);
    for (const raw of [...raws, plain]) raw.destroy();
    wsClient.terminate();
    await hub.close();
  });

  it('go through ws, compressed per socket, where the server keeps its context, interleaved with other messages exactly', async () => {
    const { server, url } = await listen({ heartbeat: false, perMessageDeflate: true });
    const sockets: RxSocket[] = [];
    server.connections$.subscribe((s) => sockets.push(s));
    const clients = await Promise.all([1, 2].map(() => open(url(), { perMessageDeflate: true })));
    await until(() => sockets.length === 2, 'two sockets');
    expect(preparedPath(sockets[0]!.ws)).toBeNull();
    const shared = prepare(json);
    const expected = [json, `${json} own`, json, 'x'.repeat(5000), json];
    const got = clients.map((c) => {
      const list: string[] = [];
      c.on('message', (d) => list.push(d.toString()));
      return list;
    });
    for (const socket of sockets) {
      socket.next(shared);
      socket.next(`${json} own`);
      socket.next(shared);
      socket.next('x'.repeat(5000));
      socket.next(shared);
    }
    await until(() => got.every((list) => list.length === expected.length), 'every message');
    expect(got).toEqual([expected, expected]);
    for (const c of clients) c.terminate();
  });

  it('never overtake a message still in the compressor', async () => {
    const { server, url } = await listen({ heartbeat: false, perMessageDeflate: { serverNoContextTakeover: true } });
    const accepted = new Promise<RxSocket>((resolve) => server.connections$.subscribe(resolve));
    const client = await open(url(), { perMessageDeflate: true });
    const socket = await accepted;
    const got: string[] = [];
    client.on('message', (d) => got.push(d.toString().slice(0, 6)));
    socket.next('first ' + 'y'.repeat(500_000)); // compressing: the prepared frame must wait behind it
    socket.next(prepare('second ' + json));
    socket.next('third');
    await until(() => got.length === 3, 'three messages');
    expect(got).toEqual(['first ', 'second', 'third']);
    client.terminate();
  });
});
