import { BehaviorSubject, Observable, Subject, type SchedulerAction, type SchedulerLike, type Subscription } from 'rxjs';
import { CloseCode, type SocketState } from '../constants';
import { HandshakeError, InvalidArgumentError, SocketClosedError, type HeartbeatTimeoutError, type RxwsError } from '../errors';
import { HeartbeatState } from '../operators/heartbeat';
import { invalidFrame } from '../socket/frames';
import type { CloseInfo, Message, Outbound, SocketStats } from '../types';
import { validateClose } from '../validation';
import type { SocketLike } from './core';

/** The part of a browser's `WebSocket` a connection uses (tests pass a double). */
export interface BrowserWebSocket {
  readonly readyState: number;
  readonly bufferedAmount: number;
  binaryType: string;
  onopen: ((event: unknown) => void) | null;
  onmessage: ((event: { data: unknown }) => void) | null;
  onclose: ((event: { code: number; reason: string; wasClean: boolean }) => void) | null;
  onerror: ((event: unknown) => void) | null;
  send(data: string | ArrayBufferLike | ArrayBufferView): void;
  close(code?: number, reason?: string): void;
}

/** The application-level heartbeat of a browser connection, validated. */
export interface AppHeartbeat {
  readonly interval: number;
  readonly timeout: number;
  /** The text frame sent as a ping; an rxws server answers it with `pong` and keeps both from the app. */
  readonly ping: string;
  /** The text frame the server answers with; it never reaches `messages$`. */
  readonly pong: string;
}

/** What a browser connection needs to know. */
export interface BrowserConnectionOptions {
  readonly heartbeat: AppHeartbeat | null;
  readonly scheduler: SchedulerLike;
  /** The connection opened. */
  readonly onOpen: () => void;
}

/** The browser's buffer from which the connection says it is not writable (the client then queues). */
const HIGH_WATER = 64 * 1024;
/** How often a full connection looks at the browser's buffer again (browsers give no 'drain' event), in ms. */
const POLL_MS = 25;
const OPEN = 1;

/**
 * One connection of a browser client, on the browser's own `WebSocket`, with
 * the socket's surface. It holds nothing of its own: the client listens to
 * it at once (a browser cannot stop reading) and keeps its frames in its
 * offline queue while the browser's buffer is full (`writable$` says so,
 * from `bufferedAmount`: browsers give no 'drain' event).
 */
export class BrowserConnection implements SocketLike {
  readonly #ws: BrowserWebSocket;
  readonly #options: BrowserConnectionOptions;
  readonly #messages = new Subject<Message>();
  readonly #closed = new Subject<CloseInfo>();
  readonly #writable = new BehaviorSubject(false);
  #beat: HeartbeatState | null = null;
  #timer: Subscription | null = null;
  #timerAt = Infinity;
  #closeInfo: CloseInfo | null = null;
  #closing = false;
  #opened = false;
  #timedOut: HeartbeatTimeoutError | null = null;
  #received = 0;
  #sent = 0;
  /** Inbound frames, text as `string`, binary as `Uint8Array`; completes at the close. */
  readonly messages$ = this.#messages.asObservable();
  /** `true` while the browser's buffer takes frames (the client queues them otherwise); completes at the close. */
  readonly writable$ = this.#writable.asObservable();
  /** A browser connection refuses nothing of its own: the client reports. */
  readonly errors$: Observable<RxwsError> = new Observable<RxwsError>();

  constructor(ws: BrowserWebSocket, options: BrowserConnectionOptions) {
    this.#ws = ws;
    this.#options = options;
    ws.binaryType = 'arraybuffer';
    ws.onopen = () => this.#onOpen();
    ws.onmessage = (event) => this.#onMessage(event.data);
    ws.onclose = (event) => this.#onClose(event.code, event.reason, event.wasClean);
    ws.onerror = () => {}; // always followed by 'close', which says what there is to say
  }

  /** Emits how it closed, once; replayed. */
  get close$(): Observable<CloseInfo> {
    return new Observable<CloseInfo>((subscriber) => {
      const info = this.#closeInfo;
      if (info === null) return this.#closed.subscribe(subscriber);
      subscriber.next(info);
      subscriber.complete();
      return undefined;
    });
  }

