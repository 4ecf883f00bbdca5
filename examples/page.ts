/**
 * What the example pages share (examples/build-pages.ts bundles it into
 * each): the log, the client's status with the countdown to its next
 * attempt, its offline queue, the default socket URL, and how frames are shown.
 */
import { connect, HandshakeError, SocketCloseError, type BrowserConnection, type ClientStatus, type CloseInfo, type Message, type RxClient } from 'rxjs-ws';

/** The pages' reconnect schedule: 0.5 s doubling up to 5 s, with full jitter, for as long as it takes. */
const RECONNECT = { initialDelay: 500, maxDelay: 5_000 };
/**
 * The pages' heartbeat (when its box is ticked): a ping after 1 s without a
 * frame from the server, and the connection given up when the answer has not
 * come 1 s later. An rxjs-ws server answers; other servers would see the pings.
 */
const HEARTBEAT = { interval: 1_000, timeout: 1_000 };

const CLOSE_NAMES: Readonly<Record<number, string>> = {
  1000: 'normal closure', 1001: 'going away', 1002: 'protocol error', 1003: 'unsupported data',
  1005: 'no status received', 1006: 'abnormal closure', 1007: 'invalid frame payload data',
  1008: 'policy violation', 1009: 'message too big', 1010: 'mandatory extension',
  1011: 'internal error', 1012: 'service restart', 1013: 'try again later', 1015: 'TLS handshake failure',
};
const MAX_LINES = 1000; // older log lines are dropped past this
const HEX_PREVIEW_BYTES = 32; // bytes shown for a binary frame
const TEXT_PREVIEW_CHARS = 2000; // characters shown for a long text frame

export const $ = <T extends HTMLElement = HTMLElement>(id: string): T => document.getElementById(id) as T;

const pad = (n: number, width: number): string => String(n).padStart(width, '0');

function timestamp(at?: number): string {
  const d = at === undefined ? new Date() : new Date(at);
  return `${pad(d.getHours(), 2)}:${pad(d.getMinutes(), 2)}:${pad(d.getSeconds(), 2)}.${pad(d.getMilliseconds(), 3)}`;
}

/** Appends `<div class="line CLASSES"><time/><span.kind>LABEL</span><span.payload>TEXT</span></div>`, keeping the view at the bottom. */
function logLine(logEl: HTMLElement, classes: string, label: string, text: string, at?: number): void {
  const stick = logEl.scrollTop + logEl.clientHeight >= logEl.scrollHeight - 24;
  const line = document.createElement('div');
  line.className = `line ${classes}`;
  const time = document.createElement('time');
  time.textContent = timestamp(at);
  const kind = document.createElement('span');
  kind.className = 'kind';
  kind.textContent = kind.title = label;
  const payload = document.createElement('span');
  payload.className = 'payload';
  payload.textContent = text;
  line.append(time, kind, payload);
  logEl.appendChild(line);
  while (logEl.childElementCount > MAX_LINES) logEl.firstElementChild!.remove();
  if (stick) logEl.scrollTop = logEl.scrollHeight;
}

/**
 * The socket URL to offer: the page's own host on the server's WebSocket path
 * (the server writes it into the page's `rxjs-ws-path` meta tag), or, for a page
 * opened from a file, ws://127.0.0.1:8080 (where `npm start` listens).
 */
function defaultUrl(): string {
  const path = document.querySelector<HTMLMetaElement>('meta[name="rxjs-ws-path"]')?.content || '/ws';
  if (location.protocol === 'http:' || location.protocol === 'https:') {
    return `${location.protocol === 'https:' ? 'wss:' : 'ws:'}//${location.host}${path}`;
  }
  return `ws://127.0.0.1:8080${path}`;
}

/** What a page opened from a file should know; `undefined` when it was served. */
function fileNote(start: string): string | undefined {
  if (location.protocol !== 'file:') return undefined;
  return `Opened from a file: the browser sends "Origin: null", which the rxjs-ws examples refuse (HTTP 403) unless started with --origin any (${start} -- --origin any).`;
}

