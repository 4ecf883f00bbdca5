// Types only: ioredis is an optional peer dependency, loaded when redisAdapter() is called.
import type RedisClient from 'ioredis';
import { describe, InvalidArgumentError } from '../errors';
import { expectInteger, expectObject } from '../validation';
import type { HistoryLink, HistoryPage, HistoryPosition, HubEnvelope, PendingPosition, PositionChanges, StoredPositions } from './adapter';
import { decodeEnvelope, withEntry } from './envelope';

/** The Redis adapter's `history` option. */
export interface RedisHistoryOptions {
  /**
   * Messages a topic's stream keeps, at least: Redis trims it in whole
   * blocks (about a hundred entries), so it may hold a few more.
   * @default 1000
   */
  readonly maxLen?: number;
  /** How long a message stays in its topic's history, in ms; `0` for no bound by age. @default 600000 (10 min) */
  readonly maxAge?: number;
}

/** @internal */
export interface ResolvedHistory {
  readonly maxLen: number;
  readonly maxAge: number;
}

/** @internal Validates `history`: `true` takes the defaults. */
export function resolveHistory(option: unknown): ResolvedHistory | null {
  if (option === undefined || option === false) return null;
  if (option !== true && (typeof option !== 'object' || option === null)) {
    throw new InvalidArgumentError(`Expected \`history\` to be a boolean or an object, got ${describe(option)}`);
  }
  const o = option === true ? {} : (expectObject('history', option) as RedisHistoryOptions);
  return {
    maxLen: o.maxLen === undefined ? 1000 : expectInteger('history.maxLen', o.maxLen, 1),
    maxAge: o.maxAge === undefined ? 600_000 : expectInteger('history.maxAge', o.maxAge, 0),
  };
}

/** How long Redis remembers the last message a hub added, so that one sent again after a reconnect is not added twice. */
const SEEN_TTL = 24 * 3600 * 1000;

/*
 * Keys, after the adapter's prefix: `h:<topic>` the topic's stream (fields m:
 * the envelope, n: its number, x: the session it is not for), `n:<topic>` its
 * counter, `o:<hub id>` the last sequence number a hub added, `s:<digest of a
 * session's lineage>` its positions (a hash: o the owner, t:<topic> "<id> <n>",
 * p the pending list as JSON).
 */

/** Adds a message to its topic's stream and publishes it with its place there, once per envelope sequence number. */
const PUBLISH = `
local env = ARGV[2]
local seq = 0
for i = 19, 24 do seq = seq * 256 + string.byte(env, i) end
local last = redis.call('GET', KEYS[3])
if last and tonumber(last) >= seq then return 0 end
redis.call('SET', KEYS[3], string.format('%.0f', seq), 'PX', ARGV[6])
local n = redis.call('INCR', KEYS[2])
local maxLen = tonumber(ARGV[4])
local args = {'XADD', KEYS[1]}
if maxLen > 0 then
  args[#args + 1] = 'MAXLEN'; args[#args + 1] = '~'; args[#args + 1] = maxLen
end
args[#args + 1] = '*'; args[#args + 1] = 'm'; args[#args + 1] = env; args[#args + 1] = 'n'; args[#args + 1] = n
if ARGV[3] ~= '' then args[#args + 1] = 'x'; args[#args + 1] = ARGV[3] end
local id = redis.call(unpack(args))
local maxAge = tonumber(ARGV[5])
if maxAge > 0 then
  local t = redis.call('TIME')
  local floor = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) - maxAge
  redis.call('XTRIM', KEYS[1], 'MINID', '~', string.format('%.0f', floor))
  redis.call('PEXPIRE', KEYS[1], maxAge)
  if redis.call('PTTL', KEYS[2]) < maxAge then redis.call('PEXPIRE', KEYS[2], maxAge) end
end
local meta = id .. ' ' .. n
if ARGV[3] ~= '' then meta = meta .. ' ' .. ARGV[3] end
redis.call('PUBLISH', ARGV[1], string.char(2) .. string.sub(env, 2, 28) .. string.char(#meta) .. meta .. string.sub(env, 29))
return 1
`;

