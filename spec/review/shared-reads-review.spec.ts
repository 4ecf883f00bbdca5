/**
 * Review of 2ee7e10 ("Safe defaults, second pass"): shared reads, the
 * per-fragment allowance, and cutting a flooding peer off.
 *
 * Each test below that fails proves a defect (see its comment); the ones that
 * pass pin a behaviour worth keeping. Real sockets on 127.0.0.1:0 only.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer as createHttpsServer } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { WebSocket, WebSocketServer } from 'ws';
import { serve, type RxServer, type RxSocket } from '../../src';
import { parkedReads, rawSocket } from '../../src/socket/ws-internals';
import { listen, open, opened } from '../support/net';
import { closeCodeOf, encodeFrame, RawWs, trapEscapes, until } from '../support/raw';

trapEscapes();

setFlagsFromString('--expose-gc');
setFlagsFromString('--allow-natives-syntax');
const gc = runInNewContext('gc') as () => void;
// Compiled after the flag is set: V8's own answer to "is this object still a fast (hidden-class) object?"
const hasFastProperties = new Function('o', 'return %HasFastProperties(o)') as (o: object) => boolean;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Keeps the CPU busy for `ms`, as a handler doing real work would. */
function busy(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    // spinning
  }
}

/** The rxjs-ws parked flag of a server-side TCP socket (a symbol described 'rxjs-ws.parked'). */
function isParkedNow(raw: object): boolean {
  const key = Object.getOwnPropertySymbols(raw).find((s) => s.description === 'rxjs-ws.parked');
  return key !== undefined && (raw as Record<symbol, unknown>)[key] === true;
}

/**
 * An echo server whose handler costs `cheapMs` of CPU per message, `heavyMs`
 * for messages starting with 'h'; and `count` clients that keep one message
 * each in flight (send again on every echo) while `flooding`.
 */
async function floodedEcho(
  count: number,
  cheapMs: number,
  onSocket: (socket: RxSocket<unknown>) => void = () => {},
  heartbeat: { interval: number; timeout: number } | false = false,
) {
  const heavyMs = 2;
  const { server, url } = await listen({ path: '/ws', heartbeat, handshakesPerAddress: Infinity, maxConnectionsPerAddress: 2000 });
  server.connections$.subscribe((socket) => {
    onSocket(socket);
    socket.messages$.subscribe((message) => {
      busy(String(message).startsWith('h') ? heavyMs : cheapMs);
      socket.next(message);
    });
  });
  const state = { flooding: true, echoes: 0, served: new Set<WebSocket>() };
  const clients: WebSocket[] = [];
  for (let i = 0; i < count; i++) clients.push(await open(url(`/ws?id=${i}`)));
  const start = () => {
    for (const ws of clients) {
      ws.on('message', () => {
        state.echoes++;
        state.served.add(ws);
        if (state.flooding && ws.readyState === WebSocket.OPEN) ws.send('c');
      });
      ws.send('c');
    }
  };
  return { server: server as RxServer<unknown>, url, clients, state, start };
}

