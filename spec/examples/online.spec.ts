/** The chat example's online count: at most every 100 ms, never the same count twice to the same client. */
import { filter } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { createHub } from 'rxjs-ws';
import { testSocket, type TestSocket } from 'rxjs-ws/testing';
import { OnlineCount } from '../../examples/chat/online';

const online = (count: number) => JSON.stringify({ type: 'online', count });
const counts = (t: TestSocket) => t.sent$.pipe(filter((e): e is string => typeof e === 'string'));

describe('the chat example: OnlineCount', () => {
  let scheduler: TestScheduler;
  beforeEach(() => (scheduler = new TestScheduler((actual, expected) => expect(actual).toEqual(expected))));

  it('a count that goes 2 → 3 → 2 within 100 ms is not sent again to those who know it; the newcomer alone hears it', () => {
    scheduler.run(({ cold, expectObservable }) => {
      const hub = createHub({ scheduler });
      const count = new OnlineCount(hub, 'room', 100, scheduler);
      const [a, b, c] = [testSocket(scheduler), testSocket(scheduler), testSocket(scheduler)];
      const join = (t: TestSocket) => (hub.join(t.socket, 'room'), count.joined(t.socket));
      join(a);
      join(b); // 2 at 0 ms: sent at 100 ms
      cold('200ms x').subscribe(() => join(c)); // 3 at 200 ms ...
      b.inbound('250ms |'); // ... and 2 again at 250 ms: nothing new for a; c has heard no count yet
      cold('1s x').subscribe(() => (count.stop(), void hub.close()));
      expectObservable(counts(a)).toBe('100ms a', { a: online(2) });
      expectObservable(counts(c)).toBe('300ms a', { a: online(2) });
    });
  });

  it('a count that changed goes to everyone, once per window', () => {
    scheduler.run(({ cold, expectObservable }) => {
      const hub = createHub({ scheduler });
      const count = new OnlineCount(hub, 'room', 100, scheduler);
      const [a, b] = [testSocket(scheduler), testSocket(scheduler)];
      hub.join(a.socket, 'room');
      count.joined(a.socket);
      cold('150ms x').subscribe(() => (hub.join(b.socket, 'room'), count.joined(b.socket)));
      cold('1s x').subscribe(() => (count.stop(), void hub.close()));
      expectObservable(counts(a)).toBe('100ms a 149ms b', { a: online(1), b: online(2) });
      expectObservable(counts(b)).toBe('250ms b', { b: online(2) });
    });
  });
});
