/**
 * Review of the browser client (src/client/browser.ts, browser-socket.ts,
 * core.ts) on a double of the page's WebSocket and of its events, as in
 * spec/client/browser.spec.ts. Tests named "was a defect:" pin a defect the
 * review proved (each failed before its fix); the others pin behaviour worth
 * keeping.
 */
import { config as rxjsConfig } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { connect } from '../../src/client/browser';
import { Page, PageSocket, pageClient } from '../support/page';
import { APP_PING, APP_PONG } from '../../src/constants';
import { FrameDroppedError, InvalidFrameError } from '../../src/errors';
import type { ClientStatus } from '../../src/client/core';
import type { Message } from '../../src/types';

let scheduler: TestScheduler;
beforeEach(() => {
  PageSocket.made = [];
  scheduler = new TestScheduler((a, b) => expect(a).toEqual(b));
});

const client = (options: Parameters<typeof connect>[1] = {}, url?: string) => pageClient(scheduler, options, url);

/** Timers the TestScheduler still holds. */
const pending = () => (scheduler as unknown as { actions: unknown[] }).actions.length;

describe('review: browser client, defects', () => {
  it('was a defect: next() on an open client throws InvalidFrameError instead of reporting it on errors$ (it never throws while queueing)', () => {
    const { c, last, errors } = client();
    c.next(42 as never); // queued path: reported, not thrown
    expect(errors.map((e) => e.constructor.name)).toEqual(['InvalidFrameError']);
    last().open();
    // "Sends a frame, or queues it while no connection is open; never throws (refusals go to errors$)."
    expect(() => c.next({ not: 'a frame' } as never)).not.toThrow();
    expect(errors).toHaveLength(2);
    expect(errors[1]).toBeInstanceOf(InvalidFrameError);
    expect(c.stats.refused).toBe(2);
    c.close();
  });

  it('was a defect: a frame still in the browser buffer when the connection drops is lost without a report, and later ones go out on the next connection', () => {
    scheduler.run(() => {
      const { c, last, errors } = client({ offline: { maxMessages: 10 } });
      c.messages$.subscribe({ error: () => {} });
      last().open();
      last().bufferedAmount = 100_000; // the network is slow: the browser's buffer fills
      c.next('1'); // handed to the browser, which keeps it in its buffer (and now says it is congested)
      expect(last().sent).toEqual(['1']);
      c.next('2'); // the client queues these
      c.next('3');
      last().end(1006); // the network drops: '1' never left the browser
      scheduler.flush();
      last().open();
      expect(last().sent).toEqual(['2', '3']); // '2' and '3' arrive; '1' is a silent hole before them
      // Something accepted and not delivered should at least be reported (as FrameDroppedError), as the offline queue does.
      expect(errors.some((e) => e instanceof FrameDroppedError)).toBe(true);
      c.close();
    });
  });

  it('was a defect: the page going hidden (pauseWhenHidden off) cuts the reconnect backoff short and dials at once', () => {
    scheduler.run(() => {
      const { c, page } = client({ reconnect: { initialDelay: 10_000, jitter: 'none' } });
      PageSocket.made[0]!.end(1006); // never opened: retry in 10 s
      expect(c.status).toMatchObject({ state: 'reconnecting', attempt: 1, delay: 10_000 });
      page.hidden = true;
      page.fire('visibilitychange'); // the user switched tabs away
      // Documented: attempts go at once when the network is back "and when the page becomes visible again" — not when it is hidden.
      expect(PageSocket.made).toHaveLength(1);
      c.terminate();
    });
  });

  it('was a defect: a SharedArrayBuffer frame queued offline makes the browser throw inside onopen: the error escapes to the global handler, the frame is lost unreported, and the client stops draining', async () => {
    const escaped: unknown[] = [];
    const previous = rxjsConfig.onUnhandledError;
    rxjsConfig.onUnhandledError = (err) => escaped.push(err); // what would reach window.onerror
    try {
      const { c, last, errors } = client();
      const writable: boolean[] = [];
      c.writable$.subscribe((w) => writable.push(w));
      c.next(new Uint8Array(new SharedArrayBuffer(4))); // accepted by invalidFrame (ArrayBuffer.isView); a browser's send() refuses shared memory
      c.next('after');
      last().open();
      c.next('later');
      const sent = [...last().sent];
      await new Promise((resolve) => setTimeout(resolve, 10)); // rxjs reports unhandled errors on a timer
      expect(escaped).toEqual([]);
      expect(errors.map((e) => e.constructor.name)).toContain('InvalidFrameError'); // refused, and said so
      // On main: 'after' and 'later' wait in the queue of an open, idle connection until it ends.
      expect(sent).toEqual(['after', 'later']);
      expect(writable[writable.length - 1]).toBe(true);
      c.close();
    } finally {
      rxjsConfig.onUnhandledError = previous;
    }
  });

  it("was a defect: the default time source is the wall clock: a clock stepped back (NTP, user) stops the heartbeat, so a silent server is never given up", () => {
    jest.useFakeTimers({ now: new Date('2030-01-01T12:00:00Z') });
    try {
      const page = new Page();
      PageSocket.made = [];
      // No scheduler: the browser default (setTimeout + Date.now).
      const c = connect('wss://api.example/ws', { WebSocket: PageSocket, environment: page, heartbeat: { interval: 1_000, timeout: 500 }, reconnect: false });
      c.messages$.subscribe({ error: () => {} });
      PageSocket.made[0]!.open();
      jest.advanceTimersByTime(900);
      jest.setSystemTime(Date.now() - 3_600_000); // the wall clock steps back an hour
      jest.advanceTimersByTime(5_000); // the server says nothing for 5 s
      expect(PageSocket.made[0]!.sent).toContain(APP_PING);
      expect(c.closeInfo?.reason).toBe('Heartbeat timeout');
      c.terminate();
    } finally {
      jest.useRealTimers();
    }
  });
});

