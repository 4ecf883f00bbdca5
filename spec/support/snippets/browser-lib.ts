/** `rxjs-ws` as a browser bundle sees it, for the documentation's snippets (see ./context). */
import { WebSocket } from 'ws';
import { connect as realConnect, type BrowserConnectOptions, type BrowserEnvironment, type BrowserWebSocketConstructor } from '../../../src/browser';
import { context, track } from './context';

export * from '../../../src/browser';

/** A page that is online and visible. */
const page: BrowserEnvironment = { addEventListener: () => {}, removeEventListener: () => {}, onLine: true, hidden: false, href: 'http://127.0.0.1/' };

/** As the library's, on `ws`'s WebSocket (the browser's API), connecting to the context's echo server. */
export function connect(_url: string | URL, options: BrowserConnectOptions = {}) {
  return track(realConnect(context().url, { WebSocket: WebSocket as unknown as BrowserWebSocketConstructor, environment: page, ...options }));
}