describe('review: shareReads() under sustained load', () => {
  /*
   * DEFECT (starvation). nextTurn() reads the `light` queue to the end before
   * it touches `heavy`, with no ageing. Sockets whose last read cost >= 0.5 ms,
   * and every socket that has not read yet (cost unknown), go to `heavy`.
   * While more than a check phase's worth (5 ms) of cheap sockets get parked
   * every turn, `light` never empties and a parked heavy socket is never read
   * again: its messages (and its pongs, so a heartbeat kills it) wait for as
   * long as the cheap load lasts. Observed: 0 of 1 message echoed in 4 s while
   * the cheap peers got 2,500-4,200 echoes; and 80-100 of the 250 flood peers, those
   * whose very first read was parked (cost unknown -> `heavy`), never got one.
   */
  it('a socket whose reads are costly is still read while cheap sockets keep the parked queue busy (each message echoed within 2 s, where starving it meant none in 4 s)', async () => {
    const f = await floodedEcho(250, 0.4);
    const victim = await open(f.url('/ws?id=victim'));
    f.start();
    const latencies: number[] = [];
    let sentAt = 0;
    let inFlight = false;
    victim.on('message', () => {
      latencies.push(Date.now() - sentAt);
      inFlight = false;
    });
    const started = Date.now();
    let worstWait = 0;
    let mostParked = 0;
    while (Date.now() - started < 4000) {
      if (!inFlight) {
        inFlight = true;
        sentAt = Date.now();
        victim.send('heavy'); // 2 ms of work: this socket's reads are costly
      }
      worstWait = Math.max(worstWait, Date.now() - sentAt);
      mostParked = Math.max(mostParked, parkedReads());
      await sleep(20);
    }
    f.state.flooding = false;
    const summary = {
      victimEchoes: latencies.length,
      floodEchoes: f.state.echoes,
      floodPeersNeverEchoed: f.clients.length - f.state.served.size,
      mostParked,
      stillWaitingMs: inFlight ? Date.now() - sentAt : 0,
    };
    expect(mostParked).toBeGreaterThan(64); // the load did park sockets
    const worst = Math.max(worstWait, ...latencies);
    // The diff shows the whole picture: how many echoes each side got, and how long the costly one waited.
    // 2 s, not less: beside other test workers on two cores a fair turn can take over a second.
    expect({ servedWithin2s: worst < 2000, ...summary }).toEqual({ ...summary, servedWithin2s: true });
  }, 60_000);

  /*
   * The same starvation, seen through the heartbeat (1 s interval, 1 s
   * timeout): a peer whose last read was costly answers every ping at once
   * (ws's autoPong), but its pong is parked in `heavy` and never read, so the
   * server terminates a live peer (1006). Observed: the victim and ~130 of the
   * 300 flood peers are terminated; every one of those had never been read
   * (read cost unknown, parked on its first read), while the others are
   * served throughout.
   */
  it('a live peer that answers every ping is not terminated by the heartbeat while cheap sockets keep the parked queue busy', async () => {
    const f = await floodedEcho(300, 0.2, undefined, { interval: 1000, timeout: 1000 });
    const victim = await open(f.url('/ws?id=victim'));
    const echoed = new Promise((resolve) => victim.once('message', resolve));
    victim.send('heavy'); // its last read is costly: it waits in `heavy` when parked
    await echoed;
    let closedWith: number | null = null;
    victim.once('close', (code) => (closedWith = code));
    f.start();
    await sleep(4000);
    f.state.flooding = false;
    const floodTerminated = f.clients.filter((ws) => ws.readyState !== WebSocket.OPEN).length;
    expect({ victimClosedWith: closedWith, floodTerminated }).toEqual({ victimClosedWith: null, floodTerminated: 0 });
  }, 60_000);

  /*
   * DEFECT (leak). Parked.shift() only advances #head; the array is dropped
   * only when the queue empties completely. Under a load that keeps some
   * sockets parked every turn it never does: the array grows by one entry
   * per park, forever, and keeps every socket ever parked (its ws, receiver
   * and buffers) reachable long after it closed. Observed: 20 of 20 closed
   * sockets still reachable after GC; all 20 collected once the load stops
   * and the queue drains (so the queue is what holds them).
   */
  it('a socket that was parked and has closed is not kept reachable by the parked queue while other sockets keep being parked', async () => {
    const refs = new Map<string, WeakRef<object>>();
    const live = new Map<string, object>();
    let closedCount = 0;
    const f = await floodedEcho(250, 0.4, (socket) => {
      const raw = rawSocket(socket.ws)!;
      refs.set(socket.url!, new WeakRef(raw));
      live.set(socket.url!, raw);
      socket.close$.subscribe(() => {
        live.delete(socket.url!);
        closedCount++;
      });
    });
    f.start();
    // Sockets seen parked at least once in the first second.
    const everParked = new Set<string>();
    const watchUntil = Date.now() + 1000;
    while (Date.now() < watchUntil) {
      for (const [url, raw] of live) if (isParkedNow(raw)) everParked.add(url);
      await new Promise((resolve) => setImmediate(resolve));
    }
    const gone = [...everParked].slice(0, 20);
    expect(gone).toHaveLength(20);
    for (const url of gone) f.clients[Number(url.split('=')[1])]!.terminate();
    await until(() => closedCount === 20, 'the 20 server sockets to close', 10_000);
    await sleep(200);
    gc();
    await sleep(20);
    gc();
    const reachable = () => gone.filter((url) => refs.get(url)!.deref() !== undefined).length;
    const whileParking = reachable();
    const parkedNow = parkedReads();
    // Control: once the load stops and the queue empties, nothing else holds them.
    f.state.flooding = false;
    await until(() => parkedReads() === 0, 'the parked queue to drain', 10_000);
    await sleep(100);
    gc();
    await sleep(20);
    gc();
    expect(parkedNow).toBeGreaterThan(0); // the load was still parking sockets
    expect({ whileParking, afterTheQueueDrained: reachable() }).toEqual({ whileParking: 0, afterTheQueueDrained: 0 });
  }, 60_000);
});

