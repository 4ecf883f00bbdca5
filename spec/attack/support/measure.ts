/**
 * What the attack suites measure: a process's resident memory and CPU time
 * (from /proc, Linux), a sampler that keeps the peak while an attack runs,
 * latency percentiles, and the one summary line each scenario prints.
 */
import { appendFileSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export const MiB = 1024 * 1024;

/** Resident memory of a process, in bytes. */
export function rss(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8')
    .split('\n')
    .find((l) => l.startsWith('VmRSS:'));
  if (line === undefined) throw new Error(`no VmRSS for process ${pid}`);
  return Number(/(\d+)/.exec(line)![1]) * 1024;
}

/** CPU time a process has used (user + system), in ms. */
export function cpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The command name (field 2) may hold spaces: count the fields after its closing parenthesis.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]); // utime, stime (fields 14 and 15)
  return ticks * 10; // USER_HZ is 100 on Linux
}

/** Whether a process still runs (a zombie counts as gone). */
export function alive(pid: number): boolean {
  try {
    return !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return false;
  }
}

/**
 * Samples a process's RSS every `everyMs` and keeps the peak. `limit` is
 * called once, with the growth, when the growth passes `abortAt`: the attack
 * stops there (its bound is broken already), so no process grows past a few
 * hundred MiB over its bound.
 */
export class RssSampler {
  readonly before: number;
  peak: number;
  #timer: NodeJS.Timeout | null;
  #tripped = false;

  constructor(
    readonly pid: number,
    readonly abortAt: number,
    readonly onAbort: (growth: number) => void,
    everyMs = 25,
  ) {
    this.before = rss(pid);
    this.peak = this.before;
    this.#timer = setInterval(() => this.sample(), everyMs);
  }

  /** Growth over `before` at the peak so far. */
  get growth(): number {
    return this.peak - this.before;
  }

  /** Whether the growth passed `abortAt`. */
  get tripped(): boolean {
    return this.#tripped;
  }

  sample(): number {
    let now: number;
    try {
      now = rss(this.pid);
    } catch {
      return this.peak; // the process is gone: the caller finds out
    }
    this.peak = Math.max(this.peak, now);
    if (!this.#tripped && now - this.before > this.abortAt) {
      this.#tripped = true;
      this.onAbort(now - this.before);
    }
    return now;
  }

  stop(): void {
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
    this.sample();
  }
}

/** The `p`-th percentile (0–100) of `values`, nearest rank; NaN when empty. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

/** Counts of each outcome, most frequent first: `close 1008 ×180, http 503 ×20`. */
export function tally(outcomes: readonly string[]): string {
  const counts = new Map<string, number>();
  for (const o of outcomes) counts.set(o, (counts.get(o) ?? 0) + 1);
  return [...counts].sort((a, b) => b[1] - a[1]).map(([o, n]) => `${o} ×${n}`).join(', ') || 'none';
}

export const mib = (bytes: number): string => `${(bytes / MiB).toFixed(1)} MiB`;
export const ms = (value: number): string => (Number.isFinite(value) ? `${value.toFixed(1)} ms` : String(value));

const FIGURES = join(__dirname, '..', '..', '..', '.tmp', 'attack-figures.txt');

/**
 * Prints a scenario's figures as one line (`attack <name>: k=v; k=v`) and
 * appends it to .tmp/attack-figures.txt, where `.ci/run` shows them again.
 */
export function summary(name: string, figures: Record<string, string | number>): string {
  const line = `attack ${name}: ${Object.entries(figures)
    .map(([k, v]) => `${k}=${v}`)
    .join('; ')}`;
  process.stdout.write(`${line}\n`);
  try {
    mkdirSync(join(FIGURES, '..'), { recursive: true });
    appendFileSync(FIGURES, `${new Date().toISOString()} ${line}\n`);
  } catch {
    // The printed line is what counts.
  }
  return line;
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
