/**
 * The `call` and `ping` commands.
 *
 * @module
 */

import { ConnectionError } from "../errors.ts";
import type { RpcClient } from "../rpc/client.ts";
import { CLIENT_OPTIONS, parse, parseValue, splitTarget, UsageError } from "./args.ts";
import { clientSettings, singleTarget, withClient } from "./client.ts";
import { formatResult } from "./output.ts";
import { CALL_USAGE, ExitCode, PING_USAGE } from "./usage.ts";

/**
 * The class name of agent `aid`, asking `validate_aid` again until
 * `waitUntil` (a `performance.now()` time) while the container does not know
 * it; a `ConnectionError` if it never does.
 */
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

/** `aiomas call`: resolves with the exit code. */
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
  const settings = clientSettings(values, "call");
  const { timeout, token } = settings;
  // The --wait window covers connecting and an agent id the container does not know yet.
  const waitUntil = performance.now() + settings.wait * 1000;
  return await withClient("call", containerAddr, settings, async (client) => {
    if (aid !== "") await checkAgent(client, containerAddr, aid, timeout, waitUntil);
    const path = aid === "" ? method : `agents/${aid}/${method}`;
    // Steering the Manager (agent 0) needs the connection to authenticate first.
    if (token !== undefined && path.startsWith("agents/0/")) {
      await client.call("agents/0/authenticate", [token], {}, { timeout });
    }
    const result = await client.call(path, callArgs, kwargs, { timeout });
    console.log(formatResult(result));
    return ExitCode.Ok;
  });
}

/** `aiomas ping`: resolves with the exit code. */
export async function pingCommand(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, CLIENT_OPTIONS, "ping");
  if (values.help) {
    console.log(PING_USAGE);
    return ExitCode.Ok;
  }
  const [containerAddr, aid] = singleTarget(positionals, "ping");
  const settings = clientSettings(values, "ping", 5);
  const { timeout, token } = settings;
  return await withClient("ping", containerAddr, settings, async (client) => {
    const start = performance.now();
    const name = aid === ""
      ? await client.call("validate_aid", ["0"], {}, { timeout })
      : await checkAgent(client, containerAddr, aid, timeout, 0);
    const rtt = performance.now() - start;
    const what = aid === "" ? containerAddr : `${containerAddr}${aid} (${name})`;
    // With a token, also check that the Manager accepts it.
    if (token !== undefined) await client.call("agents/0/authenticate", [token], {}, { timeout });
    console.log(`${what}: ${rtt.toFixed(3)} ms${token === undefined ? "" : "; token accepted"}`);
    return ExitCode.Ok;
  });
}
