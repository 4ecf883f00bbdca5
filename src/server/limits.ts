import { isIPv6 } from 'node:net';
import type { SchedulerLike } from 'rxjs';
import { TokenBucket } from '../socket/rate';

/** Addresses whose handshake budget is remembered at most; the oldest full ones go first. */
const MAX_TRACKED = 65_536;

/**
 * @internal Per-address limits: how many sockets (and upgrades still waiting
 * on `authenticate`) each address holds, and how many handshakes it may start
 * per second. An address is a client's IP, IPv6 grouped by /64 (one
 * subscriber's network); IPv4-mapped IPv6 is its IPv4.
 */
export class AddressLimits {
  readonly #maxConnections: number;
  readonly #handshakes: number;
  readonly #scheduler: SchedulerLike;
  readonly #open = new Map<string, number>();
  readonly #buckets = new Map<string, TokenBucket>();

  /** `maxConnections` per address (`Infinity`: none), `handshakes` per second per address (`Infinity`: none). */
  constructor(maxConnections: number, handshakes: number, scheduler: SchedulerLike) {
    this.#maxConnections = maxConnections;
    this.#handshakes = handshakes;
    this.#scheduler = scheduler;
  }

  /** Whether any limit is set (only then is a peer's address needed at the upgrade). */
  get active(): boolean {
    return this.#maxConnections !== Infinity || this.#handshakes !== Infinity;
  }

  /** Why `key` may not start a handshake now (`'rate'` or `'connections'`), or `null`: it may (and one handshake is counted). */
  admit(key: string): 'rate' | 'connections' | null {
    if ((this.#open.get(key) ?? 0) >= this.#maxConnections) return 'connections';
    if (this.#handshakes === Infinity) return null;
    let bucket = this.#buckets.get(key);
    if (bucket === undefined) {
      if (this.#buckets.size >= MAX_TRACKED) this.#forgetOldest();
      this.#buckets.set(key, (bucket = new TokenBucket(this.#handshakes, Infinity, this.#scheduler)));
    }
    return bucket.take(0) === 0 ? null : 'rate';
  }

  /** `key` holds one more (`+1`) or one fewer (`-1`) socket or pending upgrade. */
  tally(key: string, delta: 1 | -1): void {
    const n = (this.#open.get(key) ?? 0) + delta;
    if (n <= 0) this.#open.delete(key);
    else this.#open.set(key, n);
  }

  /** Sockets and pending upgrades `key` holds. */
  held(key: string): number {
    return this.#open.get(key) ?? 0;
  }

  /** Forgets the oldest tracked address (Map order is insertion order): its budget refills to full anyway. */
  #forgetOldest(): void {
    const oldest = this.#buckets.keys().next();
    if (oldest.done !== true) this.#buckets.delete(oldest.value);
  }
}

/** The key an address is limited by: IPv4 as is, IPv4-mapped IPv6 as its IPv4, other IPv6 by its /64. */
export function addressKey(address: string | undefined): string {
  if (address === undefined || address === '') return '';
  if (address.startsWith('::ffff:') && address.includes('.')) return address.slice(7);
  if (!address.includes(':') || !isIPv6(address)) return address;
  return `${expandIPv6(address).slice(0, 4).join(':')}::/64`;
}

/** The eight hextets of an IPv6 address (zone id dropped), without leading zeros. */
function expandIPv6(address: string): string[] {
  const bare = address.split('%')[0]!.toLowerCase();
  const [head, tail] = bare.split('::') as [string, string | undefined];
  const left = head === '' ? [] : head.split(':');
  const right = tail === undefined || tail === '' ? [] : tail.split(':');
  // An embedded IPv4 tail (::1.2.3.4) takes the room of two groups.
  const width = (groups: string[]) => groups.reduce((n, g) => n + (g.includes('.') ? 2 : 1), 0);
  const groups = tail === undefined ? left : [...left, ...Array<string>(Math.max(0, 8 - width(left) - width(right))).fill('0'), ...right];
  return groups.map((g) => (g.includes('.') ? g : parseInt(g, 16).toString(16)));
}
