/**
 * Writing queued frames, and what an oversized frame header most likely is.
 *
 * @module
 */

import { ProtocolError } from "../errors.ts";
import type { Transport } from "./transport.ts";

/** Payloads (and payload pieces) larger than this are written from their own buffer, not copied into a batch. */
export const DIRECT_WRITE_SIZE = 256 * 1024;

/**
 * A frame's payload: one buffer, or pieces written one after another (a
 * codec's `encodeParts`).
 */
export type Payload = Uint8Array | readonly Uint8Array[];

/** The byte length of `payload`. */
export function payloadSize(payload: Payload): number {
  if (!Array.isArray(payload)) return (payload as Uint8Array).length;
  let size = 0;
  for (const piece of payload) size += piece.length;
  return size;
}

async function writeAll(
  transport: Transport,
  data: Uint8Array,
  progress: (() => void) | undefined,
): Promise<void> {
  const length = data.length;
  let written = await transport.write(data);
  progress?.();
  while (written < length) {
    if (data.length !== length) {
      throw new Error(
        `A Uint8Array of ${length} bytes was detached or resized while it was being sent: ` +
          "keep an array passed to a call unchanged until the call settles",
      );
    }
    written += await transport.write(data.subarray(written));
    progress?.();
  }
}

/**
 * Write `payloads` as frames (4-byte big-endian length, then the payload).
 * Headers and small payloads (or pieces) are batched into one buffer per
 * write; a payload or piece over {@linkcode DIRECT_WRITE_SIZE} goes out as it
 * is, after a batch with what precedes it. `progress` is called after every
 * write of such a big one: once the socket's buffer is full, such writes
 * complete only as the peer takes the bytes (small writes complete at once,
 * even to a dead peer, and do not count).
 */
export async function writeFrames(
  transport: Transport,
  payloads: readonly Payload[],
  progress?: () => void,
): Promise<void> {
  // The next batch starts at piece `k` of payload `i` (`k` -1: at its header).
  let i = 0;
  let k = -1;
  while (i < payloads.length) {
    // Measure the batch, up to the next big piece: piece `m` of payload `j`.
    let size = 0;
    let j = i;
    let m = k;
    let big: Uint8Array | undefined;
    for (; j < payloads.length; j++, m = -1) {
      const payload = payloads[j]!;
      if (!Array.isArray(payload)) {
        if ((payload as Uint8Array).length > DIRECT_WRITE_SIZE) {
          big = payload as Uint8Array;
          m = 0;
          size += 4;
          break;
        }
        size += 4 + (payload as Uint8Array).length;
        continue;
      }
      if (m < 0) {
        size += 4;
        m = 0;
      }
      for (; m < payload.length && payload[m]!.length <= DIRECT_WRITE_SIZE; m++) {
        size += payload[m]!.length;
      }
      if (m < payload.length) {
        big = payload[m];
        break;
      }
    }
    if (size > 0) {
      const batch = new Uint8Array(size);
      let offset = 0;
      for (let p = i, q = k; p < payloads.length && (p < j || big !== undefined && p === j); p++) {
        const payload = payloads[p]!;
        if (!Array.isArray(payload)) {
          const bytes = payload as Uint8Array;
          setHeader(batch, offset, bytes.length);
          offset += 4;
          if (p < j) {
            // (Not the big payload, which follows its header on its own.)
            batch.set(bytes, offset);
            offset += bytes.length;
          }
          continue;
        }
        if (q < 0) {
          setHeader(batch, offset, payloadSize(payload));
          offset += 4;
          q = 0;
        }
        for (const end = p === j ? m : payload.length; q < end; q++) {
          batch.set(payload[q]!, offset);
          offset += payload[q]!.length;
        }
        q = -1;
      }
      await writeAll(transport, batch, undefined);
    }
    if (big === undefined) return;
    await writeAll(transport, big, progress);
    // Go on after the big piece (a big payload of one piece: with the next payload).
    if (Array.isArray(payloads[j])) {
      i = j;
      k = m + 1;
    } else {
      i = j + 1;
      k = -1;
    }
  }
}

function setHeader(batch: Uint8Array, offset: number, length: number): void {
  batch[offset] = length >>> 24;
  batch[offset + 1] = (length >>> 16) & 0xff;
  batch[offset + 2] = (length >>> 8) & 0xff;
  batch[offset + 3] = length & 0xff;
}

const HTTP_STARTS = ["GET ", "POST", "PUT ", "HEAD", "HTTP", "DELE", "OPTI", "PATC", "CONN"];

/**
 * The error for a frame header announcing `size` bytes, more than `max`:
 * says so, and names what the peer more likely speaks when the four bytes
 * look like HTTP or a TLS handshake.
 */
export function frameTooLarge(header: Uint8Array, size: number, max: number): ProtocolError {
  const text = String.fromCharCode(header[0]!, header[1]!, header[2]!, header[3]!);
  if (HTTP_STARTS.includes(text)) {
    return new ProtocolError(
      `The peer speaks HTTP (it sent "${text.trim()} ..."), but this port speaks aiomas ` +
        "framing (a 4-byte length, then a codec payload): connect with an aiomas client, " +
        "not a web browser or HTTP client",
    );
  }
  if (header[0] === 0x16 && header[1] === 0x03) {
    return new ProtocolError(
      "The peer started a TLS handshake, but this port speaks plain aiomas framing: " +
        "give both sides the same `tls` option",
    );
  }
  return new ProtocolError(
    `Frame of ${size} bytes exceeds maxMessageSize (${max}); raise the maxMessageSize ` +
      "option on both peers if such messages are expected",
  );
}
