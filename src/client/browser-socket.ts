import { AsyncSubject, BehaviorSubject, Observable, Subject, type SchedulerAction, type SchedulerLike, type Subscription } from 'rxjs';
import { CloseCode, Defaults, type SocketState } from '../constants';
import { FrameDroppedError, HandshakeError, InvalidArgumentError, SocketClosedError, type HeartbeatTimeoutError, type RxwsError } from '../errors';
import { current, Held } from '../socket/held';
import { SocketHeartbeat, type ResolvedHeartbeat } from '../socket/heartbeat';
import type { ResolvedOutbound } from '../socket/outbound-options';
import { invalidFrame, isPrepared } from '../socket/frames';
import { FrameQueue } from '../socket/queue';
import type { CloseInfo, Message, Outbound, SocketStats } from '../types';
import { utf8Length } from '../utf8';
import { validateClose } from '../validation';
import type { SocketLike } from './core';

/** The part of a browser's `WebSocket` a connection uses (tests pass a fake). */
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

/** The application-level heartbeat of a browser connection (browsers cannot send protocol pings). */
export interface AppHeartbeat extends ResolvedHeartbeat {
  /** The text frame sent as a ping; an rxws server answers it with `pong` and keeps both from the app. */
  readonly ping: string;
  /** The text frame the server answers with; it never reaches `messages$`. */
  readonly pong: string;
}

/** @internal What a browser connection needs to know. */
export interface BrowserConnectionOptions {
  readonly outbound: ResolvedOutbound;
  readonly inboundHold: number;
  readonly heartbeat: AppHeartbeat | null;
  readonly scheduler: SchedulerLike;
  /** The connection opened (its parts are in place). */
  readonly onOpen: () => void;
  readonly onUnsent: (frames: Outbound[]) => void;
}

/** The browser's buffer above which frames wait in the connection's own bounded queue. */
const HIGH_WATER = 64 * 1024;
/** How often a congested connection looks at the browser's buffer again (browsers give no 'drain' event), in ms. */
const POLL_MS = 25;

const OPEN = 1;
/** 1013 (try again later) as a browser may send it: 4000 + 13. */
const BROWSER_TRY_AGAIN_LATER = 4013;

/**
 * One connection of a browser client, on the browser's own `WebSocket`, with
 * the socket's surface: `messages$` (text as `string`, binary as
 * `Uint8Array`), the sink, `close$`, `errors$`, `writable$`.
 *
 * What browsers do not allow is done another way: there is no backpressure
 * event, so a congested connection polls `bufferedAmount`; a connection
 * cannot stop reading, so frames past the hold nobody reads are discarded
 * (oldest first) and reported; there are no protocol pings, so the heartbeat
 * (opt-in) is an exchange of two small text frames an rxws server answers;
 * and a client may only close with 1000 or 3000–4999.
 */
export class BrowserConnection implements SocketLike {
  readonly #ws: BrowserWebSocket;
  readonly #options: BrowserConnectionOptions;
  readonly #in: BrowserInbound;
  readonly #queue: FrameQueue;
  readonly #closeSubject = new AsyncSubject<CloseInfo>();
  readonly #errorSubject = new Subject<RxwsError>();
  readonly #writableSubject: BehaviorSubject<boolean>;
  readonly writable$: Observable<boolean>;
  #beat: SocketHeartbeat | null = null;
  #poll: Subscription | null = null;
  #closeInfo: CloseInfo | null = null;
  #closing = false;
  #opened = false;
  #terminated = false;
  #timedOut: HeartbeatTimeoutError | null = null;
  #drains = 0;
  #received = 0;
  #sent = 0;
  #refused = 0;
  #dropped = 0;

