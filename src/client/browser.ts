import { APP_PING, APP_PONG, CLOSE_NORMAL, MAX_TIMER_DELAY } from '../constants';
import { ensure, expectBoolean, expectFunction, expectInteger, expectObject, orDefault } from '../validation';
import { BrowserConnection, invalidBrowserFrame, validateBrowserClose, type AppHeartbeat, type BrowserWebSocket } from './browser-socket';
import { defaultShouldReconnect, resolveCommon, resolveUrl, type CommonConnectOptions } from './common';
import { RxClient, type Transport } from './core';
import { timeouts } from './timeouts';

export { BrowserConnection } from './browser-socket';
export type { BrowserWebSocket } from './browser-socket';

/** A browser-like `WebSocket` constructor (the page's own, or a test double). */
export type BrowserWebSocketConstructor = new (url: string, protocols?: string | string[]) => BrowserWebSocket;

/** The page around the client: online/offline events and visibility (tests pass a double). */
export interface BrowserEnvironment {
  /** Listens to `online`/`offline` (on `window`) and `visibilitychange` (on `document`). */
  addEventListener(type: 'online' | 'offline' | 'visibilitychange', listener: () => void): void;
  /** Stops listening. */
  removeEventListener(type: 'online' | 'offline' | 'visibilitychange', listener: () => void): void;
  /** `navigator.onLine`. */
  readonly onLine: boolean;
  /** `document.visibilityState === 'hidden'`. */
  readonly hidden: boolean;
  /** The page's URL, which relative WebSocket URLs are resolved against. */
  readonly href: string | undefined;
}

/** The application-level heartbeat of a browser client (time from the client's `scheduler`). */
export interface BrowserHeartbeatOptions {
  /** Quiet time in ms after which a ping is sent, and the spacing of repeated pings. @default 30000 */
  readonly interval?: number;
  /** How long in ms a ping may go unanswered before the connection is given up. @default 10000 */
  readonly timeout?: number;
  /** The ping text frame; an rxjs-ws server answers it and keeps it (and the answer) from the app. @default '\u0000rxjs-ws:ping' */
  readonly ping?: string;
  /** The answer. @default '\u0000rxjs-ws:pong' */
  readonly pong?: string;
}

/** Options of `connect()` in a browser. */
export interface BrowserConnectOptions extends CommonConnectOptions {
  /**
   * Dead-server detection. Browsers cannot send protocol pings, so this is a
   * small exchange of text frames that an rxjs-ws server answers (see
   * `serve({ appPing })`): after `interval` ms of quiet the client sends
   * `ping`; any frame counts as life; a server silent for `timeout` ms more
   * is given up (1006, `HeartbeatTimeoutError`) and reconnected. Off by
   * default, since a server that is not rxjs-ws's would see the pings as
   * messages.
   * @default false
   */
  readonly heartbeat?: BrowserHeartbeatOptions | false;
  /** While the page is hidden, reconnect attempts wait until it is visible again. @default false */
  readonly pauseWhenHidden?: boolean;
  /** The WebSocket constructor. @default globalThis.WebSocket */
  readonly WebSocket?: BrowserWebSocketConstructor;
  /** The page's events. @default window, navigator and document */
  readonly environment?: BrowserEnvironment;
}

/**
 * Connects to a WebSocket server from a browser, on its own `WebSocket`, and
 * keeps connecting: see {@link RxClient}. Messages arrive as `string` (text)
 * or `Uint8Array` (binary). While the browser is offline, reconnect attempts
 * wait for it to come back, and go at once when it does (and when the page
 * becomes visible again). A relative URL is resolved against the page, and
 * `http(s):` becomes `ws(s):`.
 *
 * @example
 * const client = connect('/ws', { heartbeat: { interval: 20_000, timeout: 10_000 } });
 * client.messages$.subscribe({ next: render, error: showOffline });
 * client.next(JSON.stringify({ hello: 'world' })); // queued until open
 */
