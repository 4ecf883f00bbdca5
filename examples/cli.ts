/** Tiny flag parser shared by the examples: `--name value`, `--name=value`, env fallbacks, `--help`. */
export interface Flag {
  readonly name: string;
  readonly env?: string;
  readonly default: string;
  readonly help: string;
}

export function parseFlags(argv: readonly string[], flags: readonly Flag[], usage: string): Record<string, string> {
  const values: Record<string, string> = {};
  for (const f of flags) values[f.name] = (f.env !== undefined ? process.env[f.env] : undefined) ?? f.default;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--help' || arg === '-h') {
      const width = Math.max(...flags.map((f) => f.name.length)) + 4;
      const lines = flags.map(
        (f) => `  --${f.name.padEnd(width)}${f.help} (default ${f.default || '""'}${f.env ? `; env ${f.env}` : ''})`,
      );
      process.stdout.write(`${usage}\n\nOptions:\n${lines.join('\n')}\n  --help${' '.repeat(width - 2)}this text\n`);
      process.exit(0);
    }
    const match = /^--([a-z-]+)(?:=(.*))?$/.exec(arg);
    const flag = match && flags.find((f) => f.name === match[1]);
    if (!match || !flag) fail(`unknown argument ${JSON.stringify(arg)} (see --help)`);
    const value = match[2] ?? argv[++i];
    if (value === undefined) fail(`--${flag.name} needs a value`);
    values[flag.name] = value;
  }
  return values;
}

/** Reads a flag as an integer in [min, max] or exits with a clear message. */
export function intFlag(values: Record<string, string>, name: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  const raw = values[name]!;
  const n = Number(raw);
  if (!/^\d+$/.test(raw.trim()) || !Number.isSafeInteger(n) || n < min || n > max) {
    fail(`--${name} must be an integer in [${min}, ${max}], got ${JSON.stringify(raw)}`);
  }
  return n;
}

export function fail(message: string): never {
  process.stderr.write(`error: ${message}\n`);
  process.exit(2);
}

/** One log line with an ISO timestamp. */
export function log(line: string): void {
  process.stdout.write(`${new Date().toISOString()} ${line}\n`);
}