/** `code=1000 (normal closure) reason="…" wasClean=true`; `names` adds or overrides code names. */
function closeText(info: CloseInfo, names?: Readonly<Record<number, string>>): string {
  const name = names?.[info.code] ?? CLOSE_NAMES[info.code];
  return `code=${info.code}${name ? ` (${name})` : ''} reason=${JSON.stringify(info.reason)} wasClean=${info.wasClean}`;
}

export function describeText(text: string): string {
  if (text.length <= TEXT_PREVIEW_CHARS) return text;
  return `${text.slice(0, TEXT_PREVIEW_CHARS)}… (${text.length} characters in all)`;
}

/** `binary 5 bytes: 68 65 6c 6c 6f`, at most HEX_PREVIEW_BYTES of them. */
export function describeBinary(bytes: Uint8Array): string {
  const shown = Array.from(bytes.subarray(0, HEX_PREVIEW_BYTES), (b) => b.toString(16).padStart(2, '0')).join(' ');
  return `binary ${bytes.length} bytes: ${shown}${bytes.length > HEX_PREVIEW_BYTES ? ' …' : ''}`;
}

/** Why the last connection failed, beyond its close code, as a person reads it; `undefined` when the close says it all. */
function cause(error: unknown): string | undefined {
  // Before the open, a browser tells nothing: refused, an HTTP status, TLS and offline all look alike.
  if (error instanceof HandshakeError && error.status === 0) return 'could not connect (the browser does not say why)';
  // A SocketCloseError says again what the close says; a heartbeat timeout says what the close cannot.
  if (error === undefined || error instanceof SocketCloseError) return undefined;
  return error instanceof Error ? error.message : String(error);
}

/** What differs between the pages. */
export interface PageOptions {
  /** How the example starts (`npm start`), for the note a page opened from a file shows. */
  readonly command: string;
  /** How often the badge, the countdown and the counters are refreshed, in ms. */
  readonly refreshMs: number;
  /** Names of close codes the page explains its own way. */
  readonly closeNames?: Readonly<Record<number, string>>;
  /** The URL to connect to, from what the URL box holds (it may throw: the page logs why). @default the box's text */
  readonly url?: (typed: string) => string;
  /** Each frame the server sends. */
  readonly onFrame: (frame: Message) => void;
  /** Sends what the send form holds (through `send()`). */
  readonly send: () => void;
  /** The page's own part of a refresh; `active` tells whether the client takes frames. */
  readonly refresh?: (active: boolean) => void;
}

/**
 * A page's parts that every example has: the connect form (`url`,
 * `app-heartbeat`, `connect`, `disconnect`), the send form (`send`), the
 * status (`status`, `status-detail`, `queued`, `sent-count`) and the `log`
 * (with `clear`). One client at a time: its `status$` on the badge (with the
 * countdown to the next attempt) and in the log, what it refuses or drops in
 * the log, and how many frames wait in its offline queue.
 */
export class ExamplePage {
  readonly #options: PageOptions;
  readonly #logEl = $('log');
  readonly #url = $<HTMLInputElement>('url');
  readonly #heartbeat = $<HTMLInputElement>('app-heartbeat');
  readonly #connect = $<HTMLButtonElement>('connect');
  readonly #disconnect = $<HTMLButtonElement>('disconnect');
  readonly #send = $<HTMLButtonElement>('send');
  readonly #status = $('status');
  readonly #detail = $('status-detail');
  readonly #queued = $('queued');
  readonly #sent = $('sent-count');
  #client: RxClient<BrowserConnection> | null = null;
  #offered = 0;
  /** `performance.now()` of the next attempt (while reconnecting). */
  #due = 0;

