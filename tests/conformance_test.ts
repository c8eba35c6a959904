/**
 * Wire conformance with Python aiomas 2.0, against the frames recorded from
 * the real Python implementation (`tests/vectors/`, see its README).
 *
 * For each vector file (`json`, `msgpack`, `msgpack_blosc`):
 *
 * 1. every frame decodes to its recorded value, with the `__type__` table of
 *    its context registered in order (dates decode to `Date`);
 * 2. where the vector says `encode_exact`, encoding the value gives exactly
 *    the recorded bytes (MsgPack, MsgPackBlosc); JSON values round-trip and a
 *    Python-style formatter reproduces the recorded text;
 * 3. a raw socket replays the Python client against live Deno peers (channel
 *    server, RPC server, container): the Deno side's replies and callbacks
 *    decode to the recorded ones;
 * 4. a raw socket replays the Python server against Deno clients (channel,
 *    RPC client, container): the frames the Deno side sends match the
 *    recorded ones, and the Deno callers get the recorded results;
 * 5. every `EXCEPTION` the Deno side sends is one string ending in `"\n"`
 *    whose last line is `Type: message`.
 *
 * Without the vector directory, the tests
 * are registered as ignored.
 *
 * @module
 */

import assert from "node:assert/strict";
import { ConnectionError, RemoteException } from "@aiomas/aiomas";
import { Agent, Container, dateSerializer, formatPythonDate } from "@aiomas/aiomas/agent";
import {
  openConnection as openChannel,
  type Request,
  startServer as startChannelServer,
  type TcpAddress,
} from "@aiomas/aiomas/channel";
import {
  type Codec,
  type CodecClass,
  JsonCodec,
  MsgPackBloscCodec,
  MsgPackCodec,
  type SerializerTriple,
} from "@aiomas/aiomas/codecs";
import {
  type DynamicRemote,
  expose,
  kwargs,
  openConnection as openRpc,
  proxyPath,
  startServer as startRpc,
} from "@aiomas/aiomas/rpc";
import { frame, readFrame, writeAll } from "./helpers.ts";
import {
  convert,
  loadVectors,
  toHex,
  type Vector,
  type VectorFile,
  type VectorFileName,
  VECTORS_DIR,
  vectorsAvailable,
} from "./vectors.ts";

const LOCAL = { hostname: "127.0.0.1", port: 0 };
/** How long the raw peer waits for a frame from the Deno side. */
const FRAME_TIMEOUT_MS = 3000;
const DAY_MS = 24 * 3600 * 1000;

// ---------------------------------------------------------------------------
// The types of the recorded Python side and their serializers.

/** Python's `Point(x, y)`, serialized as `[x, y]`. */
class Point {
  constructor(readonly x: number, readonly y: number) {}
}

function pointSerializer(): SerializerTriple<Point> {
  return [Point, (p: Point) => [p.x, p.y], ([x, y]: [number, number]) => new Point(x, y)];
}

/** What a decoded RPC reference looks like to the checks: its router path. */
class Ref {
  constructor(readonly path: string) {}
}

function refSerializer(): SerializerTriple<Ref> {
  return [Ref, (ref: Ref) => ref.path, (path: string) => new Ref(path)];
}

/** Python's `ValueError`, so that the type name on the wire matches. */
class ValueError extends Error {
  override name = "ValueError";
}

type Kind = "date" | "point" | "ref";

/** The `__type__` table of each context (README: "the numbering rule"). */
const CONTEXT_KINDS: Readonly<Record<string, readonly Kind[]>> = {
  channel: [],
  rpc: ["ref"],
  rpc_extra: ["point", "ref"],
  container: ["date", "ref"],
  container_extra: ["date", "point", "ref"],
};

/** How the vector files describe each kind in `contexts[...].serializers`. */
const KIND_PATTERNS: Readonly<Record<Kind, RegExp>> = {
  date: /arrow/i,
  point: /Point/,
  ref: /reference/i,
};

const TYPED_SERIALIZERS: Readonly<Record<Kind, () => SerializerTriple>> = {
  date: dateSerializer,
  point: pointSerializer,
  ref: refSerializer,
};

/** One class per typeid whose instances keep the tag's data untouched. */
const TAG_CLASSES = [0, 1, 2].map((id) => {
  const name = `Tag${id}`;
  return {
    [name]: class {
      constructor(readonly data: unknown) {}
    },
  }[name];
});

/** A codec with the context's serializers: `Date`, `Point` and `Ref`. */
function typedCodec(codecClass: CodecClass, kinds: readonly Kind[]): Codec {
  const codec = new codecClass();
  for (const kind of kinds) {
    const [type, toPlain, fromPlain] = TYPED_SERIALIZERS[kind]();
    codec.addSerializer(type, toPlain, fromPlain);
  }
  return codec;
}

