/**
 * What the client commands (`call`, `ping`, `stats`) share: their options,
 * the one plain RPC connection to a container, and how its errors are
 * reported.
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
  codecOption,
  type Command,
  isContainerUrl,
  seconds,
  splitTarget,
  str,
  tlsOption,
  tokenOption,
  UsageError,
} from "./args.ts";
import { ExitCode, PROGRAM } from "./usage.ts";

/** How long one connection attempt may take before the address counts as unreachable. */
const CONNECT_TIMEOUT = 10;

/** The options of a client command (`CLIENT_OPTIONS`), checked. */
export interface ClientSettings {
  /** `--timeout`: seconds each call may take (`undefined`: no limit). */
  timeout: number | undefined;
  /** `--wait`: seconds for which to retry a refused connection. */
  wait: number;
  /** `--codec`. */
  codec: CodecClass;
  /** `--tls-ca`, `--tls-cert`, `--tls-key` and `--tls-hostname`. */
  tls: TlsOptions | undefined;
  /** `--token` or `AIOMAS_TOKEN`. */
  token: string | undefined;
}

/** Check the client options in `values`; `timeout` is the default `--timeout`. */
export function clientSettings(
  values: Record<string, unknown>,
  command: Command,
  timeout?: number,
): ClientSettings {
  return {
    timeout: seconds(values.timeout, "timeout", command) ?? timeout,
    wait: seconds(values.wait, "wait", command) ?? 0,
    codec: codecOption(values.codec, command),
    tls: tlsOption(values, command, str(values["tls-hostname"])),
    token: tokenOption(values, command),
  };
}

/**
 * The one address of `ping` and `stats`: a container (`tcp://h:p`, with or
 * without the `/`) or an agent, split as {@linkcode splitTarget} does.
 */
export function singleTarget(
  positionals: string[],
  command: Command,
): [container: string, aid: string] {
  if (positionals.length !== 1) {
    throw new UsageError(
      "expected exactly one container or agent address",
      command,
      `as in "${PROGRAM} ${command} tcp://127.0.0.1:5555/"`,
    );
  }
  const addr = positionals[0]!;
  return splitTarget(isContainerUrl(addr) ? `${addr}/` : addr, command);
}

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

/**
 * Connect to `containerAddr`, run `use` with the connection, close it, and
 * resolve with `use`'s exit code, or report an error as
 * {@linkcode reportClientError} does.
 */
export async function withClient(
  command: Command,
  containerAddr: string,
  settings: ClientSettings,
  use: (client: RpcClient) => Promise<number>,
): Promise<number> {
  let client: RpcClient | undefined;
  try {
    client = await connect(containerAddr, settings);
    return await use(client);
  } catch (error) {
    return reportClientError(command, error);
  } finally {
    await client?.close();
  }
}

/** Report an error of a client command on stderr and return the exit code. */
function reportClientError(command: Command, error: unknown): number {
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
