/**
 * What the hostile-peer fixtures serve, and the serializers both the fixtures
 * and the suite's good clients register (in the same order, so `__type__` ids
 * match).
 *
 * @module
 */

import {
  type CodecClass,
  JsonCodec,
  MsgPackBloscCodec,
  MsgPackCodec,
  ndarraySerializer,
  serializable,
  type SerializerSpec,
} from "../../codecs/mod.ts";
import { expose } from "../../rpc/mod.ts";

/** The layers a fixture server can run. */
export const LAYERS: readonly string[] = ["channel", "rpc", "container"];
/** The codecs, by class name. */
export const CODECS: readonly string[] = ["JsonCodec", "MsgPackCodec", "MsgPackBloscCodec"];

/** The codec class for its name, or `undefined` (own names only). */
export function codecClass(name: string): CodecClass | undefined {
  const classes: Record<string, CodecClass> = { JsonCodec, MsgPackCodec, MsgPackBloscCodec };
  return Object.hasOwn(classes, name) ? classes[name] : undefined;
}

/** A user type with the `@serializable` decorator. */
@serializable
export class Point {
  constructor(public x = 0, public y = 0) {}
}

/** A user type with a hand-written serializer that checks its data. */
export class Money {
  constructor(readonly cents: number) {}
}

/** The serializer of {@linkcode Money}. */
export function moneySerializer(): readonly [
  typeof Money,
  (m: Money) => number,
  (d: unknown) => Money,
] {
  return [Money, (money) => money.cents, (data) => {
    if (typeof data !== "number") throw new TypeError(`Money needs cents, got ${typeof data}`);
    return new Money(data);
  }];
}

/** The extra serializers of a fixture with `codecName` (ndarray for MsgPack codecs only). */
export function serializersFor(codecName: string): SerializerSpec[] {
  const list: SerializerSpec[] = [Point, moneySerializer];
  if (codecName !== "JsonCodec") list.push(ndarraySerializer);
  return list;
}

/** The `__type__` ids a fixture's peers see. */
export interface TypeIds {
  date?: number;
  point: number;
  money: number;
  ndarray?: number;
  ref?: number;
}

/** The `__type__` ids of a fixture of `layer` with `codecName`. */
export function typeIds(layer: string, codecName: string): TypeIds {
  let next = layer === "container" ? 1 : 0;
  const ids: TypeIds = { point: next++, money: next++ };
  if (layer === "container") ids.date = 0;
  if (codecName !== "JsonCodec") ids.ndarray = next++;
  if (layer !== "channel") ids.ref = next++;
  return ids;
}

/** The service of the rpc fixture, and the calculator behind the others. */
export class Calculator {
  /** Adds as user code does: trusting its types. */
  @expose
  add(a: number, b: number): number {
    return a + b;
  }

  @expose
  echo(value: unknown): unknown {
    return value;
  }

  @expose
  fail(message: string): never {
    throw new RangeError(`failed: ${message}`);
  }

  @expose
  async callBack(
    peer: { echo(value: unknown): Promise<unknown> },
    value: unknown,
  ): Promise<unknown> {
    return await peer.echo(value);
  }

  @expose
  sub = { mul: expose((a: number, b: number) => a * b) };

  /** Wait until {@linkcode Calculator.release} is called (from any connection). */
  @expose
  hold(): Promise<string> {
    return new Promise((resolve) => gate.push(() => resolve("released")));
  }

  /** How many `hold()` calls wait. */
  @expose
  holding(): number {
    return gate.length;
  }

  /** Let every waiting `hold()` return. */
  @expose
  release(): number {
    const waiting = gate.splice(0);
    for (const wake of waiting) wake();
    return waiting.length;
  }
}

const gate: Array<() => void> = [];