/** A codec whose serializer `i` maps tag `i` to a `Tag<i>` holding the raw data. */
function tagCodec(codecClass: CodecClass, kinds: readonly Kind[]): Codec {
  const codec = new codecClass();
  kinds.forEach((_, id) => {
    const Tag = TAG_CLASSES[id];
    codec.addSerializer(Tag, (tag: InstanceType<typeof Tag>) => tag.data, (data) => new Tag(data));
  });
  return codec;
}

/**
 * The milliseconds of a Python `str(arrow)` date, parsed independently of
 * the library (microseconds are truncated, as `Date` keeps milliseconds).
 */
function pythonDateMs(text: string): number {
  const match = /^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d{1,6}))?(Z|[+-]\d\d:\d\d)$/
    .exec(text);
  if (match === null) throw new TypeError(`Not a Python ISO date: "${text}"`);
  const [, year, month, day, hour, minute, second, fraction = "0", zone] = match;
  const ms = Math.floor(Number(fraction.padEnd(6, "0")) / 1000);
  let offsetMinutes = 0;
  if (zone !== "Z") {
    const sign = zone[0] === "-" ? -1 : 1;
    offsetMinutes = sign * (Number(zone.slice(1, 3)) * 60 + Number(zone.slice(4, 6)));
  }
  const utc = Date.UTC(+year, +month - 1, +day, +hour, +minute, +second, ms);
  return utc - offsetMinutes * 60_000;
}

/** `raw` with each tag turned into a `Date`, `Point` or `Ref`. */
function typedValue(raw: unknown, kinds: readonly Kind[]): unknown {
  return convert(raw, (id, data) => {
    switch (kinds[id]) {
      case "date":
        return new Date(pythonDateMs(data as string));
      case "point": {
        const [x, y] = data as [number, number];
        return new Point(x, y);
      }
      case "ref":
        return new Ref(data as string);
      default:
        throw new TypeError(`typeid ${id} is not in this context's table`);
    }
  });
}

/** `raw` with each tag `i` turned into a `Tag<i>`. */
function taggedValue(raw: unknown): unknown {
  return convert(raw, (id, data) => new TAG_CLASSES[id](data));
}

/** Whether `raw` has a date that a `Date` cannot write back as the same text. */
function hasLossyDate(raw: unknown, kinds: readonly Kind[]): boolean {
  let lossy = false;
  convert(raw, (id, data) => {
    if (kinds[id] === "date") {
      lossy ||= formatPythonDate(new Date(pythonDateMs(data as string))) !== data;
    }
    return data;
  });
  return lossy;
}

/** Whether `raw` has `$float` values (integral or non-finite floats). */
function hasFloatTags(raw: unknown): boolean {
  return JSON.stringify(raw).includes('"$float"');
}

/**
 * `value` with the float-ness a JS number cannot keep erased: `-0` is `0`,
 * and a `bigint` that a number holds exactly is that number (an integral
 * float such as `1e16` goes out as an integer and may come back as a
 * `bigint`). NaN and the infinities stay as they are.
 */
function withoutFloatness(value: unknown): unknown {
  if (typeof value === "bigint") {
    return BigInt(Number(value)) === value ? Number(value) : value;
  }
  if (Object.is(value, -0)) return 0;
  if (Array.isArray(value)) return value.map(withoutFloatness);
  if (isPlainObject(value)) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, withoutFloatness(v)]));
  }
  return value;
}

/** Deep-equal; for a vector with `$float` values, up to float-ness. */
function assertSameValue(actual: unknown, expected: unknown, raw: unknown): void {
  if (hasFloatTags(raw)) assert.deepEqual(withoutFloatness(actual), withoutFloatness(expected));
  else assert.deepEqual(actual, expected);
}

/** A proxy as its `Ref`, so results can be compared with the recorded ones. */
function comparable(value: unknown): unknown {
  const path = proxyPath(value);
  return path === undefined ? value : new Ref(path);
}

// ---------------------------------------------------------------------------
// Python's JSON formatting (json.dumps defaults), for the recorded payload text.

function pythonString(text: string): string {
  const short: Record<string, string> = {
    '"': '\\"',
    "\\": "\\\\",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\b": "\\b",
    "\f": "\\f",
  };
  let out = '"';
  for (let i = 0; i < text.length; i++) {
    const char = text[i];
    const code = text.charCodeAt(i);
    if (char in short) out += short[char];
    else if (code < 0x20 || code > 0x7e) out += `\\u${code.toString(16).padStart(4, "0")}`;
    else out += char;
  }
  return `${out}"`;
}

