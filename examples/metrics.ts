import type { ServerResponse } from 'node:http';
import { Registry } from 'prom-client';
import type { Hub, ServerMetrics } from 'rxjs-ws';
import { prometheus } from 'rxjs-ws/prometheus';

/** What the pages' live panel shows (GET /metrics.json). */
export interface PanelMetrics {
  /** Sockets open now. */
  readonly connections: number;
  /** Frames in and out per second, over the last interval. */
  readonly messagesPerSecond: number;
  /** Frames the server dropped (outbound policy, unsent at a close) or refused, since it started. */
  readonly drops: number;
}

/** How often the panel's figures are taken from `server.metrics$()`, in ms. */
const PANEL_MS = 1000;

/**
 * The examples' observability: GET /metrics (Prometheus text, from
 * `rxjs-ws/prometheus`, read on scrape, at most once a second however many
 * ask) and GET /metrics.json (the live
 * panel's figures, from a `metrics$()` stream: messages/s is the change
 * between its snapshots).
 */
export class ExampleMetrics {
  readonly #registry = new Registry();
  /** The last scrape's text, shared by every GET /metrics for PANEL_MS: a burst of requests walks the sockets once. */
  #scrape: { readonly at: number; readonly text: Promise<string> } | null = null;
  #panel: PanelMetrics = { connections: 0, messagesPerSecond: 0, drops: 0 };

  constructor(server: { metrics$(interval: number): import('rxjs').Observable<ServerMetrics>; metrics(): ServerMetrics }, hub?: Hub) {
    prometheus({ registry: this.#registry, server, hub });
    let previous: ServerMetrics | null = null;
    // Ends by itself when the server has closed.
    server.metrics$(PANEL_MS).subscribe((m) => {
      const moved = (s: ServerMetrics) => s.messages.received + s.messages.sent;
      const seconds = previous === null ? 0 : (m.at - previous.at) / 1000;
      this.#panel = {
        connections: m.open,
        messagesPerSecond: previous === null || seconds <= 0 ? 0 : Math.round((moved(m) - moved(previous)) / seconds),
        drops: m.messages.dropped + m.messages.refused,
      };
      previous = m;
    });
  }

  /** Answers GET /metrics and /metrics.json (true), or leaves the request to others (false). */
  serve(pathname: string, res: ServerResponse, head: boolean): boolean {
    if (pathname === '/metrics.json') {
      send(res, 'application/json', JSON.stringify(this.#panel), head);
      return true;
    }
    if (pathname !== '/metrics') return false;
    const now = Date.now();
    if (this.#scrape === null || now - this.#scrape.at >= PANEL_MS) this.#scrape = { at: now, text: this.#registry.metrics() };
    const scrape = this.#scrape;
    scrape.text.then(
      (text) => send(res, this.#registry.contentType, text, head),
      (err: Error) => {
        if (this.#scrape === scrape) this.#scrape = null; // the next request tries again
        res.writeHead(500, { 'Content-Type': 'text/plain; charset=utf-8' });
        res.end(`${err.message}\n`);
      },
    );
    return true;
  }
}

function send(res: ServerResponse, type: string, body: string, head: boolean): void {
  res.writeHead(200, { 'Content-Type': type, 'Cache-Control': 'no-store', 'Content-Length': Buffer.byteLength(body) });
  res.end(head ? undefined : body);
}
