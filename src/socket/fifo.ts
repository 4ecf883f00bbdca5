/**
 * @internal A first-in, first-out list. `shift()` moves a start index and
 * compacts now and then, so it stays cheap at any length (`Array#shift`
 * copies the whole array once it is long: quadratic over a big queue). An
 * empty list holds no array: most lists (a socket's hold) are empty nearly
 * always.
 */
export class Fifo<T> {
  #items: T[] | null = null;
  #head = 0;

  get length(): number {
    return this.#items === null ? 0 : this.#items.length - this.#head;
  }

  push(item: T): void {
    if (this.#items === null) this.#items = [item];
    else this.#items.push(item);
  }

  /** The item `i` places after the oldest (0: the oldest); `i` must be below `length`. */
  at(i: number): T {
    return this.#items![this.#head + i]!;
  }

  /** Takes the oldest item; the list must not be empty. */
  shift(): T {
    const items = this.#items!;
    const item = items[this.#head]!;
    items[this.#head++] = undefined as T;
    if (this.#head === items.length) {
      this.#items = null;
      this.#head = 0;
    } else if (this.#head >= 1024 && this.#head * 2 >= items.length) {
      // Half of it is spent start: start a new array.
      this.#items = items.slice(this.#head);
      this.#head = 0;
    }
    return item;
  }

  /** Removes the oldest occurrence of `item`; says whether there was one. */
  remove(item: T): boolean {
    const items = this.#items;
    if (items === null) return false;
    const at = items.indexOf(item, this.#head);
    if (at < 0) return false;
    items.splice(at, 1);
    if (this.#head === items.length) {
      this.#items = null;
      this.#head = 0;
    }
    return true;
  }

  /** Empties the list and returns its items, oldest first. */
  clear(): T[] {
    const items = this.#items === null ? [] : this.#items.slice(this.#head);
    this.#items = null;
    this.#head = 0;
    return items;
  }
}
