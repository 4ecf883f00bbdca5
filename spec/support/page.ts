/**
 * Doubles of a page's WebSocket and of the page (its online, offline and
 * visibility events) for the browser client's specs, driven by the test.
 */
import type { SchedulerLike } from 'rxjs';
import { connect, type BrowserEnvironment, type BrowserWebSocket } from '../../src/client/browser';
import type { RxjsWsError } from '../../src/errors';

/** A page's WebSocket, driven by the test, with a browser's rules for send() and close(). */
export class PageSocket implements BrowserWebSocket {
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
    if (this.readyState === 0) throw new Error('InvalidStateError');
    // A browser takes (and discards) what is sent once closing, adding it to bufferedAmount.
    if (this.readyState !== 1) return;
    // WebIDL: send(ArrayBuffer / ArrayBufferView) is not [AllowShared].
    const buffer = ArrayBuffer.isView(data) ? data.buffer : data;
    if (typeof SharedArrayBuffer !== 'undefined' && buffer instanceof SharedArrayBuffer) {
      throw new TypeError("Failed to execute 'send' on 'WebSocket': The provided ArrayBufferView value must not be shared.");
    }
    this.sent.push(data);
  }

  close(code?: number, reason?: string): void {
    if (code !== undefined && code !== 1000 && (code < 3000 || code > 4999)) throw new Error('InvalidAccessError');
    this.closed = { code, reason };
    this.readyState = 2;
  }

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

export class Page implements BrowserEnvironment {
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

/** A browser client on a fresh page and `PageSocket`s, retrying after 100 ms; `errors` collects its errors$. */
export function pageClient(scheduler: SchedulerLike, options: Parameters<typeof connect>[1] = {}, url = 'wss://api.example/ws') {
  const page = new Page();
  const c = connect(url, { WebSocket: PageSocket, environment: page, scheduler, reconnect: { initialDelay: 100, jitter: 'none' }, ...options });
  const last = () => PageSocket.made[PageSocket.made.length - 1]!;
  const errors: RxjsWsError[] = [];
  c.errors$.subscribe((e) => errors.push(e));
  return { c, page, last, errors };
}
