/**
 * Review of permessage-deflate: the bounds that hold without it hold with it.
 */
import * as zlib from 'node:zlib';
import { connect, type RxSocket } from '../../src';
import { listen } from '../support/net';
import { encodeFrame, RawWs, until } from '../support/raw';

/** A message compressed as a peer without context takeover sends it. */
function compress(data: Buffer | string): Buffer {
  const out = zlib.deflateRawSync(data, { level: 9, finishFlush: zlib.constants.Z_SYNC_FLUSH });
  return out.subarray(0, out.length - 4);
}

const NO_TAKEOVER = ['Sec-WebSocket-Extensions: permessage-deflate; client_no_context_takeover; server_no_context_takeover'];

describe('review: permessage-deflate bounds', () => {
  it('the inbound hold stops inflating once full: one small read of many compressed messages does not fill memory past it', async () => {
    const { server, port } = await listen({ heartbeat: false, perMessageDeflate: true, memoryBudget: false });
    const accepted = new Promise<RxSocket>((resolve) => server.connections$.subscribe(resolve)); // nobody reads messages$
    const raw = await RawWs.connect(port, { headers: NO_TAKEOVER });
    const socket = await accepted;
    // 200 messages of 512 KiB (100 MiB) in about 100 KiB on the wire, sent in one go.
    const body = compress(Buffer.alloc(512 * 1024));
    const frame = encodeFrame({ opcode: 0x2, rsv: 4, payload: body });
    await raw.write(Buffer.concat(Array.from({ length: 200 }, () => frame)));
    let most = 0;
    const started = performance.now();
    while (performance.now() - started < 1500) {
      most = Math.max(most, socket.memoryCost());
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    // The hold's bound (1 MiB) plus one message in flight, not 100 MiB.
    expect(most).toBeLessThanOrEqual(2 * 1024 * 1024 + 512 * 1024);
    // A subscriber comes: every message arrives, whole, as reading resumes.
    let got = 0;
    socket.messages$.subscribe((m) => {
      expect((m as Buffer).length).toBe(512 * 1024);
      got++;
    });
    await until(() => got === 200, 'the 200 messages', 10_000);
    raw.destroy();
    await until(() => socket.state === 'closed', 'the socket closed');
  });

  it('a connection that ends while an inflation waits for reading still closes, and what was read is delivered', async () => {
    const { server, port } = await listen({ heartbeat: false, perMessageDeflate: true, memoryBudget: false });
    const accepted = new Promise<RxSocket>((resolve) => server.connections$.subscribe(resolve));
    const raw = await RawWs.connect(port, { headers: NO_TAKEOVER });
    const socket = await accepted;
    const frame = encodeFrame({ opcode: 0x2, rsv: 4, payload: compress(Buffer.alloc(512 * 1024)) });
    await raw.write(Buffer.concat(Array.from({ length: 10 }, () => frame)));
    await until(() => socket.memoryCost() >= 1024 * 1024, 'the hold full');
    raw.destroy();
    await until(() => socket.state === 'closed', 'the socket closed');
    expect(socket.closeInfo).toMatchObject({ code: 1006 });
    const got = await new Promise<number>((resolve) => {
      let n = 0;
      socket.messages$.subscribe({ next: () => n++, complete: () => resolve(n) });
    });
    expect(got).toBe(10);
  });
});

describe('review: perMessageDeflate options on connect()', () => {
  it('refuses serverMaxWindowBits: true at once (an offer of server_max_window_bits without a value fails every handshake with 400)', async () => {
    expect(() => connect('ws://127.0.0.1:9/', { perMessageDeflate: { serverMaxWindowBits: true }, reconnect: false })).toThrow(
      'Expected `perMessageDeflate.serverMaxWindowBits` to be an integer in [8, 15] or false on connect()',
    );
    // On serve() `true` takes what the client asks for; connect() asking for a number negotiates it.
    const { server, url } = await listen({ heartbeat: false, perMessageDeflate: { serverMaxWindowBits: true } });
    server.connections$.subscribe((s) => s.messages$.subscribe(s));
    const client = connect(url(), { perMessageDeflate: { serverMaxWindowBits: 10, clientMaxWindowBits: true }, reconnect: false });
    const echo = new Promise<unknown>((resolve) => client.messages$.subscribe(resolve));
    client.next('x'.repeat(2000));
    expect(await echo).toBe('x'.repeat(2000));
    client.close();
  });
});

describe('review: decompression bombs across fragments', () => {
  it('stops inflating a fragment once the message passes maxPayload, not once the fragment alone does', async () => {
    const maxPayload = 1 << 20;
    const { server, port } = await listen({ heartbeat: false, perMessageDeflate: true, maxPayload });
    const accepted = new Promise<RxSocket>((resolve) => server.connections$.subscribe(resolve));
    const raw = await RawWs.connect(port, { headers: NO_TAKEOVER });
    const socket = await accepted;
    // What ws's inflate streams put out, counted as they put it out.
    let inflated = 0;
    const proto = zlib.InflateRaw.prototype as unknown as { push(chunk: Buffer | null): boolean };
    const push = proto.push;
    proto.push = function (this: unknown, chunk: Buffer | null) {
      if (chunk !== null) inflated += chunk.length;
      return push.call(this, chunk);
    };
    try {
      // One message: a first fragment inflating to just under maxPayload, then a bomb (64 MiB of zeros).
      const whole = zlib.deflateRawSync(Buffer.alloc(65 << 20), { level: 9, finishFlush: zlib.constants.Z_SYNC_FLUSH });
      // (its sync flush kept whole: the next fragment goes on from a byte boundary)
      const first = zlib.deflateRawSync(Buffer.alloc(maxPayload - 1024, 1), { finishFlush: zlib.constants.Z_SYNC_FLUSH });
      const bomb = whole.subarray(0, whole.length - 4);
      await raw.write(
        Buffer.concat([encodeFrame({ opcode: 0x2, rsv: 4, fin: false, payload: first }), encodeFrame({ opcode: 0x0, fin: true, payload: bomb })]),
      );
      await raw.waitFor(() => raw.closeFrame !== undefined, 'the close frame');
      expect(raw.closeFrame!.payload.readUInt16BE(0)).toBe(1009);
      await until(() => socket.state === 'closed', 'the socket closed');
    } finally {
      delete (proto as { push?: unknown }).push;
    }
    // maxPayload and one zlib chunk at most, not maxPayload for each fragment.
    expect(inflated).toBeLessThanOrEqual(maxPayload + 64 * 1024);
  });

  it('still takes a compressed message in fragments that comes to exactly maxPayload', async () => {
    const maxPayload = 1 << 20;
    const { server, port } = await listen({ heartbeat: false, perMessageDeflate: true, maxPayload });
    const accepted = new Promise<RxSocket>((resolve) => server.connections$.subscribe(resolve));
    const raw = await RawWs.connect(port, { headers: NO_TAKEOVER });
    const socket = await accepted;
    const got = new Promise<unknown>((resolve) => socket.messages$.subscribe(resolve));
    const stream = zlib.createDeflateRaw();
    const part = (data: Buffer) =>
      new Promise<Buffer>((resolve) => {
        const chunks: Buffer[] = [];
        const onData = (c: Buffer) => chunks.push(c);
        stream.on('data', onData);
        stream.write(data);
        stream.flush(zlib.constants.Z_SYNC_FLUSH, () => {
          stream.off('data', onData);
          resolve(Buffer.concat(chunks));
        });
      });
    const a = await part(Buffer.alloc(maxPayload / 2, 1));
    const b = await part(Buffer.alloc(maxPayload / 2, 2));
    stream.close();
    await raw.write(
      Buffer.concat([encodeFrame({ opcode: 0x2, rsv: 4, fin: false, payload: a }), encodeFrame({ opcode: 0x0, fin: true, payload: b.subarray(0, b.length - 4) })]),
    );
    const message = (await got) as Buffer;
    expect(message.length).toBe(maxPayload);
    expect(message[maxPayload - 1]).toBe(2);
    raw.destroy();
  });
});
