/**
 * A pool worker thread of `pvnet sweep` and `pvnet worker` (tinypool calls the default export once
 * per task): runs one point on this thread and returns its report. Points run one after another in
 * the same thread; each builds its own host, so nothing of one point is seen by the next.
 */
import { isSweepPoint, type PointReport, runPoint } from "./sweep-points.js";

export default async function runSweepPoint(point: unknown): Promise<PointReport> {
  if (!isSweepPoint(point)) throw new TypeError(`not a sweep point: ${JSON.stringify(point)}`);
  return runPoint(point);
}
