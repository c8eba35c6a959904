/**
 * The `aiomas` command line: serve agents from a module, call an exposed
 * method of a remote agent, and ping a container.
 *
 * ```sh
 * deno run -A jsr:@aiomas/aiomas/cli serve tcp://127.0.0.1:5555 --agent ./agents.ts#Calculator
 * deno run -A jsr:@aiomas/aiomas/cli call tcp://127.0.0.1:5555/1 add 1 2    # prints 3
 * deno run -A jsr:@aiomas/aiomas/cli ping tcp://127.0.0.1:5555/
 * ```
 *
 * Commands (each takes `--help`):
 *
 * - `serve ADDR --agent ./file.ts#Class [--count N]`: start a container on
 *   `ADDR` whose first agent (id `0`) is a `Manager` (`spawn`, `setTime`,
 *   `stop`), create `N` agents of the class (the module's default export
 *   without `#Class`; ids `1`, `2`, ...), print their addresses one per line
 *   on stdout, log connections and errors on stderr, and stop cleanly on
 *   SIGINT, SIGTERM or the Manager's `stop()`.
 * - `call AGENT_ADDR METHOD [ARGS...] [--kw key=value]...`: call an exposed
 *   method and print its result as JSON. Each argument and keyword value is
 *   read as JSON if it parses, else as a string.
 * - `ping ADDR`: print the round-trip time of a `validate_aid` call.
 *
 * Exit codes: see {@linkcode ExitCode}.
 *
 * `call` and `ping` open one plain RPC connection (no client container): it
 * registers the date serializer first, as a container does, so custom-type
 * ids match the container's.
 *
 * @example Running the command line from code
 * ```ts
 * import { main } from "@aiomas/aiomas/cli";
 * const code = await main(["call", "--help"]); // prints the usage of `call`
 * console.log(code); // 0
 * ```
 *
 * @module
 */

import { parseArgs } from "node:util";
import { Agent } from "./agent/agent.ts";
import { type Container, splitAgentAddress } from "./agent/container.ts";
import { dateSerializer } from "./agent/dates.ts";
import { deadline as withDeadline } from "./agent/spawn.ts";
import {
  createManagedContainer,
  importSpec,
  type ManagedContainerOptions,
  type Manager,
} from "./agent/manager.ts";
import { parseAddress } from "./channel/address.ts";
import type { Channel } from "./channel/channel.ts";
import type { TlsOptions } from "./channel/tls.ts";
import type { Clock } from "./clocks/clock.ts";
import { ExternalClock } from "./clocks/external.ts";
import { RealtimeClock } from "./clocks/realtime.ts";
import { JsonCodec } from "./codecs/json.ts";
import { MsgPackCodec } from "./codecs/msgpack.ts";
import { MsgPackBloscCodec } from "./codecs/msgpack_blosc.ts";
import type { CodecClass } from "./codecs/types.ts";
import { ConnectionError, RemoteException, TimeoutError } from "./errors.ts";
import type { RpcClient } from "./rpc/client.ts";
import { proxyPath } from "./rpc/proxy.ts";
import { openConnection } from "./rpc/server.ts";

/**
 * The exit codes of the command line.
 *
 * | code | meaning |
 * | --- | --- |
 * | 0 | success (`serve`: stopped by SIGINT/SIGTERM) |
 * | 1 | the remote method failed (`call`: the remote traceback is on stderr), or `serve` could not start (module, class or address) |
 * | 2 | unreachable: connection refused, lost or TLS refused, or no such agent in the container |
 * | 3 | timeout: no reply within `--timeout` seconds |
 * | 64 | bad usage (the usage text is on stderr) |
 *
 * @example
 * ```ts
 * import { ExitCode } from "@aiomas/aiomas/cli";
 * console.log(ExitCode.Unreachable); // 2
 * ```
 */
export const ExitCode = {
  /** Success. */
  Ok: 0,
  /** The remote method failed, or `serve` could not start. */
  Failure: 1,
  /** Connection refused or lost, TLS refused, or no such agent. */
  Unreachable: 2,
  /** No reply within `--timeout` seconds. */
  Timeout: 3,
  /** Bad command line usage (as sysexits' `EX_USAGE`). */
  Usage: 64,
} as const;

