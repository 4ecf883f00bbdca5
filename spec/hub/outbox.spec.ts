/**
 * The Redis adapter's outbox against a scripted broker, in virtual time: what
 * an answer, a refusal, a lost connection and close do to what waits.
 */
import { TestScheduler } from 'rxjs/testing';
import { Outbox, type OutboxOptions, type Reply } from '../../src/hub/outbox';

interface Sent {
  readonly channel: string;
  readonly at: number;
  readonly reply: Reply;
}

/** An outbox whose broker answers only when the test says so; `sent` is everything transmitted, in order. */
function scripted(scheduler: TestScheduler, options: Partial<OutboxOptions> = {}) {
  const sent: Sent[] = [];
  const refused: string[] = [];
  const outbox = new Outbox({
    limits: { maxMessages: 100, maxBytes: 1 << 20 },
    retries: 3,
    retryDelay: (retry) => 10 * retry,
    transmit: (channel, _data, reply) => sent.push({ channel, at: scheduler.now(), reply }),
    refused: (channel) => refused.push(channel),
    scheduler,
    ...options,
  });
  const push = (...channels: string[]) => channels.forEach((channel) => outbox.push(channel, Buffer.from(channel)));
  /** The last transmission of `channel`. */
  const last = (channel: string) => sent.filter((s) => s.channel === channel).at(-1)!.reply;
  const busy = () => new Error('BUSY Redis is busy running a script');
  return { outbox, sent, refused, push, last, busy, channels: () => sent.map((s) => s.channel) };
}

