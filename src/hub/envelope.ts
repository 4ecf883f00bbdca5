import type { EnvelopeKind, HubEnvelope } from './adapter';

/*
 * @internal A hub envelope on a broker channel (the channel names the topic):
 *
 *   0      version (1)
 *   1      kind: 0 text, 1 binary, 2 presence, 3 query
 *   2..17  origin (16 bytes)
 *   18..23 seq (unsigned, 48 bits)
 *   24..27 count (unsigned, 32 bits)
 *   28..   payload
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
  if (bytes.length < HEADER_BYTES || bytes[0] !== VERSION || kind === undefined) return null;
  return {
    origin: bytes.toString('hex', 2, 18),
    seq: bytes.readUIntBE(18, 6),
    topic,
    kind,
    payload: bytes.subarray(HEADER_BYTES),
    count: bytes.readUInt32BE(24),
  };
}