/** How long one connection attempt may take before the address counts as unreachable. */
const CONNECT_TIMEOUT = 10;

const PROGRAM = "aiomas";

const COMMON_HELP = `

Connection options:
  --codec json|msgpack|msgpack-blosc   the container's codec (default: json)
  --tls-ca FILE      root CA certificate (PEM): enables TLS with mutual authentication
  --tls-cert FILE    this side's certificate (PEM), signed by the CA
  --tls-key FILE     this side's private key (PEM, unencrypted)
  -h, --help         show this help`;

const TOP_USAGE = `Usage: ${PROGRAM} <command> [options]

Commands:
  serve ADDR --agent ./file.ts#Class [--count N]   start a container with agents
  call AGENT_ADDR METHOD [ARGS...] [--kw k=v]...   call an agent's exposed method
  ping ADDR                                        measure a container's round-trip time

Run "${PROGRAM} <command> --help" for a command's options.

Exit codes: 0 ok, 1 remote error (call) or start failure (serve), 2 unreachable or
no such agent, 3 timeout, 64 bad usage.`;

const SERVE_USAGE = `Usage: ${PROGRAM} serve ADDR --agent MODULE[#Export] [options]

Start a container on ADDR (tcp://host:port, port 0 for any free port, or
ipc://[path] for a Unix socket), create agents, print one agent address per
line on stdout, log connections and errors on stderr, and run until SIGINT,
SIGTERM or the Manager's stop() (exit 0).

The container's first agent (id 0) is a Manager: "call ADDR/0 spawn SPEC",
"call ADDR/0 setTime T" (external clock) and "call ADDR/0 stop". The agents
made with --agent get the ids 1, 2, ...; only their addresses are printed.

MODULE is a path relative to the working directory (or a URL, jsr: or npm:
specifier); #Export names the agent class, the default export if omitted.
Each agent is made with "await Class.create(container)" if the class has a
static create() method, else with "new Class(container)".

Options:
  --agent MODULE[#Export]   agent class to instantiate (repeatable)
  --count N                 agents of each class (default: 1)
  --clock realtime|external the container's clock (default: realtime)
  --start-date ISO          start date of the external clock (default: now)${COMMON_HELP}`;

const CALL_USAGE = `Usage: ${PROGRAM} call AGENT_ADDR METHOD [ARGS...] [options]

Call METHOD of the agent at AGENT_ADDR (tcp://host:port/<id>) and print the
result as one line of JSON on stdout. METHOD may be a path into a sub-service
("sub/method"). With a container address ending in "/", METHOD is a path from
the container's root service (e.g. "validate_aid" or "agents/0/add").

Each ARG and each --kw value is parsed as JSON if it parses, else taken as a
string: 1 is a number, '"1"' a string, '[1, 2]' a list, spam the string "spam".
Put negative numbers anywhere (-1 is an argument, not an option) and use "--"
before arguments that start with "--".

Printing: dates as ISO 8601 strings (UTC), 64-bit integers (bigint) as decimal
strings, bytes as base64 strings, remote references as "<proxy PATH>".

Options:
  --kw KEY=VALUE     keyword argument for the method (repeatable)
  --timeout S        give up after S seconds without a reply (exit 3)
  --wait S           retry a refused connection for up to S seconds (default: 0)
  --tls-hostname H   name the server's certificate must be valid for${COMMON_HELP}

Exit codes: 0 ok, 1 the method raised (remote traceback on stderr),
2 unreachable or no such agent, 3 timeout, 64 bad usage.`;

const PING_USAGE = `Usage: ${PROGRAM} ping ADDR [options]

Connect to the container at ADDR (tcp://host:port/ or an agent address
tcp://host:port/<id>), call its validate_aid() and print the round-trip time
in milliseconds. With an agent address, the agent must exist (its class name
is printed too).

Options:
  --timeout S        give up after S seconds (default: 5; exit 3)
  --wait S           retry a refused connection for up to S seconds (default: 0)
  --tls-hostname H   name the server's certificate must be valid for${COMMON_HELP}

Exit codes: 0 ok, 2 unreachable or no such agent, 3 timeout, 64 bad usage.`;

