/**
 * The browser client, on a double of the page's WebSocket and of its events,
 * in virtual time: the same surface as in Node, and what browsers make
 * different (no backpressure event, no protocol pings, close codes, no reason
 * for a failed handshake, online/offline).
 */
import { TestScheduler } from 'rxjs/testing';
import { connect } from '../../src/client/browser';
import { PageSocket, pageClient } from '../support/page';
import { APP_PING, APP_PONG } from '../../src/constants';
import { HandshakeError, HeartbeatTimeoutError, InvalidArgumentError, type RxjsWsError } from '../../src/errors';
import type { ClientStatus } from '../../src/client/core';
import type { CloseInfo, Message } from '../../src/types';
import { handshakeFrame, parseHandshake, RESUME_PROTOCOL } from '../../src/resume/link';

let scheduler: TestScheduler;
beforeEach(() => {
  PageSocket.made = [];
  scheduler = new TestScheduler((a, b) => expect(a).toEqual(b));
});

const client = (options: Parameters<typeof connect>[1] = {}, url?: string) => pageClient(scheduler, options, url);

describe('connect() in a browser', () => {
  it('resolves a relative URL against the page, and http(s) becomes ws(s)', () => {
    client({}, '/ws');
    expect(PageSocket.made[0]!.url).toBe('wss://app.example/ws');
    client({}, 'http://localhost:8080/ws?room=1');
    expect(PageSocket.made[1]!.url).toBe('ws://localhost:8080/ws?room=1');
    expect(() => client({}, 'ftp://x')).toThrow(InvalidArgumentError);
  });

  it('refuses a scheduler that is not one, whatever the reconnect options', () => {
    for (const reconnect of [false, { scheduler: undefined }, {}] as const) {
      expect(() => client({ scheduler: {} as never, reconnect })).toThrow(new InvalidArgumentError('Expected `scheduler` to be a SchedulerLike with now() and schedule(), got `{}` (object)'));
    }
  });

  it('delivers text as string and binary as Uint8Array, and sends what it is given', () => {
    const { c, last } = client();
    const got: Message[] = [];
    c.messages$.subscribe((m) => got.push(m));
    c.next('queued before the open');
    last().open();
    last().message('hi');
    last().message(new Uint8Array([1, 2, 3]).buffer);
    c.next(new Uint8Array([9]));
    expect(got).toEqual(['hi', new Uint8Array([1, 2, 3])]);
    expect(got[1]).toBeInstanceOf(Uint8Array);
    expect(last().binaryType).toBe('arraybuffer');
    expect(last().sent).toEqual(['queued before the open', new Uint8Array([9])]);
    c.close();
  });

  it('holds messages nobody reads yet (a browser cannot stop reading), dropping the oldest past inboundHold, reported', () => {
    const { c, last } = client({ inboundHold: 2 });
    const errors: RxjsWsError[] = [];
    c.errors$.subscribe((e) => errors.push(e));
    last().open();
    for (const m of ['a', 'b', 'c']) last().message(m);
    const got: Message[] = [];
    c.messages$.subscribe((m) => got.push(m));
    expect(got).toEqual(['b', 'c']);
    expect(errors.map((e) => e.code)).toEqual(['RXJS_WS_FRAME_DROPPED']);
    expect(c.stats.discarded).toBe(1);
    c.close();
  });

  it("queues while the browser's buffer is full (writable$ false), and sends in order when it empties", () => {
    scheduler.run(() => {
      const { c, last } = client({ offline: { maxMessages: 10 } });
      const writable: boolean[] = [];
      c.writable$.subscribe((w) => writable.push(w));
      last().open();
      last().bufferedAmount = 100_000;
      c.next('1'); // goes out, and now the buffer is over its mark
      c.next('2');
      c.next('3');
      expect(last().sent).toEqual(['1']);
      scheduler.schedule(() => (last().bufferedAmount = 0), 40);
      scheduler.flush();
      expect(last().sent).toEqual(['1', '2', '3']);
      expect(writable).toEqual([false, true, false, true]);
      c.close();
    });
  });

  it('closes with 1000 on the last unsubscribe, refuses codes a browser may not send, and error() sends 1000 "Client error"', () => {
    const { c, last } = client();
    last().open();
    expect(() => c.close(1001)).toThrow('Expected `code` to be 1000 or 3000–4999 (all a browser may send), got 1001');
    const sub = c.messages$.subscribe();
    sub.unsubscribe();
    expect(last().closed).toEqual({ code: 1000, reason: '' });
    const other = client().c;
    PageSocket.made[1]!.open();
    other.error(new Error('x'));
    expect(PageSocket.made[1]!.closed).toEqual({ code: 1000, reason: 'Client error' });
  });

  it('reports a handshake the browser failed as HandshakeError with status 0 (it does not say why), and retries it', () => {
    scheduler.run(() => {
      const { c, last } = client();
      const statuses: ClientStatus[] = [];
      c.status$.subscribe((s) => statuses.push(s));
      last().end(1006);
      expect(statuses[1]).toMatchObject({ state: 'reconnecting', attempt: 1, error: expect.any(HandshakeError) });
      expect((statuses[1]!.error as HandshakeError).status).toBe(0);
      scheduler.flush();
      expect(PageSocket.made).toHaveLength(2);
      c.terminate();
    });
  });

  it('waits while offline, reconnects at once when the page is back online, and lets go of the page at the end', () => {
    scheduler.run(() => {
      const { c, page, last } = client();
      last().open();
      page.onLine = false;
      page.fire('offline');
      last().end(1006);
      scheduler.schedule(() => expect(PageSocket.made).toHaveLength(1), 500); // the retry fell due, and waits
      scheduler.schedule(() => {
        page.onLine = true;
        page.fire('online');
        expect(PageSocket.made).toHaveLength(2);
      }, 600);
      scheduler.flush();
      expect(page.count).toBe(2); // online and offline: visibility only matters with pauseWhenHidden
      c.close();
      last().end(1000);
      expect(page.count).toBe(0);
    });
  });

  it('with a heartbeat: pings after interval of quiet, keeps the pong from the app, and gives a silent server up', () => {
    scheduler.run(({ expectObservable }) => {
      const { c, last } = client({ heartbeat: { interval: 100, timeout: 50 }, reconnect: false });
      const got: Message[] = [];
      c.messages$.subscribe({ next: (m) => got.push(m), error: () => {} });
      last().open();
      scheduler.schedule(() => last().message(APP_PONG), 120); // answers the first ping
      scheduler.schedule(() => last().message('news'), 150);
      const closes: CloseInfo[] = [];
      c.close$.subscribe((info) => closes.push(info));
      scheduler.flush();
      // Pings at 100 and 250 (quiet since 150); the second is never answered: given up at 300.
      expect(last().sent).toEqual([APP_PING, APP_PING]);
      expect(got).toEqual(['news']);
      expect(closes).toEqual([{ code: 1006, reason: 'Heartbeat timeout', wasClean: false, error: expect.any(HeartbeatTimeoutError) }]);
      expectObservable(c.close$).toBe('300ms (c|)', { c: closes[0] });
    });
  });
});

