import fc from 'fast-check';

/**
 * How often each interesting situation came up in a model spec: a check on
 * the generators, not on the code under test. MODEL_STATS=1 prints it after
 * the suite.
 */
export function situations(): (what: string, n?: number) => void {
  const seen = new Map<string, number>();
  afterAll(() => {
    if (process.env.MODEL_STATS) console.log([...seen].sort(([a], [b]) => a.localeCompare(b)).map(([k, n]) => `${String(n).padStart(7)}  ${k}`).join('\n'));
  });
  return (what, n = 1) => seen.set(what, (seen.get(what) ?? 0) + n);
}

/**
 * Checks `property` the way the model specs do: a fixed seed (`seed`), so
 * that a run fails for a change and not by luck; MODEL_SEED=random (with
 * MODEL_RUNS=10000) explores further, and MODEL_SEED / MODEL_PATH replay a
 * failure fast-check reported. MODEL_RUNS overrides `runs`.
 */
export function assertModel<T>(property: fc.IProperty<T>, seed: number, runs: number): void {
  const chosen = process.env.MODEL_SEED;
  const replay = chosen === 'random' ? {} : { seed: chosen === undefined ? seed : Number(chosen), path: process.env.MODEL_PATH };
  fc.assert(property, { numRuns: Number(process.env.MODEL_RUNS ?? runs), ...replay });
}
