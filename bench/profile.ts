/**
 * Summary of a V8 CPU profile (`node --cpu-prof`): the functions with the most
 * self time, and self time by where the code lives (rxjs-ws, ws, rxjs, Node).
 */
import { readFileSync } from 'node:fs';

interface ProfileNode {
  readonly id: number;
  readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number };
}

interface CpuProfile {
  readonly nodes: readonly ProfileNode[];
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

export interface ProfileEntry {
  readonly name: string;
  readonly selfMs: number;
  readonly percent: number;
}

export interface ProfileSummary {
  readonly file: string;
  /** Sampled time without (idle): percentages are of this. */
  readonly busyMs: number;
  readonly idleMs: number;
  readonly functions: readonly ProfileEntry[];
  readonly areas: readonly ProfileEntry[];
}

export function summarizeProfile(file: string, top = 15): ProfileSummary {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const functions = new Map<string, number>();
  const areas = new Map<string, number>();
  let busy = 0;
  let idle = 0;
  profile.samples.forEach((id, i) => {
    const ms = (profile.timeDeltas[i] ?? 0) / 1000;
    const frame = byId.get(id)?.callFrame;
    if (frame === undefined) return;
    // A server waits while the other one is measured: time shares are of its busy time.
    if (frame.functionName === '(idle)') return void (idle += ms);
    busy += ms;
    const name = `${frame.functionName || '(anonymous)'} ${shortUrl(frame.url)}${frame.url ? `:${frame.lineNumber + 1}` : ''}`.trim();
    functions.set(name, (functions.get(name) ?? 0) + ms);
    const area = areaOf(frame.url, frame.functionName);
    areas.set(area, (areas.get(area) ?? 0) + ms);
  });
  const entries = (map: Map<string, number>) =>
    [...map.entries()].sort((a, b) => b[1] - a[1]).map(([name, selfMs]) => ({ name, selfMs, percent: (selfMs / busy) * 100 }));
  return { file, busyMs: busy, idleMs: idle, functions: entries(functions).slice(0, top), areas: entries(areas) };
}

export function formatProfile(summary: ProfileSummary): string {
  const line = (e: ProfileEntry) => `  ${e.percent.toFixed(1).padStart(5)} %  ${e.selfMs.toFixed(0).padStart(6)} ms  ${e.name}`;
  return [
    `CPU profile ${summary.file}: ${(summary.busyMs / 1000).toFixed(1)} s busy, ${(summary.idleMs / 1000).toFixed(1)} s idle`,
    'self time by area (% of busy time):',
    ...summary.areas.map(line),
    'top functions by self time (% of busy time):',
    ...summary.functions.map(line),
  ].join('\n');
}

function shortUrl(url: string): string {
  const at = url.lastIndexOf('node_modules/');
  if (at >= 0) return url.slice(at + 'node_modules/'.length);
  const dist = url.lastIndexOf('/dist/');
  return dist >= 0 ? url.slice(dist + 1) : url.replace(/^file:\/\//, '');
}

function areaOf(url: string, functionName: string): string {
  // writev and friends are the system calls that write to the sockets.
  if (url === '') return functionName.startsWith('(') ? functionName : '(native: system calls, V8 builtins)';
  if (url.startsWith('node:')) return 'node core';
  if (url.includes('node_modules/ws/')) return 'ws';
  if (url.includes('node_modules/rxjs/')) return 'rxjs';
  if (url.includes('/dist/src/')) return 'rxjs-ws';
  if (url.includes('/dist/bench/')) return 'bench server';
  return url;
}
