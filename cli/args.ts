/**
 * Command line parsing shared by the commands: options, values, addresses.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { splitAgentAddress } from "../agent/container.ts";
import { parseAddress } from "../channel/address.ts";
import type { TlsOptions } from "../channel/tls.ts";
import { JsonCodec } from "../codecs/json.ts";
import { MsgPackCodec } from "../codecs/msgpack.ts";
import { MsgPackBloscCodec } from "../codecs/msgpack_blosc.ts";
import type { CodecClass } from "../codecs/types.ts";

/** Bad command line usage: printed with the command's usage text, exit 64. */
export class UsageError extends Error {
  constructor(message: string, readonly usage: string) {
    super(message);
  }
}

export const COMMON_OPTIONS = {
  codec: { type: "string" },
  "tls-ca": { type: "string" },
  "tls-cert": { type: "string" },
  "tls-key": { type: "string" },
  token: { type: "string" },
  help: { type: "boolean", short: "h" },
} as const;

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

export function parse<T extends Options>(
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

export function str(value: unknown): string | undefined {
  return typeof value === "string" ? value : undefined;
}

export function seconds(value: unknown, name: string, usage: string): number | undefined {
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

export function codecOption(value: unknown, usage: string): CodecClass {
  const name = str(value) ?? "json";
  const codec = CODECS[name];
  if (codec === undefined) {
    throw new UsageError(`Unknown codec "${name}": use json, msgpack or msgpack-blosc`, usage);
  }
  return codec;
}

export function tlsOption(
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

/** The shortest Manager token accepted (as `ManagerAccess` requires). */
const MIN_TOKEN_LENGTH = 16;

/**
 * The Manager token: `--token`, else the environment variable `AIOMAS_TOKEN`
 * (if the program may read it), else `undefined`.
 */
export function tokenOption(values: Record<string, unknown>, usage: string): string | undefined {
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
      `--token (or AIOMAS_TOKEN) needs at least ${MIN_TOKEN_LENGTH} characters: use a random ` +
        'one, e.g. "$(openssl rand -hex 16)"',
      usage,
    );
  }
  return token;
}

/** Parse a command line value: JSON if it parses, else the string itself. */
export function parseValue(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** Whether `addr` is a container URL without the trailing `/`: `tcp://h:p`, `ipc://[path]`. */
export function isContainerUrl(addr: string): boolean {
  return /^[a-z]+:\/\/[^/]*$/.test(addr) || /^[a-z]+:\/\/\[.*\]$/.test(addr);
}

/** Split `tcp://h:p/<aid>` into the container address and the id (`""` for `tcp://h:p/`). */
export function splitTarget(addr: string, usage: string): [container: string, aid: string] {
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
