import type { Socket } from 'node:net';
import type { WebSocket } from 'ws';
import { FrameDroppedError, type RxjsWsError } from '../errors';
import type { ResolvedOutbound } from './outbound-options';
import { isPrepared } from './frames';
import { PreparedFrame } from './prepared';
import { FrameQueue } from './queue';
import type { Outbound } from './types';
import { preparedPath, rawSocket } from './ws-internals';

/** `WebSocket.OPEN`. */
const OPEN = 1;

export { resolveOutbound } from './outbound-options';
export type { OutboundOptions, ResolvedOutbound } from './outbound-options';

/** @internal What an outbound channel tells its socket. */
export interface OutboundHost {
  /** Frames were discarded by the policy: report them. */
  outboundDropped(error: FrameDroppedError): void;
  /** The queue went from empty to non-empty or back: re-derive reading and `writable$`. */
  congestionChanged(): void;
  /** A frame was sent or queued: count it before anyone is told of what it caused. */
  outboundTaken(): void;
  /** A frame that waited in ws's compressor has been written (what the socket holds went down). */
  outboundSent(): void;
  /** The `close` policy fired: the queue is discarded; `report` is what it held (report it once closing). */
  outboundOverflow(report: FrameDroppedError): void;
}

/**
 * @internal Writes a socket's frames to its `ws`. While the TCP socket takes
 * data, frames go straight through (corked until the end of the tick, so a
 * burst leaves in one write). While it reports backpressure
 * (`writableNeedDrain`), or before the socket opens, frames wait in a bounded
 * queue and go out in order on `'drain'`.
 */
export class OutboundChannel {
  static readonly #toUncork: OutboundChannel[] = [];

  readonly #ws: WebSocket;
  readonly #host: OutboundHost;
  readonly #limits: ResolvedOutbound;
  // Made on first congestion: most sockets never need one.
  #queue: FrameQueue | null = null;
  #raw: Socket | null = null;
  // Starts "corked" when batching is off, so #send never corks.
  #corked: boolean;
  #onDrain: (() => void) | null = null;
  /** Told as each frame ws compressed has been written (sockets with an extension only). */
  #onSent: (() => void) | null = null;
  #drains = 0;
  /** Drop reports of the offer in progress, told when it is done. */
  #offering = false;
  #reports: FrameDroppedError[] | null = null;

  constructor(ws: WebSocket, host: OutboundHost, limits: ResolvedOutbound) {
    this.#ws = ws;
    this.#host = host;
    this.#limits = limits;
    this.#corked = !limits.batchWrites;
  }

  /** Whether frames wait in the queue. */
  get congested(): boolean {
    return this.#queue !== null && this.#queue.length > 0;
  }

  /** Bytes waiting in the queue (not yet handed to `ws`). */
  get queuedBytes(): number {
    return this.#queue?.bytes ?? 0;
  }

  /** Frames waiting in the queue. */
  get queuedMessages(): number {
    return this.#queue?.length ?? 0;
  }

  /** How many times the congested socket drained: progress means the peer is reading. */
  get drains(): number {
    return this.#drains;
  }

