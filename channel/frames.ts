/**
 * Writing queued frames, and what an oversized frame header most likely is.
 *
 * @module
 */

import { ProtocolError } from "../errors.ts";
import type { Transport } from "./transport.ts";

/** Payloads larger than this are written from their own buffer, not copied into a batch. */
export const DIRECT_WRITE_SIZE = 256 * 1024;

async function writeAll(
  transport: Transport,
  data: Uint8Array,
  progress: (() => void) | undefined,
): Promise<void> {
  let written = await transport.write(data);
  progress?.();
  while (written < data.length) {
    written += await transport.write(data.subarray(written));
    progress?.();
  }
}

/**
 * Write `payloads` as frames (4-byte big-endian length, then the payload).
 * Small frames are batched into one buffer per write; a payload over
 * {@linkcode DIRECT_WRITE_SIZE} goes out as it is, after a batch that ends
 * with its header. `progress` is called after every write of such a big
 * payload: once the socket's buffer is full, such writes complete only as
 * the peer takes the bytes (small writes complete at once, even to a dead
 * peer, and do not count).
 */
export async function writeFrames(
  transport: Transport,
  payloads: readonly Uint8Array[],
  progress?: () => void,
): Promise<void> {
  let i = 0;
  while (i < payloads.length) {
    let size = 0;
    let j = i;
    while (j < payloads.length && payloads[j]!.length <= DIRECT_WRITE_SIZE) {
      size += 4 + payloads[j]!.length;
      j++;
    }
    const big = j < payloads.length ? payloads[j] : undefined;
    const batch = new Uint8Array(big === undefined ? size : size + 4);
    let offset = 0;
    for (let k = i; k < j; k++) {
      const payload = payloads[k]!;
      setHeader(batch, offset, payload.length);
      batch.set(payload, offset + 4);
      offset += 4 + payload.length;
    }
    if (big !== undefined) setHeader(batch, offset, big.length);
    await writeAll(transport, batch, undefined);
    if (big !== undefined) await writeAll(transport, big, progress);
    i = big === undefined ? j : j + 1;
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
