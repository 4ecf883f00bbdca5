/**
 * Review: writable$ emits the current value first, and `false` once the
 * socket is closing, however the closing started (here: the peer's close
 * frame, which ws answers by itself before 'close').
 */
import { firstValueFrom } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { WebSocket } from 'ws';
import { connect, type RxSocket } from '../../src';
import type { WebSocketFactory } from '../../src/client/client';
import { FakeWebSocket } from '../../src/testing/fake-ws';
import { listen, open } from '../support/net';
import { until } from '../support/raw';

describe('review: writable$ while the peer closes', () => {
  it('writable$ emits the current value (false) to a subscriber that comes while the peer is closing the socket', async () => {
    const { server, url } = await listen();
    const accepted = firstValueFrom(server.connections$);
    const client = await open(url());
    const socket: RxSocket = await accepted;
    const seen: boolean[] = [];
    socket.writable$.subscribe((w) => seen.push(w));
    expect(seen).toEqual([true]);

    // The client closes, then stops reading: the server has the close frame, answers it, and waits for the client's FIN.
    client.close(1000);
    client.pause();
    await until(() => socket.state === 'closing', 'the server socket to be closing');
    expect(socket.closeInfo).toBeNull();

    const late: boolean[] = [];
    socket.writable$.subscribe((w) => late.push(w));
    expect(late).toEqual([false]); // the current value, first
    expect(seen).toEqual([true, false]); // and the change
  });

  it('RxClient.writable$ emits its current value (false) to a subscriber that comes after the client closed', () => {
    const scheduler = new TestScheduler(() => undefined);
    const made: FakeWebSocket[] = [];
    class Pending extends FakeWebSocket {
      constructor() {
        super(WebSocket.CONNECTING);
        made.push(this);
      }
    }
    const client = connect('ws://fake.test/ws', { WebSocket: Pending as unknown as WebSocketFactory, heartbeat: false, reconnect: false, scheduler });
    made[0]!.drop(); // the attempt fails; no retries: closed for good
    expect(client.state).toBe('closed');
    const values: boolean[] = [];
    let completed = false;
    client.writable$.subscribe({ next: (w) => values.push(w), complete: () => (completed = true) });
    expect(completed).toBe(true);
    // An RxSocket's writable$ gives false, then completes, after its close: SocketLike code expects the same of a client.
    expect(values).toEqual([false]);
  });
});
