/**
 * Containers on more cores: a master container spawns one container in a
 * Web Worker and one in a subprocess, starts agents in both through their
 * Managers, calls them, lets them talk to each other, advances their
 * simulated clocks in lock step, and stops them.
 *
 * Run: `deno run -A examples/multiprocess.ts`
 *
 * @module
 */

import { Agent, Container, expose, type Remote } from "@aiomas/aiomas";
import { setTimeAll, spawnProcessContainer, spawnWorkerContainer } from "@aiomas/aiomas/agent";

/** An agent with a charge that other agents can query and top up. */
export class Battery extends Agent {
  #charge: number;

  constructor(container: Container, charge: number) {
    super(container);
    this.#charge = charge;
  }

  /** Where this agent runs, and its charge. */
  @expose
  status(): string {
    const where = "WorkerGlobalScope" in globalThis ? "a worker" : `process ${Deno.pid}`;
    return `${this} in ${where}: ${this.#charge} %`;
  }

  /** Give `amount` of charge to the battery at `peerAddr` (in another container). */
  @expose
  async share(peerAddr: string, amount: number): Promise<number> {
    const peer = await this.container.connect<Battery>(peerAddr);
    this.#charge -= amount;
    return await peer.receive(amount);
  }

  /** Take `amount` of charge. */
  @expose
  receive(amount: number): number {
    this.#charge += amount;
    return this.#charge;
  }

  /** Sleep until the simulated time `t`, then report the simulated date. */
  @expose
  async wakeAt(t: number): Promise<string> {
    await this.container.clock.sleepUntil(t);
    return `${this} woke at ${this.container.clock.utcnow().toISOString()}`;
  }
}

if (import.meta.main) {
  const spec = `${import.meta.url}#Battery`;
  const clock = { external: "2016-01-01T00:00:00Z" };
  const master = await Container.create("tcp://127.0.0.1:0");
  const [worker, subprocess] = await Promise.all([
    spawnWorkerContainer(master, "tcp://127.0.0.1:0", { clock }),
    spawnProcessContainer(master, "tcp://127.0.0.1:0", { clock }),
  ]);
  console.log(`master ${master.addr} (process ${Deno.pid})`);
  console.log(`worker container ${worker.addr}`);
  console.log(`process container ${subprocess.addr} (process ${subprocess.pid})`);

  const [a, aAddr] = await worker.manager.spawn<Battery>(spec, 80);
  const [b, bAddr] = await subprocess.manager.spawn<Battery>(spec, 20);
  const batteries = [a, b] as Remote<Battery>[];
  for (const battery of batteries) console.log(await battery.status());

  console.log(`${aAddr} gives 30 % to ${bAddr}; it now has`, await a!.share(bAddr, 30), "%");
  for (const battery of batteries) console.log(await battery.status());

  const waking = batteries.map((battery, i) => battery.wakeAt(60 * (i + 1)));
  for (let t = 30; t <= 120; t += 30) await setTimeAll([worker.manager, subprocess.manager], t);
  for (const line of await Promise.all(waking)) console.log(line);

  await Promise.all([worker.close(), subprocess.close()]);
  await master.shutdown();
  console.log("all containers stopped");
}
