/** Small statistics helpers for the bench. */
import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';


/** The median of `values` (mean of the middle two for an even count); NaN when empty. */
export function median(values: readonly number[]): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** The median of each of `keys` over `samples`. */
export function medianOfEach<T extends Record<K, number>, K extends keyof T>(samples: readonly T[], keys: readonly K[]): { [P in K]: number } {
  return Object.fromEntries(keys.map((key) => [key, median(samples.map((s) => s[key]))])) as { [P in K]: number };
}

/** The `p`-quantile (0..1) of already sorted values, nearest rank; NaN when empty. */
export function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.ceil(p * sorted.length) - 1;
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank))]!;
}

/** CPU time between two `process.cpuUsage()`-like samples, as a percentage of one core over `ms`. */
export function cpuPercent(
  before: { readonly cpuUser: number; readonly cpuSystem: number },
  after: { readonly cpuUser: number; readonly cpuSystem: number },
  ms: number,
): number {
  return ms > 0 ? ((after.cpuUser - before.cpuUser + after.cpuSystem - before.cpuSystem) / 1000 / ms) * 100 : NaN;
}

/** This process's CPU (all its threads: the load client's too) now, for `cpuPercent`. */
export function processCpu(): { cpuUser: number; cpuSystem: number; at: number } {
  const usage = process.cpuUsage();
  return { cpuUser: usage.user, cpuSystem: usage.system, at: performance.now() };
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Jiffies the whole machine spent busy and in all, from /proc/stat (Linux); null elsewhere. */
export function machineTicks(): { readonly busy: number; readonly total: number } | null {
  try {
    const fields = readFileSync('/proc/stat', 'latin1').split('\n', 1)[0]!.trim().split(/\s+/).slice(1).map(Number);
    const total = fields.reduce((a, b) => a + b, 0);
    // idle and iowait
    return { busy: total - fields[3]! - (fields[4] ?? 0), total };
  } catch {
    return null;
  }
}

/** CPU the whole machine used between two samples, as % of one core (200 % = two cores busy). */
export function machinePercent(before: ReturnType<typeof machineTicks>, after: ReturnType<typeof machineTicks>): number {
  if (before === null || after === null || after.total === before.total) return NaN;
  return ((after.busy - before.busy) / (after.total - before.total)) * cpus().length * 100;
}
