import { STATUS_CODES, type IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import { describe, InvalidArgumentError, RxjsWsError } from '../errors';

/**
 * Which browser origins may open a socket:
 * - `'same-origin'` (default): the `Origin` header's host must equal `Host`;
 * - `'any'`: every origin (gorilla's `CheckOrigin: true`; only for public, cookie-less endpoints);
 * - a list of origins, e.g. `['https://app.example.com']`;
 * - a predicate over the origin and the request.
 * Requests without `Origin` (non-browser clients) are always allowed;
 * `Origin: null` and malformed origins are refused unless the predicate says otherwise.
 */
export type OriginPolicy =
  | 'same-origin'
  | 'any'
  | readonly string[]
  | ((origin: string, request: IncomingMessage) => boolean);

/** Thrown by (or returned from) `authenticate` to refuse an upgrade with an HTTP status. */
export class UpgradeRefusedError extends RxjsWsError {
  readonly code = 'RXJS_WS_UPGRADE_REFUSED';
  constructor(
    /** HTTP status sent to the client (4xx or 5xx). */
    readonly status: number,
    message: string = STATUS_CODES[status] ?? 'Refused',
  ) {
    super(message);
  }
}

/**
 * Makes an error for `authenticate` to throw: the client gets `status` and the
 * short `message` as plain text, and no WebSocket frame.
 *
 * @example
 * authenticate: (req) => users.byToken(tokenOf(req)) ?? Promise.reject(refuse(401))
 */
export function refuse(status = 401, message?: string): UpgradeRefusedError {
  if (!Number.isInteger(status) || status < 400 || status > 599) {
    throw new InvalidArgumentError(`Expected \`status\` to be an HTTP error status (400–599), got ${describe(status)}`);
  }
  return new UpgradeRefusedError(status, message);
}

/** Compiles an origin policy into a check, validating it once. */
export function originCheck(policy: OriginPolicy | undefined): (request: IncomingMessage) => boolean {
  if (policy === undefined || policy === 'same-origin') return sameOrigin;
  if (policy === 'any') return () => true;
  if (typeof policy === 'function') {
    return (request) => {
      const origin = request.headers.origin;
      return origin === undefined || policy(origin, request) === true;
    };
  }
  if (Array.isArray(policy)) {
    const allowed = new Set(
      policy.map((o, i) => {
        const normal = normalizeOrigin(o);
        if (normal === null) throw new InvalidArgumentError(`Expected \`origin[${i}]\` to be an origin like "https://example.com", got ${describe(o)}`);
        return normal;
      }),
    );
    return (request) => {
      const origin = request.headers.origin;
      if (origin === undefined) return true;
      const normal = normalizeOrigin(origin);
      return normal !== null && allowed.has(normal);
    };
  }
  throw new InvalidArgumentError(
    `Expected \`origin\` to be "same-origin", "any", an array of origins or a function, got ${describe(policy)}`,
  );
}

function sameOrigin(request: IncomingMessage): boolean {
  const origin = request.headers.origin;
  if (origin === undefined) return true;
  const host = request.headers.host;
  if (host === undefined) return false;
  let originHost: string;
  let requestHost: string;
  try {
    const url = new URL(origin);
    if (url.origin === 'null') return false;
    originHost = url.host;
    const scheme = (request.socket as TLSSocket).encrypted ? 'https' : 'http';
    // Compare like with like: an explicit default port on either side is dropped by URL.
    requestHost = new URL(`${url.protocol === 'https:' || url.protocol === 'wss:' ? 'https' : scheme}://${host}`).host;
  } catch {
    return false;
  }
  return originHost === requestHost;
}

function normalizeOrigin(origin: string): string | null {
  try {
    const url = new URL(origin);
    return url.origin === 'null' ? null : url.origin;
  } catch {
    return null;
  }
}

/** Answers an upgrade with an HTTP error and closes the connection; never throws. */
export function refuseUpgrade(socket: Duplex, status: number, message: string, headers: Record<string, string> = {}): void {
  if (socket.destroyed) return;
  const body = `${message}\n`;
  const lines = [
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}`,
    'Connection: close',
    'Content-Type: text/plain; charset=utf-8',
    `Content-Length: ${Buffer.byteLength(body)}`,
    ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`),
  ];
  socket.once('finish', () => socket.destroy());
  socket.end(`${lines.join('\r\n')}\r\n\r\n${body}`);
}

/** Path of a request URL without its query, or `null` if it is not a path. */
export function pathOf(url: string | undefined): string | null {
  if (url === undefined || !url.startsWith('/')) return null;
  const q = url.indexOf('?');
  return q === -1 ? url : url.slice(0, q);
}
