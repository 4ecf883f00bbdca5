import { firstValueFrom, take, toArray } from 'rxjs';
import { InvalidFrameError, prepare, PreparedFrame, type RxSocket } from '../../src';
import { fakeSocket } from '../support/fake';
import { listen, nextMessage, open } from '../support/net';

describe('prepare() and PreparedFrame', () => {
  it('encodes the RFC 6455 header for every length class', () => {
    expect(prepare('hi').bytes).toEqual(Buffer.from([0x81, 2, 0x68, 0x69]));
    expect(prepare(Buffer.alloc(200)).bytes.subarray(0, 4)).toEqual(Buffer.from([0x82, 126, 0, 200]));
    const big = prepare(new Uint8Array(70_000));
    expect(big.bytes.subarray(0, 10)).toEqual(Buffer.from([0x82, 127, 0, 0, 0, 0, 0, 1, 0x11, 0x70]));
    expect(big.byteLength).toBe(70_010);
    expect(() => prepare(42 as never)).toThrow(InvalidFrameError);
  });

  it('is written as-is to every server socket, kind and bytes intact', async () => {
    const { server, url } = await listen();
    const sockets = firstValueFrom(server.connections$.pipe(take(3), toArray()));
    const clients = await Promise.all([open(url()), open(url()), open(url())]);
    const frames = [prepare('broadcast'), prepare(Buffer.alloc(300, 7)), prepare(Buffer.alloc(70_000, 9))];
    const received = clients.map(
      (c) =>
        new Promise<{ data: Buffer; isBinary: boolean }[]>((resolve) => {
          const got: { data: Buffer; isBinary: boolean }[] = [];
          c.on('message', (data, isBinary) => got.push({ data: data as Buffer, isBinary }) === 3 && resolve(got));
        }),
    );
    for (const socket of await sockets) for (const f of frames) socket.next(f);
    for (const got of await Promise.all(received)) {
      expect(got[0]).toEqual({ data: Buffer.from('broadcast'), isBinary: false });
      expect(got[1]).toEqual({ data: Buffer.alloc(300, 7), isBinary: true });
      expect(got[2]).toEqual({ data: Buffer.alloc(70_000, 9), isBinary: true });
    }
  });

  it('falls back to framing per socket when permessage-deflate was negotiated', async () => {
    // rxjs-ws's own server does not offer deflate; a socket from a ws server that does is wrapped directly.
    const { WebSocketServer, WebSocket } = await import('ws');
    const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', perMessageDeflate: true });
    await new Promise((resolve) => wss.once('listening', resolve));
    const wrapped = new Promise<RxSocket>((resolve) =>
      wss.once('connection', async (ws) => resolve(new (await import('../../src')).RxSocket(ws))),
    );
    const client = new WebSocket(`ws://127.0.0.1:${(wss.address() as { port: number }).port}`, { perMessageDeflate: true });
    await new Promise((resolve) => client.once('open', resolve));
    expect(client.extensions).toContain('permessage-deflate');
    const socket = await wrapped;
    const message = nextMessage(client);
    socket.next(prepare('compressed per socket'));
    expect(await message).toEqual({ data: Buffer.from('compressed per socket'), isBinary: false });
    client.terminate();
    await new Promise((resolve) => wss.close(resolve));
  });

  it('goes through ws.send on a socket that cannot take raw frames (the fake, a client)', () => {
    const { socket, fake } = fakeSocket();
    socket.next(prepare(Buffer.from([1, 2])));
    expect(fake.sent).toEqual([{ data: Buffer.from([1, 2]), binary: true }]);
    expect(prepare('x')).toBeInstanceOf(PreparedFrame);
  });
});

describe('prepare() copies', () => {
  it('is not changed when its source changes afterwards, and payload is a view of bytes', () => {
    const source = Buffer.from('hello');
    const frame = prepare(source);
    source[0] = 0x4a; // 'J'
    expect(frame.payload.toString()).toBe('hello');
    expect(frame.bytes.subarray(2).toString()).toBe('hello');
    expect(frame.payload.buffer).toBe(frame.bytes.buffer);
  });
});
