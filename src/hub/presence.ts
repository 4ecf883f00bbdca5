import { Subject, type Subscriber } from 'rxjs';

/** One other process's count for a topic, and when it last said so. */
interface Remote {
  count: number;
  at: number;
}

interface TopicPresence {
  local: number;
  remote: Map<string, Remote> | null;
  total: number;
  watchers: Subject<number> | null;
}

/**
 * @internal Member counts per topic: this process's own, plus each other
 * process's as it last announced it. Watchers get the total at once and then
 * on every change. A topic with no members anywhere and no watcher is forgotten.
 */
export class Presence {
  readonly #topics = new Map<string, TopicPresence>();

  /** Whether anyone watches `topic`. */
  watched(topic: string): boolean {
    return this.#topics.get(topic)?.watchers != null;
  }

  /** This process's members of `topic` are now `count`. */
  setLocal(topic: string, count: number): void {
    const state = this.#state(topic);
    state.local = count;
    this.#settle(topic, state);
  }

  /** Another process (`origin`) has `count` members of `topic`, as of `now`. */
  setRemote(topic: string, origin: string, count: number, now: number): void {
    const state = count === 0 ? this.#topics.get(topic) : this.#state(topic);
    if (state === undefined) return;
    if (count === 0) state.remote?.delete(origin);
    else {
      const remote = (state.remote ??= new Map());
      const known = remote.get(origin);
      if (known !== undefined) {
        known.count = count;
        known.at = now;
      } else remote.set(origin, { count, at: now });
    }
    this.#settle(topic, state);
  }

  /** Forgets the counts of processes that have not spoken since `before` (crashed, or out of reach). */
  expire(before: number): void {
    for (const [topic, state] of this.#topics) {
      if (state.remote === null) continue;
      for (const [origin, remote] of state.remote) if (remote.at < before) state.remote.delete(origin);
      this.#settle(topic, state);
    }
  }

  /** Adds a watcher of `topic`'s total: it gets the total now, then each change. Returns its teardown. */
  watch(topic: string, subscriber: Subscriber<number>): () => void {
    const state = this.#state(topic);
    subscriber.next(state.total);
    const watching = (state.watchers ??= new Subject()).subscribe(subscriber);
    return () => {
      watching.unsubscribe();
      if (state.watchers?.observed === false) state.watchers = null;
      this.#settle(topic, state);
    };
  }

  /** Completes every watcher and forgets every count. */
  end(): void {
    const topics = [...this.#topics.values()];
    this.#topics.clear();
    for (const state of topics) state.watchers?.complete();
  }

  #state(topic: string): TopicPresence {
    let state = this.#topics.get(topic);
    if (state === undefined) this.#topics.set(topic, (state = { local: 0, remote: null, total: 0, watchers: null }));
    return state;
  }

  /** Recounts, tells the watchers when the total changed, and forgets an empty topic. */
  #settle(topic: string, state: TopicPresence): void {
    let total = state.local;
    if (state.remote !== null) {
      if (state.remote.size === 0) state.remote = null;
      else for (const remote of state.remote.values()) total += remote.count;
    }
    if (total !== state.total) {
      state.total = total;
      state.watchers?.next(total);
    }
    if (total === 0 && state.remote === null && state.watchers === null && this.#topics.get(topic) === state) this.#topics.delete(topic);
  }
}