/** Bad command line usage: printed with the command's usage text, exit 64. */
class UsageError extends Error {
  constructor(message: string, readonly usage: string) {
    super(message);
  }
}

const COMMON_OPTIONS = {
  codec: { type: "string" },
  "tls-ca": { type: "string" },
  "tls-cert": { type: "string" },
  "tls-key": { type: "string" },
  help: { type: "boolean", short: "h" },
} as const;

const CLIENT_OPTIONS = {
  ...COMMON_OPTIONS,
  timeout: { type: "string" },
  wait: { type: "string" },
  "tls-hostname": { type: "string" },
} as const;

/** Shields negative numbers from the option parser: `-1` is an argument. */
const NEGATIVE = "\u0000";

type ParseConfig = NonNullable<Parameters<typeof parseArgs>[0]>;
type Options = NonNullable<ParseConfig["options"]>;

function parse<T extends Options>(
  args: string[],
  options: T,
  usage: string,
): { values: Record<string, string | boolean | string[] | undefined>; positionals: string[] } {
  let afterDashes = false;
  const shielded = args.map((arg) => {
    if (arg === "--") afterDashes = true;
    return !afterDashes && /^-(\d|\.\d|Infinity)/.test(arg) ? NEGATIVE + arg : arg;
  });
  const unshield = (value: string) => value.startsWith(NEGATIVE) ? value.slice(1) : value;
  let parsed;
  try {
    parsed = parseArgs({ args: shielded, options, allowPositionals: true, strict: true });
  } catch (error) {
    throw new UsageError((error as Error).message, usage);
  }
  const values: Record<string, string | boolean | string[] | undefined> = {};
  for (const [key, value] of Object.entries(parsed.values)) {
    values[key] = typeof value === "string"
      ? unshield(value)
      : Array.isArray(value)
      ? value.map((item) => unshield(String(item)))
      : value as boolean | undefined;
  }
  return { values, positionals: parsed.positionals.map(unshield) };
}

function str(value: unknown): string | undefined {
  return typeof value === "string" ? value : undefined;
}

function seconds(value: unknown, name: string, usage: string): number | undefined {
  if (typeof value !== "string") return undefined;
  const number = Number(value);
  if (value.trim() === "" || !Number.isFinite(number) || number < 0) {
    throw new UsageError(`--${name} takes a number of seconds >= 0, got "${value}"`, usage);
  }
  return number;
}

const CODECS: Record<string, CodecClass> = {
  json: JsonCodec,
  msgpack: MsgPackCodec,
  "msgpack-blosc": MsgPackBloscCodec,
};

function codecOption(value: unknown, usage: string): CodecClass {
  const name = str(value) ?? "json";
  const codec = CODECS[name];
  if (codec === undefined) {
    throw new UsageError(`Unknown codec "${name}": use json, msgpack or msgpack-blosc`, usage);
  }
  return codec;
}

function tlsOption(
  values: Record<string, unknown>,
  usage: string,
  hostname?: string,
): TlsOptions | undefined {
  const caFile = str(values["tls-ca"]);
  const certFile = str(values["tls-cert"]);
  const keyFile = str(values["tls-key"]);
  if (caFile === undefined && certFile === undefined && keyFile === undefined) {
    if (hostname !== undefined) throw new UsageError("--tls-hostname needs --tls-ca", usage);
    return undefined;
  }
  if (caFile === undefined || certFile === undefined || keyFile === undefined) {
    throw new UsageError("TLS needs all of --tls-ca, --tls-cert and --tls-key", usage);
  }
  return hostname === undefined
    ? { caFile, certFile, keyFile }
    : { caFile, certFile, keyFile, hostname };
}

