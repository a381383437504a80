/**
 * An actor is something that executes model code sequentially and is charged for it: in pvnet, a
 * VCPU. It has its own local clock: work charged to it moves its clock forward, and an event that
 * reaches it while it is still busy starts when it becomes free, exactly like a CPU that is still
 * running the previous job.
 */
import { type CostAccount, type CostModel, CostAccount as Account, type CostSink } from "./cost.js";

export class Actor implements CostSink {
  /** Local time while the actor runs; the time it became free when it does not. */
  nowNs = 0;
  readonly account: CostAccount;

  constructor(
    readonly id: number,
    readonly name: string,
    model: CostModel,
  ) {
    this.account = new Account(model);
  }

  /** Begin running at global time `timeNs` (the actor may still be busy until later). */
  begin(timeNs: number): void {
    if (timeNs > this.nowNs) this.nowNs = timeNs;
  }

  /** Charge work to this actor: its clock moves forward by the operation's cost. */
  charge(kind: string, units = 0): void {
    const before = this.account.busyNs;
    this.account.charge(kind, units);
    this.nowNs += this.account.busyNs - before;
  }
}
