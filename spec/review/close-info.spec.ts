/**
 * Review: what close$ reports. terminate() reports 1006, and wasClean is true
 * only when both close frames were exchanged.
 */
import { firstValueFrom } from 'rxjs';
import { type CloseInfo, type RxSocket } from '../../src';
import { listen } from '../support/net';
import { closePayload, encodeFrame, RawWs } from '../support/raw';

describe('review: what close$ reports', () => {
  it('terminate() reports 1006 (not clean) even when the peer close frame was in the same read', async () => {
    const { server, port } = await listen();
    const accepted = firstValueFrom(server.connections$);
    const raw = await RawWs.connect(port);
    const socket: RxSocket = await accepted;
    socket.messages$.subscribe((frame) => {
      if (frame === 'bad') socket.terminate(); // the handler gives up on this peer at once
    });
    const info = firstValueFrom(socket.close$);
    // One write, one read on the server: a frame the handler rejects, then the peer's own close frame.
    await raw.write(Buffer.concat([encodeFrame({ opcode: 0x1, payload: 'bad' }), encodeFrame({ opcode: 0x8, payload: closePayload(1000) })]));
    const closed: CloseInfo = await info;
    expect(raw.closeFrame).toBeUndefined(); // we never sent a close frame: the handshake did not happen
    expect(closed).toMatchObject({ code: 1006, wasClean: false });
  });

  it('close$ carries the network error (ECONNRESET) of a connection the peer reset', async () => {
    const { server, port } = await listen();
    const accepted = firstValueFrom(server.connections$);
    const raw = await RawWs.connect(port);
    const socket: RxSocket = await accepted;
    const info = firstValueFrom(socket.close$);
    raw.socket.resetAndDestroy(); // RST: the server's TCP socket fails with ECONNRESET
    const closed: CloseInfo = await info;
    expect(closed).toMatchObject({ code: 1006, wasClean: false });
    expect(closed.error).toMatchObject({ code: 'ECONNRESET' });
  });
});
