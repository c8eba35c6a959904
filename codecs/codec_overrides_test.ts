// What every codec with encodeInto/decodeAt owes a subclass or a patched
// instance: an overridden encode is never bypassed, a patched decode is used.

import assert from "node:assert/strict";
import { JsonCodec } from "./json.ts";
import { MsgPackCodec } from "./msgpack.ts";
import type { CodecClass } from "./types.ts";

for (const Codec of [JsonCodec, MsgPackCodec] as CodecClass[]) {
  Deno.test(`${Codec.name}: encodeInto and decodeAt respect an overridden encode or decode`, () => {
    // A subclass that overrides encode never encodes into a target.
    class Tagged extends Codec {
      override encode(value: unknown): Uint8Array {
        return super.encode(["tagged", value]);
      }
    }
    assert.equal(new Tagged().encodeInto!(1, new Uint8Array(64), 0), -1);
    // A decode set on the instance is used by decodeAt.
    const patched = new Codec();
    patched.decode = () => "patched";
    assert.equal(patched.decodeAt!(new Uint8Array([0x31, 0x31]), 0, 1), "patched");
  });
}
