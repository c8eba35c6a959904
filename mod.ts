/**
 * aiomas for Deno: request-reply channels, remote procedure calls and
 * multi-agent systems over TCP, Unix sockets and TLS, wire-compatible with
 * Python aiomas.
 *
 * @example A channel round trip
 * ```ts
 * import { openConnection, startServer } from "@aiomas/aiomas";
 *
 * const server = await startServer("tcp://127.0.0.1:0", async (channel) => {
 *   for await (const request of channel) await request.reply(`${request.content}, cya`);
 * });
 * const channel = await openConnection(server.url);
 * console.log(await channel.send("ohai")); // ohai, cya
 * await channel.close();
 * await server.close();
 * ```
 *
 * @module
 */

export * from "./errors.ts";
export * from "./codecs/mod.ts";
export * from "./channel/mod.ts";