describe('Outbox', () => {
  let scheduler: TestScheduler;
  beforeEach(() => (scheduler = new TestScheduler((actual, expected) => expect(actual).toEqual(expected))));

  it('gives up a permanent refusal at once, and lets each acknowledged envelope go at once', () => {
    scheduler.run(() => {
      const { outbox, push, last } = scripted(scheduler);
      const state = () => ({ length: outbox.length, bytes: outbox.bytes, acked: outbox.acked, dropped: outbox.dropped, refused: outbox.refused });
      outbox.online();
      push('a', 'bb', 'ccc');
      last('a').refuse(new Error('NOPERM no permissions'), false);
      expect(state()).toEqual({ length: 2, bytes: 5, acked: 0, dropped: 1, refused: 1 });
      last('bb').ack();
      expect(state()).toEqual({ length: 1, bytes: 3, acked: 1, dropped: 1, refused: 1 });
      last('ccc').ack();
      expect(state()).toEqual({ length: 0, bytes: 0, acked: 2, dropped: 1, refused: 1 });
    });
  });

  it('does not hold what follows a permanent refusal', () => {
    scheduler.run(() => {
      const { outbox, push, last, channels, refused } = scripted(scheduler);
      outbox.online();
      push('a');
      last('a').refuse(new Error('NOPERM no permissions'), false);
      push('b');
      expect(channels()).toEqual(['a', 'b']);
      expect(refused).toEqual(['a']);
    });
  });

  it('after a transient refusal, holds what follows until every answer is in, then sends the refused ones again, oldest first', () => {
    scheduler.run(({ flush }) => {
      const { outbox, sent, push, last, busy } = scripted(scheduler);
      outbox.online();
      push('a', 'b');
      last('a').refuse(busy(), true);
      push('c'); // waits behind a
      last('b').refuse(busy(), true);
      expect(sent.map((s) => s.channel)).toEqual(['a', 'b']);
      flush();
      // The delay of a's first retry, then a, b and c in publish order.
      expect(sent.map((s) => [s.channel, s.at])).toEqual([['a', 0], ['b', 0], ['a', 10], ['b', 10], ['c', 10]]);
      ['a', 'b', 'c'].forEach((c) => last(c).ack());
      expect({ length: outbox.length, acked: outbox.acked, dropped: outbox.dropped }).toEqual({ length: 0, acked: 3, dropped: 0 });
    });
  });

  it('gives up a transiently refused envelope that a later one overtook: receivers would drop it as already seen', () => {
    scheduler.run(({ flush }) => {
      const { outbox, push, last, busy, channels, refused } = scripted(scheduler);
      outbox.online();
      push('a', 'b');
      last('a').refuse(busy(), true);
      last('b').ack(); // Redis took b after refusing a
      flush();
      expect(channels()).toEqual(['a', 'b']); // a is not sent again after b
      expect({ length: outbox.length, dropped: outbox.dropped, refused: outbox.refused }).toEqual({ length: 0, dropped: 1, refused: 1 });
      expect(refused).toEqual(['a']);
      push('c');
      expect(channels()).toEqual(['a', 'b', 'c']); // not held any more
    });
  });

  it('gives up after `retries` transient refusals, waiting longer each time', () => {
    scheduler.run(({ flush }) => {
      const { outbox, sent, push, busy } = scripted(scheduler, { retries: 2 });
      outbox.online();
      push('a');
      for (let i = 0; i < 3; i++) {
        sent.at(-1)!.reply.refuse(busy(), true);
        flush();
      }
      expect(sent.map((s) => s.at)).toEqual([0, 10, 30]);
      expect({ length: outbox.length, dropped: outbox.dropped, refused: outbox.refused }).toEqual({ length: 0, dropped: 1, refused: 1 });
    });
  });

  it('counts an envelope whose answer went elsewhere (a timed-out command) as taken once a later one is acknowledged', () => {
    scheduler.run(() => {
      const { outbox, push, last } = scripted(scheduler);
      outbox.online();
      push('a', 'b'); // a's promise timed out: no answer comes to us
      last('b').ack();
      expect({ length: outbox.length, acked: outbox.acked, dropped: outbox.dropped }).toEqual({ length: 0, acked: 2, dropped: 0 });
    });
  });

  it('while offline or held, keeps what waits within the bounds; sends it again in order once back, presence excepted', () => {
    scheduler.run(({ flush }) => {
      const { outbox, push, last, busy, channels } = scripted(scheduler, { limits: { maxMessages: 2, maxBytes: 1 << 20 } });
      outbox.online();
      push('a', 'b');
      outbox.push('presence', Buffer.alloc(1), true);
      last('a').ack();
      outbox.offline(); // b and the presence unanswered
      last('b').refuse(busy(), true); // an answer of the old connection: b goes out again anyway
      push('c', 'd'); // over the bound: b goes
      expect({ length: outbox.length, dropped: outbox.dropped }).toEqual({ length: 2, dropped: 1 });
      outbox.online();
      expect(channels()).toEqual(['a', 'b', 'presence', 'c', 'd']);

      last('c').refuse(busy(), true);
      last('d').refuse(busy(), true);
      push('e'); // held: bounded as offline, so c goes
      expect({ length: outbox.length, dropped: outbox.dropped }).toEqual({ length: 2, dropped: 2 });
      flush();
      expect(channels().slice(5)).toEqual(['d', 'e']);
    });
  });

  it('at close, counts an answer that still comes as acknowledged and only the rest as dropped', () => {
    scheduler.run(() => {
      const { outbox, push, last, busy } = scripted(scheduler);
      outbox.online();
      push('a', 'b', 'c');
      last('a').refuse(busy(), true); // b and c held behind a
      push('d');
      outbox.stop(); // a and d have not gone out (again): dropped
      expect({ length: outbox.length, dropped: outbox.dropped }).toEqual({ length: 2, dropped: 2 });
      last('b').ack();
      last('c').refuse(busy(), true); // no retry once stopped
      outbox.push('e', Buffer.from('e'));
      outbox.clear();
      expect({ length: outbox.length, acked: outbox.acked, dropped: outbox.dropped, refused: outbox.refused }).toEqual({
        length: 0,
        acked: 1,
        dropped: 4,
        refused: 1,
      });
    });
  });

  it('drained() resolves when the last envelope is answered, or after the timeout', async () => {
    const { outbox, push, last } = scripted(new TestScheduler(() => {}), {});
    outbox.online();
    push('a');
    let done = false;
    const drained = outbox.drained(60_000).then(() => (done = true));
    await Promise.resolve();
    expect(done).toBe(false);
    last('a').refuse(new Error('NOPERM'), false); // given up: nothing waits any more
    await drained;
    expect(done).toBe(true);
  });
});

