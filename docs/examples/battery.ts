/**
 * The agent that the workers chapter (docs/workers.md) spawns in child
 * containers: a battery that charges by the hour of its container's clock.
 *
 * @module
 */

import { Agent, type Container, expose } from "@aiomas/aiomas";

/** A battery with a state of charge in kWh. */
export class Battery extends Agent {
  #charge: number;

  /** Make a battery in `container` holding `charge` kWh. */
  constructor(container: Container, charge: number) {
    super(container);
    this.#charge = charge;
  }

  /** The state of charge in kWh. */
  @expose
  charge(): number {
    return this.#charge;
  }

  /** Charge with `kw` kilowatts until the clock has moved `hours` hours on; return the charge. */
  @expose
  async chargeFor(kw: number, hours: number): Promise<number> {
    await this.container.clock.sleep(hours * 3600);
    this.#charge += kw * hours;
    return this.#charge;
  }
}
