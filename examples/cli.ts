import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { join } from 'node:path';

/** Tiny flag parser shared by the examples: `--name value`, `--name=value`, env fallbacks, `--help`. */
export interface Flag {
  readonly name: string;
  readonly env?: string;
  readonly default: string;
  readonly help: string;
}

export function parseFlags(argv: readonly string[], flags: readonly Flag[], usage: string): Record<string, string> {
  const values: Record<string, string> = {};
  for (const f of flags) values[f.name] = (f.env !== undefined ? process.env[f.env] : undefined) ?? f.default;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--help' || arg === '-h') {
      const width = Math.max(...flags.map((f) => f.name.length)) + 4;
      const lines = flags.map(
        (f) => `  --${f.name.padEnd(width)}${f.help} (default ${f.default || '""'}${f.env ? `; env ${f.env}` : ''})`,
      );
      process.stdout.write(`${usage}\n\nOptions:\n${lines.join('\n')}\n  --help${' '.repeat(width - 2)}this text\n`);
      process.exit(0);
    }
    const match = /^--([a-z-]+)(?:=(.*))?$/.exec(arg);
    const flag = match && flags.find((f) => f.name === match[1]);
    if (!match || !flag) fail(`unknown argument ${JSON.stringify(arg)} (see --help)`);
    const value = match[2] ?? argv[++i];
    if (value === undefined) fail(`--${flag.name} needs a value`);
    values[flag.name] = value;
  }
  return values;
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
    help: 'browser origins allowed: same-origin, any (e.g. the page opened from a file), or a comma-separated list',
  },
];

/** `--origin` as serve()'s `origin` option. */
export function originFlag(value: string): 'same-origin' | 'any' | string[] {
  return value === 'same-origin' || value === 'any' ? value : value.split(',');
}

/**
 * Plain HTTP for an example: GET/HEAD `/` serves `examples/<name>/index.html`,
 * `/page.css` and `/page.js` what the pages share; `more` may answer other paths
 * (returning true); anything else is 404.
 */
export function pages(name: string, more?: (pathname: string, res: ServerResponse, head: boolean) => boolean) {
  const examples = join(__dirname, '..', '..', 'examples'); // from dist/examples/
  const files: Record<string, { body: Buffer; type: string }> = {
    '/': { body: readFileSync(join(examples, name, 'index.html')), type: 'text/html; charset=utf-8' },
    '/page.css': { body: readFileSync(join(examples, 'page.css')), type: 'text/css; charset=utf-8' },
    '/page.js': { body: readFileSync(join(examples, 'page.js')), type: 'text/javascript; charset=utf-8' },
  };
  files['/index.html'] = files['/']!;
  return (req: IncomingMessage, res: ServerResponse): void => {
    const { pathname } = new URL(req.url ?? '/', 'http://localhost');
    const head = req.method === 'HEAD';
    const file = req.method === 'GET' || head ? files[pathname] : undefined;
    if (file !== undefined) {
      res.writeHead(200, { 'Content-Type': file.type, 'Content-Length': file.body.length });
      res.end(head ? undefined : file.body);
    } else if (!(more?.(pathname, res, head) ?? false)) {
      res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8' }).end('Not Found\n');
    }
  };
}

/**
 * On Ctrl-C or SIGTERM: logs `what()`, runs `close()` (the graceful shutdown)
 * and exits 0 once stdout has drained (1 if closing failed).
 */
export function closeOnSignals(what: () => string, close: () => Promise<unknown>): void {
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      log(`${signal}: closing (${what()})`);
      close().then(
        () => {
          log('closed');
          process.exitCode = 0; // no process.exit(): let stdout drain; nothing else keeps the process alive
        },
        (err: Error) => {
          log(`close failed: ${err.message}`);
          process.exitCode = 1;
        },
      );
    });
  }
}