/** Parse a command line value: JSON if it parses, else the string itself. */
export function parseValue(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

function toBase64(bytes: Uint8Array): string {
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(binary);
}

/**
 * Format a call's result as one line of JSON: dates as ISO 8601 strings
 * (UTC), bigints as decimal strings, `Uint8Array`s as base64 strings, other
 * typed arrays as arrays, maps as objects, sets as arrays, remote references
 * as `"<proxy PATH>"`, and `undefined` as `null` (`NaN` and infinities also
 * print as `null`, as in JSON).
 *
 * @example
 * ```ts
 * import { formatResult } from "@aiomas/aiomas/cli";
 * console.log(formatResult({ n: 2n ** 64n, at: new Date(0), raw: new Uint8Array([1, 2]) }));
 * // {"n":"18446744073709551616","at":"1970-01-01T00:00:00.000Z","raw":"AQI="}
 * ```
 */
export function formatResult(value: unknown): string {
  return JSON.stringify(printable(value, new Set())) ?? "null";
}

/**
 * A JSON-ready copy of `value`. Walks the value itself instead of using a
 * `JSON.stringify` replacer: a remote proxy answers any property, so
 * `JSON.stringify` would call its `toJSON` remotely.
 */
function printable(value: unknown, seen: Set<object>): unknown {
  if (typeof value === "bigint") return value.toString();
  if (typeof value === "function") {
    const path = proxyPath(value);
    return path === undefined ? null : `<proxy ${path === "" ? "/" : path}>`;
  }
  if (typeof value !== "object" || value === null) return value ?? null;
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? null : value.toISOString();
  if (value instanceof Uint8Array) return toBase64(value);
  if (ArrayBuffer.isView(value)) {
    return value instanceof DataView
      ? toBase64(new Uint8Array(value.buffer, value.byteOffset, value.byteLength))
      : Array.from(value as unknown as ArrayLike<number | bigint>, (item) => printable(item, seen));
  }
  if (seen.has(value)) return "<cycle>";
  seen.add(value);
  try {
    if (Array.isArray(value) || value instanceof Set) {
      return Array.from(value, (item) => printable(item, seen));
    }
    const entries = value instanceof Map ? [...value] : Object.entries(value);
    return Object.fromEntries(entries.map(([key, item]) => [String(key), printable(item, seen)]));
  } finally {
    seen.delete(value);
  }
}

/** Whether `addr` is a container URL without the trailing `/`: `tcp://h:p`, `ipc://[path]`. */
function isContainerUrl(addr: string): boolean {
  return /^[a-z]+:\/\/[^/]*$/.test(addr) || /^[a-z]+:\/\/\[.*\]$/.test(addr);
}

/** Split `tcp://h:p/<aid>` into the container address and the id (`""` for `tcp://h:p/`). */
function splitTarget(addr: string, usage: string): [container: string, aid: string] {
  if (isContainerUrl(addr)) {
    throw new UsageError(
      `Invalid agent address "${addr}": expected "tcp://host:port/<id>" ` +
        `(or "tcp://host:port/" for the container's root service)`,
      usage,
    );
  }
  try {
    if (addr.endsWith("/")) {
      parseAddress(addr);
      return [addr, ""];
    }
    const [container, aid] = splitAgentAddress(addr);
    parseAddress(container);
    return [container, aid];
  } catch (error) {
    throw new UsageError((error as Error).message, usage);
  }
}

/** Open a plain RPC connection registering the serializers a container uses. */
async function connect(
  containerAddr: string,
  options: { codec: CodecClass; tls?: TlsOptions; wait: number },
): Promise<RpcClient> {
  const deadline = performance.now() + options.wait * 1000;
  for (let delay = 10;; delay = Math.min(2 * delay, 500)) {
    const attempt = openConnection(containerAddr, {
      codec: options.codec,
      tls: options.tls,
      // As in a container: the dates first (typeid 0), then the reference serializer.
      extraSerializers: [dateSerializer],
      onError: (error) => console.error(`${PROGRAM}: ${error.message}`),
    });
    try {
      return await withDeadline(
        attempt,
        CONNECT_TIMEOUT,
        () =>
          new ConnectionError(
            `Cannot connect to ${containerAddr}: no answer within ${CONNECT_TIMEOUT} s`,
          ),
      );
    } catch (error) {
      // An attempt that timed out may still succeed later: never leave it open.
      attempt.then((client) => client.close(), () => {});
      if (!(error instanceof ConnectionError) || performance.now() + delay > deadline) {
        throw error;
      }
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
  }
}

async function checkAgent(
  client: RpcClient,
  containerAddr: string,
  aid: string,
  timeout: number | undefined,
): Promise<string> {
  const name = await client.call("validate_aid", [aid], {}, { timeout });
  if (typeof name !== "string") {
    throw new ConnectionError(
      `No agent "${aid}" at ${containerAddr}: check the address (ids are "0", "1", ...)`,
    );
  }
  return name;
}

/** Report an error of `call`/`ping` on stderr and return the exit code. */
function reportClientError(command: string, error: unknown): number {
  if (error instanceof RemoteException) {
    console.error(`${PROGRAM} ${command}: the remote call failed; remote traceback:`);
    console.error(error.remoteTraceback.trimEnd());
    return ExitCode.Failure;
  }
  if (error instanceof TimeoutError) {
    console.error(`${PROGRAM} ${command}: ${error.message}`);
    return ExitCode.Timeout;
  }
  if (error instanceof ConnectionError) {
    const line = error.message.split("\n")[0];
    const hint = /closed by the peer/.test(line)
      ? " (do --codec and --tls-* match the container's?)"
      : "";
    console.error(`${PROGRAM} ${command}: ${line}${hint}`);
    return ExitCode.Unreachable;
  }
  console.error(`${PROGRAM} ${command}: ${(error as Error)?.message ?? error}`);
  return ExitCode.Failure;
}

async function callCommand(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, {
    ...CLIENT_OPTIONS,
    kw: { type: "string", multiple: true },
  }, CALL_USAGE);
  if (values.help) {
    console.log(CALL_USAGE);
    return ExitCode.Ok;
  }
  if (positionals.length < 2) {
    throw new UsageError("call needs an agent address and a method", CALL_USAGE);
  }
  const [addr, method, ...rest] = positionals;
  const [containerAddr, aid] = splitTarget(addr, CALL_USAGE);
  if (method.split("/").some((part) => part === "")) {
    throw new UsageError(`Invalid method "${method}": expected "name" or "sub/name"`, CALL_USAGE);
  }
  const kwargs: Record<string, unknown> = {};
  for (const item of (values.kw as string[] | undefined) ?? []) {
    const eq = item.indexOf("=");
    if (eq <= 0) throw new UsageError(`--kw takes KEY=VALUE, got "${item}"`, CALL_USAGE);
    kwargs[item.slice(0, eq)] = parseValue(item.slice(eq + 1));
  }
  const timeout = seconds(values.timeout, "timeout", CALL_USAGE);
  const wait = seconds(values.wait, "wait", CALL_USAGE) ?? 0;
  const codec = codecOption(values.codec, CALL_USAGE);
  const tls = tlsOption(values, CALL_USAGE, str(values["tls-hostname"]));

  let client: RpcClient | undefined;
  try {
    client = await connect(containerAddr, { codec, tls, wait });
    if (aid !== "") await checkAgent(client, containerAddr, aid, timeout);
    const path = aid === "" ? method : `agents/${aid}/${method}`;
    const result = await client.call(path, rest.map(parseValue), kwargs, { timeout });
    console.log(formatResult(result));
    return ExitCode.Ok;
  } catch (error) {
    return reportClientError("call", error);
  } finally {
    await client?.close();
  }
}

async function pingCommand(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, CLIENT_OPTIONS, PING_USAGE);
  if (values.help) {
    console.log(PING_USAGE);
    return ExitCode.Ok;
  }
  if (positionals.length !== 1) {
    throw new UsageError("ping needs exactly one address", PING_USAGE);
  }
  const addr = positionals[0];
  const [containerAddr, aid] = splitTarget(isContainerUrl(addr) ? `${addr}/` : addr, PING_USAGE);
  const timeout = seconds(values.timeout, "timeout", PING_USAGE) ?? 5;
  const wait = seconds(values.wait, "wait", PING_USAGE) ?? 0;
  const codec = codecOption(values.codec, PING_USAGE);
  const tls = tlsOption(values, PING_USAGE, str(values["tls-hostname"]));

  let client: RpcClient | undefined;
  try {
    client = await connect(containerAddr, { codec, tls, wait });
    const start = performance.now();
    const name = await client.call("validate_aid", [aid === "" ? "0" : aid], {}, { timeout });
    const rtt = performance.now() - start;
    if (aid !== "" && typeof name !== "string") {
      throw new ConnectionError(`No agent "${aid}" at ${containerAddr}`);
    }
    const what = aid === "" ? containerAddr : `${containerAddr}${aid} (${name})`;
    console.log(`${what}: ${rtt.toFixed(3)} ms`);
    return ExitCode.Ok;
  } catch (error) {
    return reportClientError("ping", error);
  } finally {
    await client?.close();
  }
}