describe('review: limitFragments()', () => {
  /*
   * DEFECT (performance trap). Object.defineProperty() turning the
   * receiver's own data field `_maxFragments` into an accessor drops the
   * receiver out of V8's fast (hidden-class) mode into a dictionary object:
   * every field ws's parser touches per frame (_state, _bufferedBytes,
   * _buffers, _payloadLength, ...) becomes a hash lookup. Measured on this
   * machine (ws 8.23 receiver, 16-byte frames, separate processes): 355-456 ms
   * plain vs 770-966 ms with this accessor, i.e. ~2x the parse time; a plain
   * data write of the allowance (e.g. from an own `haveLength` wrapper)
   * costs 320-546 ms and keeps the object fast.
   */
  it("leaves the server socket's ws receiver a fast (hidden-class) object", async () => {
    const { server, url } = await listen({ path: '/ws', heartbeat: false });
    const accepted = new Promise<RxSocket<unknown>>((resolve) => server.connections$.subscribe(resolve));
    const client = await open(url());
    const socket = await accepted;
    const serverReceiver = (socket.ws as unknown as { _receiver: object })._receiver;
    const clientReceiver = (client as unknown as { _receiver: object })._receiver;
    expect(hasFastProperties(clientReceiver)).toBe(true); // the same class, untouched
    expect(hasFastProperties(serverReceiver)).toBe(true);
  });

  it('pins: 4 MiB of binary in 65,536 fragments of 64 bytes with one ping between every 1,000 passes whole (maxPayload 16 MiB)', async () => {
    const { server, port } = await listen({ path: '/ws', heartbeat: false, maxPayload: 16 * 1024 * 1024 });
    server.connections$.subscribe((socket) => socket.messages$.subscribe(socket));
    const raw = await RawWs.connect(port);
    const payload = Buffer.alloc(4 * 1024 * 1024);
    for (let i = 0; i < payload.length; i++) payload[i] = (i * 7) & 0xff;
    const frames: Buffer[] = [];
    const count = payload.length / 64;
    for (let i = 0; i < count; i++) {
      frames.push(encodeFrame({ opcode: i === 0 ? 0x2 : 0x0, payload: payload.subarray(i * 64, i * 64 + 64), fin: i === count - 1 }));
      if (i % 1000 === 999) frames.push(encodeFrame({ opcode: 0x9, payload: 'p' }));
    }
    await raw.write(Buffer.concat(frames));
    await raw.waitFor(() => raw.dataFrames.length === 1 || raw.closeFrame !== undefined, 'the echo', 30_000);
    expect(raw.closeFrame).toBeUndefined();
    expect(raw.dataFrames[0]!.payload.equals(payload)).toBe(true);
  }, 60_000);
});