export function connect(url: string | URL, options: BrowserConnectOptions = {}): RxClient<BrowserConnection> {
  const o = expectObject('options', options) as BrowserConnectOptions;
  const config = resolveCommon(o, { scheduler: timeouts, shouldReconnect: defaultShouldReconnect });
  const Ctor = orDefault(o.WebSocket, (globalThis as { WebSocket?: unknown }).WebSocket) as BrowserWebSocketConstructor;
  expectFunction('WebSocket', Ctor);
  const env = o.environment ?? pageEnvironment();
  const href = resolveUrl(url, ['ws:', 'wss:', 'http:', 'https:'], env?.href).replace(/^http/, 'ws');
  const heartbeat = resolveAppHeartbeat(o.heartbeat);
  const pauseWhenHidden = expectBoolean('pauseWhenHidden', orDefault(o.pauseWhenHidden, false));
  const transport: Transport<BrowserConnection> = {
    errorClose: { code: CLOSE_NORMAL, reason: 'Client error' },
    validateClose: validateBrowserClose,
    invalidFrame: invalidBrowserFrame,
    // A browser cannot stop reading: the client listens at once and holds frames itself.
    holds: false,
    // What the connection was given and did not send went through the client's queue: nothing of its own to hand back.
    dial: (url, protocols, hooks) => {
      const ws = new Ctor(url, protocols);
      return { connection: new BrowserConnection(ws, config.scheduler, heartbeat, () => hooks.opened(ws.protocol ?? '')) };
    },
  };
  let unwatch: (() => void) | undefined;
  const client = new RxClient(href, config, transport, () => unwatch?.());
  if (env !== undefined && client.closeInfo === null) unwatch = watchPage(env, client, pauseWhenHidden);
  return client;
}

function resolveAppHeartbeat(options: BrowserHeartbeatOptions | false | undefined): AppHeartbeat | null {
  if (options === undefined || options === false) return null;
  const o = expectObject('heartbeat', options);
  const text = (name: 'ping' | 'pong', fallback: string): string => {
    const value = orDefault(o[name], fallback);
    return ensure(`heartbeat.${name}`, value, typeof value === 'string' && value !== '', 'a non-empty string');
  };
  return {
    interval: expectInteger('heartbeat.interval', orDefault(o.interval, 30_000), 1, MAX_TIMER_DELAY),
    timeout: expectInteger('heartbeat.timeout', orDefault(o.timeout, 10_000), 1, MAX_TIMER_DELAY),
    ping: text('ping', APP_PING),
    pong: text('pong', APP_PONG),
  };
}

/** The page's own events, when there is a page. */
function pageEnvironment(): BrowserEnvironment | undefined {
  const page = globalThis as Partial<Pick<BrowserEnvironment, 'addEventListener' | 'removeEventListener'>> & {
    navigator?: { onLine?: boolean };
    document?: { visibilityState?: string };
    location?: { href?: string };
  };
  if (typeof page.addEventListener !== 'function' || typeof page.removeEventListener !== 'function') return undefined;
  return {
    // 'visibilitychange', fired at the document, bubbles up to the window.
    addEventListener: page.addEventListener.bind(page),
    removeEventListener: page.removeEventListener.bind(page),
    get onLine() {
      return page.navigator?.onLine !== false;
    },
    get hidden() {
      return page.document?.visibilityState === 'hidden';
    },
    href: page.location?.href,
  };
}

/** Offline (or hidden, when asked): attempts wait. Back online (or visible): reconnect now. Returns the teardown. */
function watchPage(env: BrowserEnvironment, client: RxClient<BrowserConnection>, pauseWhenHidden: boolean): () => void {
  const away = () => !env.onLine || (pauseWhenHidden && env.hidden);
  // Waking cuts a reconnect delay short: only when the page comes back (online, or visible when hiding pauses).
  const update = () => (away() ? client.suspend() : client.wake());
  const events = pauseWhenHidden ? (['online', 'offline', 'visibilitychange'] as const) : (['online', 'offline'] as const);
  for (const type of events) env.addEventListener(type, update);
  if (away()) client.suspend();
  return () => {
    for (const type of events) env.removeEventListener(type, update);
  };
}