/** Import `MODULE[#Export]` (relative to the working directory) and return a factory. */
async function loadAgentClass(spec: string): Promise<[name: string, factory: AgentFactory]> {
  const hash = spec.lastIndexOf("#");
  if (spec === "" || hash === 0 || hash === spec.length - 1) {
    throw new UsageError(`Invalid --agent "${spec}": expected MODULE#Class`, SERVE_USAGE);
  }
  const cls = await importSpec(spec);
  if (typeof cls !== "function") throw new TypeError(`"${spec}" does not name a class`);
  const create = (cls as { create?: unknown }).create;
  const name = cls.name || spec;
  const factory: AgentFactory = typeof create === "function"
    ? (container) => create.call(cls, container)
    : (container) => new (cls as new (container: Container) => unknown)(container);
  return [name, factory];
}

type AgentFactory = (container: Container) => unknown;

function isAgent(value: unknown): value is Agent {
  return value instanceof Agent ||
    (typeof value === "object" && value !== null &&
      typeof (value as { addr?: unknown }).addr === "string");
}

function log(message: string): void {
  console.error(`${PROGRAM} serve: ${message}`);
}

async function serveCommand(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, {
    ...COMMON_OPTIONS,
    agent: { type: "string", multiple: true },
    count: { type: "string" },
    clock: { type: "string" },
    "start-date": { type: "string" },
  }, SERVE_USAGE);
  if (values.help) {
    console.log(SERVE_USAGE);
    return ExitCode.Ok;
  }
  if (positionals.length !== 1) {
    throw new UsageError("serve needs exactly one address", SERVE_USAGE);
  }
  const addr = positionals[0];
  try {
    parseAddress(addr);
  } catch (error) {
    throw new UsageError((error as Error).message, SERVE_USAGE);
  }
  const count = values.count === undefined ? 1 : Number(values.count);
  if (!Number.isInteger(count) || count < 0) {
    throw new UsageError(`--count takes a whole number >= 0, got "${values.count}"`, SERVE_USAGE);
  }
  const clockName = str(values.clock) ?? "realtime";
  if (clockName !== "realtime" && clockName !== "external") {
    throw new UsageError(`Unknown clock "${clockName}": use realtime or external`, SERVE_USAGE);
  }
  const startDate = str(values["start-date"]);
  if (startDate !== undefined && clockName !== "external") {
    throw new UsageError("--start-date needs --clock external", SERVE_USAGE);
  }
  let clock: Clock;
  try {
    clock = clockName === "external"
      ? new ExternalClock(startDate ?? new Date())
      : new RealtimeClock();
  } catch (error) {
    throw new UsageError(`Invalid --start-date: ${(error as Error).message}`, SERVE_USAGE);
  }
  const codec = codecOption(values.codec, SERVE_USAGE);
  const tls = tlsOption(values, SERVE_USAGE);
  if (tls) {
    tls.onHandshakeError = (error, peer) =>
      log(`TLS handshake with ${peer} failed: ${error.message}`);
  }
  const specs = (values.agent as string[] | undefined) ?? [];

  let factories: [string, AgentFactory][];
  try {
    factories = await Promise.all(specs.map(loadAgentClass));
  } catch (error) {
    if (error instanceof UsageError) throw error;
    log(`cannot load the agent class: ${(error as Error)?.message ?? error}`);
    return ExitCode.Failure;
  }

  // `setup` is not part of the container options, but the container hands its options down
  // to every connection it makes or accepts; it is only used here to log connections.
  const options: ManagedContainerOptions & { setup: (channel: Channel) => void } = {
    codec,
    clock,
    tls,
    onError: (error, channel) => log(`closing connection ${channel.peer}: ${error.message}`),
    setup: (channel) => {
      log(`connection ${channel.peer} opened`);
      channel.closed.then(() => log(`connection ${channel.peer} closed`));
    },
  };
  let container: Container;
  let manager: Manager;
  try {
    manager = await createManagedContainer(addr, options);
    container = manager.container;
  } catch (error) {
    log(`cannot start a container on ${addr}: ${(error as Error)?.message ?? error}`);
    return ExitCode.Failure;
  }

  const { promise: stopped, resolve: stop } = Promise.withResolvers<string>();
  const signals: Deno.Signal[] = Deno.build.os === "windows" ? ["SIGINT"] : ["SIGINT", "SIGTERM"];
  let stopping = false;
  const onSignal = (signal: Deno.Signal) => () => {
    if (stopping) {
      log(`${signal} again: exiting at once`);
      Deno.exit(130);
    }
    stopping = true;
    stop(signal);
  };
  const listeners = signals.map((signal) => [signal, onSignal(signal)] as const);
  for (const [signal, listener] of listeners) Deno.addSignalListener(signal, listener);

  try {
    for (const [name, factory] of factories) {
      for (let i = 0; i < count; i++) {
        const agent = await factory(container);
        if (!isAgent(agent)) {
          throw new TypeError(`${name} did not make an Agent (is it a subclass of Agent?)`);
        }
        console.log(agent.addr);
      }
    }
  } catch (error) {
    log(`cannot create the agents: ${(error as Error)?.stack ?? error}`);
    for (const [signal, listener] of listeners) Deno.removeSignalListener(signal, listener);
    await container.shutdown();
    return ExitCode.Failure;
  }
  log(
    `container ${container.addr} ready with ${container.agents.size - 1} agent(s) and its ` +
      `Manager at ${manager.addr}; codec ${str(values.codec) ?? "json"}, ${clockName} clock` +
      (tls ? ", TLS" : ""),
  );

  const reason = await Promise.race([stopped, manager.stopped.then(() => "Manager.stop()")]);
  stopping = true;
  log(`${reason}: shutting down`);
  await container.shutdown();
  for (const [sig, listener] of listeners) Deno.removeSignalListener(sig, listener);
  log("stopped");
  return ExitCode.Ok;
}

