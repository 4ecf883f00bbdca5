import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { join } from 'node:path';

/** Tiny flag parser shared by the examples: `--name value`, `--name=value`, env fallbacks, `--help`. */
export interface Flag {
  readonly name: string;
  readonly env?: string;
  readonly default: string;
  readonly help: string;
  /** A switch: `--name` alone means `on`; `--name=off` (or `on`) says it outright. */
  readonly switch?: true;
}

export function parseFlags(argv: readonly string[], flags: readonly Flag[], usage: string): Record<string, string> {
  const values: Record<string, string> = {};
  for (const f of flags) values[f.name] = (f.env !== undefined ? process.env[f.env] : undefined) ?? f.default;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--help' || arg === '-h') {
      process.stdout.write(helpText(flags, usage));
      process.exit(0);
    }
    const match = /^--([a-z-]+)(?:=(.*))?$/.exec(arg);
    const flag = match && flags.find((f) => f.name === match[1]);
    if (!match || !flag) fail(`unknown argument ${JSON.stringify(arg)} (see --help)`);
    const value = match[2] ?? (flag.switch ? 'on' : argv[++i]);
    if (value === undefined) fail(`--${flag.name} needs a value`);
    values[flag.name] = value;
  }
  return values;
}

/** The `--help` text: the usage, then one line per flag (and `--help` itself), their descriptions in one column. */
export function helpText(flags: readonly Flag[], usage: string): string {
  const rows = [
    ...flags.map((f) => [f.name, `${f.help} (default ${f.default || '""'}${f.env ? `; env ${f.env}` : ''})`] as const),
    ['help', 'this text'] as const,
  ];
  const width = Math.max(...rows.map(([name]) => name.length)) + 4;
  return `${usage}\n\nOptions:\n${rows.map(([name, help]) => `  --${name.padEnd(width)}${help}`).join('\n')}\n`;
}

/** Reads a switch (`on` or `off`) or exits with a clear message. */
export function switchFlag(values: Record<string, string>, name: string): boolean {
  const raw = values[name]!;
  if (raw !== 'on' && raw !== 'off') fail(`--${name} must be on or off, got ${JSON.stringify(raw)}`);
  return raw === 'on';
}

/** Reads a flag as an integer in [min, max] or exits with a clear message. */
export function intFlag(values: Record<string, string>, name: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  const raw = values[name]!;
  const n = Number(raw);
  if (!/^\d+$/.test(raw.trim()) || !Number.isSafeInteger(n) || n < min || n > max) {
    fail(`--${name} must be an integer in [${min}, ${max}], got ${JSON.stringify(raw)}`);
  }
  return n;
}

export function fail(message: string): never {
  process.stderr.write(`error: ${message}\n`);
  process.exit(2);
}

/** One log line with an ISO timestamp. */
export function log(line: string): void {
  process.stdout.write(`${new Date().toISOString()} ${line}\n`);
}

/** The flags both examples take: where to listen, the WebSocket path, which origins may connect. */
export const serverFlags: readonly Flag[] = [
  { name: 'port', env: 'PORT', default: '8080', help: 'port to listen on (0 picks a free one)' },
  { name: 'host', env: 'HOST', default: '127.0.0.1', help: 'address to bind' },
  { name: 'path', default: '/ws', help: 'WebSocket path' },
  {
    name: 'origin',
    default: 'same-origin',
    help: 'browser origins allowed: same-origin, any (e.g. the page opened from a file), or a comma-separated list of origins allowed besides the server\'s own',
  },
  {
    name: 'shutdown-timeout-ms',
    default: '15000',
    help: 'after SIGTERM or Ctrl-C, exit with 1 if the graceful close has not finished within this many ms',
  },
];

/** What a server still holds, for a shutdown cut short: its open sockets and what they have queued. */
export function stillOpen(server: { readonly sockets: ReadonlySet<{ readonly bufferedAmount: number }> }): string {
  let queued = 0;
  for (const socket of server.sockets) queued += socket.bufferedAmount;
  return `${server.sockets.size} client(s) still open, ${queued} byte(s) queued for them`;
}

/**
 * `--origin` as serve()'s `origin` option. A list adds origins to the
 * server's own: the page it serves itself always connects.
 */
export function originFlag(value: string): 'same-origin' | 'any' | ((origin: string, request: IncomingMessage) => boolean) {
  if (value === 'same-origin' || value === 'any') return value;
  const allowed = new Set(
    value.split(',').map((given) => {
      const origin = originOf(given.trim());
      if (origin === null) fail(`--origin takes same-origin, any, or origins like https://example.com, got ${JSON.stringify(given)}`);
      return origin;
    }),
  );
  return (origin, request) => {
    const normal = originOf(origin);
    return normal !== null && (allowed.has(normal) || isOwnOrigin(normal, request.headers.host));
  };
}