function pythonFloat(x: number): string {
  if (Number.isNaN(x)) return "NaN";
  if (x === Infinity) return "Infinity";
  if (x === -Infinity) return "-Infinity";
  if (x === 0) return Object.is(x, -0) ? "-0.0" : "0.0";
  const [mantissa, exponentText] = x.toExponential().split("e");
  const exponent = Number(exponentText);
  if (exponent >= -4 && exponent < 16) {
    const positional = String(x);
    return /[.e]/.test(positional) ? positional : `${positional}.0`;
  }
  const sign = exponent < 0 ? "-" : "+";
  return `${mantissa}e${sign}${String(Math.abs(exponent)).padStart(2, "0")}`;
}

/** Format a vector's `decoded` (with its `$` conventions) as Python's `json.dumps`. */
function pythonJson(raw: unknown): string {
  if (raw === null) return "null";
  if (typeof raw === "boolean") return String(raw);
  if (typeof raw === "number") return Number.isSafeInteger(raw) ? String(raw) : pythonFloat(raw);
  if (typeof raw === "string") return pythonString(raw);
  if (Array.isArray(raw)) return `[${raw.map(pythonJson).join(", ")}]`;
  const record = raw as Record<string, unknown>;
  const keys = Object.keys(record);
  if (keys.length === 1 && keys[0] === "$float") return pythonFloat(Number(record.$float));
  if (keys.length === 1 && keys[0] === "$int") return String(record.$int);
  if (keys.length === 1 && keys[0] === "$str_repeat") {
    const [text, times] = record.$str_repeat as [string, number];
    return pythonString(text.repeat(times));
  }
  if (keys.length === 1 && keys[0] === "$bytes") throw new TypeError("JSON cannot carry bytes");
  return `{${keys.map((key) => `${pythonString(key)}: ${pythonJson(record[key])}`).join(", ")}}`;
}

// ---------------------------------------------------------------------------
// Helpers for comparisons that report instead of throwing.

function clip(text: string, max = 400): string {
  return text.length <= max ? text : `${text.slice(0, max)}... (${text.length} chars)`;
}

/** Run `check`; return `[]` or one line naming `what` and the failure. */
function problem(what: string, check: () => void): string[] {
  try {
    check();
    return [];
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    return [`${what}: ${clip(message.replaceAll(/\s+/g, " "), 600)}`];
  }
}

function lastLine(text: string): string {
  return text.trimEnd().split("\n").at(-1) ?? "";
}

/** Step 5: an EXCEPTION's content is one string ending in "\n", last line `Type: message`. */
function assertPythonTraceback(text: unknown, expectedLastLine: string): void {
  assert.equal(typeof text, "string", "EXCEPTION content is not a string");
  const traceback = text as string;
  assert.ok(traceback.endsWith("\n"), `traceback does not end in "\\n": ${clip(traceback)}`);
  assert.match(lastLine(traceback), /^[A-Za-z_][\w.]*: /);
  assert.equal(lastLine(traceback), expectedLastLine);
}

function sameBytes(actual: Uint8Array, expected: Uint8Array): void {
  if (toHex(actual) !== toHex(expected)) {
    assert.fail(
      `bytes differ:\n  actual   ${clip(toHex(actual), 300)}\n` +
        `  expected ${clip(toHex(expected), 300)}`,
    );
  }
}

// ---------------------------------------------------------------------------
// The vector files.

interface CodecUnderTest {
  readonly file: VectorFileName;
  readonly codecClass: CodecClass;
  /** MsgPack-based: bytes are compared, not only values. */
  readonly binary: boolean;
}

const CODECS: readonly CodecUnderTest[] = [
  { file: "json", codecClass: JsonCodec, binary: false },
  { file: "msgpack", codecClass: MsgPackCodec, binary: true },
  { file: "msgpack_blosc", codecClass: MsgPackBloscCodec, binary: true },
];

const available = vectorsAvailable();
const files = new Map<VectorFileName, VectorFile>();
if (available) {
  for (const { file } of CODECS) files.set(file, await loadVectors(file));
}

/**
 * The vectors with an echo RESULT added after each request whose scenario
 * has no recorded reply (the value cases: "the echo reply is the same value
 * as `[1, id, ...]`"), made from the request's own bytes.
 */
