import { concatMap, filter, first, map, range, type Observable } from 'rxjs';
import type { OutboundOptions, RxSocket, RxjsWsError } from '../../src';
import { delay, listen, parseFrames, rawClient } from '../support/net';

/** A server whose one socket we push into, and a raw client that does not read. */
async function slowReader(outbound: OutboundOptions) {
  const { server, port } = await listen({ outbound, heartbeat: false });
  const accepted = new Promise<RxSocket>((resolve) => server.connections$.subscribe(resolve));
  const client = await rawClient(port);
  const socket = await accepted;
  const errors: RxjsWsError[] = [];
  socket.errors$.subscribe((e) => errors.push(e));
  return { server, socket, client: client.socket, errors };
}

/** Reads every server frame from a raw client until `count` text frames have arrived. */
function readAll(client: import('node:net').Socket, count: number): Promise<string[]> {
  return new Promise((resolve) => {
    let buffered = Buffer.alloc(0);
    const texts: string[] = [];
    client.on('data', (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      const frames = parseFrames(buffered);
      const used = frames.reduce((n, f) => n + f.payload.length + (f.payload.length < 126 ? 2 : f.payload.length < 65536 ? 4 : 10), 0);
      buffered = buffered.subarray(used);
      for (const f of frames) if (f.opcode === 1) texts.push(f.payload.toString());
      if (texts.length >= count) resolve(texts);
    });
    client.resume();
  });
}

describe('outbound flow control over a real socket', () => {
  it('keeps what it holds for a client that never reads within the limit, and the policy fires', async () => {
    const maxBytes = 256 * 1024;
    const { socket, errors } = await slowReader({ policy: 'drop-newest', maxBytes });
    const frame = Buffer.alloc(16 * 1024, 1);
    let most = 0;
    // Push 3,840 frames (60 MiB), 64 per turn of the event loop: far more than the client's kernel takes in.
    for (let turn = 0; turn < 60; turn++) {
      for (let i = 0; i < 64; i++) socket.next(frame);
      most = Math.max(most, socket.bufferedAmount);
      await new Promise((resolve) => setImmediate(resolve));
    }
    // The queue is bounded by maxBytes; ws's own buffer adds at most the TCP socket's high-water mark
    // (16 KiB on Node 20, 64 KiB from Node 22) and a frame.
    const tcp = (socket.ws as unknown as { _socket: import('node:net').Socket })._socket;
    expect(most).toBeLessThanOrEqual(maxBytes + tcp.writableHighWaterMark + frame.length + 64);
    expect(errors.length).toBeGreaterThan(0);
    expect(errors.every((e) => e.code === 'RXJS_WS_FRAME_DROPPED')).toBe(true);
    expect(socket.stats.dropped).toBeGreaterThan(1000);
  });

  it("'close' closes a client that stops reading with 1013", async () => {
    const { socket, client } = await slowReader({ policy: 'close', maxBytes: 64 * 1024 });
    const frame = Buffer.alloc(16 * 1024);
    while (socket.state === 'open') {
      socket.next(frame);
      await new Promise((resolve) => setImmediate(resolve));
    }
    expect(socket.stats.dropped).toBeGreaterThan(0);
    // When the client reads again, the close frame comes after what had been sent.
    const code = await new Promise<number>((resolve) => {
      let buffered = Buffer.alloc(0);
      client.on('data', (chunk: Buffer) => {
        buffered = Buffer.concat([buffered, chunk]);
        const close = parseFrames(buffered).find((f) => f.opcode === 8);
        if (close) resolve(close.payload.readUInt16BE(0));
      });
      client.resume();
    });
    expect(code).toBe(1013);
  });

  it("'error' loses nothing it accepted: a slow client gets every accepted frame, in order", async () => {
    const { socket, client, errors } = await slowReader({ policy: 'error', maxBytes: 128 * 1024, maxMessages: 4096 });
    let accepted = 0;
    // Offer frames until the queue refuses one.
    for (let i = 0; errors.length === 0 && i < 100_000; i++) {
      socket.next(`${i}:${'y'.repeat(1000)}`);
      if (errors.length === 0) accepted++;
      if (i % 64 === 0) await new Promise((resolve) => setImmediate(resolve));
    }
    expect(errors[0]!.code).toBe('RXJS_WS_OUTBOUND_FULL');
    expect(accepted).toBeGreaterThan(100);
    const texts = await readAll(client, accepted);
    expect(texts.map((t) => Number(t.split(':')[0]))).toEqual(Array.from({ length: accepted }, (_, i) => i));
  });

  it('a producer that waits on writable$ sends everything without a refusal', async () => {
    const { socket, client, errors } = await slowReader({ maxBytes: 64 * 1024 });
    const total = 20_000; // 10 MB: more than the kernel's socket buffers absorb
    const sending: Observable<string> = range(0, total).pipe(
      concatMap((i) => socket.writable$.pipe(filter(Boolean), first(), map(() => `${i}:${'z'.repeat(500)}`))),
    );
    sending.subscribe((frame) => socket.next(frame));
    await delay(100);
    expect(socket.bufferedAmount).toBeGreaterThan(0);
    const texts = await readAll(client, total);
    expect(texts.map((t) => Number(t.split(':')[0]))).toEqual(Array.from({ length: total }, (_, i) => i));
    expect(errors).toEqual([]);
  });
});
