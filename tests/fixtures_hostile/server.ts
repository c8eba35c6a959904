/**
 * A server for the hostile-peer suite, run as a subprocess with Deno's default
 * behaviour: an uncaught exception or unhandled rejection ends it, and the
 * suite sees that as a failure.
 *
 *   deno run -A tests/fixtures_hostile/server.ts <channel|rpc|container> <JsonCodec|MsgPackCodec|MsgPackBloscCodec>
 *
 * Prints one JSON line on stdout: `{ "url", "types" }` (the `__type__` ids of
 * its serializers), then serves until killed.
 *
 * @module
 */

import { Agent, Container } from "../../agent/mod.ts";
import { startServer as startChannelServer } from "../../channel/mod.ts";
import { startServer as startRpcServer } from "../../rpc/mod.ts";
import { expose } from "../../rpc/mod.ts";
import { Calculator, codecClass, LAYERS, serializersFor, typeIds } from "./service.ts";

const [layer, codecName, optionsJson] = Deno.args;
// Limits to test (frameTimeout, maxConnections, ...), as JSON.
const limits = JSON.parse(optionsJson ?? "{}");
// Memory measurements ask for a full garbage collection first (deno run --v8-flags=--expose-gc).
const gc = (globalThis as { gc?: () => void }).gc;
if (gc !== undefined) Deno.addSignalListener("SIGUSR2", () => gc());
if (Deno.env.get("HOSTILE_TOLERATE")) {
  // Triage mode (never in the suite): log what would have ended the process, and go on.
  globalThis.addEventListener("unhandledrejection", (event) => {
    event.preventDefault();
    console.error(`HOSTILE-CRASH unhandled rejection: ${event.reason?.stack ?? event.reason}`);
  });
  globalThis.addEventListener("error", (event) => {
    event.preventDefault();
    console.error(`HOSTILE-CRASH uncaught exception: ${event.error?.stack ?? event.error}`);
  });
}
if (!LAYERS.includes(layer) || codecClass(codecName) === undefined) {
  console.error("usage: server.ts <channel|rpc|container> <codec class name>");
  Deno.exit(64);
}
const codec = codecClass(codecName)!;
const extraSerializers = serializersFor(codecName);
const addr = { hostname: "127.0.0.1", port: 0 };
let url: string;
let inspectUrl: string | undefined;

// The container's agents serve the same calculator (exposed fields holding its methods).
const shared = new Calculator();
class CalculatorAgent extends Agent {
  @expose
  add = shared.add;
  @expose
  echo = shared.echo;
  @expose
  fail = shared.fail;
  @expose
  callBack = shared.callBack;
  @expose
  hold = shared.hold;
  @expose
  holding = shared.holding;
  @expose
  release = shared.release;
  @expose
  sub = shared.sub;
}

if (layer === "channel") {
  const calculator = new Calculator();
  const server = await startChannelServer(addr, async (channel) => {
    for await (const request of channel) {
      const content = request.content as unknown[];
      try {
        if (!Array.isArray(content)) throw new TypeError("expected [op, ...args]");
        const [op, ...args] = content;
        if (op === "add") request.reply(calculator.add(args[0] as number, args[1] as number));
        else if (op === "echo") request.reply(args[0]);
        else if (op === "fail") request.fail(new Error(String(args[0])));
        else {throw new TypeError(
            `unknown op ${typeof op === "string" ? op.slice(0, 50) : typeof op}`,
          );}
      } catch (error) {
        request.fail(error);
      }
    }
  }, { ...limits, codec, extraSerializers });
  url = server.url;
} else if (layer === "rpc") {
  const server = await startRpcServer(addr, new Calculator(), {
    ...limits,
    codec,
    extraSerializers,
  });
  url = server.url;
} else {
  const container = await Container.create(addr, { ...limits, codec, extraSerializers });
  new CalculatorAgent(container);
  new CalculatorAgent(container);
  url = container.addr;
  inspectUrl = container.inspectUrl;
}
console.log(JSON.stringify({ url, types: typeIds(layer, codecName), inspect: inspectUrl }));
