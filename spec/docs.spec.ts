/**
 * Every ```ts block of README.md and docs/*.md, compiled and run as it is
 * written there. Each block becomes a module under .tmp/snippets: its imports
 * stay on top (`rxjs-ws` and `ws` pointed at spec/support/snippets, which
 * runs servers on free ports and clients against an echo server), the rest becomes the
 * body of a function, and the few names a block uses without declaring them
 * (`socket`, `url`, `render`...) are declared before it (PRELUDE). A block
 * right after `<!-- snippet: browser -->` gets the browser build.
 *
 * Every block must type-check (strict), run without throwing, and leave
 * nothing for RxJS to report as unhandled: that is the error handling a
 * reader who copies it needs.
 */
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { config, firstValueFrom, toArray } from 'rxjs';
import * as ts from 'typescript';
import { closeContext, context, openContext } from './support/snippets/context';
import { destroyAll } from './support/snippets/angular';

const ROOT = join(__dirname, '..');
const OUT = join(ROOT, '.tmp', 'snippets');
const SUPPORT = join(__dirname, 'support', 'snippets');
const SPECIFIERS: Record<string, string> = {
  '@angular/core': join(SUPPORT, 'angular'),
  '@angular/common': join(SUPPORT, 'angular'),
  'rxjs-ws/testing': join(ROOT, 'src', 'testing'),
  'rxjs-ws/prometheus': join(ROOT, 'src', 'prometheus'),
  ws: join(SUPPORT, 'ws'),
};

/** Names blocks use without declaring them, in the order they are declared; `needs` pulls in another. */
const PRELUDE: readonly { name: string; code: string; needs?: string }[] = [
  { name: 'url', code: 'const url = __ctx.url;' },
  { name: 'socket', code: 'const socket = __ctx.socket;' },
  { name: 'ws', code: 'const ws = __ctx.ws;' },
  { name: 'token', code: "const token = 'a-token';" },
  { name: 'sessionId', code: "const sessionId = 'a-session';" },
  { name: 'render', code: 'const render = (_value: unknown): void => {};' },
  { name: 'showFatal', code: 'const showFatal = (_error: unknown): void => {};' },
  { name: 'handle', code: 'const handle = (_body: unknown): void => {};' },
  { name: 'saveToDatabase', code: 'const saveToDatabase = async (_frame: unknown): Promise<void> => {};' },
  { name: 'chunks', code: "const chunks: string[] = ['one', 'two', 'three'];" },
  { name: 'Update', code: 'interface Update { readonly price: number }' },
  { name: 'updates$', code: 'const updates$ = __rx.of<Update[]>({ price: 1 }, { price: 2 });', needs: 'Update' },
  { name: 'testScheduler', code: 'const testScheduler = new __TestScheduler((a, b) => expect(a).toEqual(b));' },
  { name: 'localStorage', code: 'const localStorage = { getItem: (_key: string): string | null => null, setItem: (_key: string, _value: string): void => {} };' },
  { name: 'beforeEach', code: 'const __before: (() => unknown)[] = [];\nconst beforeEach = (fn: () => unknown): void => void __before.push(fn);' },
  { name: 'describe', code: 'const describe = (_name: string, fn: () => void): void => fn();' },
  { name: 'it', code: 'const it = (_name: string, fn: () => void): void => (__before.forEach((f) => f()), fn());', needs: 'beforeEach' },
];

interface Snippet {
  readonly file: string;
  /** Line of the opening fence, 1-based. */
  readonly line: number;
  readonly code: string;
  readonly browser: boolean;
  /** The generated module. */
  readonly path: string;
}

function markdownFiles(): string[] {
  const docs = readdirSync(join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).sort();
  return ['README.md', ...docs.map((f) => `docs/${f}`)];
}

function extract(file: string): Omit<Snippet, 'path'>[] {
  const lines = readFileSync(join(ROOT, file), 'utf8').split('\n');
  const found: Omit<Snippet, 'path'>[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^(\s*)```ts\s*$/.exec(lines[i]!);
    if (!open) continue;
    const indent = open[1]!.length;
    const start = i;
    const body: string[] = [];
    while (++i < lines.length && !/^\s*```\s*$/.test(lines[i]!)) body.push(lines[i]!.slice(indent));
    const before = lines.slice(0, start).reverse().find((l) => l.trim() !== '') ?? '';
    found.push({ file, line: start + 1, code: body.join('\n'), browser: before.trim() === '<!-- snippet: browser -->' });
  }
  return found;
}

