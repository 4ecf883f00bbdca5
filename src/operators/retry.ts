import { asyncScheduler, retry, throwError, timer, type MonoTypeOperatorFunction } from 'rxjs';
import { expectFunction } from '../validation';
import { backoffDelay, resolveBackoff, type BackoffConfig } from './backoff';

/** {@link BackoffConfig} plus the hooks of {@link retryWithBackoff}. */
export interface RetryBackoffConfig extends BackoffConfig {
  /** Whether to retry after `error` (`attempt` counts from 1); `false` rethrows it at once. @default () => true */
  readonly shouldRetry?: (error: unknown, attempt: number) => boolean;
  /** Called just before each wait, e.g. to publish a "reconnecting" status. */
  readonly onRetry?: (info: { readonly attempt: number; readonly delay: number; readonly error: unknown }) => void;
}

/**
 * Resubscribes to the source after it errors, with exponential backoff: the
 * wait before retry *n* is `min(maxDelay, initialDelay * factor ** (n - 1))`,
 * times `random()` with the default full jitter, on `scheduler`. After
 * `maxAttempts` retries, or when `shouldRetry` says no, the error is rethrown.
 * The attempt count goes back to 1 whenever the source emits, so put this
 * after the point where the stream emits on open: a connection that opened
 * and later dropped is a fresh failure, not the next step of the last outage.
 * The config is validated here, not on subscription: a bad value throws
 * `InvalidArgumentError`.
 *
 * @param config The schedule ({@link BackoffConfig}: `initialDelay` 500 ms,
 *   `factor` 2, `maxDelay` 30 s, `maxAttempts` `Infinity`, `jitter` `'full'`,
 *   `random`, `scheduler`) and the hooks `shouldRetry` and `onRetry`.
 * @returns An operator that mirrors the source and retries it on error.
 *
 * @example
 * connect$.pipe(retryWithBackoff({
 *   maxAttempts: 10,
 *   shouldRetry: (error) => (error as { status?: number }).status !== 401,
 *   onRetry: ({ attempt, delay }) => status$.next({ state: 'reconnecting', attempt, delay }),
 * }));
 */
export function retryWithBackoff<T>(config: RetryBackoffConfig = {}): MonoTypeOperatorFunction<T> {
  const backoff = resolveBackoff(config, asyncScheduler);
  const { shouldRetry = () => true, onRetry } = config;
  expectFunction('shouldRetry', shouldRetry);
  if (onRetry !== undefined) expectFunction('onRetry', onRetry);
  return retry<T>({
    count: backoff.maxAttempts,
    resetOnSuccess: true,
    delay: (error, attempt) => {
      if (!shouldRetry(error, attempt)) return throwError(() => error);
      const delay = backoffDelay(attempt, backoff);
      onRetry?.({ attempt, delay, error });
      return timer(delay, backoff.scheduler);
    },
  });
}

