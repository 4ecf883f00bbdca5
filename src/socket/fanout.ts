import type { Subscriber } from 'rxjs';

/**
 * @internal The subscribers one hot source pushes to: a `Subject` without the
 * Subject, safe when a subscriber leaves in the middle of a delivery. The
 * usual case, one subscriber, takes no array (an array's first push reserves
 * 17 slots: ~150 bytes per socket).
 */
export class Fanout<T> {
  #one: Subscriber<T> | null = null;
  #many: Subscriber<T>[] | null = null;

  get size(): number {
    return this.#many !== null ? this.#many.length : this.#one !== null ? 1 : 0;
  }

  /** Adds `subscriber`; returns its teardown. */
  add(subscriber: Subscriber<T>): () => void {
    if (this.#many !== null) this.#many.push(subscriber);
    else if (this.#one === null) this.#one = subscriber;
    else {
      this.#many = [this.#one, subscriber];
      this.#one = null;
    }
    return () => this.#remove(subscriber);
  }

  next(value: T): void {
    if (this.#one !== null) this.#one.next(value);
    else if (this.#many !== null) for (const s of this.#many.slice()) s.next(value);
  }

  /** Ends every subscriber: with `error` when given, else complete. */
  end(error?: unknown): void {
    const list = this.#many ?? (this.#one !== null ? [this.#one] : []);
    this.#one = this.#many = null;
    for (const s of list) {
      if (error !== undefined) s.error(error);
      else s.complete();
    }
  }

  #remove(subscriber: Subscriber<T>): void {
    if (this.#one === subscriber) this.#one = null;
    else if (this.#many !== null) {
      const at = this.#many.indexOf(subscriber);
      if (at >= 0) this.#many.splice(at, 1);
      if (this.#many.length === 0) this.#many = null;
    }
  }
}
