import type { AddressInfo } from 'node:net';
import { filter, firstValueFrom, take, toArray } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { WebSocket, WebSocketServer } from 'ws';
import { connect, type CloseInfo, type RxClient, type RxjsWsError, type RxSession, type RxSocket } from '../../src';
import { listen } from '../support/net';
import { bench } from '../support/resume';

function newScheduler(): TestScheduler {
  return new TestScheduler((actual, expected) => expect(actual).toEqual(expected));
}

describe('closing a session', () => {
  it.each(['client', 'server'] as const)('the %s closes: the other side confirms what it took, no frame is reported unconfirmed', (closer) => {
    const scheduler = newScheduler();
    scheduler.run(() => {
      const b = bench(scheduler);
      const client = b.client({ resume: true });
      const got: string[] = [];
      const clientErrors: RxjsWsError[] = [];
      const serverErrors: RxjsWsError[] = [];
      const closes: CloseInfo[] = [];
      let session: RxSession | undefined;
      client.messages$.subscribe((m) => got.push(String(m)));
      client.errors$.subscribe((e) => clientErrors.push(e));
      client.close$.subscribe((c) => closes.push(c));
      const taken: string[] = [];
      b.registry.sessions$.subscribe((s) => {
        session = s;
        s.messages$.subscribe((m) => taken.push(String(m)));
        s.errors$.subscribe((e) => serverErrors.push(e));
        s.close$.subscribe((c) => closes.push(c));
      });
      scheduler.schedule(() => {
        for (let i = 1; i <= 5; i++) (closer === 'client' ? client : session!).next(`m${i}`);
      }, 10);
      // The peer has every frame (1 ms later) but has not acknowledged them yet (ACK_DELAY is 20 ms).
      scheduler.schedule(() => (closer === 'client' ? client.close() : session!.close()), 12);
      scheduler.flush();
      expect(closer === 'client' ? taken : got).toEqual(['m1', 'm2', 'm3', 'm4', 'm5']);
      expect(closes.map((c) => c.code)).toEqual([1000, 1000]);
      expect(clientErrors).toEqual([]);
      expect(serverErrors).toEqual([]);
    });
  });
});

describe('with and without resume on either side (real sockets)', () => {
  const opened = (client: RxClient<RxSocket>) => firstValueFrom(client.status$.pipe(filter((s) => s.state === 'open')));
  const echo = async (client: RxClient<RxSocket>, frames: string[]) => {
    const got = firstValueFrom(client.messages$.pipe(take(frames.length), toArray()));
    for (const frame of frames) client.next(frame);
    return got;
  };
  // A text frame that starts with U+0000 looks like a control message: it must travel as the app's frame either way.
  const FRAMES = ['a', '\u0000A1', '\u0000', 'b'];

  it.each([[[]], [['chat']]])('a plain client (protocols %j) on a resume server: a plain connection on connections$', async (protocols) => {
    const { server, url } = await listen({ resume: true });
    const sessions: RxSession[] = [];
    server.sessions$.subscribe((s) => sessions.push(s));
    server.connections$.subscribe((socket) => socket.messages$.subscribe(socket));
    const client = connect(url(), { protocols });
    try {
      expect(await opened(client)).toEqual({ state: 'open', attempt: 0 });
      expect(client.socket!.ws.protocol).toBe(protocols[0] ?? '');
      expect(await echo(client, FRAMES)).toEqual(FRAMES);
      expect(sessions).toEqual([]);
    } finally {
      client.terminate();
    }
  });

  it.each([[[]], [['chat']]])('a resume client (protocols %j) on a server without resume: session unsupported, a plain connection', async (protocols) => {
    const { server, url } = await listen({});
    const wire: string[] = [];
    server.connections$.subscribe((socket) => socket.messages$.subscribe((m) => (wire.push(String(m)), socket.next(m))));
    const client = connect(url(), { protocols, resume: true, reconnect: { maxAttempts: 0 } });
    const errors: RxjsWsError[] = [];
    client.errors$.subscribe((e) => errors.push(e));
    try {
      expect(await opened(client)).toEqual({ state: 'open', attempt: 0, session: { state: 'unsupported' } });
      expect(client.socket!.ws.protocol).toBe(protocols[0] ?? 'rxjs-ws.plain');
      expect(await echo(client, FRAMES)).toEqual(FRAMES);
      // Nothing of the session protocol on the wire: no hello, no escaping, no acknowledgements.
      expect(wire).toEqual(FRAMES);
      expect(errors).toEqual([]);
    } finally {
      client.terminate();
    }
  });

  it('a resume client on a plain ws server (which selects the first subprotocol offered): session unsupported', async () => {
    const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
    await new Promise((resolve) => wss.once('listening', resolve));
    wss.on('connection', (ws) => ws.on('message', (data, binary) => ws.send(data, { binary })));
    const client = connect(`ws://127.0.0.1:${(wss.address() as AddressInfo).port}`, { resume: true, reconnect: { maxAttempts: 0 } });
    try {
      expect(await opened(client)).toEqual({ state: 'open', attempt: 0, session: { state: 'unsupported' } });
      expect(await echo(client, FRAMES)).toEqual(FRAMES);
    } finally {
      client.terminate();
      for (const ws of wss.clients) ws.terminate();
      await new Promise((resolve) => wss.close(resolve));
    }
  });
});

describe('a connection that ws has switched to CLOSING (the TCP connection ended, its close event is still to come)', () => {
  it.each(['an acknowledgement', 'a frame'] as const)('the session does not write %s to it: no SocketClosedError, and what it did not send goes on the next connection', (what) => {
    const scheduler = newScheduler();
    scheduler.run(() => {
      const b = bench(scheduler);
      const client = b.client({ resume: true });
      const got: string[] = [];
      const taken: string[] = [];
      const clientErrors: RxjsWsError[] = [];
      const serverErrors: RxjsWsError[] = [];
      let session: RxSession | undefined;
      client.messages$.subscribe((m) => got.push(String(m)));
      client.errors$.subscribe((e) => clientErrors.push(e));
      b.registry.sessions$.subscribe((s) => {
        session = s;
        s.messages$.subscribe((m) => taken.push(String(m)));
        s.errors$.subscribe((e) => serverErrors.push(e));
      });
      // Enough frames that the server acknowledges them as it reads them (ACK_EVERY), at 10, once ws is closing.
      const frames = Array.from({ length: 64 }, (_, i) => `c${i + 1}`);
      if (what === 'an acknowledgement') scheduler.schedule(() => frames.forEach((f) => client.next(f)), 9);
      scheduler.schedule(() => {
        b.last().server.readyState = WebSocket.CLOSING;
        if (what === 'a frame') session!.next('s1');
      }, 10);
      scheduler.schedule(() => b.last().cut(), 12);
      scheduler.schedule(() => client.close(), 100);
      scheduler.flush();
      expect(b.lines).toHaveLength(2);
      expect(taken).toEqual(what === 'a frame' ? [] : frames);
      expect(got).toEqual(what === 'a frame' ? ['s1'] : []);
      expect(serverErrors).toEqual([]);
      expect(clientErrors).toEqual([]);
    });
  });
});