describe('review: a cut-off socket (#cutOff, stopListening)', () => {
  /*
   * DEFECT. stopListening() pauses the TCP socket behind ws's back (not
   * ws.pause()) and leaves the receiver's unparsed chunk in place. The cut
   * happens inside the receiver's loop (a 'ping' handler), so ws goes on
   * parsing the rest of that chunk; a bad frame there (receiverOnError) or a
   * close frame (receiverOnConclude) makes ws call
   * process.nextTick(resume, socket): the socket flows again, with no 'data'
   * listener, and the server reads and throws away everything the peer sends
   * until ws's close timer (closeTimeout, 5 s) fires. Observed: ~450 MB read
   * in 1.5 s after the cut-off.
   */
  it.each([
    ['a bad frame (RSV2 set)', encodeFrame({ opcode: 0x2, payload: 'x', rsv: 2 })],
    ['a close frame', encodeFrame({ opcode: 0x8, payload: Buffer.from([0x03, 0xe8]) })],
  ])('stops reading at once: after %s in the same chunk as the ping flood, the server reads no more of a peer that keeps sending', async (_what, tail) => {
    const { server, port } = await listen({ path: '/ws', heartbeat: false });
    const sockets: RxSocket<unknown>[] = [];
    server.connections$.subscribe((socket) => {
      sockets.push(socket);
      socket.messages$.subscribe();
    });
    const raw = await RawWs.connect(port);
    raw.socket.allowHalfOpen = true; // an attacker keeps sending after the server's FIN
    await until(() => sockets.length === 1, 'the socket to be accepted');
    const serverRaw = rawSocket(sockets[0]!.ws)!;
    const pings = Buffer.concat(Array.from({ length: 200 }, () => encodeFrame({ opcode: 0x9 })));
    await raw.write(Buffer.concat([pings, tail]));
    await raw.waitFor(() => raw.closeFrame !== undefined, 'the close frame');
    expect(closeCodeOf(raw.closeFrame!)).toBe(1008);
    const readAtCut = serverRaw.bytesRead;
    const junk = encodeFrame({ opcode: 0x2, payload: Buffer.alloc(60_000) });
    let written = 0;
    const until_ = Date.now() + 1500;
    while (Date.now() < until_ && written < 64 * 1024 * 1024 && !raw.socket.destroyed) {
      if (raw.socket.writableLength < 1024 * 1024) {
        raw.socket.write(junk);
        written += junk.length;
      }
      await new Promise((resolve) => setImmediate(resolve));
    }
    expect(written).toBeGreaterThan(4 * 1024 * 1024); // the peer did keep sending
    expect(serverRaw.bytesRead - readAtCut).toBeLessThan(1024 * 1024);
  }, 20_000);

  /*
   * DEFECT. #cutOff calls ws.close() then stopListening() ends the TCP
   * socket at once. When ws's sender is busy (permessage-deflate compressing
   * a message the app sent just before), ws.close() only queues the close
   * frame behind it; raw.end() comes first, so the compressed message and the
   * close frame are written after end (write after end)
   * and never reach the peer: it sees a bare FIN (1006), and the server
   * reports nothing dropped. Regression: at 2ee7e10^ (ping flood ->
   * #violated, a graceful close) this test passes: the peer gets the message,
   * its pongs and close(1008). Observed now: no frame at all. (The wss is
   * given rxjs-ws's own maxPendingAutoPongs, so ws's bare terminate at 60 owed
   * pongs does not come first.)
   */
  it('with permessage-deflate (an adopted wss), a peer cut off for a ping flood still gets what was sent before and the 1008 close frame', async () => {
    let raw: RawWs | undefined;
    const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', perMessageDeflate: { threshold: 0 }, maxPendingAutoPongs: 2048 } as ConstructorParameters<typeof WebSocketServer>[0]);
    try {
      const server = serve({ wss, heartbeat: false });
      opened.servers.add(server as never);
      const { port } = await server.listening;
      const sockets: RxSocket<unknown>[] = [];
      const dropped: string[] = [];
      server.connections$.subscribe((socket) => {
        sockets.push(socket);
        socket.errors$.subscribe((e) => dropped.push(String(e)));
        socket.messages$.subscribe((m) => {
          if (m === 'go') socket.next('a'.repeat(4 * 1024 * 1024)); // compressed off the main thread
        });
      });
      const client = await RawWs.connect(port, { headers: ['Sec-WebSocket-Extensions: permessage-deflate'] });
      raw = client;
      await until(() => sockets.length === 1, 'the socket to be accepted');
      expect(sockets[0]!.ws.extensions).toBe('permessage-deflate');
      const pings = Buffer.concat(Array.from({ length: 200 }, () => encodeFrame({ opcode: 0x9 })));
      await client.write(Buffer.concat([encodeFrame({ opcode: 0x1, payload: 'go' }), pings]));
      await client.waitFor(() => client.closeFrame !== undefined || client.closedAt !== null, 'the close frame or the end of the connection', 10_000);
      const frames = client.frames.filter((f) => f.opcode !== 0xa).map((f) => (f.opcode === 0x8 ? `close(${closeCodeOf(f)})` : `data(opcode ${f.opcode})`));
      expect({ frames, dropped }).toEqual({ frames: ['data(opcode 1)', 'close(1008)'], dropped: [] });
    } finally {
      raw?.destroy(); // the server may be waiting for our close frame
      await new Promise((resolve) => wss.close(() => resolve(undefined)));
    }
  }, 20_000);
});

