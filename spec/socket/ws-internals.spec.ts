/**
 * rxjs-ws reads a few private fields of `ws` (src/socket/ws-internals.ts). This
 * spec fails when a `ws` release renames or reshapes them, before any user
 * sees a prepared frame overtake another or a socket never uncork.
 */
import { WebSocket } from 'ws';
import { prepare, type RxSocket } from '../../src';
import { deflateInternalsPresent, isServerSide, peerOf, preparedPath, rawSocket, senderBytes, wsInternalsPresent } from '../../src/socket/ws-internals';
import { listen, nextMessage, open } from '../support/net';

describe("the ws internals rxjs-ws relies on", () => {
  it("are there, with the shapes rxjs-ws expects, on both sides of a real connection", async () => {
    const { server, url } = await listen({ heartbeat: false });
    const accepted = new Promise<RxSocket>((resolve) => server.connections$.subscribe(resolve));
    const client = await open(url());
    const socket = await accepted;
    const expected = {
      _socket: true,
      _isServer: true,
      '_sender._state': true,
      '_sender._queue': true,
      _pendingAutoPongs: true,
      '_receiver._bufferedBytes, _buffers, _totalPayloadLength, _fragments': true,
      "_receiver 'conclude'": true,
      '_receiver._maxFragments': true,
      '_receiver.haveLength()': true,
      "_socket 'data' listener socketOnData": true,
      "_socket 'error' listener socketOnError": true,
      "_socket[Symbol('websocket')]": true,
      '_receiver._writableState.needDrain': true,
    };
    expect(wsInternalsPresent(socket.ws)).toEqual(expected);
    expect(wsInternalsPresent(client)).toEqual(expected);
    expect(isServerSide(socket.ws)).toBe(true);
    expect(isServerSide(client)).toBe(false);
    expect(rawSocket(socket.ws)?.remotePort).toBe(rawSocket(client)?.localPort);
    expect(peerOf(socket.ws).address).toBe('127.0.0.1');
  });

  it("stand in for ws's 'data' listener on a server socket, so that ws removing its own listener removes the stand-in", async () => {
    const { server, url } = await listen({ heartbeat: false });
    const accepted = new Promise<RxSocket>((resolve) => server.connections$.subscribe(resolve));
    await open(url());
    const raw = rawSocket((await accepted).ws)!;
    const [standIn] = raw.rawListeners('data') as ((...args: unknown[]) => void)[] & { listener?: unknown }[];
    const original = (standIn as { listener?: (...args: unknown[]) => void }).listener;
    expect(standIn!.name).toBe('sharedRead');
    expect(original?.name).toBe('socketOnData');
    raw.removeListener('data', original!); // what ws does on an error, on the peer's close frame and on 'close'
    expect(raw.rawListeners('data')).not.toContain(standIn);
  });

  it("stand in for ws's 'error' listener, so that ws removing its own removes the stand-in, and the socket still hears the error", async () => {
    const { server, url } = await listen({ heartbeat: false });
    const accepted = new Promise<RxSocket>((resolve) => server.connections$.subscribe(resolve));
    await open(url());
    const socket = await accepted;
    const raw = rawSocket(socket.ws)!;
    const errors = raw.rawListeners('error') as ((...args: unknown[]) => void)[];
    expect(errors).toHaveLength(1);
    expect(errors[0]!.name).toBe('onTransportError');
    expect((errors[0] as { listener?: { name?: string } }).listener?.name).toBe('socketOnError');
    const closed = new Promise((resolve) => socket.close$.subscribe(resolve));
    // What a reset connection does: the TCP socket errors; ws's own listener (through the stand-in) destroys it.
    raw.emit('error', Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }));
    expect(raw.rawListeners('error')).not.toContain(errors[0]);
    expect(await closed).toMatchObject({ code: 1006, wasClean: false, error: { message: 'read ECONNRESET' } });
  });

  it('leave none of their stand-ins on the TCP socket once the socket has closed: ws has its own listeners back', async () => {
    const { server, url } = await listen();
    const accepted = new Promise<RxSocket>((resolve) => server.connections$.subscribe(resolve));
    const client = await open(url());
    const socket = await accepted;
    socket.messages$.subscribe(socket);
    const raw = rawSocket(socket.ws)!;
    const names = (event: string) => raw.rawListeners(event).map((l) => l.name);
    expect(names('error')).toEqual(['onTransportError']);
    client.close(1000);
    await new Promise((resolve) => socket.close$.subscribe({ complete: () => resolve(undefined) }));
    expect(names('error')).toContain('socketOnError');
    expect([...names('error'), ...names('data'), ...names('close')].filter((n) => /^(onTransport|sharedRead)/.test(n))).toEqual([]);
  });

  it('add no listener arrays of their own to an idle server socket (each costs memory per socket)', async () => {
    const { server, url } = await listen();
    const accepted = new Promise<RxSocket>((resolve) => server.connections$.subscribe(resolve));
    await open(url());
    const socket = await accepted;
    socket.messages$.subscribe(socket);
    const raw = rawSocket(socket.ws)!;
    const receiver = (socket.ws as unknown as { _receiver: import('node:events').EventEmitter })._receiver;
    expect(raw.listenerCount('data')).toBe(1);
    expect(raw.listenerCount('error')).toBe(1);
    expect(receiver.listenerCount('conclude')).toBe(1);
    // Watching writable$ needs the peer's close frame told: one more listener, then.
    socket.writable$.subscribe();
    expect(receiver.listenerCount('conclude')).toBe(2);
  });

  it("tell when the peer's close frame arrives, before the closing handshake ends", async () => {
    const { server, url } = await listen({ heartbeat: false });
    const accepted = new Promise<RxSocket>((resolve) => server.connections$.subscribe(resolve));
    const client = await open(url());
    const socket = await accepted;
    const seen: boolean[] = [];
    socket.writable$.subscribe((w) => seen.push(w));
    // A close frame from the client while the server's answer is held back: the socket is closing, not closed.
    (socket.ws as unknown as { _socket: import('node:net').Socket })._socket.cork();
    client.close(1000);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(socket.state).toBe('closing');
    expect(seen).toEqual([true, false]);
  });

  it('let a prepared frame go straight to the TCP socket only on a server socket without extensions and with nothing waiting in ws', async () => {
    const { server, url } = await listen({ heartbeat: false });
    const accepted = new Promise<RxSocket>((resolve) => server.connections$.subscribe(resolve));
    const client = await open(url());
    const socket = await accepted;
    expect(preparedPath(socket.ws)).toBe('plain');
    expect(preparedPath(client)).toBeNull(); // a client masks its frames
    const got = nextMessage(client);
    socket.next(prepare('straight'));
    expect((await got).data.toString()).toBe('straight');
  });

  it('send a prepared frame the usual way when ws queues frames of its own (permessage-deflate)', async () => {
    const { WebSocketServer } = await import('ws');
    const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', perMessageDeflate: true });
    await new Promise((resolve) => wss.once('listening', resolve));
    const accepted = new Promise<WebSocket>((resolve) => wss.once('connection', resolve));
    const client = new WebSocket(`ws://127.0.0.1:${(wss.address() as { port: number }).port}`, { perMessageDeflate: true });
    await new Promise((resolve) => client.once('open', resolve));
    const serverSide = await accepted;
    expect(serverSide.extensions).toContain('permessage-deflate');
    expect(preparedPath(serverSide)).toBeNull(); // the server keeps its compression context
    client.terminate();
    await new Promise((resolve) => wss.close(resolve));
  });

  it('read the negotiated deflate parameters, what waits in the compressor and what a compressed message inflated to', async () => {
    const zlib = { level: 1 };
    const { server, url } = await listen({ heartbeat: false, perMessageDeflate: { serverNoContextTakeover: true, serverMaxWindowBits: 10, threshold: 16, zlibDeflateOptions: zlib } });
    const accepted = new Promise<RxSocket>((resolve) => server.connections$.subscribe(resolve));
    const client = await open(url(), { perMessageDeflate: { serverNoContextTakeover: true } });
    const socket = await accepted;
    const expected = {
      "_extensions['permessage-deflate']": true,
      _threshold: true,
      _isServer: true,
      _maxPayload: true,
      _options: true,
      'decompress()': true,
      '_sender._bufferedBytes': true,
      '_receiver._messageLength': true,
    };
    expect(deflateInternalsPresent(socket.ws)).toEqual(expected);
    expect(deflateInternalsPresent(client)).toEqual(expected);
    expect(preparedPath(socket.ws)).toEqual({ windowBits: 10, threshold: 16, zlib: { level: 1 } });
    // What ws's sender counts while it compresses (its part of bufferedAmount).
    socket.ws.send('x'.repeat(100_000));
    expect(senderBytes(socket.ws)).toBe(100_000);
    expect(preparedPath(socket.ws)).toBeNull(); // a prepared frame would overtake it
    const got = nextMessage(client);
    expect((await got).data.length).toBe(100_000);
    expect(senderBytes(socket.ws)).toBe(0);
  });
});
