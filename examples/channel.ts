/**
 * The aiomas guide's channel example: a client says "ohai", the server
 * answers "cya".
 *
 * Run: `deno run -A examples/channel.ts`
 *
 * @module
 */

import { type Channel, openConnection, startServer } from "@aiomas/aiomas/channel";

async function clientConnected(channel: Channel): Promise<void> {
  const request = await channel.recv();
  console.log(request.content);
  await request.reply("cya");
  await channel.close();
}

const server = await startServer({ hostname: "127.0.0.1", port: 0 }, clientConnected);
const channel = await openConnection(server.addr);
const reply = await channel.send("ohai");
console.log(reply);
await channel.close();
await server.close();