function withEchoReplies(file: VectorFile): Vector[] {
  const out: Vector[] = [];
  const vectors = file.vectors;
  for (let i = 0; i < vectors.length; i++) {
    const v = vectors[i];
    out.push(v);
    const scenario = vectors.filter((w) => w.scenario === v.scenario);
    if (scenario.length !== 1 || v.direction !== "client->server") continue;
    const [type, id, content] = v.raw as [number, number, unknown];
    assert.equal(type, 0, `${v.name}: a lone frame should be a request`);
    let payload: Uint8Array;
    if (file.codec === "json") {
      const text = v.payloadText ?? "";
      assert.ok(text.startsWith("[0, "), `${v.name}: unexpected payload text`);
      payload = new TextEncoder().encode(`[1${text.slice(2)}`);
    } else if (file.codec === "msgpack") {
      assert.deepEqual([...v.payload.subarray(0, 2)], [0x93, 0x00], `${v.name}: not [0, ...]`);
      payload = v.payload.slice();
      payload[1] = 0x01;
    } else {
      throw new Error(`${v.name}: no recorded reply to derive from`);
    }
    const echo = frame(payload);
    out.push({
      ...v,
      name: `${v.scenario}_echo_reply (derived)`,
      direction: "server->client",
      frame: echo,
      payload: echo.subarray(4),
      raw: [1, id, content],
      payloadText: undefined,
      synthesized: true,
    });
  }
  return out;
}

/** The scenarios of one context, in wire order. */
function scenariosOf(vectors: readonly Vector[], context: string): Vector[][] {
  const groups = new Map<string, Vector[]>();
  for (const v of vectors) {
    if (v.context !== context) continue;
    let group = groups.get(v.scenario);
    if (group === undefined) groups.set(v.scenario, group = []);
    group.push(v);
  }
  return [...groups.values()];
}

// ---------------------------------------------------------------------------
// A raw socket that plays the Python side.

/** Reads frames in the background, so that waiting for one can time out. */
class FrameReader {
  readonly done: Promise<void>;
  #frames: Uint8Array[] = [];
  #eof = false;
  #waiter: ((frame: Uint8Array | null) => void) | undefined;

  constructor(conn: Deno.Conn) {
    this.done = this.#loop(conn);
  }

  async #loop(conn: Deno.Conn): Promise<void> {
    try {
      while (true) {
        const payload = await readFrame(conn);
        if (payload === null) break;
        this.#push(payload);
      }
    } catch {
      // Closed by us: the end of the stream.
    }
    this.#eof = true;
    this.#push(null);
  }

  #push(payload: Uint8Array | null): void {
    const waiter = this.#waiter;
    this.#waiter = undefined;
    if (waiter) waiter(payload);
    else if (payload !== null) this.#frames.push(payload);
  }

  /**
   * The next payload; `"end of stream"`, `"timeout"` or `"the Deno side
   * settled first"` (when `abort` resolves before a frame comes).
   */
  next(abort?: Promise<unknown>): Promise<Uint8Array | string> {
    const queued = this.#frames.shift();
    if (queued) return Promise.resolve(queued);
    if (this.#eof) return Promise.resolve("end of stream");
    return new Promise((resolve) => {
      let settled = false;
      const finish = (result: Uint8Array | string) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        this.#waiter = undefined;
        resolve(result);
      };
      const timer = setTimeout(() => finish("timeout"), FRAME_TIMEOUT_MS);
      this.#waiter = (payload) => finish(payload ?? "end of stream");
      abort?.then(() => finish("the Deno side settled first"));
    });
  }
}

interface Tally {
  /** Frames written by the Deno side and checked against a recorded frame. */
  frames: number;
  /** Of those, compared byte for byte. */
  exact: number;
  /** Results a Deno caller got, checked against the recorded reply. */
  results: number;
  /** EXCEPTION frames sent by the Deno side (step 5). */
  exceptions: number;
  failures: string[];
}

function newTally(): Tally {
  return { frames: 0, exact: 0, results: 0, exceptions: 0, failures: [] };
}

interface Replay {
  readonly codec: CodecUnderTest;
  readonly kinds: readonly Kind[];
  /** Decodes what the Deno side sends (a codec per connection, as aiomas makes them). */
  readonly decoder: Codec;
  readonly tally: Tally;
}

/** Check a frame the Deno side sent against the recorded `v`. */
function checkDenoFrame(replay: Replay, v: Vector, payload: Uint8Array): void {
  const { tally, kinds } = replay;
  tally.frames++;
  const what = `${v.name} (frame from Deno)`;
  let actual: unknown;
  const decodeProblems = problem(what, () => actual = replay.decoder.decode(payload));
  if (decodeProblems.length > 0) {
    tally.failures.push(...decodeProblems);
    return;
  }
  const [type, id, content] = v.raw as [number, number, unknown];
  if (type === 2) {
    tally.exceptions++;
    tally.failures.push(...problem(what, () => {
      assert.ok(Array.isArray(actual) && actual.length === 3, "not a [type, id, content] triple");
      assert.deepEqual(actual.slice(0, 2), [2, id]);
      assertPythonTraceback(actual[2], lastLine(content as string));
    }));
    return;
  }
  tally.failures.push(
    ...problem(what, () => assertSameValue(actual, typedValue(v.raw, kinds), v.raw)),
  );
  if (replay.codec.binary && v.encodeExact && !hasLossyDate(v.raw, kinds)) {
    tally.exact++;
    tally.failures.push(...problem(`${what} bytes`, () => sameBytes(payload, v.payload)));
  }
}