  get state(): SocketState {
    if (this.#closeInfo !== null) return 'closed';
    if (this.#closing || this.#ws.readyState > OPEN) return 'closing';
    return this.#opened ? 'open' : 'connecting';
  }

  get closeInfo(): CloseInfo | null {
    return this.#closeInfo;
  }

  /** The browser's buffer. */
  get bufferedAmount(): number {
    return this.#ws.bufferedAmount;
  }

  get stats(): SocketStats {
    return { received: this.#received, sent: this.#sent, refused: 0, dropped: 0, discarded: 0 };
  }

  /** The browser's `WebSocket`, for what rxws does not cover. */
  get ws(): BrowserWebSocket {
    return this.#ws;
  }

  /** Sends a frame; the client hands it only while the connection is open. */
  next(frame: Outbound): void {
    this.send(frame);
  }

  /** Sends a frame, or throws `SocketClosedError` (closing) or `InvalidFrameError`. */
  send(frame: Outbound): void {
    if (this.#closing || this.#ws.readyState !== OPEN) throw new SocketClosedError(this.#closeInfo);
    const invalid = invalidFrame(frame);
    if (invalid !== undefined) throw invalid;
    this.#ws.send(frame as string | ArrayBufferLike | ArrayBufferView);
    this.#sent++;
    this.#full();
  }

  /** Closes with 1000 and the reason "Client error" (a browser may not send 1011). */
  error(_err: unknown): void {
    this.close(CloseCode.NORMAL, 'Client error');
  }

  complete(): void {
    this.close(CloseCode.NORMAL);
  }

  /** Closes (browsers allow 1000 and 3000–4999 only). Before the open, the browser fails the handshake. */
  close(code: number = CloseCode.NORMAL, reason = ''): void {
    validateBrowserClose(code, reason);
    if (this.#closing || this.#closeInfo !== null) return;
    this.#closing = true;
    this.#writable.next(false);
    this.#ws.close(code, reason);
  }

  /** Ends at once: `close$` reports 1006 now and nothing more is delivered (the browser closes in the background). */
  terminate(): void {
    if (this.#closeInfo !== null) return;
    this.#closing = true;
    if (this.#ws.readyState <= OPEN) this.#ws.close(CloseCode.NORMAL);
    const timedOut = this.#timedOut;
    this.#finish(timedOut === null ? { code: CloseCode.ABNORMAL, reason: '', wasClean: false } : { code: CloseCode.ABNORMAL, reason: 'Heartbeat timeout', wasClean: false, error: timedOut });
  }

  /** @internal The timer: a look at the browser's buffer while full, and the heartbeat's step. */
  tick(): void {
    this.#timer = null;
    this.#timerAt = Infinity;
    if (this.#closeInfo !== null) return;
    const now = this.#options.scheduler.now();
    const beat = this.#beat;
    const config = this.#options.heartbeat;
    if (beat !== null && config !== null) {
      const due = beat.step(now, config.interval, config.timeout);
      if (due === 'timeout') {
        this.#timedOut = beat.error(config.timeout);
        return this.terminate();
      }
      if (due === 'ping' && this.#ws.readyState === OPEN) this.#ws.send(config.ping);
    }
    this.#full();
  }

  #onOpen(): void {
    if (this.#closeInfo !== null) return;
    this.#opened = true;
    const config = this.#options.heartbeat;
    if (config !== null) this.#beat = new HeartbeatState(this.#options.scheduler.now());
    this.#options.onOpen();
    this.#full();
  }

  #onMessage(data: unknown): void {
    if (this.#closeInfo !== null) return;
    this.#beat?.life(this.#options.scheduler.now());
    if (data === this.#options.heartbeat?.pong) return;
    this.#received++;
    this.#messages.next(typeof data === 'string' ? data : new Uint8Array(data as ArrayBuffer));
  }

  #onClose(code: number, reason: string, wasClean: boolean): void {
    if (this.#closeInfo !== null) return;
    // Before the open a browser tells nothing of why (refused, HTTP status, TLS, offline): a HandshakeError of status 0.
    const error = this.#opened ? undefined : new HandshakeError(0, '');
    this.#finish(error === undefined ? { code, reason, wasClean } : { code, reason, wasClean, error });
  }

  /** Says whether the browser's buffer takes more, and sets the timer for the next look or heartbeat step. */
  #full(): void {
    const writable = this.#opened && !this.#closing && this.#ws.readyState === OPEN && this.#ws.bufferedAmount < HIGH_WATER;
    if (writable !== this.#writable.value) this.#writable.next(writable);
    if (this.#closeInfo !== null || !this.#opened) return;
    const config = this.#options.heartbeat;
    const now = this.#options.scheduler.now();
    const next = Math.min(writable ? Infinity : now + POLL_MS, this.#beat !== null && config !== null ? this.#beat.next(config.interval) : Infinity);
    if (next >= this.#timerAt) return;
    this.#timer?.unsubscribe();
    this.#timerAt = next;
    this.#timer = next === Infinity ? null : this.#options.scheduler.schedule(tick, Math.max(0, next - now), this);
  }

  #finish(info: CloseInfo): void {
    const ws = this.#ws;
    ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
    this.#timer?.unsubscribe();
    this.#timer = null;
    this.#beat = null;
    this.#closeInfo = info;
    this.#closing = true;
    // Settled; now tell.
    this.#closed.next(info);
    this.#closed.complete();
    this.#messages.complete();
    if (this.#writable.value) this.#writable.next(false);
    this.#writable.complete();
  }
}

/** The connection's timer work (one function for every connection). */
function tick(this: SchedulerAction<BrowserConnection>, connection?: BrowserConnection): void {
  connection!.tick();
}

/** Throws unless a browser may close with `code` (1000, 3000–4999) and `reason` (123 bytes). */
export function validateBrowserClose(code: unknown, reason: unknown): void {
  validateClose(code, reason);
  if (code !== CloseCode.NORMAL && !((code as number) >= 3000 && (code as number) <= 4999)) {
    throw new InvalidArgumentError(`Expected \`code\` to be 1000 or 3000–4999 (all a browser may send), got ${code as number}`);
  }
}
