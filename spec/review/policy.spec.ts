/**
 * Review: a policy close discards what the peer sends from the frame that
 * broke the policy on, and nothing read before it.
 */
import { TestScheduler } from 'rxjs/testing';
import type { CloseInfo } from '../../src';
import { fakeSocket } from '../support/fake';

describe('review: policy closes', () => {
  it('a ping flood discards only what comes from the flooding ping on: a frame read before it, held by the rate limit, is delivered', () => {
    const scheduler = new TestScheduler(() => undefined);
    const got: string[] = [];
    const closes: CloseInfo[] = [];
    scheduler.run(() => {
      const { socket, fake } = fakeSocket({ rateLimit: { messages: 1, policy: 'pause', scheduler } });
      socket.messages$.subscribe((frame) => got.push(String(frame)));
      socket.close$.subscribe((info) => closes.push(info));
      // One TCP read: two frames (the second waits for budget, so the socket pauses), then 101 pings.
      fake.receive('a');
      fake.receive('b');
      expect(fake.isPaused).toBe(true);
      for (let i = 0; i < 101; i++) fake.receivePing();
      fake.arrived(101); // the rest of the read is parsed although the socket is paused, as ws does
      expect(fake.closeSent).toEqual({ code: 1008, reason: 'Too many pings' });
      // Nothing more is read from a flooding peer: the connection ends later without its close frame (ws's close timer).
      scheduler.schedule(() => fake.drop(), 2000);
    });
    expect(closes).toMatchObject([{ code: 1008, reason: 'Too many pings', wasClean: false }]);
    // 'b' was read before the first ping: the flood must not cost it.
    expect(got).toEqual(['a', 'b']);
  });

  it('terminate() discards what is read after it, not a frame read before it and held by the rate limit', () => {
    const scheduler = new TestScheduler(() => undefined);
    const got: string[] = [];
    scheduler.run(() => {
      const { socket, fake } = fakeSocket({ rateLimit: { messages: 1, policy: 'pause', scheduler } });
      socket.messages$.subscribe((frame) => got.push(String(frame)));
      fake.receive('a');
      fake.receive('b'); // read, and held for budget: the excess is "delayed, never lost"
      socket.terminate();
      expect(socket.state).toBe('closed');
    });
    expect(got).toEqual(['a', 'b']);
  });
});