/** Check what a Deno caller got against the recorded reply `reply`. */
function checkResult(
  replay: Replay,
  reply: Vector,
  outcome: { ok: true; value: unknown } | { ok: false; error: unknown },
): void {
  replay.tally.results++;
  const [type, , content] = reply.raw as [number, number, unknown];
  const what = `${reply.name} (result at the Deno caller)`;
  replay.tally.failures.push(...problem(what, () => {
    if (type === 1) {
      if (!outcome.ok) throw outcome.error;
      assertSameValue(comparable(outcome.value), typedValue(content, replay.kinds), content);
      return;
    }
    assert.ok(!outcome.ok, `expected a RemoteException, got ${Deno.inspect(outcome)}`);
    const error = outcome.error;
    assert.ok(error instanceof RemoteException, `not a RemoteException: ${error}`);
    assert.equal(`${error.remoteType}: ${error.remoteMessage}`, lastLine(content as string));
  }));
}

/**
 * Replay `scenarios` on `conn`, the raw socket playing the Python side
 * `rawRole`: it writes the recorded frames of its side and checks the frames
 * the Deno side writes. With `actions` (the raw side is the server), each
 * scenario's Deno call runs while its frames are replayed, and its outcome is
 * checked against the recorded reply. Stops at the first frame that does not
 * come.
 */
async function replayScenarios(
  replay: Replay,
  conn: Deno.Conn | Promise<Deno.Conn>,
  scenarios: readonly Vector[][],
  rawRole: "client" | "server",
  actions?: Readonly<Record<string, () => Promise<unknown>>>,
): Promise<void> {
  // A container connects in its first action, so the connection may come later.
  let socket: Deno.Conn | undefined;
  let reader: FrameReader | undefined;
  try {
    for (const scenario of scenarios) {
      const name = scenario[0].scenario;
      let outcome:
        | Promise<{ ok: true; value: unknown } | { ok: false; error: unknown }>
        | undefined;
      if (actions) {
        const action = actions[name];
        assert.ok(action, `no Deno action for scenario ${name}`);
        outcome = (async () => await action())().then(
          (value) => ({ ok: true as const, value }),
          (error) => ({ ok: false as const, error }),
        );
      }
      socket ??= await conn;
      reader ??= new FrameReader(socket);
      let skipped = false;
      for (const v of scenario) {
        const rawWrites = (v.direction === "client->server") === (rawRole === "client");
        if (rawWrites) {
          await writeAll(socket, v.frame);
          continue;
        }
        const payload = await reader.next(outcome);
        if (typeof payload === "string") {
          const detail = outcome ? Deno.inspect(await Promise.race([outcome, "pending"])) : "";
          replay.tally.failures.push(
            `${v.name}: no frame from the Deno side (${payload}) ${detail}`,
          );
          if (payload !== "the Deno side settled first") return; // out of step: stop here
          skipped = true;
          break;
        }
        checkDenoFrame(replay, v, payload);
      }
      if (outcome && !skipped) {
        const request = scenario.find((v) => v.direction === "client->server")!;
        const requestId = (request.raw as unknown[])[1];
        const reply = scenario.find((v) =>
          v.direction === "server->client" && (v.raw as unknown[])[0] !== 0 &&
          (v.raw as unknown[])[1] === requestId
        )!;
        checkResult(replay, reply, await outcome);
      }
    }
  } finally {
    socket?.close();
    await reader?.done;
  }
}

function tcpAddress(url: string): TcpAddress {
  const match = /^tcp:\/\/([^/]+):(\d+)\/?$/.exec(url);
  assert.ok(match, `not a TCP URL: ${url}`);
  return { hostname: match[1], port: Number(match[2]) };
}

// ---------------------------------------------------------------------------
// The Deno services mirroring the recorded Python ones.

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null &&
    Object.getPrototypeOf(value) === Object.prototype;
}

/**
 * Bind `args` as Python would bind `f(*args, **kwargs)` to parameters
 * `names` with `defaults`: Deno receives keyword arguments as one trailing
 * plain object.
 */
function bindPythonArgs(
  fn: string,
  args: readonly unknown[],
  names: readonly string[],
  defaults: Record<string, unknown> = {},
): Record<string, unknown> {
  const positional = [...args];
  const keywords = isPlainObject(positional.at(-1)) ? positional.pop() as object : {};
  const bound: Record<string, unknown> = { ...defaults };
  names.forEach((name, i) => {
    if (i < positional.length) bound[name] = positional[i];
  });
  Object.assign(bound, keywords);
  for (const name of names) {
    if (!(name in bound)) throw new TypeError(`${fn}() missing 1 required argument: '${name}'`);
  }
  return bound;
}

