/**
 * Builds the example pages; `npm run build` runs it after tsc (the page
 * scripts import the browser build, dist/browser).
 *
 * For each page, examples/<name>/page.ts (an ES module that imports `rxjs-ws`)
 * is bundled by esbuild for the browser, as an app's bundler would: the
 * package's `browser` export condition picks dist/browser. The bundle and
 * examples/page.css are inlined into examples/<name>/index.html, written to
 * dist/examples/<name>/index.html: one self-contained file, which the example
 * server serves and which also works opened from a `file://` URL (where a
 * browser loads no module script from another file).
 *
 * Bundling happens here, once, rather than when a server starts: the page
 * then exists on disk for `file://`, a server starts without esbuild (a
 * devDependency, as TypeScript is) and serves bytes it already has.
 */
import { readFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { build, type BuildOptions } from 'esbuild';

const ROOT = join(__dirname, '..', '..'); // from dist/examples/
const EXAMPLES = join(ROOT, 'examples');
export const PAGE_NAMES = ['echo', 'chat'] as const;

/** The tags of a page template that the build replaces with what they point to. */
const STYLESHEET = '<link rel="stylesheet" href="../page.css">';
const SCRIPT = '<script type="module" src="page.ts"></script>';
/** Where a page shows the live metrics panel, examples/metrics-panel.html. */
const METRICS_PANEL = '<!-- metrics-panel.html -->';

/**
 * Bundles a page script (`entry`: its file, or its text as `stdin`) as one
 * minified ES module for the browser, with rxjs-ws from `root`'s browser
 * build; returns its code, ready to inline in a `<script>`. `name` says
 * which script in errors.
 */
export async function bundlePageScript(root: string, entry: Pick<BuildOptions, 'entryPoints' | 'stdin'>, name: string): Promise<string> {
  const result = await build({
    ...entry,
    absWorkingDir: root,
    bundle: true,
    format: 'esm',
    platform: 'browser', // with the `browser` condition: `rxjs-ws` resolves to dist/browser through the package's exports
    target: 'es2022',
    minify: true,
    legalComments: 'none',
    write: false,
    metafile: true,
    logLevel: 'silent',
    tsconfigRaw: {}, // not tsconfig.json's `paths`, which point `rxjs-ws` at the Node sources
  });
  const inputs = Object.keys(result.metafile.inputs);
  if (!inputs.includes('dist/browser/browser.js') || inputs.some((file) => file.startsWith('src/'))) {
    throw new Error(`${name} must take rxjs-ws from its browser build (dist/browser), not from:\n${inputs.join('\n')}`);
  }
  const code = result.outputFiles[0]!.text;
  // Inlined into a <script>: these would end it early, or change how the browser reads it.
  if (/<\/script|<!--/i.test(code)) throw new Error(`${name}: the bundle contains "</script" or "<!--"`);
  return code;
}

/** Bundles `examples/<name>/page.ts`; returns its code. */
function bundle(name: string): Promise<string> {
  const entry = join(EXAMPLES, name, 'page.ts');
  return bundlePageScript(ROOT, { entryPoints: [entry] }, relative(ROOT, entry));
}

function inline(html: string, tag: string, replacement: string, file: string): string {
  const at = html.indexOf(tag);
  if (at < 0 || html.indexOf(tag, at + 1) >= 0) throw new Error(`${file} must contain ${tag} once`);
  return html.slice(0, at) + replacement + html.slice(at + tag.length);
}

/** Builds every page into dist/examples/<name>/index.html; returns the files written. */
export async function buildPages(): Promise<string[]> {
  const css = readFileSync(join(EXAMPLES, 'page.css'), 'utf8');
  // Its first line is a comment for people reading the file.
  const panel = readFileSync(join(EXAMPLES, 'metrics-panel.html'), 'utf8').split('\n').slice(1).join('\n').trim();
  const scripts = await Promise.all(PAGE_NAMES.map(bundle));
  return PAGE_NAMES.map((name, i) => {
    const template = join(EXAMPLES, name, 'index.html');
    let html = readFileSync(template, 'utf8');
    html = inline(html, STYLESHEET, `<style>\n${css}</style>`, template);
    html = inline(html, SCRIPT, `<script type="module">\n${scripts[i]!}</script>`, template);
    html = inline(html, METRICS_PANEL, panel, template);
    const out = join(ROOT, 'dist', 'examples', name, 'index.html');
    mkdirSync(join(out, '..'), { recursive: true });
    writeFileSync(out, html);
    return out;
  });
}

if (require.main === module) {
  buildPages().then(
    (files) => {
      for (const file of files) process.stdout.write(`${relative(ROOT, file)}\n`);
    },
    (err: Error) => {
      process.stderr.write(`build-pages: ${err.message}\n`);
      process.exitCode = 1;
    },
  );
}
