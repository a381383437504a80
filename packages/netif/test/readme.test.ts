import { readFileSync } from "node:fs";
import {
  buildTxChain,
  NETIF_RSP_NULL,
  NETIF_RSP_OKAY,
  NETIF_TX_RING,
  NETTXF_csum_blank,
  newExtraInfo,
  newNetifChain,
  newTxRequest,
  newTxResponse,
  parseTxChain,
  readTxRequest,
  readTxResponse,
  txSlotsFromRing,
  writeExtraInfo,
  writeTxRequest,
  writeTxResponse,
  XEN_NETIF_EXTRA_TYPE_GSO,
  XEN_NETIF_GSO_TYPE_TCPV4,
} from "@pvnet/netif";
import { BackRing, FrontRing, ringMemoryOver, SharedRing } from "@pvnet/shared-ring";
import { expect, it } from "vitest";

it("README Usage block runs and prints what it says", () => {
  // Mirrors the ts block of README.md; the check at the end keeps the two in step.
  const sring = new SharedRing(ringMemoryOver(new SharedArrayBuffer(4096)), [0], NETIF_TX_RING);
  const front = new FrontRing(sring).initShared();
  const back = new BackRing(sring).init();

  const gso = { ...newExtraInfo(), type: XEN_NETIF_EXTRA_TYPE_GSO, gsoSize: 1448, gsoType: XEN_NETIF_GSO_TYPE_TCPV4 };
  const built = buildTxChain(
    [
      { gref: 8, offset: 96, length: 2000, id: 0 },
      { gref: 9, offset: 0, length: 1000, id: 1 },
    ],
    NETTXF_csum_blank,
    [gso],
  );
  if (!built.ok) throw new Error(built.reason);
  for (const slot of built.slots) {
    const idx = front.produceRequest();
    if (slot.kind === "request") front.writeRequest(idx, writeTxRequest, slot.req);
    else front.writeRequest(idx, writeExtraInfo, slot.extra);
  }
  front.pushRequestsAndCheckNotify();

  const chain = parseTxChain(txSlotsFromRing(back), back.reqCons, back.unconsumedRequests(), newNetifChain());
  const txreq = newTxRequest();
  for (let i = 0; i < chain.slots; i++) {
    const idx = back.consumeRequest();
    const isExtra = i >= 1 && i <= chain.extras;
    if (!isExtra) back.copyRequest(idx, readTxRequest, txreq);
    const status = isExtra ? NETIF_RSP_NULL : NETIF_RSP_OKAY;
    back.writeResponse(back.produceResponse(), writeTxResponse, { id: isExtra ? 0 : txreq.id, status });
  }
  back.pushResponsesAndCheckNotify();

  expect([chain.reason, chain.slots, chain.totalLength, chain.firstFragmentLength, front.unconsumedResponses()]).toEqual(["ok", 3, 3000, 2000, 3]);
  // The front end sees OKAY for both fragments (ids 0 and 1) and NULL for the extra slot.
  const rsp = newTxResponse();
  const seen: Array<[number, number]> = [];
  while (front.unconsumedResponses() > 0) {
    front.copyResponse(front.consumeResponse(), readTxResponse, rsp);
    seen.push([rsp.id, rsp.status]);
  }
  expect(seen).toEqual([
    [0, NETIF_RSP_OKAY],
    [0, NETIF_RSP_NULL],
    [1, NETIF_RSP_OKAY],
  ]);

  const readme = readFileSync(new URL("../README.md", import.meta.url), "utf8");
  const block = /```ts\n([\s\S]*?)```/.exec(readme)?.[1] ?? "";
  for (const line of [
    "const sring = new SharedRing(ringMemoryOver(new SharedArrayBuffer(4096)), [0], NETIF_TX_RING);",
    "{ gref: 8, offset: 96, length: 2000, id: 0 },",
    "const chain = parseTxChain(txSlotsFromRing(back), back.reqCons, back.unconsumedRequests(), newNetifChain());",
    "back.writeResponse(back.produceResponse(), writeTxResponse, { id: isExtra ? 0 : txreq.id, status });",
    "// ok 3 3000 2000 3",
  ]) {
    expect(block).toContain(line);
  }
});