/** The topic's counter and newest entry id, and (unless ARGV[1] is empty) its entries after ARGV[1] younger than maxAge. */
const READ = `
local n = tonumber(redis.call('GET', KEYS[2]) or '0')
local last = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
local head = '0-0'
if last[1] then head = last[1][1] end
local count = tonumber(ARGV[2])
if ARGV[1] == '' or count == 0 then return {n, head, {}} end
local start = '(' .. ARGV[1]
local maxAge = tonumber(ARGV[3])
if maxAge > 0 then
  local t = redis.call('TIME')
  local floor = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) - maxAge
  if tonumber(string.match(ARGV[1], '^(%d+)')) < floor then start = string.format('%.0f', floor) .. '-0' end
end
return {n, head, redis.call('XRANGE', KEYS[1], start, '+', 'COUNT', count)}
`;

/** Returns a session's positions and makes ARGV[1] their owner (the pending list goes). */
const CLAIM = `
local h = redis.call('HGETALL', KEYS[1])
if #h == 0 then return h end
redis.call('HSET', KEYS[1], 'o', ARGV[1])
redis.call('HDEL', KEYS[1], 'p')
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return h
`;

/** Writes positions if ARGV[1] owns them (or nobody does); keeps the counters of the topics written at least as long. */
const STORE = `
local o = redis.call('HGET', KEYS[1], 'o')
if o and o ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'o', ARGV[1])
local i = 6
for k = 1, tonumber(ARGV[5]) do
  redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
  i = i + 2
end
for k = i, #ARGV do redis.call('HDEL', KEYS[1], ARGV[k]) end
if ARGV[4] == '-' then redis.call('HDEL', KEYS[1], 'p') elseif ARGV[4] ~= '' then redis.call('HSET', KEYS[1], 'p', ARGV[4]) end
local px = tonumber(ARGV[2])
if ARGV[3] == '1' or redis.call('PTTL', KEYS[1]) < 0 then redis.call('PEXPIRE', KEYS[1], px) end
for k = 2, #KEYS do
  local t = redis.call('PTTL', KEYS[k])
  if t >= 0 and t < px then redis.call('PEXPIRE', KEYS[k], px) end
end
return 1
`;

/** Replaces ARGV[1]'s positions with a marker owned by nobody, for ARGV[2] ms. */
const RELEASE = `
local o = redis.call('HGET', KEYS[1], 'o')
if o and o ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'o', '-')
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
`;

type Reply = Promise<unknown>;
interface Scripted {
  rxjsWsPublish(stream: string, counter: string, seen: string, channel: string, env: Buffer, except: string, maxLen: number, maxAge: number, seenTtl: number): Reply;
  rxjsWsReadBuffer(stream: string, counter: string, after: string, count: number, maxAge: number): Reply;
  rxjsWsClaim(key: string, owner: string, ttl: number): Reply;
  rxjsWsStore(keys: number, ...args: (string | number)[]): Reply;
  rxjsWsRelease(key: string, owner: string, ttl: number): Reply;
}

/** @internal Teaches a connection the history's scripts (sent by digest, the script itself only when Redis lacks it). */
export function defineScripts(client: RedisClient): void {
  client.defineCommand('rxjsWsPublish', { numberOfKeys: 3, lua: PUBLISH });
  client.defineCommand('rxjsWsRead', { numberOfKeys: 2, lua: READ });
  client.defineCommand('rxjsWsClaim', { numberOfKeys: 1, lua: CLAIM });
  client.defineCommand('rxjsWsStore', { lua: STORE });
  client.defineCommand('rxjsWsRelease', { numberOfKeys: 1, lua: RELEASE });
}

/** @internal Topic streams and session positions on one Redis connection (the publishing one). */
export class RedisHistory implements HistoryLink {
  readonly #client: RedisClient & Scripted;
  readonly #prefix: string;
  readonly #options: ResolvedHistory;

  constructor(client: RedisClient, prefix: string, options: ResolvedHistory) {
    this.#client = client as RedisClient & Scripted;
    this.#prefix = prefix;
    this.#options = options;
  }

