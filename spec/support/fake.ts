import type { WebSocket } from 'ws';
import { RxSocket, type RxSocketOptions } from '../../src';
import { FakeWebSocket } from '../../src/testing/fake-ws';

/** An RxSocket over a FakeWebSocket, and the fake to drive it. */
export function fakeSocket<A = undefined>(options?: RxSocketOptions<A>, fake = new FakeWebSocket()) {
  const socket = new RxSocket<A>(fake as unknown as WebSocket, options);
  return { socket, fake };
}

/** Listener counts of the events rxjs-ws listens to on a ws. */
export function listenerCounts(ws: { listenerCount(event: string): number }) {
  return ['message', 'close', 'error', 'open', 'ping', 'pong'].map((e) => ws.listenerCount(e));
}
