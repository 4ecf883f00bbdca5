/**
 * The package as users get it: `npm pack` (which builds), the tarball's
 * contents, then a fresh project that installs it offline and uses both entry
 * points from CommonJS, from ESM, and from strict TypeScript.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const ROOT = join(__dirname, '..', '..');
const MODULES = join(ROOT, 'node_modules');
const TSC = join(MODULES, 'typescript', 'bin', 'tsc');
const NPM = process.platform === 'win32' ? 'npm.cmd' : 'npm';

let work: string;
let app: string;
let entries: string[];

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'rxjs-ws-package-'));
  run(NPM, ['pack', '--pack-destination', work], ROOT, 240_000); // prepack builds first
  const tarball = join(work, readdirSync(work).find((f) => f.endsWith('.tgz'))!);
  entries = run('tar', ['-tzf', tarball], work).split('\n').filter(Boolean).map((e) => e.replace(/^package\//, ''));

  // A fresh project. rxjs-ws's dependencies are copied in from this repo, so the
  // install needs neither the network nor the npm cache.
  app = join(work, 'app');
  mkdirSync(app);
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'rxjs-ws-consumer', version: '1.0.0', private: true }));
  const manifest = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { dependencies?: Record<string, string> };
  copyModules(Object.keys(manifest.dependencies ?? {}));
  run(NPM, ['install', '--offline', '--no-audit', '--no-fund', '--ignore-scripts', '--loglevel=error', tarball], app, 120_000);
  copyModules(['@types/node']); // the consumer's own, as in any Node TypeScript project
}, 360_000);

afterAll(() => {
  if (work !== undefined) rmSync(work, { recursive: true, force: true });
});

describe('npm pack', () => {
  it('holds the built library, its declarations, README, LICENSE and package.json, and nothing else', () => {
    const allowed = /^(dist\/(src|browser)\/.+\.(js|d\.ts)|README\.md|LICENSE|package\.json)$/;
    expect(entries.filter((e) => !allowed.test(e))).toEqual([]);
    for (const needed of ['dist/src/index.js', 'dist/src/index.d.ts', 'dist/src/testing/index.js', 'dist/src/testing/index.d.ts', 'README.md', 'LICENSE', 'package.json']) {
      expect(entries).toContain(needed);
    }
  });
});

describe('the installed package', () => {
  it('require() loads both entry points, and a server on port 0 echoes a frame', () => {
    write('echo.cjs', `
      const { serve, CloseCode } = require('rxjs-ws');
      const { testSocket } = require('rxjs-ws/testing');
      const { WebSocket } = require('ws');
      let deep;
      try { require('rxjs-ws/dist/src/socket/socket.js'); } catch (e) { deep = e.code; }
      (async () => {
        const server = serve({ port: 0 });
        server.connections$.subscribe((socket) => socket.messages$.subscribe(socket));
        const { port } = await server.listening;
        const ws = new WebSocket('ws://127.0.0.1:' + port + '/');
        const echo = await new Promise((resolve, reject) => {
          ws.on('open', () => ws.send(Buffer.from('hi')));
          ws.on('message', (data, binary) => resolve({ data: String(data), binary }));
          ws.on('error', reject);
        });
        ws.close(CloseCode.NORMAL);
        await server.close();
        console.log(JSON.stringify({ echo, testSocket: typeof testSocket, deep }));
      })().catch((e) => { console.error(e); process.exit(1); });
    `);
    // The process must also exit by itself: nothing left open after server.close().
    const out = JSON.parse(run(process.execPath, ['echo.cjs'], app, 20_000));
    expect(out).toEqual({ echo: { data: 'hi', binary: true }, testSocket: 'function', deep: 'ERR_PACKAGE_PATH_NOT_EXPORTED' });
  });

  it('rxjs-ws/prometheus loads without prom-client, and asks for it by name when called', () => {
    write('prom.cjs', `
      const { prometheus } = require('rxjs-ws/prometheus');
      const { MissingDependencyError } = require('rxjs-ws');
      let error;
      try { prometheus({}); } catch (e) { error = { missing: e instanceof MissingDependencyError, code: e.code, dependency: e.dependency }; }
      console.log(JSON.stringify({ prometheus: typeof prometheus, error }));
    `);
    const out = JSON.parse(run(process.execPath, ['prom.cjs'], app));
    expect(out).toEqual({ prometheus: 'function', error: { missing: true, code: 'RXJS_WS_MISSING_DEPENDENCY', dependency: 'prom-client' } });
    expect(entries).toContain('dist/src/prometheus/index.d.ts');
  });

  it('import gets every export by name from both entry points (ESM over the CommonJS build)', () => {
    write('names.mjs', `
      import { serve, RxSocket, CloseCode } from 'rxjs-ws';
      import { testSocket, FakeWebSocket } from 'rxjs-ws/testing';
      import * as main from 'rxjs-ws';
      import * as testing from 'rxjs-ws/testing';
      import { createRequire } from 'node:module';
      const require = createRequire(import.meta.url);
      // Node finds named exports in CommonJS with cjs-module-lexer: each one must be visible.
      const missing = (ns, cjs) => Object.keys(cjs).filter((k) => !(k in ns));
      console.log(JSON.stringify({
        kinds: [typeof serve, typeof RxSocket, CloseCode.NORMAL, typeof testSocket, typeof FakeWebSocket],
        missing: [...missing(main, require('rxjs-ws')), ...missing(testing, require('rxjs-ws/testing'))],
        count: Object.keys(main).length,
      }));
    `);
    const out = JSON.parse(run(process.execPath, ['names.mjs'], app));
    expect(out.kinds).toEqual(['function', 'function', 1000, 'function', 'function']);
    expect(out.missing).toEqual([]);
    expect(out.count).toBeGreaterThan(10);
  });

  it.each([
    ['node16, CommonJS and ESM', { module: 'node16', moduleResolution: 'node16' }, ['consumer.cts', 'consumer.mts']],
    ['bundler', { module: 'preserve', moduleResolution: 'bundler' }, ['consumer.ts']],
  ])('type-checks a strict TypeScript consumer (%s)', (_name, resolution, files) => {
    for (const file of files) write(file, CONSUMER);
    const config = { compilerOptions: { ...resolution, strict: true, target: 'ES2022', noEmit: true, skipLibCheck: true, types: ['node'] }, files };
    writeFileSync(join(app, 'tsconfig.json'), JSON.stringify(config));
    run(process.execPath, [TSC, '-p', '.'], app, 120_000);
  });

  it('ships declarations that compile on their own (skipLibCheck: false)', () => {
    write('consumer.mts', CONSUMER);
    const config = { compilerOptions: { module: 'node16', strict: true, target: 'ES2022', noEmit: true, skipLibCheck: false, types: ['node'] }, files: ['consumer.mts'] };
    writeFileSync(join(app, 'tsconfig.json'), JSON.stringify(config));
    run(process.execPath, [TSC, '-p', '.'], app, 120_000);
  });

  it('ships browser declarations that a DOM-only TypeScript app resolves through the browser condition (skipLibCheck: false)', () => {
    write('page.ts', BROWSER_CONSUMER);
    const config = {
      compilerOptions: {
        module: 'preserve', moduleResolution: 'bundler', customConditions: ['browser'], lib: ['ES2022', 'DOM'], types: [],
        strict: true, target: 'ES2022', noEmit: true, skipLibCheck: false,
      },
      files: ['page.ts'],
    };
    writeFileSync(join(app, 'tsconfig.json'), JSON.stringify(config));
    run(process.execPath, [TSC, '-p', '.'], app, 120_000);
  });
});

/** Uses the public types; the `@ts-expect-error` lines fail if they were `any`. */
const CONSUMER = `
import { TestScheduler } from 'rxjs/testing';
import { CloseCode, RxSocket, serve, type CloseInfo, type Inbound } from 'rxjs-ws';
import { testSocket, type WireEvent } from 'rxjs-ws/testing';

const server = serve({ port: 0, heartbeat: { interval: 1000, timeout: 500 } });
server.connections$.subscribe((socket: RxSocket) => {
  socket.messages$.subscribe(socket);
  socket.close$.subscribe((info: CloseInfo) => info.code === CloseCode.NORMAL);
  const frame: Inbound = 'text';
  socket.next(frame);
  // @ts-expect-error the sink takes frames, not numbers
  socket.next(42);
});

const scheduler = new TestScheduler((a, b) => a === b);
scheduler.run(() => {
  const t = testSocket(scheduler, { heartbeat: { interval: 10, timeout: 5 } });
  const close: WireEvent = { close: 1000 };
  t.inbound('-a-|', { a: 'hi' });
  t.expectSent('-a-(c|)', { a: 'hi', c: close });
  // @ts-expect-error a close frame has a numeric code
  t.expectSent('-c', { c: { close: 'normal' } });
});
`;

