/**
 * The browser client, on a double of the page's WebSocket and of its events,
 * in virtual time: the same surface as in Node, and what browsers make
 * different (no backpressure event, no protocol pings, close codes, no reason
 * for a failed handshake, online/offline).
 */
import { TestScheduler } from 'rxjs/testing';
import { connect, type BrowserEnvironment, type BrowserWebSocket } from '../../src/client/browser';
import { APP_PING, APP_PONG } from '../../src/constants';
import { HandshakeError, HeartbeatTimeoutError, InvalidArgumentError, type RxwsError } from '../../src/errors';
import type { ClientStatus } from '../../src/client/core';
import type { CloseInfo, Message } from '../../src/types';

/** A page's WebSocket, driven by the test. */
class PageSocket implements BrowserWebSocket {
  static made: PageSocket[] = [];
  readyState = 0;
  bufferedAmount = 0;
  binaryType = 'blob';
  onopen: ((event: unknown) => void) | null = null;
  onmessage: ((event: { data: unknown }) => void) | null = null;
  onclose: ((event: { code: number; reason: string; wasClean: boolean }) => void) | null = null;
  onerror: ((event: unknown) => void) | null = null;
  readonly sent: unknown[] = [];
  closed: { code?: number; reason?: string } | null = null;

  constructor(
    readonly url: string,
    readonly protocols?: string | string[],
  ) {
    PageSocket.made.push(this);
  }

  send(data: unknown): void {
    if (this.readyState !== 1) throw new Error('InvalidStateError');
    this.sent.push(data);
  }

  close(code?: number, reason?: string): void {
    if (code !== undefined && code !== 1000 && (code < 3000 || code > 4999)) throw new Error('InvalidAccessError');
    this.closed = { code, reason };
    this.readyState = 2;
  }

  // driven by the test
  open(): void {
    this.readyState = 1;
    this.onopen?.({});
  }
  message(data: unknown): void {
    this.onmessage?.({ data });
  }
  end(code: number, reason = '', wasClean = code !== 1006): void {
    this.readyState = 3;
    this.onclose?.({ code, reason, wasClean });
  }
}

class Page implements BrowserEnvironment {
  onLine = true;
  hidden = false;
  href = 'https://app.example/chat/';
  readonly listeners = new Map<string, Set<() => void>>();
  addEventListener(type: string, listener: () => void): void {
    (this.listeners.get(type) ?? this.listeners.set(type, new Set()).get(type)!).add(listener);
  }
  removeEventListener(type: string, listener: () => void): void {
    this.listeners.get(type)?.delete(listener);
  }
  fire(type: string): void {
    for (const l of this.listeners.get(type) ?? []) l();
  }
  get count(): number {
    return [...this.listeners.values()].reduce((n, s) => n + s.size, 0);
  }
}

let scheduler: TestScheduler;
beforeEach(() => {
  PageSocket.made = [];
  scheduler = new TestScheduler((a, b) => expect(a).toEqual(b));
});

function client(options: Parameters<typeof connect>[1] = {}, url = 'wss://api.example/ws') {
  const page = new Page();
  const c = connect(url, { WebSocket: PageSocket, environment: page, scheduler, reconnect: { initialDelay: 100, jitter: 'none' }, ...options });
  const last = () => PageSocket.made[PageSocket.made.length - 1]!;
  return { c, page, last };
}

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
    const errors: RxwsError[] = [];
    c.errors$.subscribe((e) => errors.push(e));
    last().open();
    for (const m of ['a', 'b', 'c']) last().message(m);
    const got: Message[] = [];
    c.messages$.subscribe((m) => got.push(m));
    expect(got).toEqual(['b', 'c']);
    expect(errors.map((e) => e.code)).toEqual(['RXWS_FRAME_DROPPED']);
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
      expect(page.count).toBe(3);
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