/** The Python channel handler: echo, fail on "fail", `["len", x]` -> `len(x)`. */
const NESTED = {
  list: [1, 2.5, "three", null, true, false],
  dict: { a: { b: { c: [] } }, e: {} },
  mixed: [[1, [2, [3]]], { k: [{ x: "y" }] }],
};

function handleChannelRequest(request: Request): void {
  const content = request.content;
  if (content === "fail") request.fail(new ValueError("boom"));
  else if (content === "nested") request.reply(NESTED);
  else if (Array.isArray(content) && content[0] === "len") {
    const x = content[1];
    request.reply(x instanceof Uint8Array ? x.length : [...(x as string)].length);
  } else request.reply(content);
}

class RpcSub {
  @expose
  method(x: number): number {
    return 2 * x;
  }
}

/** The recorded Python RPC service. */
class RpcService {
  @expose
  sub = new RpcSub();

  @expose
  add(a: number, b: number): number {
    return a + b;
  }

  /** Python: `def kw(self, a, b=2): return a * 10 + b`. */
  @expose
  kw(...args: unknown[]): number {
    const { a, b } = bindPythonArgs("kw", args, ["a", "b"], { b: 2 });
    return (a as number) * 10 + (b as number);
  }

  @expose
  fail(): never {
    throw new ValueError("boom");
  }

  @expose
  async call_back(proxy: DynamicRemote): Promise<unknown> {
    return await proxy.pong("from server");
  }

  @expose
  get_sub(): RpcSub {
    return this.sub;
  }

  @expose
  norm2(p: Point): number {
    return p.x ** 2 + p.y ** 2;
  }

  @expose
  mirror(p: Point): Point {
    return new Point(p.y, p.x);
  }
}

class CallbackSub {
  @expose
  pong(text: string): string {
    return `cb-pong(${text})`;
  }
}

/** The recorded Python client's `rpc_service`, called back by the server. */
class ClientRouter {
  @expose
  cb = new CallbackSub();

  @expose
  pong(text: string): string {
    return `pong(${text})`;
  }
}

/** The recorded Python agent 0 of container B. */
class Callee extends Agent {
  @expose
  spam(...args: unknown[]): string {
    const { times } = bindPythonArgs("spam", args, ["times"]);
    return "spam".repeat(times as number);
  }

  @expose
  date_next(date: Date): Date {
    return new Date(date.getTime() + DAY_MS);
  }

  @expose
  echo(x: unknown): unknown {
    return x;
  }

  @expose
  fail(): never {
    throw new ValueError("boom");
  }

  @expose
  async call_back(other: DynamicRemote): Promise<unknown> {
    return await other.pong("from callee");
  }

  @expose
  norm2(p: Point): number {
    return p.x ** 2 + p.y ** 2;
  }
}

/** The recorded Python agent 0 of container A, which B calls back. */
class Pinger extends Agent {
  @expose
  pong(text: string): string {
    return `pong(${text})`;
  }
}

// ---------------------------------------------------------------------------
// Step 3: the Python client against live Deno servers.

/** Start the Deno peer of `context` as a server; returns its address and a close function. */
async function startDenoServer(
  context: string,
  codecClass: CodecClass,
): Promise<{ addr: TcpAddress; close(): Promise<void> }> {
  const extraSerializers = context.endsWith("_extra") ? [pointSerializer] : [];
  if (context === "channel") {
    const server = await startChannelServer(LOCAL, async (channel) => {
      for await (const request of channel) handleChannelRequest(request);
    }, { codec: codecClass });
    return { addr: server.addr as TcpAddress, close: () => server.close() };
  }
  if (context.startsWith("rpc")) {
    const server = await startRpc(LOCAL, new RpcService(), {
      codec: codecClass,
      extraSerializers,
    });
    return { addr: server.addr as TcpAddress, close: () => server.close() };
  }
  const container = await Container.create(LOCAL, { codec: codecClass, extraSerializers });
  const callee = new Callee(container);
  assert.equal(callee.aid, "0");
  return { addr: tcpAddress(container.addr), close: () => container.shutdown() };
}

// ---------------------------------------------------------------------------
// Step 4: Deno clients against the Python server.

