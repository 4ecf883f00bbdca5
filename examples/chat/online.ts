import { asyncScheduler, auditTime, type SchedulerLike, type Subscription } from 'rxjs';
import type { Hub, RxSocket } from 'rxjs-ws';

/**
 * Tells a room's clients how many are online, at most every `ms`: a
 * thousand joins make one update, not a thousand. A count is sent to the
 * whole room only when it differs from the last one sent, so a count that
 * goes 2 → 3 → 2 within `ms` sends nothing new to those who already know 2;
 * the clients that joined since (who have heard no count yet) get it alone.
 */
export class OnlineCount {
  readonly #newcomers = new Set<RxSocket<unknown>>();
  readonly #subscription: Subscription;
  #last: number | null = null;

  constructor(hub: Hub, room: string, ms: number, scheduler: SchedulerLike = asyncScheduler) {
    this.#subscription = hub
      .members$(room)
      .pipe(auditTime(ms, scheduler))
      .subscribe((count) => {
        const frame = JSON.stringify({ type: 'online', count });
        if (count !== this.#last) {
          this.#last = count;
          hub.publish(room, frame, { local: true });
        } else {
          for (const socket of this.#newcomers) if (socket.state === 'open') socket.next(frame);
        }
        this.#newcomers.clear();
      });
  }

  /** A socket that just joined the room: it hears the next count even when that count is unchanged. */
  joined(socket: RxSocket<unknown>): void {
    this.#newcomers.add(socket);
  }

  /** No more counts (before the hub closes). */
  stop(): void {
    this.#subscription.unsubscribe();
    this.#newcomers.clear();
  }
}