/** An origin (`scheme://host[:port]`) in its normal form, or null for `null` and what is not one. */
function originOf(text: string): string | null {
  try {
    const { origin } = new URL(text);
    return origin === 'null' ? null : origin;
  } catch {
    return null;
  }
}

/** Whether a browser origin is this server's own: its host and port are the request's `Host`, default ports compared as such. */
function isOwnOrigin(origin: string, host: string | undefined): boolean {
  if (host === undefined) return false;
  const url = new URL(origin);
  try {
    return new URL(`${url.protocol}//${host}`).host === url.host;
  } catch {
    return false;
  }
}

/** The page's meta tag that tells its script the WebSocket path (the default URL is the page's host on it). */
const PATH_META = '<meta name="rxjs-ws-path" content="/ws">';

/**
 * Plain HTTP for an example: GET/HEAD `/` (and `/index.html`) serves the
 * page `npm run build` made, dist/examples/<name>/index.html (everything
 * inlined), told the server's WebSocket `path`; `more` may answer other
 * paths (returning true); anything else is 404.
 */
export function pages(name: string, path: string, more?: (pathname: string, res: ServerResponse, head: boolean) => boolean) {
  const file = join(__dirname, name, 'index.html'); // dist/examples/<name>/index.html, beside this file once built
  let html: string;
  try {
    html = readFileSync(file, 'utf8');
  } catch {
    fail(`${file} is missing: run \`npm run build\` (npm start does)`);
  }
  if (!html.includes(PATH_META)) fail(`${file} has no ${PATH_META}: run \`npm run build\``);
  // A function, so that `$&` or `$'` in the path are not taken as replacement patterns.
  const body = Buffer.from(html.replace(PATH_META, () => `<meta name="rxjs-ws-path" content="${escapeAttribute(path)}">`));
  return (req: IncomingMessage, res: ServerResponse): void => {
    const { pathname } = new URL(req.url ?? '/', 'http://localhost');
    const head = req.method === 'HEAD';
    if ((req.method === 'GET' || head) && (pathname === '/' || pathname === '/index.html')) {
      res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', 'Content-Length': body.length, 'Cache-Control': 'no-cache' });
      res.end(head ? undefined : body);
    } else if (!(more?.(pathname, res, head) ?? false)) {
      res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8' }).end('Not Found\n');
    }
  };
}

function escapeAttribute(value: string): string {
  return value.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/**
 * On Ctrl-C or SIGTERM: logs `what()`, runs `close()` (the graceful shutdown)
 * and exits 0 once stdout has drained (1 if closing failed).
 *
 * A second signal while closing does not cut the close short (what clients
 * still have queued would be lost): it is logged, with what is left, and the
 * close goes on. Should the close not finish within `deadlineMs` of the
 * first signal, the process says what it leaves behind (`left()`) and exits
 * with 1. Either way it never dies silently by a signal's default action.
 * (Under `npm start`, one Ctrl-C reaches the server twice: from the terminal,
 * and forwarded by npm. The same signal again within REPEAT_MS is that echo,
 * not a second request.)
 */
export function closeOnSignals(
  what: () => string,
  close: () => Promise<unknown>,
  { left, deadlineMs }: { readonly left: () => string; readonly deadlineMs: number },
): void {
  const REPEAT_MS = 500;
  let first: { signal: NodeJS.Signals; at: number } | null = null;
  let last = 0;
  const onSignal = (signal: NodeJS.Signals): void => {
    const now = Date.now();
    if (first === null) {
      first = { signal, at: now };
      last = now;
      log(`${signal}: closing (${what()})`);
      const deadline = setTimeout(() => {
        process.exitCode = 1;
        // Exits once the line is written: a pipe may still hold what was logged before it.
        const line = `${new Date().toISOString()} the graceful close did not finish within ${deadlineMs} ms: exiting with 1 (${left()})\n`;
        process.stdout.write(line, () => process.exit(1));
        setTimeout(() => process.exit(1), 1000).unref();
      }, deadlineMs);
      close().then(
        () => {
          clearTimeout(deadline);
          log('closed');
          process.exitCode = 0; // no process.exit(): let stdout drain; nothing else keeps the process alive
        },
        (err: Error) => {
          clearTimeout(deadline);
          log(`close failed: ${err.message}`);
          process.exitCode = 1;
        },
      );
      return;
    }
    const repeat = signal === first.signal && now - last < REPEAT_MS;
    last = now;
    if (repeat) return;
    const remaining = Math.max(0, first.at + deadlineMs - now);
    log(`${signal} again: still closing (${left()}); the close goes on, for ${remaining} ms at most`);
  };
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, onSignal);
}
