/**
 * The layout of src/: one folder per concern, imports running one way. A
 * folder may import from its own files and from the folders below it in
 * LAYERS, never from one above; the leaves import only leaves; and no file
 * imports itself through a circle. The entry points are index.ts (Node),
 * browser.ts (browsers), testing/ and prometheus/.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

const SRC = resolve(__dirname, '..', 'src');

/** Top to bottom. The entry points (index.ts, browser.ts, testing/, prometheus/) may import anything. */
const LAYERS = ['client', 'hub', 'server', 'resume', 'codec', 'socket', 'operators', 'leaves'] as const;
const LEAVES = new Set(['errors.ts', 'constants.ts', 'validation.ts', 'types.ts', 'utf8.ts']);

function files(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? files(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : []));
}

function layerOf(file: string): string {
  const rel = relative(SRC, file);
  if (!rel.includes('/')) return rel === 'index.ts' || rel === 'browser.ts' ? 'entry' : LEAVES.has(rel) ? 'leaves' : `unplaced ${rel}`;
  const folder = rel.split('/')[0]!;
  return folder === 'testing' || folder === 'prometheus' ? 'entry' : folder;
}

/** Relative imports of a file (type-only ones too: they tie the layers as much), resolved to files. */
function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const specs = [...text.matchAll(/(?:^|\n)\s*(?:import|export)[^'";]*?from\s+'(\.{1,2}\/[^']+)'/g)].map((m) => m[1]!);
  return specs.map((spec) => {
    const base = resolve(dirname(file), spec);
    const candidates = [`${base}.ts`, join(base, 'index.ts')];
    const found = candidates.find((c) => all.includes(c));
    if (found === undefined) throw new Error(`${relative(SRC, file)}: cannot resolve ${spec}`);
    return found;
  });
}

const all = files(SRC);
const graph = new Map(all.map((f) => [f, importsOf(f)]));

describe('the layout of src/', () => {
  it('places every file in a layer', () => {
    expect(all.map(layerOf).filter((l) => l.startsWith('unplaced'))).toEqual([]);
  });

  it('imports only downwards: a layer never reaches up, and the leaves reach only leaves', () => {
    const wrong: string[] = [];
    for (const [file, imports] of graph) {
      const from = layerOf(file);
      if (from === 'entry') continue;
      for (const target of imports) {
        const to = layerOf(target);
        const ok = to === from || (to !== 'entry' && LAYERS.indexOf(to as never) > LAYERS.indexOf(from as never));
        if (!ok) wrong.push(`${relative(SRC, file)} (${from}) -> ${relative(SRC, target)} (${to})`);
      }
    }
    expect(wrong).toEqual([]);
  });

  it('has no import circles', () => {
    const circles: string[] = [];
    const state = new Map<string, 'open' | 'done'>();
    const path: string[] = [];
    const visit = (file: string) => {
      state.set(file, 'open');
      path.push(file);
      for (const next of graph.get(file)!) {
        if (state.get(next) === 'open') circles.push([...path.slice(path.indexOf(next)), next].map((f) => relative(SRC, f)).join(' -> '));
        else if (state.get(next) === undefined) visit(next);
      }
      path.pop();
      state.set(file, 'done');
    };
    for (const file of all) if (state.get(file) === undefined) visit(file);
    expect(circles).toEqual([]);
  });
});