  constructor(ws: BrowserWebSocket, options: BrowserConnectionOptions) {
    this.#ws = ws;
    this.#options = options;
    this.#in = new BrowserInbound(options.inboundHold, (error) => this.#report(error));
    this.#queue = new FrameQueue(options.outbound, (error) => this.#report(error));
    this.#writableSubject = new BehaviorSubject(false);
    this.writable$ = current(this.#writableSubject, () => this.#writable());
    ws.binaryType = 'arraybuffer';
    ws.onopen = () => this.#onOpen();
    ws.onmessage = (event) => this.#onMessage(event.data);
    ws.onclose = (event) => this.#onClose(event.code, event.reason, event.wasClean);
    ws.onerror = () => {}; // always followed by 'close', which says what there is to say
  }

  get messages$(): Observable<Message> {
    return this.#in.stream;
  }

  get close$(): Observable<CloseInfo> {
    return this.#closeSubject.asObservable();
  }

  /** Frames not sent or not delivered (see `RxSocket.errors$`). Never errors, does not complete. */
  get errors$(): Observable<RxwsError> {
    return this.#errorSubject.asObservable();
  }

  get state(): SocketState {
    if (this.#closeInfo !== null) return 'closed';
    if (this.#closing || this.#ws.readyState > OPEN) return 'closing';
    return this.#opened ? 'open' : 'connecting';
  }

  get closeInfo(): CloseInfo | null {
    return this.#closeInfo;
  }

  /** Bytes accepted but not yet sent: the connection's queue plus the browser's buffer. */
  get bufferedAmount(): number {
    return this.#queue.bytes + this.#ws.bufferedAmount;
  }

  get stats(): SocketStats {
    return { received: this.#received, sent: this.#sent, refused: this.#refused, dropped: this.#dropped, discarded: this.#in.discarded };
  }

  /** The browser's `WebSocket`, for what rxws does not cover. */
  get ws(): BrowserWebSocket {
    return this.#ws;
  }

  next(frame: Outbound): void {
    const error = this.#write(frame);
    if (error !== undefined) this.#report(error);
  }

  send(frame: Outbound): void {
    const error = this.#write(frame);
    if (error !== undefined) {
      this.#refused++;
      throw error;
    }
  }

  /** Closes with 1000 and the reason "Client error" (a browser may not send 1011). */
  error(_err: unknown): void {
    this.close(CloseCode.NORMAL, 'Client error');
  }

  complete(): void {
    this.close(CloseCode.NORMAL);
  }

  /** Sends what is queued, then closes. Browsers allow 1000 and 3000–4999 only: another code is an `InvalidArgumentError`. */
  close(code: number = CloseCode.NORMAL, reason = ''): void {
    validateBrowserClose(code, reason);
    if (this.#closing || this.#closeInfo !== null) return;
    this.#closing = true;
    if (this.#opened) this.#flush(true);
    // Before the open, the browser fails the handshake (there is no waiting for it): frames offered are reported at the end.
    if (this.#ws.readyState <= OPEN) this.#ws.close(code, reason);
    this.#notifyWritable();
  }

  /** Ends at once: `close$` reports 1006 now, and nothing more is delivered (the browser closes the socket in the background). */
  terminate(): void {
    if (this.#closeInfo !== null || this.#terminated) return;
    this.#terminated = true;
    this.#closing = true;
    if (this.#ws.readyState <= OPEN) this.#ws.close(CloseCode.NORMAL);
    this.#finish({ code: CloseCode.ABNORMAL, reason: this.#timedOut !== null ? 'Heartbeat timeout' : '', wasClean: false, ...(this.#timedOut && { error: this.#timedOut }) });
  }

  // ---- the heartbeat's host ----

  /** @internal */
  ping(): void {
    if (this.#ws.readyState === OPEN) this.#ws.send(this.#options.heartbeat!.ping);
  }

  /** @internal */
  heartbeatTimeout(error: HeartbeatTimeoutError): void {
    this.#timedOut = error;
    this.terminate();
  }

  /** @internal */
  get drains(): number {
    return this.#drains;
  }

  /** @internal A browser connection never stops reading. */
  get pausedFor(): null {
    return null;
  }

  // ---- private ----

  #onOpen(): void {
    if (this.#closeInfo !== null) return;
    this.#opened = true;
    const heartbeat = this.#options.heartbeat;
    if (heartbeat !== null) this.#beat = new SocketHeartbeat(this, heartbeat);
    this.#flush(false);
    if (this.#closeInfo !== null) return;
    this.#options.onOpen();
    this.#notifyWritable();
  }

  #onMessage(data: unknown): void {
    if (this.#terminated || this.#closeInfo !== null) return;
    this.#beat?.frame();
    const heartbeat = this.#options.heartbeat;
    if (heartbeat !== null && data === heartbeat.pong) return this.#beat?.pong();
    this.#received++;
    this.#in.push(typeof data === 'string' ? data : new Uint8Array(data as ArrayBuffer));
  }

  #onClose(code: number, reason: string, wasClean: boolean): void {
    if (this.#closeInfo !== null) return;
    // Before the open a browser tells nothing of why (refused, HTTP status, TLS, offline): 1006 with a HandshakeError of status 0.
    const error = this.#opened ? undefined : new HandshakeError(0, '');
    this.#finish(error === undefined ? { code, reason, wasClean } : { code, reason, wasClean, error });
  }

  #write(frame: Outbound): RxwsError | undefined {
    if (this.#closing || this.#ws.readyState > OPEN) {
      this.#notifyWritable();
      return new SocketClosedError(this.#closeInfo);
    }
    const invalid = invalidFrame(frame);
    if (invalid !== undefined) return invalid;
    if (this.#opened && this.#queue.length === 0 && this.#ws.bufferedAmount < HIGH_WATER) {
      this.#send(frame);
      this.#sent++;
      return undefined;
    }
    const wasEmpty = this.#queue.length === 0;
    const offered = this.#queue.offer(frame);
    if (offered === 'close') {
      // The `close` policy: the peer does not keep up.
      const report = this.#queue.closeReport();
      this.close(BROWSER_TRY_AGAIN_LATER, 'Outbound queue full');
      this.#report(report);
      return undefined;
    }
    if (typeof offered !== 'string') return offered;
    if (offered === 'queued') {
      this.#sent++;
      if (wasEmpty) {
        this.#startPolling();
        this.#notifyWritable();
      }
    }
    return undefined;
  }

  #send(frame: Outbound): void {
    if (!isPrepared(frame)) this.#ws.send(frame);
    else this.#ws.send(frame.binary ? frame.payload : new TextDecoder().decode(frame.payload));
  }

  /** Hands queued frames to the browser while its buffer has room (all of them before a close). */
  #flush(all: boolean): void {
    const queue = this.#queue;
    const before = queue.length;
    while (queue.length > 0 && this.#ws.readyState === OPEN && (all || this.#ws.bufferedAmount < HIGH_WATER)) this.#send(queue.shift());
    if (queue.length < before) this.#drains++;
    if (queue.length === 0) this.#stopPolling();
    this.#notifyWritable();
  }

  #startPolling(): void {
    if (this.#poll !== null || !this.#opened) return;
    this.#poll = this.#options.scheduler.schedule(poll, POLL_MS, this);
  }

  /** @internal One look at the browser's buffer; returns whether to look again. */
  polled(): boolean {
    this.#flush(false);
    return this.#poll !== null;
  }

  #stopPolling(): void {
    this.#poll?.unsubscribe();
    this.#poll = null;
  }

  #writable(): boolean {
    return this.#opened && !this.#closing && this.#closeInfo === null && this.#queue.length === 0 && this.#ws.readyState === OPEN;
  }

  #notifyWritable(): void {
    const subject = this.#writableSubject;
    if (subject.isStopped) return;
    const writable = this.#writable();
    if (writable !== subject.value) subject.next(writable);
  }

  #report(error: RxwsError): void {
    if (error instanceof FrameDroppedError) {
      if (error.why !== 'unread') this.#dropped += error.count;
    } else this.#refused++;
    this.#errorSubject.next(error);
  }

  #finish(info: CloseInfo): void {
    const ws = this.#ws;
    ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
    this.#beat?.stop();
    this.#beat = null;
    this.#stopPolling();
    this.#closeInfo = info;
    this.#closing = true;
    const unsent = this.#queue.takeAll();
    // Settled; now tell.
    if (unsent.length > 0) this.#options.onUnsent(unsent);
    this.#closeSubject.next(info);
    this.#closeSubject.complete();
    this.#in.end();
    this.#notifyWritable();
    this.#writableSubject.complete();
  }
}

/** The polling timer's work (one function for every connection). */
function poll(this: SchedulerAction<BrowserConnection>, connection?: BrowserConnection): void {
  if (connection!.polled()) this.schedule(connection, POLL_MS);
}

/**
 * Frames held while nobody subscribes. A browser cannot stop reading, so the
 * hold is bounded by discarding the oldest, reported as `FrameDroppedError('unread')`.
 */
class BrowserInbound extends Held<Message> {
  readonly #max: number;
  readonly #report: (error: FrameDroppedError) => void;
  #bytes = 0;
  discarded = 0;

  constructor(max: number, report: (error: FrameDroppedError) => void) {
    super();
    this.#max = max;
    this.#report = report;
  }

  protected override held(frame: Message): void {
    this.#bytes += sizeOf(frame);
    let discarded = 0;
    while (this.length > 1 && (this.length > this.#max || this.#bytes > Defaults.inboundHoldBytes)) {
      this.forgetOldest();
      discarded++;
    }
    if (discarded === 0) return;
    this.discarded += discarded;
    this.#report(new FrameDroppedError('unread', discarded));
  }

  protected override released(frame: Message): void {
    this.#bytes -= sizeOf(frame);
  }
}

function sizeOf(frame: Message): number {
  return typeof frame === 'string' ? utf8Length(frame) : frame.length;
}

/** Throws unless a browser may close with `code` (1000, 3000–4999) and `reason` (123 bytes). */
export function validateBrowserClose(code: unknown, reason: unknown): void {
  validateClose(code, reason);
  if (code !== CloseCode.NORMAL && !((code as number) >= 3000 && (code as number) <= 4999)) {
    throw new InvalidArgumentError(`Expected \`code\` to be 1000 or 3000–4999 (all a browser may send), got ${code as number}`);
  }
}
