/** @internal What the budget needs of a socket. */
export interface BudgetMember {
  /** Bytes the peer makes the server hold for this socket now (an estimate, see the socket). */
  memoryCost(): number;
  /** Frees what the socket holds: it is closed (1008) and cut off at once. */
  evict(): void;
}

/** Once over the budget, members are evicted until the rest hold this share of it or less. */
const AFTER_EVICTION = 0.9;

/**
 * @internal A server-wide memory budget: what peers make the server hold
 * (unfinished messages, read chunks not yet parsed, frames held for a
 * subscriber, outbound queues), summed over its sockets. Each socket reports
 * its cost when it changes; when the sum passes the limit, the largest
 * holders are evicted until the rest fit in 90 % of it. Everyone else
 * carries on.
 */
export class MemoryBudget {
  readonly limit: number;
  readonly #holders = new Map<BudgetMember, number>();
  /** Members evicted but not closed yet: their memory goes with them, soon. */
  readonly #evicted = new Map<BudgetMember, number>();
  readonly #onEvict: (member: BudgetMember, cost: number) => void;
  #total = 0;
  #leaving = 0;
  #evictions = 0;

  constructor(limit: number, onEvict: (member: BudgetMember, cost: number) => void) {
    this.limit = limit;
    this.#onEvict = onEvict;
  }

  /** What the sockets hold now, as last reported (evicted ones included until they close). */
  get used(): number {
    return this.#total;
  }

  /** Sockets evicted so far. */
  get evictions(): number {
    return this.#evictions;
  }

  /** `member` now holds `cost` bytes (it last said `was`: an unchanged cost costs nothing). */
  change(member: BudgetMember, was: number, cost: number): void {
    if (cost === was) return;
    // What the budget knows may be fresher than `was` (it measures every holder when it enforces).
    this.#total += cost - (this.#holders.get(member) ?? 0);
    if (cost > 0) this.#holders.set(member, cost);
    else this.#holders.delete(member);
    if (this.#total - this.#leaving > this.limit) this.#enforce();
  }

  /** `member` has closed: what it held is free. */
  release(member: BudgetMember): void {
    const cost = this.#holders.get(member);
    if (cost !== undefined) {
      this.#holders.delete(member);
      this.#total -= cost;
    }
    const leaving = this.#evicted.get(member);
    if (leaving !== undefined) {
      this.#evicted.delete(member);
      this.#leaving -= leaving;
    }
  }

  /** Evicts the largest holders until the others fit, measuring each afresh (reports may be stale). */
  #enforce(): void {
    let total = 0;
    for (const member of this.#holders.keys()) {
      const cost = member.memoryCost();
      this.#holders.set(member, cost);
      total += cost;
    }
    this.#total = total;
    const target = this.limit * AFTER_EVICTION;
    while (this.#total - this.#leaving > target) {
      let largest: BudgetMember | null = null;
      let most = 0;
      for (const [member, cost] of this.#holders) {
        if (cost > most && !this.#evicted.has(member)) {
          largest = member;
          most = cost;
        }
      }
      if (largest === null) return;
      this.#evicted.set(largest, most);
      this.#leaving += most;
      this.#evictions++;
      this.#onEvict(largest, most);
      largest.evict();
    }
  }
}
