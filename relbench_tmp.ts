import { expose, openConnection, ref, type Remote, startServer } from "@aiomas/aiomas/rpc";
class Progress {
  @expose
  report(p: number): number {
    return p;
  }
}
class Worker {
  @expose
  async job(progress: Remote<Progress>): Promise<number> {
    return await progress.report(1);
  }
}
async function pair(release: boolean) {
  const server = await startServer("tcp://127.0.0.1:0", new Worker(), { release });
  const client = await openConnection<Worker>(server.addr, { release });
  return { server, client };
}
const on = await pair(true), off = await pair(false);
async function run(c: typeof on.client, n: number) {
  let next = 0;
  const t = performance.now();
  await Promise.all(Array.from({ length: 64 }, async () => {
    while (next++ < n) await c.remote.job(ref(new Progress()));
  }));
  return n / ((performance.now() - t) / 1000);
}
const res: Record<string, number[]> = { on: [], off: [] };
for (let i = 0; i < 5; i++) {
  res.on.push(Math.round(await run(on.client, 20000)));
  res.off.push(Math.round(await run(off.client, 20000)));
}
console.log(JSON.stringify(res));
Deno.exit(0);