describe('review: browser client, behaviour pinned', () => {
  it('frames queued before the open and those sent from a status$ "open" subscriber go out in order', () => {
    const { c, last } = client();
    c.status$.subscribe((s) => s.state === 'open' && c.next('from status'));
    c.next('q1');
    c.next('q2');
    last().open();
    c.next('later');
    expect(last().sent).toEqual(['q1', 'q2', 'from status', 'later']);
    c.close();
  });

  it('offline queue keeps order and sends nothing twice across several failed attempts', () => {
    scheduler.run(() => {
      const { c, last, errors } = client();
      c.next('a');
      last().end(1006);
      c.next('b');
      scheduler.flush();
      last().end(1006);
      c.next('c');
      scheduler.flush();
      last().open();
      expect(last().sent).toEqual(['a', 'b', 'c']);
      expect(PageSocket.made.flatMap((s) => s.sent)).toEqual(['a', 'b', 'c']);
      expect(errors).toEqual([]);
      c.close();
    });
  });

  it('close before open: the handshake finishes, queued frames go out, then the close; nothing left scheduled, listeners released', () => {
    scheduler.run(() => {
      const { c, page, last } = client({ heartbeat: { interval: 100, timeout: 50 } });
      c.next('q');
      c.close(4000, 'bye');
      expect(c.state).toBe('closing');
      last().open();
      expect(last().sent).toEqual(['q']);
      expect(last().closed).toEqual({ code: 4000, reason: 'bye' });
      last().end(4000, 'bye');
      expect(c.closeInfo).toMatchObject({ code: 4000, reason: 'bye' });
      expect(pending()).toBe(0);
      expect(page.count).toBe(0);
    });
  });

  it('close codes: 1000 and 3000–4999 pass; 1001, 1011, 2999, 5000 throw without changing state', () => {
    const { c, last } = client();
    last().open();
    for (const code of [1001, 1005, 1006, 1011, 2999, 5000]) expect(() => c.close(code)).toThrow(/1000 or 3000–4999|close code/);
    expect(c.state).toBe('open');
    c.close(4999);
    expect(last().closed).toEqual({ code: 4999, reason: '' });
  });

  it('heartbeat timers and page listeners are released however the client ends (timeout given up, terminate, close between connections)', () => {
    scheduler.run(() => {
      const a = client({ heartbeat: { interval: 100, timeout: 50 }, reconnect: false });
      a.c.messages$.subscribe({ error: () => {} });
      a.last().open();
      scheduler.flush(); // pings, then gives up
      expect(a.c.closeInfo?.reason).toBe('Heartbeat timeout');
      expect(a.page.count).toBe(0);

      const b = client({ heartbeat: { interval: 100, timeout: 50 } });
      b.last().open();
      b.last().bufferedAmount = 100_000;
      b.c.next('x'); // congested: the poll timer runs too
      b.c.terminate();
      expect(b.page.count).toBe(0);

      const d = client({ heartbeat: { interval: 100, timeout: 50 } });
      d.last().end(1006); // between connections
      d.c.close();
      expect(d.page.count).toBe(0);
      expect(pending()).toBe(0);
    });
  });

  it('maxAttempts ends a storm of connections that open and close at once (minUptime not reached); a long uptime resets the count', () => {
    scheduler.run(() => {
      const { c, last } = client({ reconnect: { initialDelay: 10, jitter: 'none', maxAttempts: 2, minUptime: 1_000 } });
      const statuses: ClientStatus[] = [];
      c.status$.subscribe((s) => statuses.push(s));
      c.messages$.subscribe({ error: () => {} });
      last().open();
      scheduler.schedule(() => last().end(1011), 2_000); // worked: next outage from attempt 1
      scheduler.schedule(() => last().open(), 2_100);
      scheduler.schedule(() => last().end(1011), 2_101);
      scheduler.schedule(() => last().open(), 2_200);
      scheduler.schedule(() => last().end(1011), 2_201);
      scheduler.flush();
      expect(statuses.filter((s) => s.state === 'reconnecting').map((s) => s.attempt)).toEqual([1, 2]);
      expect(c.status.state).toBe('closed');
      expect(PageSocket.made).toHaveLength(3);
    });
  });

  it('close() from a status$ "reconnecting" subscriber cancels the retry; the status ends on closed', () => {
    scheduler.run(() => {
      const { c, last } = client();
      const second: string[] = [];
      c.status$.subscribe((s) => s.state === 'reconnecting' && c.close());
      c.status$.subscribe((s) => second.push(s.state));
      last().end(1006);
      scheduler.flush();
      expect(PageSocket.made).toHaveLength(1);
      expect(c.status.state).toBe('closed');
      expect(second[second.length - 1]).toBe('closed');
      expect(pending()).toBe(0);
    });
  });

  it('terminate() and next() from inside a messages$ callback: nothing delivered after, nothing thrown', () => {
    const { c, last, errors } = client();
    const got: Message[] = [];
    c.messages$.subscribe({
      next: (m) => {
        got.push(m);
        c.next('echo');
        if (m === 'stop') c.terminate();
      },
      error: () => {},
    });
    last().open();
    last().message('a');
    last().message('stop');
    last().message('late');
    expect(got).toEqual(['a', 'stop']);
    expect(last().sent).toEqual(['echo', 'echo']);
    expect(c.closeInfo).toMatchObject({ code: 1006 });
    expect(errors).toEqual([]);
  });

  it('the pong is kept from the app; a heartbeat ping is not counted as an app frame', () => {
    scheduler.run(() => {
      const { c, last } = client({ heartbeat: { interval: 100, timeout: 50 } });
      const got: Message[] = [];
      c.messages$.subscribe((m) => got.push(m));
      last().open();
      scheduler.schedule(() => last().message(APP_PONG), 110);
      scheduler.schedule(() => c.close(), 150);
      scheduler.flush();
      expect(got).toEqual([]);
      expect(c.stats.sent).toBe(0);
      expect(last().sent).toEqual([APP_PING]);
      last().end(1000);
    });
  });
});

