// Entry of a `pvnet sweep` pool worker thread in a source checkout: registers tsx so the thread can
// load TypeScript (the launcher's --conditions=@pvnet/source is inherited), then hands tinypool the
// TypeScript worker's task function.
import { register } from "tsx/esm/api";

register();
const worker = await import(new URL("./sweep-worker.ts", import.meta.url).href);
export default worker.default;
