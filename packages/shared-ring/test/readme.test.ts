import { readFileSync } from "node:fs";
import { Machine } from "@pvnet/hypervisor";
import { BackRing, defineRingLayout, FrontRing, SharedRing } from "@pvnet/shared-ring";
import { expect, it } from "vitest";

it("README Usage block runs and prints what it says", () => {
  // Mirrors the first ts block of README.md; the check below keeps the two in step.
  const layout = defineRingLayout("netif_tx", 12, 4);
  const machine = new Machine(16);
  const sring = SharedRing.overFrames(machine, [machine.allocFrame(1)], layout);

  const front = new FrontRing(sring).initShared();
  const back = new BackRing(sring).init();

  const putId = (view: DataView, off: number, id: number) => view.setUint16(off + 8, id, true);
  front.writeRequest(front.produceRequest(), putId, 7);
  front.writeRequest(front.produceRequest(), putId, 8);
  const notifyBack = front.pushRequestsAndCheckNotify();

  const req = { id: 0 };
  const getId = (view: DataView, off: number, out: { id: number }) => {
    out.id = view.getUint16(off + 8, true);
  };
  const ids: number[] = [];
  for (let n = back.unconsumedRequests(); n > 0; n--) {
    back.copyRequest(back.consumeRequest(), getId, req);
    ids.push(req.id);
    back.writeResponse(back.produceResponse(), (view, off, id: number) => view.setUint16(off, id, true), req.id);
  }
  const notifyFront = back.pushResponsesAndCheckNotify();
  const moreWork = back.finalCheckForRequests();

  expect({ notifyBack, ids, notifyFront, moreWork, free: front.freeRequests() }).toEqual({
    notifyBack: true,
    ids: [7, 8],
    notifyFront: true,
    moreWork: 0,
    free: 254,
  });
  expect(sring.reqEvent).toBe(3);

  const readme = readFileSync(new URL("../README.md", import.meta.url), "utf8");
  const block = /```ts\n([\s\S]*?)```/.exec(readme)?.[1] ?? "";
  for (const line of [
    'const layout = defineRingLayout("netif_tx", 12, 4);',
    "front.writeRequest(front.produceRequest(), putId, 7);",
    "const notifyBack = front.pushRequestsAndCheckNotify();",
    "back.copyRequest(back.consumeRequest(), getId, req);",
    "const moreWork = back.finalCheckForRequests();",
    "// { notifyBack: true, ids: [ 7, 8 ], notifyFront: true, moreWork: 0, free: 254 }",
  ]) {
    expect(block).toContain(line);
  }
});
