import { TestScheduler } from 'rxjs/testing';
import { InvalidArgumentError, type RateLimitOptions } from '../../src';
import { testSocket } from '../../src/testing';
import { fakeSocket } from '../support/fake';

const newScheduler = () => new TestScheduler((a, b) => expect(a).toEqual(b));

describe('rate limit (virtual time)', () => {
  it("'pause' delivers a burst of one second's budget at once, then one frame per 1/rate, in order", () => {
    const scheduler = newScheduler();
    scheduler.run(({ expectObservable }) => {
      const rateLimit: RateLimitOptions = { messages: 2, policy: 'pause', scheduler };
      const t = testSocket(scheduler, { rateLimit });
      t.inbound('(abcde)');
      // Budget 2: a and b at 0; then one every 500 ms.
      expectObservable(t.socket.messages$).toBe('(ab) 496ms c 499ms d 499ms e');
      scheduler.schedule(() => expect(t.ws.isPaused).toBe(true), 1);
      scheduler.schedule(() => expect(t.ws.isPaused).toBe(false), 1501);
    });
  });

  it("'pause' limits bytes too: a frame waits until the budget holds it", () => {
    const scheduler = newScheduler();
    scheduler.run(({ expectObservable }) => {
      const t = testSocket(scheduler, { rateLimit: { bytes: 100, policy: 'pause', scheduler } });
      const big = 'x'.repeat(100);
      t.inbound('(ab)', { a: big, b: big });
      expectObservable(t.socket.messages$).toBe('a 999ms b', { a: big, b: big });
    });
  });

  it("'close' closes with 1008 on the first frame over the budget", () => {
    const scheduler = newScheduler();
    scheduler.run(() => {
      const t = testSocket(scheduler, { rateLimit: { messages: 3, scheduler }, answerClose: false });
      // 3 at once, then 3 more a second later (refilled), then the 7th at that same moment is one too many.
      t.inbound('abc 997ms d');
      t.inbound('1s (efghi)');
      t.expectSent('1s e', { e: { close: 1008, reason: 'Rate limit exceeded' } });
    });
  });

  it('a frame within the budget after a quiet spell goes straight through', () => {
    const scheduler = newScheduler();
    scheduler.run(({ expectObservable }) => {
      const t = testSocket(scheduler, { rateLimit: { messages: 1, policy: 'pause', scheduler } });
      t.inbound('a 2s b');
      expectObservable(t.socket.messages$).toBe('a 2s b');
    });
  });

  it('delivers frames still held when the connection ends, and cancels the timer', () => {
    const scheduler = newScheduler();
    scheduler.run(({ expectObservable }) => {
      const t = testSocket(scheduler, { rateLimit: { messages: 1, policy: 'pause', scheduler } });
      t.inbound('(abc) 10ms #');
      expectObservable(t.socket.messages$).toBe('a 14ms (bc|)');
    });
  });

  it('validates the options when the socket is made', () => {
    expect(() => fakeSocket({ rateLimit: {} })).toThrow('Expected `rateLimit` to set `messages` or `bytes` (per second)');
    expect(() => fakeSocket({ rateLimit: { messages: 0 } })).toThrow(InvalidArgumentError);
    expect(() => fakeSocket({ rateLimit: { bytes: 2.5 } })).toThrow('Expected `rateLimit.bytes` to be an integer >= 1, got `2.5` (number)');
  });
});

describe('rate limit close policy', () => {
  it('cuts cleanly: nothing from the frame over the budget on reaches messages$, even while the peer ignores our close', () => {
    const scheduler = newScheduler();
    scheduler.run(({ expectObservable }) => {
      const t = testSocket(scheduler, { rateLimit: { messages: 2, scheduler }, answerClose: false });
      t.inbound('(abcde) 10ms (fgh) 10ms |');
      expectObservable(t.socket.messages$).toBe('(ab) 28ms |');
      t.expectSent('(c) 29ms |', { c: { close: 1008, reason: 'Rate limit exceeded' } });
      scheduler.schedule(() => expect(t.socket.stats).toMatchObject({ received: 8, discarded: 6 }), 31);
    });
  });
});

describe('control frames (pings and pongs)', () => {
  it('count against the rate limit: a ping flood under rateLimit close is closed with 1008', () => {
    const scheduler = newScheduler();
    scheduler.run(() => {
      const t = testSocket(scheduler, { rateLimit: { messages: 3, scheduler }, answerClose: false });
      t.inbound('a(pppp)', { a: 'a', p: { ping: true } });
      t.expectSent('-(c)', { c: { close: 1008, reason: 'Rate limit exceeded' } });
    });
  });

  it("count against the rate limit: with 'pause', a ping flood stops the socket reading until the budget refills", () => {
    const scheduler = newScheduler();
    scheduler.run(({ expectObservable }) => {
      const t = testSocket(scheduler, { rateLimit: { messages: 2, policy: 'pause', scheduler } });
      t.inbound('(ppp) b', { p: { ping: true }, b: 'b' });
      // Two pings fit; the third pauses reading for half a second; 'b' is read after that.
      expectObservable(t.socket.messages$).toBe('500ms b');
      scheduler.schedule(() => expect(t.ws.pongs).toHaveLength(3), 1);
    });
  });

  it('past 100 a second (burst 100), pongs too close the socket with 1008 "Too many pongs", and what follows is discarded', () => {
    const { socket, fake } = fakeSocket();
    const got: unknown[] = [];
    socket.messages$.subscribe((f) => got.push(f));
    for (let i = 0; i < 100; i++) fake.receivePong();
    fake.receive('still read');
    fake.receivePong();
    fake.receive('discarded');
    expect(fake.closeSent).toEqual({ code: 1008, reason: 'Too many pongs' });
    expect(got).toEqual(['still read']);
    expect(socket.stats).toMatchObject({ received: 2, discarded: 1 });
  });
});