  /** Adds an envelope (version 1, a message) to its topic's history and publishes it there. */
  publish(topic: string, channel: string, data: Buffer, except: string | undefined): Reply {
    const p = this.#prefix;
    const { maxLen, maxAge } = this.#options;
    const seen = `${p}o:${data.toString('hex', 2, 18)}`;
    return this.#client.rxjsWsPublish(`${p}h:${topic}`, `${p}n:${topic}`, seen, channel, data, except ?? '', maxLen, maxAge, SEEN_TTL);
  }

  async read(topic: string, after: HistoryPosition | null, count: number): Promise<HistoryPage> {
    const p = this.#prefix;
    const reply = (await this.#client.rxjsWsReadBuffer(`${p}h:${topic}`, `${p}n:${topic}`, after?.id ?? '', count, this.#options.maxAge)) as [
      number,
      Buffer,
      [Buffer, Buffer[]][],
    ];
    const [n, head, raw] = reply;
    const entries: HubEnvelope[] = [];
    for (const [id, fields] of raw) {
      let m: Buffer | undefined;
      let number = 0;
      let except: string | undefined;
      for (let i = 0; i + 1 < fields.length; i += 2) {
        const field = fields[i]!.toString('latin1');
        if (field === 'm') m = fields[i + 1];
        else if (field === 'n') number = Number(fields[i + 1]!.toString('latin1'));
        else if (field === 'x') except = fields[i + 1]!.toString('latin1');
      }
      const envelope = m === undefined ? null : decodeEnvelope(topic, m);
      // Not a hub's message (another program wrote it): left out, and reported as missed.
      if (envelope !== null) entries.push(withEntry(envelope, id.toString('latin1'), number, except));
    }
    return { entries, head: { id: head.toString('latin1'), n: Number(n) } };
  }

  async claim(key: string, owner: string, ttl: number): Promise<StoredPositions | null> {
    const flat = (await this.#client.rxjsWsClaim(this.#key(key), owner, ttl)) as string[];
    if (flat.length === 0) return null;
    let stored: string | null = null;
    const topics = new Map<string, HistoryPosition>();
    let pending: PendingPosition[] = [];
    for (let i = 0; i + 1 < flat.length; i += 2) {
      const field = flat[i]!;
      const value = flat[i + 1]!;
      if (field === 'o') stored = value;
      else if (field === 'p') pending = parsePending(value);
      else if (field.startsWith('t:')) {
        const position = parsePosition(value);
        if (position !== null) topics.set(field.slice(2), position);
      }
    }
    return { owner: stored, topics, pending };
  }

  async store(key: string, owner: string, changes: PositionChanges, ttl: number, renew: boolean): Promise<boolean> {
    const p = this.#prefix;
    const keys = [this.#key(key), ...[...changes.set.keys()].map((topic) => `${p}n:${topic}`)];
    const pending =
      changes.pending === undefined
        ? ''
        : changes.pending.length === 0
          ? '-'
          : JSON.stringify(changes.pending.map(({ mark, topic, position }) => [mark, topic, position.id, position.n]));
    const args: (string | number)[] = [owner, ttl, renew ? '1' : '0', pending, changes.set.size];
    for (const [topic, position] of changes.set) args.push(`t:${topic}`, `${position.id} ${position.n}`);
    for (const topic of changes.remove) args.push(`t:${topic}`);
    return (await this.#client.rxjsWsStore(keys.length, ...keys, ...args)) === 1;
  }

  async release(key: string, owner: string, ttl: number): Promise<void> {
    await this.#client.rxjsWsRelease(this.#key(key), owner, ttl);
  }

  #key(key: string): string {
    return `${this.#prefix}s:${key}`;
  }
}

function parsePosition(value: string): HistoryPosition | null {
  const match = /^(\d{1,20}-\d{1,20}) (\d{1,16})$/.exec(value);
  return match === null ? null : { id: match[1]!, n: Number(match[2]) };
}

function parsePending(value: string): PendingPosition[] {
  try {
    const list = JSON.parse(value) as unknown;
    if (!Array.isArray(list)) return [];
    return list.flatMap((item: unknown) => {
      if (!Array.isArray(item) || item.length !== 4) return [];
      const [mark, topic, id, n] = item as unknown[];
      const position = parsePosition(`${String(id)} ${String(n)}`);
      return typeof mark === 'number' && typeof topic === 'string' && position !== null ? [{ mark, topic, position }] : [];
    });
  } catch {
    return [];
  }
}
