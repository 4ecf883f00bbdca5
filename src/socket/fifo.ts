/**
 * @internal A first-in, first-out list. `shift()` moves a start index and
 * compacts now and then, so it stays cheap at any length (`Array#shift`
 * copies the whole array once it is long: quadratic over a big queue).
 */
export class Fifo<T> {
  #items: T[] = [];
  #head = 0;

  get length(): number {
    return this.#items.length - this.#head;
  }

  push(item: T): void {
    this.#items.push(item);
  }

  /** Takes the oldest item; the list must not be empty. */
  shift(): T {
    const items = this.#items;
    const item = items[this.#head]!;
    items[this.#head++] = undefined as T;
    // Drained, or half of it is spent start: start a new array.
    if (this.#head === items.length || (this.#head >= 1024 && this.#head * 2 >= items.length)) {
      this.#items = items.slice(this.#head);
      this.#head = 0;
    }
    return item;
  }

  /** Removes the oldest occurrence of `item`; says whether there was one. */
  remove(item: T): boolean {
    const at = this.#items.indexOf(item, this.#head);
    if (at >= 0) this.#items.splice(at, 1);
    return at >= 0;
  }

  /** Empties the list and returns its items, oldest first. */
  clear(): T[] {
    const items = this.#items.slice(this.#head);
    this.#items = [];
    this.#head = 0;
    return items;
  }
}
