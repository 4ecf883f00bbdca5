/**
 * Review: a socket that closes leaves nothing behind (heartbeat members and
 * timers, listeners), even when it closes from inside a notification.
 */
import { filter, take } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { WebSocket } from 'ws';
import { RxSocket } from '../../src';
import { HeartbeatMonitor } from '../../src/socket/heartbeat';
import { FakeWebSocket } from '../../src/testing/fake-ws';
import { listenerCounts } from '../support/fake';

describe('review: teardown from inside notifications', () => {
  it('a socket terminated by a writable$ subscriber while it opens leaves no heartbeat member or timer behind', () => {
    const scheduler = new TestScheduler(() => undefined);
    const before = { size: HeartbeatMonitor.size, timers: HeartbeatMonitor.timers };
    const fake = new FakeWebSocket(WebSocket.CONNECTING);
    const socket = new RxSocket(fake as unknown as WebSocket, { heartbeat: { interval: 1000, timeout: 500, scheduler } });
    socket.next('queued before the open'); // goes out when the socket opens
    // A producer that gives up as soon as it may write (say, it had nothing left to send and was told to stop).
    socket.writable$.pipe(filter(Boolean), take(1)).subscribe(() => socket.terminate());
    fake.open();
    expect(socket.state).toBe('closed');
    expect(listenerCounts(fake)).toEqual([0, 0, 0, 0, 0, 0]);
    expect({ size: HeartbeatMonitor.size, timers: HeartbeatMonitor.timers }).toEqual(before);
  });
});
