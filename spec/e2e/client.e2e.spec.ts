/**
 * Interop of the client side, with peers no one here wrote:
 * - RxJS's own `webSocket()` (with `WebSocketCtor` from ws) against an rxjs-ws server;
 * - rxjs-ws's `connect()` against Python's websockets server (Debian's
 *   python3-websockets, run with /usr/bin/python3): spec/e2e/peers/python_echo_server.py.
 */
import { filter, firstValueFrom, ReplaySubject, take, toArray } from 'rxjs';
import { webSocket } from 'rxjs/webSocket';
import { WebSocket } from 'ws';
import { connect, type ClientStatus, type RxClient } from '../../src/client/client';
import type { CloseInfo, Message } from '../../src';
import { listen } from '../support/net';
import { killPythonServers, startPython } from './peers/python-process';

describe("RxJS's webSocket() against an rxjs-ws server (e2e)", () => {
  /** An rxjs-ws echo server; `closes(n)` resolves with how its first `n` sockets closed, as the server saw it. */
  async function echoServer() {
    const { server, url } = await listen({ path: '/ws' });
    const closes$ = new ReplaySubject<CloseInfo>();
    server.connections$.subscribe((socket) => {
      socket.messages$.subscribe({ next: (m) => socket.next(m), error: () => {} });
      socket.close$.subscribe((info) => closes$.next(info));
    });
    return { url: url(), closes: (n: number) => firstValueFrom(closes$.pipe(take(n), toArray())) };
  }

  /** RxJS's subject over ws, frames passed as they are (RxJS's default is JSON). */
  function subject(url: string) {
    return webSocket<string | Buffer>({
      url,
      WebSocketCtor: WebSocket as unknown as { new (url: string, protocols?: string | string[]): globalThis.WebSocket },
      serializer: (frame) => frame,
      deserializer: (event) => event.data as string | Buffer,
    });
  }

  it('echoes text and binary, and closes with 1000 through error({ code: 1000 })', async () => {
    const { url, closes } = await echoServer();
    const rx = subject(url);
    const ended = firstValueFrom(rx.pipe(toArray())); // one subscription for the socket's whole life
    const echoes = firstValueFrom(rx.pipe(take(2), toArray()));
    rx.next('hello from rxjs');
    rx.next(Buffer.from([1, 2, 255]));
    const got = await echoes;
    expect(got[0]).toBe('hello from rxjs');
    expect(Buffer.isBuffer(got[1])).toBe(true);
    expect(got[1]).toEqual(Buffer.from([1, 2, 255]));

    rx.error({ code: 1000, reason: 'rxjs done' }); // the only way to give RxJS a close code
    expect(await ended).toHaveLength(2); // a clean close completes RxJS's stream
    expect(await closes(1)).toEqual([{ code: 1000, reason: 'rxjs done', wasClean: true }]);
  });

  it('complete() and unsubscribing send a close frame without a code: the server sees 1005', async () => {
    const { url, closes } = await echoServer();
    const completed = subject(url);
    const echoed = firstValueFrom(completed.pipe(take(1)), { defaultValue: null });
    completed.next('x');
    const stays = completed.subscribe(); // keeps the socket open past the take(1)
    expect(await echoed).toBe('x');
    completed.complete();
    expect(await closes(1)).toEqual([{ code: 1005, reason: '', wasClean: true }]);
    stays.unsubscribe();

    const unsubscribed = subject(url);
    const first = firstValueFrom(unsubscribed); // unsubscribes after the first echo: the last subscriber is gone
    unsubscribed.next('y');
    await first;
    expect((await closes(2))[1]).toEqual({ code: 1005, reason: '', wasClean: true });
  });
});

afterEach(killPythonServers);

describe("rxjs-ws's connect() against Python's websockets server (e2e)", () => {
  const clients = new Set<RxClient>();
  afterEach(() => {
    for (const c of clients) c.terminate();
    clients.clear();
  });
  const dial = (url: string) => {
    const client = connect(url, { reconnect: { initialDelay: 20, maxDelay: 200 } });
    clients.add(client);
    return client;
  };
  const until = (client: RxClient, state: ClientStatus['state']) => firstValueFrom(client.status$.pipe(filter((s) => s.state === state)));

  it('echoes text as text and binary as binary, and closes with 1000 as the server sees it', async () => {
    const python = await startPython();
    const client = dial(python.url);
    const echoes = firstValueFrom(client.messages$.pipe(take(3), toArray()));
    client.next('hello from rxjs-ws \u2713');
    client.next(Buffer.from([0, 1, 2, 0xfe, 0xff]));
    client.next('x'.repeat(70_000)); // a 64-bit length frame
    const got: Message[] = await echoes; // take(3) leaves: the refcount closes the client with 1000
    expect(got[0]).toBe('hello from rxjs-ws \u2713');
    expect(got[1]).toEqual(Buffer.from([0, 1, 2, 0xfe, 0xff]));
    expect(got[2]).toBe('x'.repeat(70_000));
    expect(await firstValueFrom(client.close$)).toEqual({ code: 1000, reason: '', wasClean: true });
    expect(await python.next('close')).toEqual({ event: 'close', code: 1000, reason: '', kinds: ['text', 'binary', 'text'] });
    await python.kill('SIGTERM');
  });

  it('reconnects by itself when the Python server is killed and started again on the same port', async () => {
    const first = await startPython();
    const client = dial(first.url);
    const appErrors: unknown[] = [];
    const got: Message[] = [];
    client.messages$.subscribe({ next: (m) => got.push(m), error: (e) => appErrors.push(e) });
    client.next('before');
    await until(client, 'open');
    await first.next('open');
    // Wait for the echo: what is in flight when a connection dies abruptly may be lost (no acks in WebSocket).
    for (let i = 0; i < 200 && got.length < 1; i++) await new Promise((r) => setTimeout(r, 10));
    expect(got).toEqual(['before']);

    await first.kill('SIGKILL'); // no close frame: 1006, retried
    const reconnecting = await until(client, 'reconnecting');
    expect(reconnecting.lastClose).toEqual({ code: 1006, reason: '', wasClean: false });
    client.next('while down'); // held in the offline queue

    const second = await startPython(first.port);
    await until(client, 'open');
    client.next('after');
    const open = await second.next('open');
    expect(open).toEqual({ event: 'open', path: '/ws' });
    for (let i = 0; i < 200 && got.length < 3; i++) await new Promise((r) => setTimeout(r, 10));
    expect(got).toEqual(['before', 'while down', 'after']);
    expect(appErrors).toEqual([]);

    client.close(1000, 'bye');
    await firstValueFrom(client.close$);
    expect(await second.next('close')).toEqual({ event: 'close', code: 1000, reason: 'bye', kinds: ['text', 'text'] });
    await second.kill('SIGTERM');
  });
});
