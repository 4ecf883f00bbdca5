/**
 * Review: the outbound queue and the client's offline queue stay within their
 * bounds when a subscriber of errors$ sends from inside a drop report (a very
 * ordinary reaction: tell the peer it lagged).
 */
import { WebSocket } from 'ws';
import { connect, FrameDroppedError, type RxjsWsError } from '../../src';
import type { WebSocketFactory } from '../../src/client/client';
import { FakeWebSocket } from '../../src/testing/fake-ws';
import { fakeSocket } from '../support/fake';

class NeverOpens extends FakeWebSocket {
  constructor() {
    super(WebSocket.CONNECTING);
  }
}

describe('review: queue bounds under re-entrant sends', () => {
  it("outbound 'drop-oldest': the queue never holds more than maxMessages when an errors$ subscriber sends on a drop report", () => {
    const fake = new FakeWebSocket();
    const { socket } = fakeSocket({ outbound: { policy: 'drop-oldest', maxMessages: 2 } }, fake);
    fake._socket.writableNeedDrain = true;
    let told = false;
    socket.errors$.subscribe((error) => {
      if (error instanceof FrameDroppedError && !told) {
        told = true;
        socket.next('!'); // "you lagged"
      }
    });
    socket.next('a');
    socket.next('b');
    socket.next('c'); // drops 'a'; the report sends '!'
    expect(socket.bufferedAmount).toBeLessThanOrEqual(2); // 1-byte frames: bytes = frames
    fake._socket.drain();
    expect(fake.sent.length).toBeLessThanOrEqual(2);
  });

  it("outbound 'drop-oldest': frames leave in the order next() was called, also when an errors$ subscriber sends on a drop report", () => {
    const fake = new FakeWebSocket();
    const { socket } = fakeSocket({ outbound: { policy: 'drop-oldest', maxMessages: 3 } }, fake);
    fake._socket.writableNeedDrain = true;
    let told = false;
    socket.errors$.subscribe((error) => {
      if (error instanceof FrameDroppedError && !told) {
        told = true;
        socket.next('!');
      }
    });
    for (const frame of ['a', 'b', 'c', 'd']) socket.next(frame); // 'd' drops 'a'; the report sends '!'
    fake._socket.drain();
    const sent = fake.sent.map((f) => String(f.data));
    // next('d') was called before next('!'): whatever was dropped, what leaves keeps that order.
    expect(sent.indexOf('d')).toBeGreaterThanOrEqual(0);
    expect(sent.indexOf('!') === -1 || sent.indexOf('d') < sent.indexOf('!')).toBe(true);
  });

  it("client offline 'drop-oldest': the offline queue never holds more than maxMessages when an errors$ subscriber sends on a drop report", () => {
    const client = connect('ws://fake.test/ws', {
      WebSocket: NeverOpens as unknown as WebSocketFactory,
      heartbeat: false,
      reconnect: false,
      offline: { policy: 'drop-oldest', maxMessages: 2 },
    });
    const errors: RxjsWsError[] = [];
    let told = false;
    client.errors$.subscribe((error) => {
      errors.push(error);
      if (error instanceof FrameDroppedError && !told) {
        told = true;
        client.next('!');
      }
    });
    client.next('a');
    client.next('b');
    client.next('c');
    expect(client.bufferedAmount).toBeLessThanOrEqual(2); // 1-byte frames, nothing on the connection yet
    client.terminate();
  });
});
