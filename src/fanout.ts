import type { Subscriber } from 'rxjs';

/**
 * @internal The subscribers one hot source pushes to: a `Subject` without
 * the Subject (no extra object per stream until someone subscribes), safe
 * when a subscriber leaves in the middle of a delivery.
 */
export class Fanout<T> {
  #list: Subscriber<T>[] = [];

  get size(): number {
    return this.#list.length;
  }

  /** Adds `subscriber`; returns its teardown. */
  add(subscriber: Subscriber<T>): () => void {
    this.#list.push(subscriber);
    return () => {
      const at = this.#list.indexOf(subscriber);
      if (at >= 0) this.#list.splice(at, 1);
    };
  }

  next(value: T): void {
    const list = this.#list;
    if (list.length === 1) list[0]!.next(value);
    else if (list.length > 1) for (const s of list.slice()) s.next(value);
  }

  /** Ends every subscriber: with `error` when given, else complete. */
  end(error?: unknown): void {
    const list = this.#list;
    this.#list = [];
    for (const s of list) {
      if (error !== undefined) s.error(error);
      else s.complete();
    }
  }
}