/** A Deno client of `context` connected to `addr`, with the calls of each scenario. */
async function startDenoClient(
  context: string,
  codecClass: CodecClass,
  addr: TcpAddress,
  vectors: readonly Vector[],
): Promise<{ actions: Record<string, () => Promise<unknown>>; close(): Promise<void> }> {
  const extraSerializers = context.endsWith("_extra") ? [pointSerializer] : [];
  if (context === "channel") {
    const channel = await openChannel(addr, { codec: codecClass });
    const actions: Record<string, () => Promise<unknown>> = {};
    for (const v of vectors) {
      if (v.direction !== "client->server") continue;
      actions[v.scenario] = () => channel.send(convert((v.raw as unknown[])[2]));
    }
    return { actions, close: () => channel.close() };
  }
  if (context.startsWith("rpc")) {
    const router = new ClientRouter();
    const client = await openRpc(addr, { codec: codecClass, extraSerializers, router });
    const remote = client.remote as DynamicRemote;
    let sub: DynamicRemote | undefined;
    const actions: Record<string, () => Promise<unknown>> = {
      rpc_positional: () => remote.add(2, 3),
      rpc_kwargs: () => remote.kw(1, kwargs({ b: 5 })),
      rpc_kwargs_only: () => remote.kw(kwargs({ a: 4 })),
      rpc_nested_path: () => remote.sub.method(21),
      rpc_fail: () => remote.fail(),
      rpc_unknown_path: () => remote.nope(),
      rpc_ref_root: () => remote.call_back(router),
      rpc_ref_sub: () => remote.call_back(router.cb),
      rpc_ref_result: async () => sub = await remote.get_sub() as DynamicRemote,
      rpc_ref_result_call: () => sub!.method(2),
      rpc_extra_point: () => remote.norm2(new Point(3, 4)),
      rpc_extra_point_mirror: () => remote.mirror(new Point(1, 2)),
      rpc_extra_ref: () => remote.call_back(router),
    };
    return { actions, close: () => client.close() };
  }
  const container = await Container.create(LOCAL, { codec: codecClass, extraSerializers });
  const pinger = new Pinger(container);
  assert.equal(pinger.aid, "0");
  const url = `tcp://${addr.hostname}:${addr.port}/`;
  let callee: DynamicRemote | undefined;
  const actions: Record<string, () => Promise<unknown>> = {
    container_validate_aid: async () => {
      callee = await container.connect<unknown>(`${url}0`);
      // The recorded reply is the class name, which the proxy's label shows.
      return String(callee).startsWith("CalleeProxy(") ? "Callee" : String(callee);
    },
    container_agent_call: () => callee!.spam(3),
    container_agent_kwargs: () => callee!.spam(kwargs({ times: 2 })),
    container_validate_aid_unknown: async () => {
      try {
        return `connected to ${await container.connect(`${url}7`)}`;
      } catch (error) {
        // Python's connect() raises ConnectionError on a null reply.
        if (error instanceof ConnectionError && error.message.includes('"7"')) return null;
        throw error;
      }
    },
    container_ref: () => callee!.call_back(pinger),
    container_arrow: () => callee!.date_next(new Date("2010-03-27T00:00:00Z")),
    // A Date has milliseconds and no offset: this sends the same instant as
    // "2016-01-01T12:30:45.123456+02:00", as "2016-01-01T10:30:45.123000+00:00".
    container_arrow_micro_offset: () => callee!.echo(new Date("2016-01-01T10:30:45.123Z")),
    container_agent_fail: () => callee!.fail(),
    container_agent_unknown_method: () => callee!.nope(),
    container_extra_point: () => callee!.norm2(new Point(3, 4)),
    container_extra_arrow: () => callee!.date_next(new Date("2020-02-29T23:59:59Z")),
    container_extra_ref: () => callee!.call_back(pinger),
  };
  return { actions, close: () => container.shutdown() };
}

// ---------------------------------------------------------------------------
// The tests.

function summary(file: string, what: string, counts: Record<string, number>): void {
  const parts = Object.entries(counts).map(([key, n]) => `${key} ${n}`).join(", ");
  console.log(`conformance ${file} ${what}: ${parts}`);
}

if (!available) {
  Deno.test({
    name: `conformance with Python aiomas: SKIPPED, no vectors at ${VECTORS_DIR.pathname}`,
    ignore: true,
    fn() {},
  });
}