function generate(s: Omit<Snippet, 'path'>): string {
  const imports: string[] = [];
  const body = s.code
    .replace(/^import\s[\s\S]*?from\s+'([^']+)';[^\n]*$/gm, (statement, spec: string) => {
      const target = spec === 'rxjs-ws' ? join(SUPPORT, s.browser ? 'browser-lib' : 'node-lib') : SPECIFIERS[spec];
      imports.push(target === undefined ? statement : statement.replace(`'${spec}'`, `'${target}'`));
      return '';
    })
    .replace(/^export (?=(?:abstract |async )?(?:class|interface|function|const|let|type) )/gm, '');
  const uses = body.replace(/\/\/.*$/gm, '');
  const declared = (name: string) =>
    new RegExp(`(?:const|let|var|function|class|interface|type) ${name.replace('$', '\\$')}\\b`).test(uses) ||
    imports.some((i) => new RegExp(`[{,\\s]${name.replace('$', '\\$')}[,\\s}]`).test(i.split(' from ')[0]!));
  const wanted = new Set<string>();
  const want = (name: string) => {
    if (wanted.has(name) || declared(name)) return;
    wanted.add(name);
    const needs = PRELUDE.find((p) => p.name === name)!.needs;
    if (needs !== undefined) want(needs);
  };
  for (const { name } of PRELUDE) if (new RegExp(`(?<![\\w$.])${name.replace('$', '\\$')}(?![\\w$])`).test(uses)) want(name);
  const prelude = PRELUDE.filter((p) => wanted.has(p.name)).map((p) => p.code);
  return [
    ...imports,
    "import * as __rx from 'rxjs';",
    "import { TestScheduler as __TestScheduler } from 'rxjs/testing';",
    `import type { SnippetContext as __Context } from '${join(SUPPORT, 'context')}';`,
    '',
    'export async function run(__ctx: __Context): Promise<void> {',
    ...prelude,
    body,
    '}',
    '',
  ].join('\n');
}

const snippets: Snippet[] = [];
rmSync(OUT, { recursive: true, force: true });
mkdirSync(OUT, { recursive: true });
for (const file of markdownFiles()) {
  for (const s of extract(file)) {
    const path = join(OUT, `${file.replace(/[/.]/g, '_')}_${s.line}.ts`);
    writeFileSync(path, generate(s));
    snippets.push({ ...s, path });
  }
}

describe('the documentation', () => {
  it('finds the blocks: the README has two, the guides the rest', () => {
    expect(snippets.filter((s) => s.file === 'README.md')).toHaveLength(2);
    expect(snippets.length).toBeGreaterThan(20);
  });

  it('every ```ts block type-checks', () => {
    const { config: json } = ts.readConfigFile(join(ROOT, 'tsconfig.json'), ts.sys.readFile);
    const { options } = ts.parseJsonConfigFileContent(json, ts.sys, ROOT);
    const program = ts.createProgram(
      snippets.map((s) => s.path),
      { ...options, noEmit: true, noUnusedLocals: false, noUnusedParameters: false },
    );
    const where = new Map(snippets.map((s) => [s.path, s]));
    const problems = ts.getPreEmitDiagnostics(program).map((d) => {
      const s = d.file && where.get(d.file.fileName);
      const text = ts.flattenDiagnosticMessageText(d.messageText, '\n');
      if (!d.file || !s) return `${d.file ? relative(ROOT, d.file.fileName) : '?'}: ${text}`;
      const { line } = d.file.getLineAndCharacterOfPosition(d.start ?? 0);
      return `${s.file} block at line ${s.line} (${relative(ROOT, s.path)}:${line + 1}): ${text}`;
    });
    expect(problems).toEqual([]);
  }, 120_000);

  describe.each(snippets.map((s) => [`${s.file}:${s.line}`, s] as const))('the block at %s', (_name, s) => {
    it('runs, and leaves no error unhandled', async () => {
      const unhandled: unknown[] = [];
      const previous = config.onUnhandledError;
      const signals = new Set(process.listeners('SIGTERM'));
      config.onUnhandledError = (error) => unhandled.push(error);
      try {
        await openContext();
        const { run } = require(s.path) as { run: (ctx: ReturnType<typeof context>) => Promise<void> };
        await run(context());
        await new Promise((resolve) => setTimeout(resolve, 150)); // what the block started: an echo, a timer
        destroyAll();
      } finally {
        await closeContext();
        config.onUnhandledError = previous;
        for (const listener of process.listeners('SIGTERM')) if (!signals.has(listener)) process.removeListener('SIGTERM', listener); // a shutdown hook
      }
      expect(unhandled).toEqual([]);
    });
  });
});

/** What a snippet promises, beyond running: the ones that make a claim a run alone does not check. */
describe('the client guide: shouldReconnect that gives up after 10 tries of 4000', () => {
  it('retries a server that opens and closes with 4000 ten times, then errors with the 4000', async () => {
    const { connect, defaultShouldReconnect, serve, SocketCloseError } = await import('../src');
    const server = serve({ port: 0, path: '/ws', heartbeat: false });
    let opened = 0;
    server.connections$.subscribe((socket) => (opened++, socket.close(4000, 'come back later')));
    const { port } = await server.listening;
    // As the guide writes it, with short delays.
    let comeBackLater = 0;
    const client = connect(`ws://127.0.0.1:${port}/ws`, {
      reconnect: { initialDelay: 1, maxDelay: 5 },
      shouldReconnect: (info) => (info.close?.code === 4000 ? ++comeBackLater <= 10 : defaultShouldReconnect(info)),
    });
    const ended = firstValueFrom(client.messages$.pipe(toArray())).then(
      () => null,
      (error: unknown) => error,
    );
    const error = await ended;
    expect(error).toBeInstanceOf(SocketCloseError);
    expect((error as InstanceType<typeof SocketCloseError>).info.code).toBe(4000);
    expect(opened).toBe(11); // the first connection and 10 retries
    await server.close();
  });
});
