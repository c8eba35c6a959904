/**
 * Command line parsing shared by the commands: options, values, addresses.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { splitAgentAddress } from "../agent/addresses.ts";
import { parseAddress } from "../channel/address.ts";
import type { TlsOptions } from "../channel/tls.ts";
import { dateSerializer } from "../agent/dates.ts";
import { MIN_TOKEN_LENGTH } from "../agent/secret.ts";
import { JsonCodec } from "../codecs/json.ts";
import { MsgPackCodec } from "../codecs/msgpack.ts";
import { MsgPackBloscCodec } from "../codecs/msgpack_blosc.ts";
import type { CodecClass } from "../codecs/types.ts";
import { PROGRAM } from "./usage.ts";

/** The commands, as named in messages (`""`: no command yet). */
export type Command = "" | "serve" | "call" | "ping" | "stats";

/**
 * Bad command line usage, exit 64: printed as the one-line problem and a
 * hint (by default, where to find the command's usage).
 */
export class UsageError extends Error {
  constructor(message: string, readonly command: Command, readonly hint?: string) {
    super(message);
  }

  /** The two lines printed on stderr. */
  get text(): string {
    const program = this.command === "" ? PROGRAM : `${PROGRAM} ${this.command}`;
    const help = `"${program} --help" shows the usage`;
    return `${program}: ${this.message}\nhint: ${
      this.hint === undefined ? help : `${this.hint}; ${help}`
    }`;
  }
}

/** `table[key]` if `key` is one of its own properties (never an inherited `toString`). */
export function lookup<T>(table: Readonly<Record<string, T>>, key: string): T | undefined {
  return Object.hasOwn(table, key) ? table[key] : undefined;
}

/** The options of every command: codec, TLS files, Manager token, help. */
export const COMMON_OPTIONS = {
  codec: { type: "string" },
  "tls-ca": { type: "string" },
  "tls-cert": { type: "string" },
  "tls-key": { type: "string" },
  token: { type: "string" },
  help: { type: "boolean", short: "h" },
} as const;

/** The options of the client commands (`call`, `ping`, `stats`). */
export const CLIENT_OPTIONS = {
  ...COMMON_OPTIONS,
  timeout: { type: "string" },
  wait: { type: "string" },
  "tls-hostname": { type: "string" },
} as const;

/** Shields negative numbers from the option parser: `-1` is an argument. */
const NEGATIVE = "\u0000";

type ParseConfig = NonNullable<Parameters<typeof parseArgs>[0]>;
type Options = NonNullable<ParseConfig["options"]>;

/**
 * Parse `args` with `options` (strict: an unknown option is a
 * {@linkcode UsageError} for `command`); negative numbers are positionals.
 */
export function parse<T extends Options>(
  args: string[],
  options: T,
  command: Command,
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
    throw parseError(error as Error & { code?: string }, command);
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

/** A `UsageError` for an error of `parseArgs`, whose own messages are long and misquoted. */
function parseError(error: Error & { code?: string }, command: Command): UsageError {
  const option = /^(?:Unknown option|Option) '([^' ]+)/.exec(error.message)?.[1];
  if (error.code === "ERR_PARSE_ARGS_UNKNOWN_OPTION" && option !== undefined) {
    return new UsageError(
      `unknown option ${option}`,
      command,
      `to pass "${option}" as an argument, put "--" before it`,
    );
  }
  if (option !== undefined && /argument missing/.test(error.message)) {
    return new UsageError(`${option} needs a value`, command);
  }
  if (option !== undefined && /ambiguous/.test(error.message)) {
    return new UsageError(
      `${option} needs a value (the next argument looks like an option)`,
      command,
      `write ${option}=VALUE for a value that starts with "-"`,
    );
  }
  const line = (error.message.split("\n")[0] ?? "").replace(/\.$/, "");
  return new UsageError(line.charAt(0).toLowerCase() + line.slice(1), command);
}

/** `value` if it is a string (a parsed option given once), else `undefined`. */
export function str(value: unknown): string | undefined {
  return typeof value === "string" ? value : undefined;
}

/** The option `--name` as a number of seconds `>= 0`, or `undefined` when not given. */
export function seconds(value: unknown, name: string, command: Command): number | undefined {
  if (typeof value !== "string") return undefined;
  const number = Number(value);
  if (value.trim() === "" || !Number.isFinite(number) || number < 0) {
    throw new UsageError(`--${name} takes a number of seconds >= 0, got "${value}"`, command);
  }
  return number;
}

