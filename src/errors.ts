import type { CloseInfo, Message } from './types';
import { utf8Length } from './utf8';

/**
 * Base class of every error rxjs-ws raises. `code` is stable across releases and
 * safe to branch on; `message` is for people and may change.
 */
export abstract class RxjsWsError extends Error {
  /** Stable machine-readable code, e.g. `RXJS_WS_SOCKET_CLOSED`. */
  abstract readonly code: string;

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** A bad argument or option, reported when it is given (not when it is first used). */
export class InvalidArgumentError extends RxjsWsError {
  readonly code = 'RXJS_WS_INVALID_ARGUMENT';
}

/**
 * A frame was offered to a socket that is closing or closed. The frame was
 * not sent.
 */
export class SocketClosedError extends RxjsWsError {
  readonly code = 'RXJS_WS_SOCKET_CLOSED';
  constructor(
    /** How the socket closed, when it has. */
    readonly close: CloseInfo | null,
  ) {
    super(
      close
        ? `Cannot send: the socket is closed (code ${close.code}${close.reason ? `, "${close.reason}"` : ''})`
        : 'Cannot send: the socket is closing',
    );
  }
}

/** A value offered to the sink that is neither a string nor binary data. */
export class InvalidFrameError extends RxjsWsError {
  readonly code = 'RXJS_WS_INVALID_FRAME';
}

/**
 * A client's connection ended abnormally: without a closing handshake (1006),
 * after a protocol error, or with a close code other than 1000/1001/1005.
 * `RxClient.messages$` errors with it when the client gives up, and
 * `shouldReconnect` sees it; `info` is what that connection's `close$`
 * emitted (its `error`, if any, is the `cause`).
 */
export class SocketCloseError extends RxjsWsError {
  readonly code = 'RXJS_WS_CLOSED_ABNORMALLY';
  constructor(
    readonly info: CloseInfo,
    options?: { cause?: unknown },
  ) {
    super(
      `The socket closed abnormally (code ${info.code}${info.reason ? `, "${info.reason}"` : ''})`,
      options,
    );
  }
}

/** Describes a value for a validation message: `` `-1` (number) ``. */
/** @internal Text from a peer (a path, an Origin) cut to at most `max` characters for a log line or event: a request's 16 KiB of headers is not logged whole. */
export function clip(text: string, max = 200): string {
  return text.length <= max ? text : `${text.slice(0, max - 3)}...`;
}

export function describe(value: unknown): string {
  let shown: string;
  if (typeof value === 'string') shown = JSON.stringify(value);
  else if (typeof value === 'bigint') shown = `${value}n`;
  else if (typeof value === 'function') shown = value.name ? `[Function ${value.name}]` : '[Function]';
  else if (value !== null && typeof value === 'object') {
    try {
      shown = JSON.stringify(value) ?? String(value);
    } catch {
      shown = Object.prototype.toString.call(value);
    }
    if (shown.length > 60) shown = `${shown.slice(0, 57)}...`;
  } else shown = String(value);
  const type = value === null ? 'null' : Array.isArray(value) ? 'array' : typeof value;
  return `\`${shown}\` (${type})`;
}

/** Which outbound policy turned a frame away. */
export type OutboundPolicy = 'error' | 'drop-oldest' | 'drop-newest' | 'close';

/**
 * The outbound queue was full (policy `error`): this frame was not accepted.
 * Wait for `socket.writable$` before offering more.
 */
export class BackpressureError extends RxjsWsError {
  readonly code = 'RXJS_WS_OUTBOUND_FULL';
  constructor(
    readonly policy: OutboundPolicy,
    /** Bytes and frames waiting when the frame was refused. */
    readonly queued: { readonly bytes: number; readonly messages: number },
  ) {
    super(
      `Outbound queue full (${queued.messages} frames, ${queued.bytes} bytes queued; policy "${policy}"): frame not sent`,
    );
  }
}

/**
 * Frames were discarded: by the `drop-oldest`/`drop-newest`/`close` outbound
 * policy, left unsent in the queue when the connection ended (`closed`), or,
 * on a client, received from connections that ended while nobody subscribed
 * to `messages$`, past `inboundHold` (`unread`). Reported on `errors$`.
 */
export class FrameDroppedError extends RxjsWsError {
  readonly code = 'RXJS_WS_FRAME_DROPPED';
  constructor(
    /**
     * Why: the policy that dropped them, `'closed'` if the connection ended
     * first, `'unread'` for inbound frames nobody took, `'unconfirmed'` for
     * frames a resumable session sent whose receipt the peer never confirmed
     * before the session was lost (they may or may not have arrived).
     */
    readonly why: 'drop-oldest' | 'drop-newest' | 'close' | 'closed' | 'unread' | 'unconfirmed',
    /** How many frames this report covers. */
    readonly count: number,
  ) {
    super(
      why === 'closed'
        ? `${count} queued frame(s) were not sent: the connection ended first`
        : why === 'unread'
          ? `${count} received frame(s) discarded: nobody subscribed to messages$ and the hold was full`
          : why === 'unconfirmed'
            ? `${count} sent frame(s) unconfirmed: the session was lost before the peer acknowledged them`
            : `${count} frame(s) dropped by the outbound policy "${why}"`,
    );
  }
}

/**
 * The peer broke the resumable-session protocol (`rxjs-ws.resume.1`): a
 * malformed hello or welcome, or an acknowledgement of frames never sent. The
 * connection closes with 1002 (protocol error).
 */
export class ResumeProtocolError extends RxjsWsError {
  readonly code = 'RXJS_WS_RESUME_PROTOCOL';
  constructor(message: string) {
    super(`Resumable session: ${message}`);
  }
}

/** What a heartbeat knew when it gave up on the peer. */
export interface HeartbeatTimeoutInfo {
  /** Scheduler time of the last sign of life (pong or frame), or of the start when none came. */
  readonly lastPongAt: number;
  /** Pings sent since that last sign of life without an answer. */
  readonly missed: number;
  /** The `timeout` that ran out, in ms. */
  readonly timeout: number;
}

/** No pong (or other sign of life) arrived within `timeout` after a ping: the peer is gone. */
export class HeartbeatTimeoutError extends RxjsWsError {
  readonly code = 'RXJS_WS_HEARTBEAT_TIMEOUT';
  constructor(readonly info: HeartbeatTimeoutInfo) {
    super(`Heartbeat timeout: no pong within ${info.timeout} ms (${info.missed} ping(s) unanswered)`);
  }
}

/** The server answered the client's upgrade with an HTTP status instead of 101. Not retried by default for 4xx. */
export class HandshakeError extends RxjsWsError {
  readonly code = 'RXJS_WS_HANDSHAKE_REFUSED';
  constructor(
    /** The HTTP status the server sent (401, 403, 404, 503 …). */
    readonly status: number,
    /** The response body, cut to 512 bytes (often a one-line reason). */
    readonly body = '',
  ) {
    super(`The server refused the WebSocket upgrade with HTTP ${status}${body ? `: ${body.trim().slice(0, 200)}` : ''}`);
  }
}

/** A frame that the codec could not decode. With the `skip` policy it is reported on `errors$`; with `close`, the socket closes with 1007. */
export class DecodeError extends RxjsWsError {
  readonly code = 'RXJS_WS_DECODE_FAILED';
  constructor(
    /** The frame that failed (a string or a Buffer). */
    readonly frame: Message,
    options?: { cause?: unknown },
  ) {
    super(`Could not decode a ${typeof frame === 'string' ? 'text' : 'binary'} frame of ${typeof frame === 'string' ? utf8Length(frame) : frame.length} bytes`, options);
  }
}

/** A value that the codec could not encode (e.g. a circular object). Nothing was sent; the socket stays open. */
export class EncodeError extends RxjsWsError {
  readonly code = 'RXJS_WS_ENCODE_FAILED';
  constructor(options?: { cause?: unknown }) {
    super(`Could not encode the value${options?.cause instanceof Error ? `: ${options.cause.message}` : ''}`, options);
  }
}

/** A feature needs an optional package that is not installed (e.g. `ioredis` for `redisAdapter()`). */
export class MissingDependencyError extends RxjsWsError {
  readonly code = 'RXJS_WS_MISSING_DEPENDENCY';
  constructor(
    /** The npm package to install. */
    readonly dependency: string,
    feature: string,
    options?: { cause?: unknown },
  ) {
    super(`${feature} needs the optional dependency ${dependency}: npm install ${dependency}`, options);
  }
}
