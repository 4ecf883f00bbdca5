/**
 * The stdout lines of a child process, as they come, and a wait for one of
 * them: what the peers' process helpers share.
 */
import type { ChildProcessByStdio } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';

export interface WatchedLines {
  /** Every stdout line so far. */
  readonly lines: readonly string[];
  /** Resolves with the first line at or after line `from` matching `pattern`; rejects if the process exits first, or after `timeoutMs`. */
  waitForLine(pattern: RegExp, from?: number, timeoutMs?: number): Promise<string>;
  /** Resolves with the exit code once the process is gone and its output closed. */
  readonly exited: Promise<number | null>;
  /** Whether the process is gone. */
  readonly done: () => boolean;
}

/** Watches `child`'s stdout and stderr; `name` says whose output a failed wait shows. */
export function watchLines(child: ChildProcessByStdio<null, Readable, Readable>, name: string): WatchedLines {
  const lines: string[] = [];
  let stderr = '';
  let exitCode: number | null | undefined;
  const listeners = new Set<() => void>();
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  createInterface({ input: child.stdout, crlfDelay: Infinity }).on('line', (line) => {
    lines.push(line);
    for (const listener of [...listeners]) listener();
  });
  const exited = new Promise<number | null>((resolve) =>
    child.once('close', (code) => {
      exitCode = code;
      for (const listener of [...listeners]) listener();
      resolve(code);
    }),
  );
  const output = () => `stdout:\n${lines.join('\n')}\nstderr:\n${stderr}`;

  const waitForLine = (pattern: RegExp, from = 0, timeoutMs = 15_000) =>
    new Promise<string>((resolve, reject) => {
      const check = () => {
        const line = lines.slice(from).find((l) => pattern.test(l));
        if (line !== undefined) settle(() => resolve(line));
        else if (exitCode !== undefined) settle(() => reject(new Error(`${name} exited (${exitCode}) before logging ${pattern}\n${output()}`)));
      };
      const timer = setTimeout(() => settle(() => reject(new Error(`${name} did not log ${pattern} in ${timeoutMs} ms\n${output()}`))), timeoutMs);
      const settle = (then: () => void) => {
        clearTimeout(timer);
        listeners.delete(check);
        then();
      };
      listeners.add(check);
      check();
    });
  return { lines, waitForLine, exited, done: () => exitCode !== undefined };
}
