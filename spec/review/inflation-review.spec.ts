/**
 * Review of inflation pacing (inflateWatched / resumeInflation) and the ends that meet a deferred inflation.
 */
import * as zlib from 'node:zlib';
import { take } from 'rxjs';
import type { RxSocket } from '../../src';
import { listen } from '../support/net';
import { encodeFrame, RawWs, trapEscapes, until } from '../support/raw';

function compress(data: Buffer | string): Buffer {
  const out = zlib.deflateRawSync(data, { level: 9, finishFlush: zlib.constants.Z_SYNC_FLUSH });
  return out.subarray(0, out.length - 4);
}
const NO_TAKEOVER = ['Sec-WebSocket-Extensions: permessage-deflate; client_no_context_takeover; server_no_context_takeover'];
/** Message i: 256 KiB of byte i (compresses to a few hundred bytes). */
const message = (i: number) => encodeFrame({ opcode: 0x2, rsv: 4, payload: compress(Buffer.alloc(256 * 1024, i)) });

describe('review: inflation pacing', () => {
  const escapes = trapEscapes();

  async function setup(options: object = {}) {
    const { server, port } = await listen({ heartbeat: false, perMessageDeflate: true, memoryBudget: false, ...options });
    const accepted = new Promise<RxSocket>((resolve) => server.connections$.subscribe(resolve));
    const raw = await RawWs.connect(port, { headers: NO_TAKEOVER });
    const socket = await accepted;
    return { server, raw, socket };
  }

  it('process() with a backlog of one: every inflated frame once, in order', async () => {
    const { raw, socket } = await setup();
    const got: number[] = [];
    socket
      .process((m) => new Promise<void>((r) => setTimeout(() => { got.push((m as Buffer)[0]!); r(); }, 1)), { concurrency: 1, highWaterMark: 1 })
      .subscribe();
    await raw.write(Buffer.concat(Array.from({ length: 40 }, (_, i) => message(i))));
    await until(() => got.length >= 40, 'the 40 frames', 10_000);
    expect(got).toEqual(Array.from({ length: 40 }, (_, i) => i));
    raw.destroy();
    await until(() => socket.state === 'closed', 'closed');
    expect(escapes).toEqual([]);
  });

  it('a subscriber that leaves and comes back inside each delivery (sync and async): every frame once, in order', async () => {
    const { raw, socket } = await setup();
    const got: number[] = [];
    const sub = (): void => {
      socket.messages$.pipe(take(1)).subscribe((m) => {
        got.push((m as Buffer)[0]!);
        if (got.length % 2 === 0) queueMicrotask(sub);
        else setTimeout(sub, 2);
      });
    };
    sub();
    await raw.write(Buffer.concat(Array.from({ length: 40 }, (_, i) => message(i))));
    await until(() => got.length >= 40, 'the 40 frames', 10_000);
    expect(got).toEqual(Array.from({ length: 40 }, (_, i) => i));
    raw.destroy();
    await until(() => socket.state === 'closed', 'closed');
    expect(escapes).toEqual([]);
  });

  for (const end of ['terminate', 'server.close'] as const) {
    it(`${end}() while an inflation is deferred: the socket closes, nothing escapes`, async () => {
      const { server, raw, socket } = await setup();
      await raw.write(Buffer.concat(Array.from({ length: 20 }, (_, i) => message(i))));
      await until(() => socket.memoryCost() >= 1024 * 1024, 'the hold full');
      await new Promise((r) => setTimeout(r, 50));
      if (end === 'terminate') socket.terminate();
      else void server.close();
      await until(() => socket.state === 'closed', 'closed', 8000);
      raw.destroy();
      expect(escapes).toEqual([]);
    });
  }

  it('close() while an inflation is deferred, the peer answering at once: the socket closes promptly', async () => {
    const { raw, socket } = await setup();
    await raw.write(Buffer.concat(Array.from({ length: 20 }, (_, i) => message(i))));
    await until(() => socket.memoryCost() >= 1024 * 1024, 'the hold full');
    socket.close(1000, 'bye');
    await raw.waitFor(() => raw.closeFrame !== undefined, 'the close frame');
    await raw.write(encodeFrame({ opcode: 0x8, payload: Buffer.from([0x03, 0xe8]) }));
    raw.socket.end();
    await until(() => socket.state === 'closed', 'closed', 8000);
    expect(escapes).toEqual([]);
  });

  it('evicted by the memory budget while an inflation is deferred: the socket closes once the peer has answered', async () => {
    const { raw, socket } = await setup({ memoryBudget: 1024 * 1024 });
    await raw.write(Buffer.concat(Array.from({ length: 20 }, (_, i) => message(i))));
    await raw.waitFor(() => raw.closeFrame !== undefined, 'the close frame', 8000);
    await raw.write(encodeFrame({ opcode: 0x8, payload: Buffer.from([0x03, 0xf0]) }));
    raw.socket.end();
    await until(() => socket.state === 'closed', 'closed', 8000);
    expect(socket.closeInfo).toMatchObject({ code: 1008 });
    expect(escapes).toEqual([]);
  });
  for (const act of ['close', 'terminate', 'next'] as const) {
    it(`outbound overflow ('close' policy): an errors$ subscriber that calls ${act}() in the drop report; the socket still closes, nothing escapes`, async () => {
      const { raw, socket } = await setup({ outbound: { policy: 'close', maxMessages: 2, pauseReading: true } });
      const seen: string[] = [];
      socket.errors$.subscribe((e) => {
        seen.push(e.name);
        if (act === 'close') socket.close(1000);
        else if (act === 'terminate') socket.terminate();
        else if (e.name === 'FrameDroppedError') socket.next('again');
      });
      raw.socket.pause(); // the peer reads nothing: the server's writes back up
      let i = 0;
      while (socket.state === 'open' && i++ < 20000) socket.next(Buffer.alloc(64 * 1024));
      raw.socket.resume();
      await until(() => socket.state === 'closed', 'closed', 8000);
      expect(seen[0]).toBe('FrameDroppedError');
      expect(escapes).toEqual([]);
    });
  }
});
