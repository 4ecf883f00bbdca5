import type { PreparedFrame } from './prepared';

export type { CloseInfo, Inbound } from '../types';

/**
 * An outbound frame: a `string` goes out as a text frame, any binary data
 * (`Buffer`, typed array, `DataView`, `ArrayBuffer`) as a binary frame, and a
 * `PreparedFrame` (see `prepare()`) as the frame it was encoded as.
 */
export type Outbound = string | ArrayBufferView | ArrayBuffer | PreparedFrame;