/**
 * Run the command line with `args` (without the program name) and resolve
 * with the exit code (see {@linkcode ExitCode}). Output goes to stdout and
 * stderr; `serve` resolves once it was stopped by SIGINT or SIGTERM.
 *
 * @example
 * ```ts
 * import { main } from "@aiomas/aiomas/cli";
 * console.log(await main(["--help"])); // 0 (after printing the usage)
 * ```
 */
export async function main(args: string[]): Promise<number> {
  const [command, ...rest] = args;
  try {
    switch (command) {
      case "serve":
        return await serveCommand(rest);
      case "call":
        return await callCommand(rest);
      case "ping":
        return await pingCommand(rest);
      case "-h":
      case "--help":
        console.log(TOP_USAGE);
        return ExitCode.Ok;
      case "help": {
        const usages: Record<string, string> = {
          serve: SERVE_USAGE,
          call: CALL_USAGE,
          ping: PING_USAGE,
        };
        const usage = usages[rest[0] ?? ""];
        console.log(usage ?? TOP_USAGE);
        return ExitCode.Ok;
      }
      case undefined:
        throw new UsageError("no command given", TOP_USAGE);
      default:
        throw new UsageError(`unknown command "${command}"`, TOP_USAGE);
    }
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    console.error(`${PROGRAM}: ${error.message}\n\n${error.usage}`);
    return ExitCode.Usage;
  }
}

if (import.meta.main) {
  // Exit explicitly: agents may leave timers behind that would keep the process alive.
  Deno.exit(await main(Deno.args));
}
