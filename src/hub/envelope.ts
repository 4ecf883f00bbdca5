import type { EnvelopeKind, HubEnvelope } from './adapter';

/*
 * @internal A hub envelope on a broker channel (the channel names the topic):
 *
 *   0      version (1, or 2 with its place in the topic's history)
 *   1      kind: 0 text, 1 binary, 2 presence, 3 query
 *   2..17  origin (16 bytes)
 *   18..23 seq (unsigned, 48 bits)
 *   24..27 count (unsigned, 32 bits)
 *   28..   payload
 *
 * Version 2, which the Redis adapter's publish script makes of a version 1
 * envelope when it adds the message to the topic's history, has after the
 * count one byte L and L ASCII bytes "<entry id> <n>[ <except>]", then the
 * payload.
 *
 * Binary, so a message's bytes travel as they are: no base64, no JSON escaping.
 */

const VERSION = 1;
const HEADER_BYTES = 28;
const KINDS: readonly EnvelopeKind[] = ['text', 'binary', 'presence', 'query'];

/** Encodes `envelope` (its topic is the channel's business). */
export function encodeEnvelope(envelope: HubEnvelope): Buffer {
  const out = Buffer.allocUnsafe(HEADER_BYTES + envelope.payload.length);
  out[0] = VERSION;
  out[1] = KINDS.indexOf(envelope.kind);
  out.write(envelope.origin, 2, 16, 'hex');
  out.writeUIntBE(envelope.seq, 18, 6);
  out.writeUInt32BE(envelope.count, 24);
  envelope.payload.copy(out, HEADER_BYTES);
  return out;
}

/** Decodes an envelope of `topic`, or returns null for bytes that are not one (another program on the channel). */
export function decodeEnvelope(topic: string, bytes: Buffer): HubEnvelope | null {
  const kind = KINDS[bytes[1] ?? -1];
  const version = bytes[0];
  if (bytes.length < HEADER_BYTES || (version !== VERSION && version !== HISTORY_VERSION) || kind === undefined) return null;
  const envelope = {
    origin: bytes.toString('hex', 2, 18),
    seq: bytes.readUIntBE(18, 6),
    topic,
    kind,
    payload: bytes.subarray(HEADER_BYTES),
    count: bytes.readUInt32BE(24),
  };
  if (version === VERSION) return envelope;
  const end = HEADER_BYTES + 1 + (bytes[HEADER_BYTES] ?? 0);
  const meta = end <= bytes.length ? META.exec(bytes.toString('latin1', HEADER_BYTES + 1, end)) : null;
  if (meta === null || (kind !== 'text' && kind !== 'binary')) return null;
  return withEntry({ ...envelope, payload: bytes.subarray(end) }, meta[1]!, Number(meta[2]), meta[3]);
}

/** `envelope` with its place in the history, and the session it is not for. */
export function withEntry(envelope: HubEnvelope, id: string, n: number, except: string | undefined): HubEnvelope {
  return { ...envelope, entry: { id, n }, ...(except !== undefined && { except }) };
}

const HISTORY_VERSION = 2;
const META = /^(\d{1,20}-\d{1,20}) (\d{1,16})(?: ([A-Za-z0-9_-]{1,64}))?$/;