const CODECS: Record<string, CodecClass> = {
  json: JsonCodec,
  msgpack: MsgPackCodec,
  "msgpack-blosc": MsgPackBloscCodec,
};

/** The codec class `--codec` names (default `json`). */
export function codecOption(value: unknown, command: Command): CodecClass {
  const name = str(value) ?? "json";
  const codec = lookup(CODECS, name);
  if (codec === undefined) {
    throw new UsageError(
      `unknown codec "${name}"`,
      command,
      "use --codec json, msgpack or msgpack-blosc",
    );
  }
  return codec;
}

/**
 * The TLS options from `--tls-ca`, `--tls-cert` and `--tls-key` (all or
 * none), with `hostname` from `--tls-hostname`; `undefined` for plain TCP.
 */
export function tlsOption(
  values: Record<string, unknown>,
  command: Command,
  hostname?: string,
): TlsOptions | undefined {
  const caFile = str(values["tls-ca"]);
  const certFile = str(values["tls-cert"]);
  const keyFile = str(values["tls-key"]);
  if (caFile === undefined && certFile === undefined && keyFile === undefined) {
    if (hostname !== undefined) throw new UsageError("--tls-hostname needs --tls-ca", command);
    return undefined;
  }
  if (caFile === undefined || certFile === undefined || keyFile === undefined) {
    throw new UsageError(
      "TLS needs all of --tls-ca, --tls-cert and --tls-key",
      command,
      "give all three files, or none for plain TCP",
    );
  }
  return hostname === undefined
    ? { caFile, certFile, keyFile }
    : { caFile, certFile, keyFile, hostname };
}

/**
 * The Manager token: `--token`, else the environment variable `AIOMAS_TOKEN`
 * (if the program may read it), else `undefined`.
 */
export function tokenOption(values: Record<string, unknown>, command: Command): string | undefined {
  let token = str(values.token);
  if (token === undefined) {
    try {
      token = Deno.env.get("AIOMAS_TOKEN") || undefined;
    } catch {
      // No permission to read the environment: only --token counts.
    }
  }
  if (token !== undefined && token.length < MIN_TOKEN_LENGTH) {
    throw new UsageError(
      `--token (or AIOMAS_TOKEN) needs at least ${MIN_TOKEN_LENGTH} characters`,
      command,
      'use a random one, e.g. "$(openssl rand -hex 16)"',
    );
  }
  return token;
}

/** The codec that reads argument values: JSON with the dates a container registers. */
const argumentCodec = new JsonCodec();
argumentCodec.addSerializer(...dateSerializer());
const encoder = new TextEncoder();

/**
 * Parse a command line value as JSON with the rules of
 * {@linkcode JsonCodec} (integers beyond 2^53 become `bigint`s instead of
 * being rounded, `NaN` and `Infinity` are numbers, `{"__type__": [0, ISO]}`
 * is a date), or, if it is not JSON, return the string itself.
 *
 * @throws {CodecError} for valid JSON the codec refuses (an unknown `__type__`).
 *
 * @example
 * ```ts
 * import { parseValue } from "@aiomas/aiomas/cli";
 * console.log(parseValue("[1, 2]")); // [ 1, 2 ]
 * console.log(parseValue("18446744073709551615")); // 18446744073709551615n
 * console.log(parseValue("spam")); // spam
 * ```
 */
export function parseValue(text: string): unknown {
  try {
    return argumentCodec.decode(encoder.encode(text));
  } catch (error) {
    if (isJson(text)) throw error;
    return text;
  }
}

function isJson(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

/** Whether `addr` is a container URL without the trailing `/`: `tcp://h:p`, `ipc://[path]`. */
export function isContainerUrl(addr: string): boolean {
  return /^[a-z]+:\/\/[^/]*$/.test(addr) || /^[a-z]+:\/\/\[.*\]$/.test(addr);
}

/** Split `tcp://h:p/<aid>` into the container address and the id (`""` for `tcp://h:p/`). */
export function splitTarget(addr: string, command: Command): [container: string, aid: string] {
  if (isContainerUrl(addr)) {
    throw new UsageError(
      `"${addr}" is a container address, not an agent address`,
      command,
      `write "${addr}/<id>" for an agent, or "${addr}/" for the container's root service`,
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
    throw new UsageError((error as Error).message, command);
  }
}