describe('review: example pages', () => {
  it('was a defect: pages() writes the WebSocket path into the page with String.replace, so "$&", "$`", "$\'" in --path are replacement patterns, not text', () => {
    // examples/cli.ts is loaded here from the sources: __dirname is examples/, whose echo/index.html template has the meta tag.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { pages } = require('../../examples/cli') as typeof import('../../examples/cli');
    const path = "/ws$'"; // '$' and "'" are legal in a URL path (RFC 3986 sub-delims); "'" needs no escape in a "-quoted attribute
    const handler = pages('echo', path);
    let body = '';
    const res = { writeHead: () => res, end: (chunk?: Buffer) => void (body = chunk?.toString('utf8') ?? '') };
    handler({ url: '/', method: 'GET' } as never, res as never);
    // The page's script reads this meta tag for its default socket URL.
    expect(body).toContain(`<meta name="rxjs-ws-path" content="${path}">`);
  });

  it('pages insert received and typed text as text, never as HTML (static check)', () => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { readFileSync } = require('node:fs') as typeof import('node:fs');
    for (const file of ['examples/page.ts', 'examples/echo/page.ts', 'examples/chat/page.ts']) {
      const source = readFileSync(`${__dirname}/../../${file}`, 'utf8');
      expect(source).not.toMatch(/innerHTML|outerHTML|insertAdjacentHTML|document\.write|\.html\(|new Function|eval\(/);
    }
  });
});
