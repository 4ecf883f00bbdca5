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
   * What ended the connection, when it was not a closing handshake and rxws
   * knows: `HeartbeatTimeoutError`, the protocol error `ws` failed the
   * connection with (`code` `WS_ERR_*`), or the network error (`ECONNRESET` …).
   * Absent otherwise.
   */
  readonly error?: Error;
}

/** An inbound frame: a text frame is a `string`, a binary frame a `Buffer`. */
export type Inbound = string | Buffer;