describe('a browser client with resume', () => {
  /** `ws` opens, negotiated as `protocol` (a browser says which one the server selected). */
  const openAs = (ws: PageSocket, protocol: string) => (Object.assign(ws, { protocol }), ws.open());
  const offersResume = (ws: PageSocket) => [ws.protocols].flat().includes(RESUME_PROTOCOL);

  it('with no session yet, a connection that fails before opening is tried again at once without resume (a server may select no subprotocol)', () => {
    scheduler.run(() => {
      const { c, last, errors } = client({ resume: true });
      const opens: ClientStatus['session'][] = [];
      c.status$.subscribe((s) => s.state === 'open' && opens.push(s.session));
      last().end(1006);
      expect(PageSocket.made.map(offersResume)).toEqual([true, false]);
      openAs(last(), '');
      expect(opens).toEqual([{ state: 'unsupported' }]);
      expect(errors).toEqual([]);
      c.close();
    });
  });

  it('while its session lives, a connection that fails before opening does not end it: the next offers resume again, and resumes it, nothing lost', () => {
    scheduler.run(() => {
      const { c, last, errors } = client({ resume: true });
      const opens: ClientStatus['session'][] = [];
      c.status$.subscribe((s) => s.state === 'open' && opens.push(s.session));
      openAs(last(), RESUME_PROTOCOL);
      last().message(handshakeFrame('W', { s: 'sess', r: 0, w: 1 << 20, resumed: false }));
      c.next('c1');
      last().end(1006); // c1 was never acknowledged
      scheduler.flush(); // the retry (100 ms)
      expect(PageSocket.made).toHaveLength(2);
      last().end(1006); // a failure before opening: a network blip as well as a server that selects no subprotocol
      scheduler.flush();
      expect(PageSocket.made.map(offersResume)).toEqual([true, true, true]);
      const third = last();
      openAs(third, RESUME_PROTOCOL);
      expect(parseHandshake('H', third.sent[0] as string)).toEqual({ s: 'sess', r: 0, w: 1 << 20 });
      third.message(handshakeFrame('W', { s: 'sess', r: 0, w: 1 << 20, resumed: true }));
      expect(third.sent.slice(1)).toEqual(['c1']);
      expect(opens).toEqual([{ state: 'new' }, { state: 'resumed' }]);
      expect(errors).toEqual([]);
      c.terminate();
    });
  });
});
