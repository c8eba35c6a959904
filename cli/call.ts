/**
 * The `call` and `ping` commands: one plain RPC connection to a container.
 *
 * @module
 */

import { dateSerializer } from "../agent/dates.ts";
import { openRetrying } from "../agent/link.ts";
import type { TlsOptions } from "../channel/tls.ts";
import type { CodecClass } from "../codecs/types.ts";
import { ConnectionError, RemoteException, TimeoutError } from "../errors.ts";
import type { RpcClient } from "../rpc/client.ts";
import {
  CLIENT_OPTIONS,
  codecOption,
  isContainerUrl,
  parse,
  parseValue,
  seconds,
  splitTarget,
  str,
  tlsOption,
  tokenOption,
  UsageError,
} from "./args.ts";
import { formatResult } from "./output.ts";
import { CALL_USAGE, ExitCode, PING_USAGE, PROGRAM } from "./usage.ts";

/** How long one connection attempt may take before the address counts as unreachable. */
const CONNECT_TIMEOUT = 10;

/**
 * Open a plain RPC connection registering the serializers a container uses,
 * retrying a refused attempt for `wait` seconds.
 */
export function connect(
  containerAddr: string,
  options: { codec: CodecClass; tls?: TlsOptions | undefined; wait: number },
): Promise<RpcClient> {
  return openRetrying(containerAddr, {
    codec: options.codec,
    tls: options.tls,
    // As in a container: the dates first (typeid 0), then the reference serializer.
    extraSerializers: [dateSerializer],
    onError: (error) => console.error(`${PROGRAM}: ${error.message}`),
  }, { retryFor: options.wait, connectTimeout: CONNECT_TIMEOUT, stopped: () => undefined });
}

async function checkAgent(
  client: RpcClient,
  containerAddr: string,
  aid: string,
  timeout: number | undefined,
  waitUntil: number,
): Promise<string> {
  let name = await client.call("validate_aid", [aid], {}, { timeout });
  // Within the --wait window, an agent that does not exist yet may still be made.
  for (let delay = 10; name === null && performance.now() < waitUntil; delay *= 2) {
    await new Promise((resolve) =>
      setTimeout(resolve, Math.min(delay, 500, waitUntil - performance.now()))
    );
    name = await client.call("validate_aid", [aid], {}, { timeout });
  }
  if (typeof name !== "string") {
    throw new ConnectionError(
      `No agent "${aid}" at ${containerAddr}: check the address (ids are "0", "1", ...)`,
    );
  }
  return name;
}

/** Report an error of `call`/`ping` on stderr and return the exit code. */
export function reportClientError(command: string, error: unknown): number {
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
    const line = error.message.split("\n")[0] ?? "";
    const hint = /closed by the peer/.test(line)
      ? " (do --codec and --tls-* match the container's?)"
      : "";
    console.error(`${PROGRAM} ${command}: ${line}${hint}`);
    return ExitCode.Unreachable;
  }
  console.error(`${PROGRAM} ${command}: ${(error as Error)?.message ?? error}`);
  return ExitCode.Failure;
}

/** `parseValue(text)`, with a usage error for JSON the codec refuses. */
function argument(text: string, what: string): unknown {
  try {
    return parseValue(text);
  } catch (error) {
    throw new UsageError(
      `cannot read the ${what} ${text}: ${(error as Error).message}`,
      "call",
      `quote it as a JSON string to send it as text`,
    );
  }
}

export async function callCommand(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, {
    ...CLIENT_OPTIONS,
    kw: { type: "string", multiple: true },
  }, "call");
  if (values.help) {
    console.log(CALL_USAGE);
    return ExitCode.Ok;
  }
  if (positionals.length < 2) {
    throw new UsageError(
      "missing the agent address and the method",
      "call",
      'as in "aiomas call tcp://127.0.0.1:5555/1 add 1 2"',
    );
  }
  const [addr, method, ...rest] = positionals as [string, string, ...string[]];
  const [containerAddr, aid] = splitTarget(addr, "call");
  if (method.split("/").some((part) => part === "")) {
    throw new UsageError(
      `invalid method "${method}"`,
      "call",
      'write a name ("add") or a path into a sub-service ("memory/store")',
    );
  }
  const callArgs = rest.map((text) => argument(text, "argument"));
  const kwargs: Record<string, unknown> = {};
  for (const item of (values.kw as string[] | undefined) ?? []) {
    const eq = item.indexOf("=");
    if (eq <= 0) {
      throw new UsageError(`--kw takes KEY=VALUE, got "${item}"`, "call", 'as in "--kw eggs=2"');
    }
    // A key such as "__proto__" is an own property like any other.
    Object.defineProperty(kwargs, item.slice(0, eq), {
      value: argument(item.slice(eq + 1), `--kw ${item.slice(0, eq)}`),
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  const timeout = seconds(values.timeout, "timeout", "call");
  const wait = seconds(values.wait, "wait", "call") ?? 0;
  const codec = codecOption(values.codec, "call");
  const tls = tlsOption(values, "call", str(values["tls-hostname"]));
  const token = tokenOption(values, "call");

  let client: RpcClient | undefined;
  try {
    const waitUntil = performance.now() + wait * 1000;
    client = await connect(containerAddr, { codec, tls, wait });
    if (aid !== "") await checkAgent(client, containerAddr, aid, timeout, waitUntil);
    const path = aid === "" ? method : `agents/${aid}/${method}`;
    // Steering the Manager (agent 0) needs the connection to authenticate first.
    if (token !== undefined && path.startsWith("agents/0/")) {
      await client.call("agents/0/authenticate", [token], {}, { timeout });
    }
    const result = await client.call(path, callArgs, kwargs, { timeout });
    console.log(formatResult(result));
    return ExitCode.Ok;
  } catch (error) {
    return reportClientError("call", error);
  } finally {
    await client?.close();
  }
}

export async function pingCommand(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, CLIENT_OPTIONS, "ping");
  if (values.help) {
    console.log(PING_USAGE);
    return ExitCode.Ok;
  }
  if (positionals.length !== 1) {
    throw new UsageError(
      "expected exactly one address",
      "ping",
      'as in "aiomas ping tcp://127.0.0.1:5555/"',
    );
  }
  const addr = positionals[0]!;
  const [containerAddr, aid] = splitTarget(isContainerUrl(addr) ? `${addr}/` : addr, "ping");
  const timeout = seconds(values.timeout, "timeout", "ping") ?? 5;
  const wait = seconds(values.wait, "wait", "ping") ?? 0;
  const codec = codecOption(values.codec, "ping");
  const tls = tlsOption(values, "ping", str(values["tls-hostname"]));
  const token = tokenOption(values, "ping");

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
    // With a token, also check that the Manager accepts it.
    if (token !== undefined) await client.call("agents/0/authenticate", [token], {}, { timeout });
    console.log(`${what}: ${rtt.toFixed(3)} ms${token === undefined ? "" : "; token accepted"}`);
    return ExitCode.Ok;
  } catch (error) {
    return reportClientError("ping", error);
  } finally {
    await client?.close();
  }
}
