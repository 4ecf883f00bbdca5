/**
 * Review: the test kit's FakeWebSocket does what its documentation says.
 */
import { WebSocket } from 'ws';
import { RxSocket } from '../../src';
import { FakeWebSocket } from '../../src/testing';

describe('review: FakeWebSocket', () => {
  it('arrived() delivers everything the peer sent while paused, even while the socket stays paused (the rest of a TCP read)', () => {
    const fake = new FakeWebSocket();
    const socket = new RxSocket(fake as unknown as WebSocket, { inboundHold: 1 });
    fake.receive('a'); // held: the hold is full, the socket stops reading
    expect(fake.isPaused).toBe(true);
    for (const frame of ['b', 'c', 'd']) fake.receive(frame);
    expect(fake.waiting).toBe(3);
    fake.arrived(); // "Delivers what the peer sent while the socket was paused, even if it still is"
    expect(fake.waiting).toBe(0);
    const got: string[] = [];
    socket.messages$.subscribe((frame) => got.push(String(frame)));
    expect(got).toEqual(['a', 'b', 'c', 'd']);
  });
});
