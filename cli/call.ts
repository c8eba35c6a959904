/**
 * The `call` and `ping` commands: one plain RPC connection to a container.
 *
 * @module
 */

import { dateSerializer } from "../agent/dates.ts";
import { deadline as withDeadline } from "../agent/spawn.ts";
import type { TlsOptions } from "../channel/tls.ts";
import type { CodecClass } from "../codecs/types.ts";
import { ConnectionError, RemoteException, TimeoutError } from "../errors.ts";
import type { RpcClient } from "../rpc/client.ts";
import { openConnection } from "../rpc/server.ts";
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

export async function callCommand(args: string[]): Promise<number> {
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
  const token = tokenOption(values, CALL_USAGE);

  let client: RpcClient | undefined;
  try {
    client = await connect(containerAddr, { codec, tls, wait });
    if (aid !== "") await checkAgent(client, containerAddr, aid, timeout);
    const path = aid === "" ? method : `agents/${aid}/${method}`;
    // Steering the Manager (agent 0) needs the connection to authenticate first.
    if (token !== undefined && path.startsWith("agents/0/")) {
      await client.call("agents/0/authenticate", [token], {}, { timeout });
    }
    const result = await client.call(path, rest.map(parseValue), kwargs, { timeout });
    console.log(formatResult(result));
    return ExitCode.Ok;
  } catch (error) {
    return reportClientError("call", error);
  } finally {
    await client?.close();
  }
}

export async function pingCommand(args: string[]): Promise<number> {
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
  const token = tokenOption(values, PING_USAGE);

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