describe('Outbox, with a broker that is connected but does not answer', () => {
  let scheduler: TestScheduler;
  beforeEach(() => (scheduler = new TestScheduler((actual, expected) => expect(actual).toEqual(expected))));

  /** A window of 2 envelopes (or 4 bytes) on their way, and at most 5 envelopes (or 8 bytes) in all. */
  const stalled = (options: Partial<OutboxOptions> = {}) => {
    const overflows: number[] = [];
    const box = scripted(scheduler, {
      window: { maxMessages: 2, maxBytes: 4 },
      limits: { maxMessages: 5, maxBytes: 8 },
      overflow: (dropped) => overflows.push(dropped),
      ...options,
    });
    const state = () => ({ length: box.outbox.length, inFlight: box.outbox.inFlight, dropped: box.outbox.dropped });
    return { ...box, overflows, state };
  };

  it('sends no more than the window; what waits beyond it is bounded, the oldest not sent dropped, reported once', () => {
    scheduler.run(() => {
      const { outbox, push, channels, overflows, state } = stalled();
      outbox.online();
      push('a', 'b', 'c', 'd', 'e');
      expect(channels()).toEqual(['a', 'b']); // the window is full: c, d and e wait
      expect(state()).toEqual({ length: 5, inFlight: 2, dropped: 0 });
      push('f', 'g', 'h');
      // Past 5 in all, the oldest waiting (c, d, e) went; a and b are on their way, and stay.
      expect(state()).toEqual({ length: 5, inFlight: 2, dropped: 3 });
      expect(overflows).toEqual([1]); // reported once, when the first went
      for (let i = 0; i < 1000; i++) push('x');
      expect(state()).toEqual({ length: 5, inFlight: 2, dropped: 1003 });
      expect(overflows).toEqual([1]);
      expect(channels()).toEqual(['a', 'b']); // nothing dropped was ever sent
    });
  });

  it('bounds bytes as well: the window by the bytes on their way, the outbox by all its bytes', () => {
    scheduler.run(() => {
      const { outbox, push, channels, state } = stalled();
      outbox.online();
      push('aaa', 'bb'); // 3 bytes on their way: 2 more would pass the window's 4
      expect(channels()).toEqual(['aaa']);
      push('c', 'ddd'); // 9 bytes in all: bb (the oldest waiting) goes
      expect(state()).toEqual({ length: 3, inFlight: 1, dropped: 1 });
      expect(outbox.bytes).toBe(7);
    });
  });

  it('lets one envelope bigger than the window go alone', () => {
    scheduler.run(() => {
      const { outbox, push, last, channels } = stalled({ limits: { maxMessages: 5, maxBytes: 100 } });
      outbox.online();
      push('longer than four', 'a');
      expect(channels()).toEqual(['longer than four']);
      last('longer than four').ack();
      expect(channels()).toEqual(['longer than four', 'a']);
    });
  });

  it('sends what waits, in order, as answers make room; reports again only after it was empty', () => {
    scheduler.run(() => {
      const { outbox, push, last, channels, overflows, state } = stalled();
      outbox.online();
      push('a', 'b', 'c', 'd', 'e', 'f'); // c goes
      last('a').ack();
      expect(channels()).toEqual(['a', 'b', 'd']);
      last('b').ack();
      last('d').ack();
      expect(channels()).toEqual(['a', 'b', 'd', 'e', 'f']);
      push('g', 'h', 'i', 'j'); // 6 in all: still the same backlog, no new report
      expect(overflows).toEqual([1]);
      for (const c of ['e', 'f', 'h', 'i', 'j']) last(c).ack();
      expect(state()).toEqual({ length: 0, inFlight: 0, dropped: 2 });
      expect(channels()).toEqual(['a', 'b', 'd', 'e', 'f', 'h', 'i', 'j']);
      push('k', 'l', 'm', 'n', 'o', 'p'); // a new backlog overflows: reported again
      expect(overflows).toEqual([1, 3]);
    });
  });

  it('after a transient refusal sends the refused envelopes first, then what waited, within the window', () => {
    scheduler.run(({ flush }) => {
      const { outbox, push, last, busy, channels } = stalled({ limits: { maxMessages: 10, maxBytes: 100 } });
      outbox.online();
      push('a', 'b', 'c', 'd');
      last('a').refuse(busy(), true);
      last('b').refuse(busy(), true);
      push('e');
      flush();
      expect(channels()).toEqual(['a', 'b', 'a', 'b']);
      last('a').ack();
      last('b').ack();
      expect(channels()).toEqual(['a', 'b', 'a', 'b', 'c', 'd']);
      last('c').ack();
      expect(channels()).toEqual(['a', 'b', 'a', 'b', 'c', 'd', 'e']);
    });
  });

  it('when the connection drops, keeps what was on its way with what waited (within the bound) and sends it again in order', () => {
    scheduler.run(() => {
      const { outbox, push, channels, state } = stalled();
      outbox.online();
      push('a', 'b', 'c', 'd');
      outbox.offline();
      push('e', 'f'); // 6: a, the oldest, goes now that nothing is on its way
      expect(state()).toEqual({ length: 5, inFlight: 0, dropped: 1 });
      outbox.online();
      expect(channels()).toEqual(['a', 'b', 'b', 'c']);
    });
  });

  it('at stop(), sends what only waited for the window (its answers count), and drops nothing the broker may still take', () => {
    scheduler.run(() => {
      const { outbox, push, last, channels, state } = stalled();
      outbox.online();
      push('a', 'b', 'c', 'd');
      outbox.stop();
      expect(channels()).toEqual(['a', 'b', 'c', 'd']);
      expect(state()).toEqual({ length: 4, inFlight: 4, dropped: 0 });
      for (const c of ['a', 'b', 'c', 'd']) last(c).ack();
      expect({ length: outbox.length, acked: outbox.acked, dropped: outbox.dropped }).toEqual({ length: 0, acked: 4, dropped: 0 });
    });
  });
});