describe('review: shareReads() behaviours worth keeping', () => {
  /** An echo server whose handler costs `ms` per message, and 80 clients of it: their reads park. */
  async function costlyCrowd(ms: number) {
    const { server, url } = await listen({ path: '/ws', heartbeat: false, handshakesPerAddress: Infinity });
    server.connections$.subscribe((socket) =>
      socket.messages$.subscribe((m) => {
        busy(ms);
        socket.next(m);
      }),
    );
    const clients: WebSocket[] = [];
    for (let i = 0; i < 80; i++) clients.push(await open(url()));
    return { server: server as RxServer<unknown>, clients };
  }

  it('pins: a socket parked while rxjs-ws has paused it (nobody reads, inboundHold 1) stays paused after its turn, then delivers all, in order', async () => {
    const { server, url } = await listen({ path: '/ws', heartbeat: false, inboundHold: 1 });
    const accepted = new Promise<RxSocket<unknown>>((resolve) => server.connections$.subscribe(resolve));
    const crowd = await costlyCrowd(1);
    const held = await open(url());
    const socket = await accepted;
    const serverRaw = rawSocket(socket.ws)!;
    let parkedWhileRead = 0;
    // After sharedRead: a parked chunk still reaches the listeners after it, with the flag already set.
    serverRaw.on('data', function (this: object) {
      if (isParkedNow(this)) parkedWhileRead++;
    });
    crowd.clients.forEach((ws, c) => {
      for (let i = 0; i < 3; i++) ws.send(`${c}:${i}`);
    });
    for (let i = 0; i < 50; i++) held.send(`held ${i}`);
    await until(() => parkedWhileRead > 0 && parkedReads() === 0, 'the held socket to be parked, then its turn', 10_000);
    await sleep(100);
    expect({ lib: socket.pausedFor, tcpPaused: serverRaw.isPaused(), wsPaused: socket.ws.isPaused }).toEqual({ lib: 'unread', tcpPaused: true, wsPaused: true });
    const got: string[] = [];
    socket.messages$.subscribe((m) => got.push(String(m)));
    await until(() => got.length === 50, 'the 50 held messages');
    expect(got).toEqual(Array.from({ length: 50 }, (_, i) => `held ${i}`));
  }, 30_000);

  it('pins: server.close() while sockets are parked: every peer gets 1001, and nothing stays parked', async () => {
    const crowd = await costlyCrowd(1);
    const ends = crowd.clients.map(
      (ws) =>
        new Promise<{ code: number; echoes: number }>((resolve) => {
          let echoes = 0;
          ws.on('message', () => echoes++);
          ws.once('close', (code) => resolve({ code, echoes }));
        }),
    );
    crowd.clients.forEach((ws, c) => {
      for (let i = 0; i < 5; i++) ws.send(`${c}:${i}`);
    });
    await new Promise((resolve) => setImmediate(resolve));
    await crowd.server.close({ timeout: 5000 });
    const results = await Promise.all(ends);
    expect(results.filter((r) => r.code !== 1001)).toEqual([]);
    await until(() => parkedReads() === 0, 'the parked queue to drain');
  }, 30_000);

  it('pins: over TLS, 80 peers whose reads park all have every message handled once, in order', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rxjs-ws-tls-'));
    try {
      execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'), '-days', '1', '-subj', '/CN=127.0.0.1'], { stdio: 'ignore' });
      const https = createHttpsServer({ key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'cert.pem')) });
      await new Promise<void>((resolve) => https.listen(0, '127.0.0.1', resolve));
      try {
        const server = serve({ server: https, path: '/ws', heartbeat: false, handshakesPerAddress: Infinity });
        opened.servers.add(server as never);
        const handled: string[] = [];
        let mostParked = 0;
        server.connections$.subscribe((socket) =>
          socket.messages$.subscribe((m) => {
            handled.push(String(m));
            mostParked = Math.max(mostParked, parkedReads());
            busy(0.5);
            socket.next(m);
          }),
        );
        const port = (https.address() as { port: number }).port;
        const clients: WebSocket[] = [];
        for (let i = 0; i < 80; i++) clients.push(await open(`wss://127.0.0.1:${port}/ws`, { rejectUnauthorized: false }));
        const echoes = clients.map(
          (ws) =>
            new Promise<string[]>((resolve) => {
              const got: string[] = [];
              ws.on('message', (d) => {
                got.push(String(d));
                if (got.length === 5) resolve(got);
              });
            }),
        );
        clients.forEach((ws, c) => {
          for (let i = 0; i < 5; i++) ws.send(`${c}:${i}`);
        });
        const got = await Promise.all(echoes);
        clients.forEach((_, c) => expect(got[c]).toEqual([0, 1, 2, 3, 4].map((i) => `${c}:${i}`)));
        expect(handled).toHaveLength(400);
        expect(mostParked).toBeGreaterThan(0);
        for (const ws of clients) ws.terminate();
        await server.close({ timeout: 200 });
      } finally {
        https.closeAllConnections();
        await new Promise((resolve) => https.close(resolve));
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
