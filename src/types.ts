import type { PREPARED } from './constants';

/** What `close$` emits once per socket, like the browser's `CloseEvent`. */
export interface CloseInfo {
  /**
   * The close code: the peer's, when its close frame arrived; otherwise the
   * code this side failed the connection with (1002, 1007, 1009 …); otherwise
   * 1006 (`CloseCode.ABNORMAL`).
   */
  readonly code: number;
  /** The close reason (UTF-8, at most 123 bytes), or `''`. */
  readonly reason: string;
  /** True when both close frames were exchanged (the closing handshake finished). */
  readonly wasClean: boolean;
  /**
   * What ended the connection, when it was not a closing handshake and rxjs-ws
   * knows: `HeartbeatTimeoutError`, the protocol error `ws` failed the
   * connection with (`code` `WS_ERR_*`), or the network error (`ECONNRESET` …).
   * Absent otherwise.
   */
  readonly error?: Error;
}

/**
 * A message as codecs and the client see it, in Node and in browsers alike:
 * text as a `string`, binary as a `Uint8Array` (in Node a `Buffer`, which is
 * one).
 */
export type Message = string | Uint8Array;

/** Counters of one socket's traffic (and, summed over its connections, of a client's). */
export interface SocketStats {
  /** Data frames read from the peer. */
  readonly received: number;
  /** Frames handed to the connection (sent or queued). */
  readonly sent: number;
  /** Frames refused (socket closed, queue full, not a frame). */
  readonly refused: number;
  /** Frames discarded by the outbound policy or left unsent at the end. */
  readonly dropped: number;
  /**
   * Of the frames read, those not delivered: read after `terminate()`, from
   * the frame that broke a policy (rate limit, ping flood) on, or past a hold
   * nobody read (a client's).
   */
  readonly discarded: number;
}

/**
 * What the `log` option of `serve()` is told, besides its one-line text: a
 * structured event, for a JSON logger (pino: `log: (line, event) => logger.warn(event, line)`).
 * `event` says what happened; the other fields are the ones it has.
 */
export type LogEvent =
  | {
      /** An upgrade was answered with an HTTP error instead of 101. */
      readonly event: 'upgrade-refused';
      /** The HTTP status sent. */
      readonly status: number;
      /** Why, in a word that stays the same across releases (a `RefusalReason`). */
      readonly reason: string;
      /** Why, for people (the log line's words). */
      readonly detail: string;
      /** The client's address (see `clientAddress`). */
      readonly address: string;
      /** The request's path, without its query and cut to 200 characters, or `null` when it had none. */
      readonly path: string | null;
    }
  | {
      /** Node could not parse a request, or it took too long: answered with an HTTP error. */
      readonly event: 'request-refused';
      /** The HTTP status sent (400, 408, 431). */
      readonly status: number;
      /** Always `'bad-handshake'`. */
      readonly reason: string;
      /** Node's error code, e.g. `HPE_HEADER_OVERFLOW`. */
      readonly detail: string;
      /** The TCP peer's address. */
      readonly address: string;
    }
  | {
      /** A socket closed for a reason rxjs-ws decided (a policy, a flood, the memory budget) or without a clean closing handshake. */
      readonly event: 'socket-closed';
      /** The close code. */
      readonly code: number;
      /** Why: the policy's words (`rate limit exceeded`, `outbound queue full` …) or the close reason, possibly `''`. */
      readonly reason: string;
      /** The peer's address (`socket.remoteAddress`). */
      readonly address: string;
      /** The path the socket was opened on, without its query and cut to 200 characters. */
      readonly path: string | undefined;
    };

/** What code that cannot import `PreparedFrame` (browsers) knows of one. Not exported from the package. */
export interface PreparedFrameLike {
  readonly [PREPARED]: true;
  /** The payload alone. */
  readonly payload: Uint8Array;
  /** True for a binary frame, false for text. */
  readonly binary: boolean;
  /** Bytes the frame puts on the wire. */
  readonly byteLength: number;
}

/**
 * An outbound frame: a `string` goes out as a text frame, any binary data
 * (`Buffer`, typed array, `DataView`, `ArrayBuffer`) as a binary frame, and a
 * `PreparedFrame` (see `prepare()`) as the frame it was encoded as.
 */
export type Outbound = string | ArrayBufferView | ArrayBuffer | PreparedFrameLike;
