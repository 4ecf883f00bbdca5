/**
 * Draws the bench's results as one SVG: on the left, each target's ratio
 * (rxjs-ws / raw ws, measured in the same run) as a bar with its target
 * marked; on the right, RSS per idle connection against the number of
 * connections, one line per server.
 *
 *   npm run bench:chart [-- results.json [out.svg]]
 *
 * Reads bench/results/latest.json and writes docs/performance.svg by default.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BenchResults, IdleVariant, Verdict } from './results';

const WIDTH = 880;
const ROW = 26;
const PAD = 12;
const BARS_WIDTH = 460;
const LABEL_WIDTH = 230;
const COLORS = ['#5a6b7d', '#d1495b', '#2e86ab', '#66a182', '#edae49'];

/** The chart of `results`, as an SVG document. */
export function chart(results: Pick<BenchResults, 'verdicts' | 'idle' | 'date' | 'revision'>): string {
  const verdicts = results.verdicts;
  const idle = (results.idle ?? []).filter((v) => v.levels.length > 0);
  const height = Math.max(verdicts.length * ROW + 80, idle.length > 0 ? 300 : 0);
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="${WIDTH}" height="${height}" fill="#fff"/>`,
    text(PAD, 18, `rxjs-ws / raw ws, same run (${results.date.slice(0, 10)}, ${results.revision})`, 'bold'),
    ...bars(verdicts, 40),
    ...lines(idle, BARS_WIDTH + 2 * PAD, 40, WIDTH - BARS_WIDTH - 3 * PAD, height - 80),
    '</svg>',
  ];
  return `${parts.join('\n')}\n`;
}

/** One bar per target: the ratio, the target as a mark, green when it holds. */
function bars(verdicts: readonly Verdict[], top: number): string[] {
  if (verdicts.length === 0) return [text(PAD, top + 14, 'no targets measured')];
  const max = Math.max(2, ...verdicts.map((v) => Math.max(v.ratio, v.target))) * 1.05;
  const span = BARS_WIDTH - LABEL_WIDTH - 50;
  const x = (ratio: number) => PAD + LABEL_WIDTH + (ratio / max) * span;
  const out = [line(x(1), top - 6, x(1), top + verdicts.length * ROW, '#999', '3,3'), text(x(1) - 4, top - 8, '1×', '', 'end')];
  verdicts.forEach((v, i) => {
    const y = top + i * ROW;
    out.push(text(PAD, y + 15, v.name.length > 38 ? `${v.name.slice(0, 37)}…` : v.name));
    out.push(`<rect x="${PAD + LABEL_WIDTH}" y="${y + 4}" width="${(x(v.ratio) - PAD - LABEL_WIDTH).toFixed(1)}" height="${ROW - 10}" fill="${v.pass ? '#66a182' : '#d1495b'}"/>`);
    out.push(line(x(v.target), y + 1, x(v.target), y + ROW - 3, '#222'));
    out.push(text(x(Math.max(v.ratio, v.target)) + 6, y + 15, `${v.ratio.toFixed(2)}× (${v.op === '>=' ? '≥' : '≤'} ${v.target})`));
  });
  return out;
}

/** RSS per idle connection against connections (log scale), one line per server. */
function lines(idle: readonly IdleVariant[], left: number, top: number, width: number, height: number): string[] {
  if (idle.length === 0) return [];
  const points = idle.flatMap((v) => v.levels);
  const [minN, maxN] = [Math.min(...points.map((p) => p.connections)), Math.max(...points.map((p) => p.connections))];
  const maxKiB = Math.max(...points.map((p) => p.rssPerConnection / 1024)) * 1.15;
  const x = (n: number) => left + 40 + (maxN === minN ? width / 2 : ((Math.log(n) - Math.log(minN)) / (Math.log(maxN) - Math.log(minN))) * (width - 60));
  const y = (kib: number) => top + height - (kib / maxKiB) * height;
  const out = [
    text(left, top - 8, 'RSS per idle connection (KiB)', 'bold'),
    line(left + 40, top, left + 40, top + height, '#999'),
    line(left + 40, top + height, left + width, top + height, '#999'),
  ];
  for (const n of [...new Set(points.map((p) => p.connections))]) out.push(text(x(n), top + height + 16, n.toLocaleString('en-US'), '', 'middle'));
  for (let k = 0; k <= 4; k++) {
    const kib = (maxKiB * k) / 4;
    out.push(text(left + 34, y(kib) + 4, kib.toFixed(1), '', 'end'));
  }
  idle.forEach((v, i) => {
    const color = COLORS[i % COLORS.length]!;
    const path = v.levels.map((p, j) => `${j === 0 ? 'M' : 'L'}${x(p.connections).toFixed(1)},${y(p.rssPerConnection / 1024).toFixed(1)}`).join(' ');
    out.push(`<path d="${path}" fill="none" stroke="${color}" stroke-width="2"/>`);
    for (const p of v.levels) out.push(`<circle cx="${x(p.connections).toFixed(1)}" cy="${y(p.rssPerConnection / 1024).toFixed(1)}" r="3" fill="${color}"/>`);
    out.push(`<rect x="${left + 50}" y="${top + 4 + i * 16}" width="10" height="10" fill="${color}"/>`, text(left + 66, top + 13 + i * 16, v.label));
  });
  return out;
}

function text(x: number, y: number, content: string, weight = '', anchor = 'start'): string {
  return `<text x="${x.toFixed(1)}" y="${y.toFixed(1)}"${weight ? ` font-weight="${weight}"` : ''}${anchor === 'start' ? '' : ` text-anchor="${anchor}"`}>${escape(content)}</text>`;
}

function line(x1: number, y1: number, x2: number, y2: number, color: string, dash = ''): string {
  return `<line x1="${x1.toFixed(1)}" y1="${y1.toFixed(1)}" x2="${x2.toFixed(1)}" y2="${y2.toFixed(1)}" stroke="${color}"${dash ? ` stroke-dasharray="${dash}"` : ''}/>`;
}

function escape(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

if (require.main === module) {
  const root = join(__dirname, '..', '..');
  const [input = join(root, 'bench', 'results', 'latest.json'), output = join(root, 'docs', 'performance.svg')] = process.argv.slice(2);
  writeFileSync(output, chart(JSON.parse(readFileSync(input, 'utf8')) as BenchResults));
  console.log(`${output} from ${input}`);
}
