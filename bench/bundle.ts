/**
 * The browser bundle of `connect()`: the package's browser build, found by
 * its name through `exports` (the `browser` condition), bundled alone for a
 * page as an app's bundler would take it, minified, and gzipped. The bundle
 * spec holds it to its budget; `npm run bench` reports it.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';

/** The repository: the nearest folder up from here with rxjs-ws's package.json (this file runs from bench/ and from dist/bench/). */
export const ROOT = findRoot(__dirname);

/** Where the bundled package's own files are, among the bundle's inputs. */
export const PACKAGE_DIR = 'node_modules/rxjs-ws/';

export interface BrowserBundle {
  /** The minified code. */
  readonly code: string;
  /** Its bytes. */
  readonly minified: number;
  /** Its bytes gzipped at level 9. */
  readonly gzip: number;
  /** Each input (the package's files are under `PACKAGE_DIR`) and its bytes in the minified code. */
  readonly inputs: Readonly<Record<string, number>>;
}

/**
 * Builds the browser entry (`tsc -p tsconfig.browser.json`) into a package in
 * a temporary `node_modules/rxjs-ws`, then bundles `import { connect } from
 * 'rxjs-ws'` with esbuild for the browser: default conditions (rxjs resolves to
 * its esm5 build), ESM, minified. Rejects if the bundle needs a Node
 * built-in, which esbuild cannot resolve for a browser.
 */
export async function bundleConnect(): Promise<BrowserBundle> {
  const work = mkdtempSync(join(tmpdir(), 'rxjs-ws-bundle-'));
  try {
    const pkg = join(work, PACKAGE_DIR);
    mkdirSync(pkg, { recursive: true });
    writeFileSync(join(pkg, 'package.json'), readFileSync(join(ROOT, 'package.json')));
    const tsc = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
    execFileSync(process.execPath, [tsc, '-p', join(ROOT, 'tsconfig.browser.json'), '--outDir', join(pkg, 'dist', 'browser')], { stdio: 'pipe' });
    const entry = join(work, 'entry.js');
    writeFileSync(entry, "import { connect } from 'rxjs-ws';\nglobalThis.connect = connect;\n");
    const result = await build({
      entryPoints: [entry],
      absWorkingDir: work,
      // The package's own dependencies (rxjs) as if installed beside it.
      nodePaths: [join(ROOT, 'node_modules')],
      bundle: true,
      minify: true,
      platform: 'browser',
      format: 'esm',
      write: false,
      metafile: true,
      logLevel: 'silent',
    });
    const code = result.outputFiles[0]!.text;
    const output = Object.values(result.metafile.outputs)[0]!;
    const inputs = Object.fromEntries(Object.entries(output.inputs).map(([path, { bytesInOutput }]) => [path, bytesInOutput]));
    return { code, minified: Buffer.byteLength(code), gzip: gzipSync(code, { level: 9 }).length, inputs };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** Bytes of the minified bundle that are the package's own code, and those of its dependencies (rxjs, and tslib for rxjs). */
export function splitBytes(bundle: BrowserBundle): { readonly own: number; readonly dependencies: number } {
  let own = 0;
  let dependencies = 0;
  for (const [path, bytes] of Object.entries(bundle.inputs)) {
    if (path.startsWith(PACKAGE_DIR)) own += bytes;
    else if (path.includes('node_modules/')) dependencies += bytes;
  }
  return { own, dependencies };
}

function findRoot(from: string): string {
  for (let dir = from; ; dir = dirname(dir)) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest) && (JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string }).name === 'rxjs-ws') return dir;
    if (dirname(dir) === dir) throw new Error(`No rxjs-ws package.json above ${from}`);
  }
}