for (const codec of CODECS) {
  const file = files.get(codec.file);

  Deno.test({
    name: `conformance ${codec.file}: every vector decodes; encodes exactly where recorded so`,
    ignore: file === undefined,
    fn() {
      const failures: string[] = [];
      const counts = { decoded: 0, exactEncodes: 0, roundTrips: 0, pythonJsonText: 0 };
      for (const [context, kinds] of Object.entries(CONTEXT_KINDS)) {
        const described = file!.contexts[context]?.serializers ?? [];
        assert.equal(described.length, kinds.length, `the ${context} table`);
        kinds.forEach((kind, id) => assert.match(described[id], KIND_PATTERNS[kind]));
      }
      for (const v of file!.vectors) {
        const kinds = CONTEXT_KINDS[v.context];
        assert.ok(kinds, `${v.name}: unknown context ${v.context}`);
        const header = new DataView(v.frame.buffer, v.frame.byteOffset).getUint32(0);
        failures.push(...problem(`${v.name} header`, () => {
          assert.equal(header, v.frame.length - 4);
        }));

        // 1. Decode, with Date/Point/Ref for the tags.
        counts.decoded++;
        const expected = typedValue(v.raw, kinds);
        failures.push(...problem(`${v.name} decode`, () => {
          assert.deepEqual(typedCodec(codec.codecClass, kinds).decode(v.payload), expected);
        }));
        // ... and with tags kept raw: the ids themselves are right.
        failures.push(...problem(`${v.name} decode (raw tags)`, () => {
          assert.deepEqual(tagCodec(codec.codecClass, kinds).decode(v.payload), taggedValue(v.raw));
        }));

        // 2. Encode: the exact bytes where recorded so, else a round trip.
        if (codec.binary && v.encodeExact) {
          counts.exactEncodes++;
          failures.push(...problem(`${v.name} exact encode (raw tags)`, () => {
            sameBytes(tagCodec(codec.codecClass, kinds).encode(taggedValue(v.raw)), v.payload);
          }));
          if (!hasLossyDate(v.raw, kinds)) {
            failures.push(...problem(`${v.name} exact encode (Date/Point/Ref)`, () => {
              sameBytes(typedCodec(codec.codecClass, kinds).encode(expected), v.payload);
            }));
          }
        }
        counts.roundTrips++;
        failures.push(...problem(`${v.name} round trip`, () => {
          const encoder = typedCodec(codec.codecClass, kinds);
          assertSameValue(encoder.decode(encoder.encode(expected)), expected, v.raw);
        }));
        if (v.payloadText !== undefined) {
          counts.pythonJsonText++;
          failures.push(...problem(`${v.name} Python JSON text`, () => {
            assert.equal(pythonJson(v.raw), v.payloadText);
            assert.equal(new TextDecoder().decode(v.payload), v.payloadText);
          }));
        }
      }
      summary(codec.file, "vectors", counts);
      assert.deepEqual(failures, [], `${failures.length} failures:\n${failures.join("\n")}`);
    },
  });

  Deno.test({
    name: `conformance ${codec.file}: a Python client against live Deno servers`,
    ignore: file === undefined,
    async fn() {
      const vectors = withEchoReplies(file!);
      const tally = newTally();
      for (const context of Object.keys(CONTEXT_KINDS)) {
        const scenarios = scenariosOf(vectors, context);
        if (scenarios.length === 0) continue;
        const kinds = CONTEXT_KINDS[context];
        const server = await startDenoServer(context, codec.codecClass);
        try {
          const conn = await Deno.connect(server.addr);
          const decoder = typedCodec(codec.codecClass, kinds);
          await replayScenarios({ codec, kinds, decoder, tally }, conn, scenarios, "client");
        } finally {
          await server.close();
        }
      }
      summary(codec.file, "Python client -> Deno server", {
        framesChecked: tally.frames,
        byteExact: tally.exact,
        exceptions: tally.exceptions,
      });
      assert.ok(tally.frames > 0);
      assert.deepEqual(tally.failures, [], tally.failures.join("\n"));
    },
  });

  Deno.test({
    name: `conformance ${codec.file}: Deno clients against a Python server`,
    ignore: file === undefined,
    async fn() {
      const vectors = withEchoReplies(file!);
      const tally = newTally();
      for (const context of Object.keys(CONTEXT_KINDS)) {
        let scenarios = scenariosOf(vectors, context);
        if (scenarios.length === 0) continue;
        if (context === "container_extra") {
          // Its connect's validate_aid (msg_id 0) is recorded in the container context only.
          const [validate] = scenariosOf(vectors, "container");
          assert.equal(validate[0].scenario, "container_validate_aid");
          scenarios = [validate, ...scenarios];
        }
        const kinds = CONTEXT_KINDS[context];
        using listener = Deno.listen(LOCAL);
        const accepted = listener.accept();
        const client = await startDenoClient(
          context,
          codec.codecClass,
          listener.addr as Deno.NetAddr,
          vectors,
        );
        accepted.catch(() => {}); // rejects when the listener closes unused
        try {
          const decoder = typedCodec(codec.codecClass, kinds);
          await replayScenarios(
            { codec, kinds, decoder, tally },
            accepted,
            scenarios,
            "server",
            client.actions,
          );
        } finally {
          await client.close();
        }
      }
      summary(codec.file, "Deno client -> Python server", {
        framesChecked: tally.frames,
        byteExact: tally.exact,
        callerResults: tally.results,
        exceptions: tally.exceptions,
      });
      assert.ok(tally.results > 0);
      assert.deepEqual(tally.failures, [], tally.failures.join("\n"));
    },
  });
}