/** A page's use of the browser build; the `@ts-expect-error` lines fail if the types were `any` or Node's. */
const BROWSER_CONSUMER = `
import { connect, json, CloseCode, type ClientStatus, type Message } from 'rxjs-ws';

const client = connect('wss://example.test/ws', { reconnect: { maxAttempts: 3 } });
client.status$.subscribe((status: ClientStatus) => status.state === 'reconnecting');
client.messages$.subscribe((message: Message) => {
  if (typeof message !== 'string') {
    const bytes: Uint8Array = message;
    // @ts-expect-error a browser message is never a Node Buffer
    message.readUInt8(0);
  }
});
client.next('hello');
// @ts-expect-error the sink takes frames, not numbers
client.next(42);
client.close(CloseCode.NORMAL);
const codec = json<{ n: number }>();
// @ts-expect-error the codec encodes its own type
codec.encode({ n: 'one' });
`;

function write(file: string, text: string): void {
  writeFileSync(join(app, file), text);
}

/** Copies packages and their dependencies from this repo's node_modules into the app's. */
function copyModules(names: string[], seen = new Set<string>()): void {
  for (const name of names) {
    const from = join(MODULES, name);
    // A dependency not at the top is nested inside its parent's folder and was copied with it.
    if (seen.has(name) || !existsSync(from)) continue;
    seen.add(name);
    cpSync(from, join(app, 'node_modules', name), { recursive: true, dereference: true });
    const pkg = JSON.parse(readFileSync(join(from, 'package.json'), 'utf8')) as { dependencies?: Record<string, string> };
    copyModules(Object.keys(pkg.dependencies ?? {}), seen);
  }
}

/** Runs a command to completion and returns its stdout; throws with its output when it fails. */
function run(command: string, args: string[], cwd: string, timeout = 30_000): string {
  // Without npm's own variables: `npm run` sets npm_config_local_prefix, which would point a nested npm at this repo.
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^npm_/i.test(k) && k !== 'INIT_CWD'));
  const result = spawnSync(command, args, { cwd, env, encoding: 'utf8', timeout });
  if (result.status !== 0) {
    const why = result.error ? String(result.error) : `exit code ${result.status}${result.signal ? ` (${result.signal})` : ''}`;
    throw new Error(`${command} ${args.join(' ')} failed in ${cwd}: ${why}\n${result.stdout}\n${result.stderr}`);
  }
  return result.stdout;
}