  /** The socket is open: frames queued before now go out first. */
  open(): void {
    const raw = (this.#raw = rawSocket(this.#ws));
    // With an extension (permessage-deflate), ws holds frames of its own before the TCP socket sees them.
    if (typeof this.#ws.extensions === 'string' && this.#ws.extensions !== '') this.#onSent = () => this.#sent();
    if (this.#onDrain !== null) raw?.on('drain', this.#onDrain);
    if (this.congested) this.#flush();
  }

  /** Sends or queues `frame`: `undefined` when taken, the error when refused, `null` when the policy dropped it (reported). */
  write(frame: Outbound): RxjsWsError | null | undefined {
    const raw = this.#raw;
    if (raw !== null && !this.congested && !this.#full(raw)) {
      this.#send(raw, frame);
      this.#host.outboundTaken();
      return undefined;
    }
    const queue = (this.#queue ??= new FrameQueue(this.#limits, (error) => this.#report(error)));
    const wasEmpty = queue.length === 0;
    this.#offering = true;
    const result = queue.offer(frame);
    this.#offering = false;
    if (result === 'queued') this.#host.outboundTaken();
    if (result === 'queued' && wasEmpty) {
      this.#attach();
      this.#host.congestionChanged();
    }
    if (result === 'close') {
      this.#reports = null;
      // The close policy discards the queue and the frame.
      const dropped = queue.clear() + 1;
      // The queue is empty: stop watching, and let the socket tell once it is closing (close() re-derives reading and writable$).
      this.#detach();
      this.#host.outboundOverflow(new FrameDroppedError('close', dropped));
      return null;
    }
    // Drops are told once the queue and the socket have settled: a report may send again.
    const reports = this.#reports;
    this.#reports = null;
    if (reports !== null) for (const error of reports) this.#host.outboundDropped(error);
    if (result === 'queued') return undefined;
    return result === 'dropped' ? null : result;
  }

  /** Hands every queued frame to `ws` now (before a close frame); `ws` must be open. */
  flushAll(): void {
    const raw = this.#raw;
    const queue = this.#queue;
    if (raw === null || queue === null || this.#ws.readyState !== OPEN) return;
    while (queue.length > 0) this.#send(raw, queue.shift());
    this.#settle();
  }

  /** Detaches and returns the frames never handed to `ws`, oldest first. */
  takeUnsent(): Outbound[] {
    this.#detach();
    return this.#queue?.takeAll() ?? [];
  }

  #report(error: FrameDroppedError): void {
    if (this.#offering) (this.#reports ??= []).push(error);
    else this.#host.outboundDropped(error);
  }

  #send(raw: Socket, frame: Outbound): void {
    if (!this.#corked) {
      this.#corked = true;
      raw.cork();
      if (OutboundChannel.#toUncork.push(this) === 1) process.nextTick(OutboundChannel.#uncorkAll);
    }
    const onSent = this.#onSent;
    if (!isPrepared(frame)) {
      if (onSent === null) this.#ws.send(frame);
      else this.#ws.send(frame, onSent);
      return;
    }
    const path = frame instanceof PreparedFrame ? preparedPath(this.#ws) : null;
    if (path === 'plain') raw.write((frame as PreparedFrame).bytes);
    else if (path !== null) raw.write((frame as PreparedFrame).deflated(path.zlib, path.windowBits, path.threshold));
    else if (onSent === null) this.#ws.send(frame.payload, { binary: frame.binary });
    else this.#ws.send(frame.payload, { binary: frame.binary }, onSent);
  }

  /**
   * Whether the connection takes no more for now: the TCP socket asks for a
   * drain, or (with permessage-deflate) what ws holds, compressing or
   * waiting behind a compression, plus what the TCP socket holds has reached
   * its high-water mark. ws's compressor has no bound of its own: without
   * this, every frame of a burst would wait there, outside the queue's.
   */
  #full(raw: Socket): boolean {
    return raw.writableNeedDrain || (this.#onSent !== null && this.#ws.bufferedAmount >= raw.writableHighWaterMark);
  }

  /** A frame ws compressed was written: room for more, and less held. */
  #sent(): void {
    if (this.congested) this.#flush();
    this.#host.outboundSent();
  }

  static #uncorkAll(this: void): void {
    const list = OutboundChannel.#toUncork;
    // Channels corked while uncorking (a write callback that sends) join the list and are seen too.
    for (let i = 0; i < list.length; i++) {
      const channel = list[i]!;
      channel.#corked = false;
      channel.#raw?.uncork();
    }
    list.length = 0;
  }

  #flush(): void {
    const raw = this.#raw;
    const queue = this.#queue;
    // Once ws is closing it would drop frames without a word: they stay queued and are reported at the end.
    if (raw === null || queue === null || this.#ws.readyState !== OPEN) return;
    while (queue.length > 0 && !this.#full(raw)) this.#send(raw, queue.shift());
    this.#settle();
  }

  /** After the queue shrank: once empty, stop watching and say so. */
  #settle(): void {
    if (this.#onDrain === null || this.congested) return;
    this.#detach();
    this.#host.congestionChanged();
  }

  #attach(): void {
    if (this.#onDrain !== null) return;
    this.#onDrain = () => {
      this.#drains++;
      this.#flush();
    };
    this.#raw?.on('drain', this.#onDrain);
  }

  #detach(): void {
    if (this.#onDrain === null) return;
    this.#raw?.removeListener('drain', this.#onDrain);
    this.#onDrain = null;
  }
}
