/**
 * A server shares each turn of the event loop among its sockets: past
 * `Defaults.readTurnMs` of reading, once more than `Defaults.socketsPerTurn`
 * (64) sockets have read in the turn, a socket's data waits (paused, kept in
 * its stream) for a later turn, sockets whose reads were cheap first. These
 * tests make reads costly with a handler that keeps the CPU busy, so that
 * sockets are parked, and check that nothing is lost, reordered or left
 * waiting, and that a cheap socket does not wait behind costly ones.
 */
import { WebSocket } from 'ws';
import type { RxServer, RxSocket } from '../../src';
import { Defaults } from '../../src/constants';
import { parkedReads } from '../../src/socket/ws-internals';
import { closed, listen, open } from '../support/net';
import '../support/cleanup';

/** Keeps the CPU busy for `ms`, as a costly handler would. */
function busy(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    // spinning
  }
}

/** An echo server whose handler costs `costOf(text)` ms of CPU per message; records what it handled, in order, and the most sockets it saw parked. */
async function costlyEcho(costOf: (text: string) => number) {
  const handled: string[] = [];
  let mostParked = 0;
  const { server, url } = await listen({ path: '/ws' });
  server.connections$.subscribe((socket) =>
    socket.messages$.subscribe((message) => {
      const text = String(message);
      handled.push(text);
      mostParked = Math.max(mostParked, parkedReads());
      busy(costOf(text));
      socket.next(message);
    }),
  );
  return { server: server as RxServer<unknown>, url: url(), handled, mostParked: () => mostParked };
}

/** Resolves with the first `count` messages `ws` receives, as text. */
function received(ws: WebSocket, count: number): Promise<string[]> {
  return new Promise((resolve) => {
    const got: string[] = [];
    const onMessage = (data: Buffer) => {
      got.push(String(data));
      if (got.length === count) {
        ws.off('message', onMessage);
        resolve(got);
      }
    };
    ws.on('message', onMessage);
  });
}

async function settled(): Promise<void> {
  for (let i = 0; i < 100 && parkedReads() > 0; i++) await new Promise((resolve) => setTimeout(resolve, 10));
}

describe('reads shared among sockets, one turn of the event loop at a time', () => {
  it('parks sockets past the turn and still delivers every message of each, in order, exactly once', async () => {
    const echo = await costlyEcho(() => 0.5);
    const clients = await Promise.all(Array.from({ length: 80 }, () => open(echo.url)));
    const per = 5;
    const echoes = clients.map((ws) => received(ws, per));
    clients.forEach((ws, c) => {
      for (let i = 0; i < per; i++) ws.send(`${c}:${i}`);
    });
    const got = await Promise.all(echoes);
    clients.forEach((_, c) => expect(got[c]).toEqual(Array.from({ length: per }, (_, i) => `${c}:${i}`)));
    expect(echo.handled).toHaveLength(clients.length * per);
    expect(echo.mostParked()).toBeGreaterThan(0); // the turn was exceeded: sockets did wait
    await settled();
    expect(parkedReads()).toBe(0);
  });

  it('reads a socket whose reads are cheap before sockets whose reads are costly', async () => {
    // 80 costly messages (3 ms each: 240 ms in all) arrive at once, and with them one cheap one from a socket known to be cheap.
    const echo = await costlyEcho((text) => (text.startsWith('heavy') ? 3 : 0));
    const cheap = await open(echo.url);
    const warm = received(cheap, 1);
    cheap.send('light warm-up');
    await warm;
    const heavy = await Promise.all(Array.from({ length: 80 }, () => open(echo.url)));
    const heavyEchoes = heavy.map((ws) => received(ws, 1));
    heavy.forEach((ws, i) => ws.send(`heavy ${i}`));
    const light = received(cheap, 1);
    cheap.send('light');
    await Promise.all([light, ...heavyEchoes]);
    const at = echo.handled.indexOf('light');
    // In the order they came it would be last (81st of 82). The first turn reads up to 64 sockets whatever
    // they cost; past that, it is first among those waiting.
    expect(at).toBeGreaterThan(0);
    expect(at).toBeLessThanOrEqual(Defaults.socketsPerTurn + 4);
  });

  it('a peer that sends then closes while its data waits: every message is handled, and the socket closes cleanly', async () => {
    const echo = await costlyEcho(() => 1);
    const clients = await Promise.all(Array.from({ length: 80 }, () => open(echo.url)));
    const ends = clients.map((ws) => closed(ws));
    clients.forEach((ws, c) => {
      for (let i = 0; i < 5; i++) ws.send(`${c}:${i}`);
      ws.close(1000);
    });
    const codes = await Promise.all(ends);
    expect(codes.map((c) => c.code)).toEqual(clients.map(() => 1000));
    for (let c = 0; c < clients.length; c++) {
      expect(echo.handled.filter((t) => t.startsWith(`${c}:`))).toEqual([0, 1, 2, 3, 4].map((i) => `${c}:${i}`));
    }
    await settled();
    expect(parkedReads()).toBe(0);
  });

  it('a socket holding what nobody reads yet (its reading paused by rxjs-ws) loses nothing while others wait their turn', async () => {
    // inboundHold 1 with nobody reading: the socket pauses its reading after one held frame.
    const { server, url } = await listen({ path: '/ws', inboundHold: 1 });
    const busyEcho = await costlyEcho(() => 1);
    const noisy = await Promise.all(Array.from({ length: 80 }, () => open(busyEcho.url)));
    const sockets: RxSocket<unknown>[] = [];
    server.connections$.subscribe((socket) => sockets.push(socket));
    const held = await open(url());
    await new Promise((resolve) => setTimeout(resolve, 20));
    noisy.forEach((ws, c) => {
      for (let i = 0; i < 3; i++) ws.send(`${c}:${i}`);
    });
    for (let i = 0; i < 50; i++) held.send(`held ${i}`);
    await new Promise((resolve) => setTimeout(resolve, 300));
    await settled();
    expect(busyEcho.mostParked()).toBeGreaterThan(0);
    const got: string[] = [];
    sockets[0]!.messages$.subscribe((m) => got.push(String(m)));
    for (let i = 0; i < 100 && got.length < 50; i++) await new Promise((resolve) => setTimeout(resolve, 10));
    expect(got).toEqual(Array.from({ length: 50 }, (_, i) => `held ${i}`));
  });
});