  constructor(options: PageOptions) {
    this.#options = options;
    $('connect-form').addEventListener('submit', (e) => {
      e.preventDefault();
      this.#open();
    });
    $('send-form').addEventListener('submit', (e) => {
      e.preventDefault();
      if (this.active) options.send();
      this.refresh();
    });
    this.#disconnect.addEventListener('click', () => {
      this.#client?.close(1000, 'Disconnect button');
      this.refresh();
    });
    $('clear').addEventListener('click', () => (this.#logEl.textContent = ''));
    addEventListener('offline', () => this.log('info', 'the browser is offline: reconnect attempts wait for the network'));
    addEventListener('online', () => this.log('info', 'the browser is online again'));
    this.#url.value = defaultUrl();
    const note = fileNote(options.command);
    if (note !== undefined) this.log('info', note);
    // Once the page's script has run to its end (its hooks may name the page being constructed here).
    queueMicrotask(() => this.refresh());
    setInterval(() => this.refresh(), options.refreshMs);
    watchServerMetrics();
  }

  /** One log line: its kind (a class, and the label unless `label` is given), its text, more classes, and when (ms since epoch, or now). */
  log(kind: string, text: string, classes = '', label = kind, at?: number): void {
    logLine(this.#logEl, classes ? `${kind} ${classes}` : kind, label, text, at);
  }

  /** The current client (the last one, once closed), or `null` before the first. */
  get client(): RxClient<BrowserConnection> | null {
    return this.#client;
  }

  /** Whether the client takes frames: it is not closing or closed. */
  get active(): boolean {
    const state = this.#client?.state;
    return state === 'connecting' || state === 'open';
  }

  /**
   * Frames offered and not yet handed to the network (nor refused, nor
   * dropped): those in the offline queue, which go out first on the next open.
   */
  get queued(): number {
    const client = this.#client;
    if (client === null) return 0;
    const { sent, refused, dropped } = client.stats;
    return this.#offered - sent - refused - dropped;
  }

  /**
   * Sends a frame, or queues it while the client has no open connection (or
   * a congested one); says which, or `refused` (the log has the error).
   */
  send(frame: string | Uint8Array): 'sent' | 'queued' | 'refused' {
    const client = this.#client;
    if (client === null || !this.active) return 'refused';
    this.#offered++;
    const before = client.stats;
    client.next(frame);
    const after = client.stats;
    if (after.sent > before.sent) return 'sent';
    return after.refused === before.refused && after.dropped === before.dropped ? 'queued' : 'refused';
  }

  /** Updates the badge, the countdown, the counters and the buttons. */
  refresh(): void {
    const client = this.#client;
    const status = client?.status ?? { state: 'closed', attempt: 0 };
    const name = status.state.toUpperCase();
    if (this.#status.textContent !== name) {
      this.#status.textContent = name;
      this.#status.className = `badge ${name}`;
    }
    let detail = '';
    if (status.state === 'reconnecting') {
      const left = this.#due - performance.now();
      if (left > 0) detail = `attempt ${status.attempt} in ${(left / 1000).toFixed(1)} s`;
      else detail = navigator.onLine ? `attempt ${status.attempt}: connecting` : `attempt ${status.attempt}: waiting for the network`;
    }
    setText(this.#detail, detail);
    setText(this.#queued, String(this.queued));
    setText(this.#sent, String(client?.stats.sent ?? 0));
    const active = this.active;
    this.#connect.disabled = this.#url.disabled = this.#heartbeat.disabled = active;
    this.#disconnect.disabled = this.#send.disabled = !active;
    this.#options.refresh?.(active);
  }

  /** Connects to the URL in the box with the pages' options, unless a client is still active. */
  #open(): void {
    if (this.active) return;
    const typed = this.#url.value.trim();
    let url = typed;
    let client: RxClient<BrowserConnection>;
    try {
      url = this.#options.url?.(typed) ?? typed;
      // resume: a server started with --resume keeps a session across drops; any other takes it as a plain connection.
      client = connect(url, { reconnect: RECONNECT, heartbeat: this.#heartbeat.checked && HEARTBEAT, resume: true });
    } catch (err) {
      this.log('error', `cannot connect to ${JSON.stringify(url)}: ${(err as Error).message}`);
      return;
    }
    this.#watch(client, url);
    client.messages$.subscribe({
      next: (frame) => this.#options.onFrame(frame),
      error: () => {}, // the client gave up: the close line says why
    });
    this.refresh();
    $('message').focus();
  }

  /** Shows a new client, connecting to `url` (the previous one has closed). */
  #watch(client: RxClient<BrowserConnection>, url: string): void {
    this.#client = client;
    this.#offered = 0;
    let attempts = 0;
    const errors = client.errors$.subscribe((error) => this.log('error', error.message));
    client.status$.subscribe((status: ClientStatus) => {
      switch (status.state) {
        case 'connecting':
          return this.log('info', `connecting to ${url}`);
        case 'open':
          this.log('open', `${attempts === 0 ? url : `${url} (after ${attempts} attempt(s))`}${sessionText(status)}`);
          attempts = 0;
          return;
        case 'reconnecting':
          attempts = status.attempt;
          this.#due = performance.now() + (status.delay ?? 0);
          return this.log('reconnecting', `attempt ${status.attempt} in ${status.delay} ms: ${this.#ending(status)}`);
        case 'closed': {
          // The last connection's close, or (closed between connections) the client's own.
          const info = status.lastClose ?? client.closeInfo!;
          const why = cause(status.error);
          this.log('close', `${closeText(info, this.#options.closeNames)}${why === undefined ? '' : ` (gave up: ${why})`}`);
          errors.unsubscribe();
          return;
        }
      }
    });
  }

  /** How the last connection ended: its close, and what more there is to say. */
  #ending(status: ClientStatus): string {
    const why = cause(status.error);
    if (status.error instanceof HandshakeError && status.error.status === 0) return why!; // it never opened: its 1006 says nothing
    const close = status.lastClose === undefined ? [] : [`closed with ${closeText(status.lastClose, this.#options.closeNames)}`];
    return [...close, ...(why === undefined ? [] : [why])].join('; ');
  }
}

/** Sets an element's text only when it changes (the pages refresh ten times a second). */
/** How often the live panel asks the server for its figures, in ms. */
const METRICS_MS = 1000;

/**
 * The live panel (`m-connections`, `m-rate`, `m-drops`): the server's figures
 * from GET /metrics.json (its `metrics$()` stream), once a second. A page
 * opened from a file has no server to ask: the panel says so.
 */
function watchServerMetrics(): void {
  const panel = document.getElementById('metrics-panel');
  if (panel === null) return;
  if (location.protocol !== 'http:' && location.protocol !== 'https:') return void (panel.dataset.state = 'unavailable');
  const show = (connections: string, rate: string, drops: string, state: string) => {
    setText($('m-connections'), connections);
    setText($('m-rate'), rate);
    setText($('m-drops'), drops);
    panel.dataset.state = state;
  };
  const poll = (): void => {
    // Offline, the answer cannot come: no request (and no console error for it).
    if (!navigator.onLine) return show('–', '–', '–', 'unavailable');
    fetch('/metrics.json', { cache: 'no-store' })
      .then((res) => (res.ok ? res.json() : Promise.reject(new Error(`HTTP ${res.status}`))))
      .then(
        (m: { connections: number; messagesPerSecond: number; drops: number }) => show(String(m.connections), String(m.messagesPerSecond), String(m.drops), 'live'),
        () => show('–', '–', '–', 'unavailable'),
      );
  };
  poll();
  setInterval(poll, METRICS_MS);
}

export function setText(el: HTMLElement, text: string): void {
  if (el.textContent !== text) el.textContent = text;
}

/** How the session went on an open, when the server offers resume (`--resume`): nothing for a plain connection. */
function sessionText(status: ClientStatus): string {
  const session = status.session;
  if (session === undefined || session.state === 'unsupported') return '';
  return session.state === 'resumed' ? ', session resumed: nothing lost' : `, new session${session.why ? ` (the last one ${session.why === 'unknown' ? 'was unknown to the server' : `was ${session.why}`})` : ''}`;
}
