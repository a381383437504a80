import { defineConfig } from "vitest/config";

// Tests import sibling packages from source through the private "@pvnet/source" export condition.
// Timeouts are only a safety net against hangs: CI machines are shared, with 2 cores running every
// package's tests at once, and no test asserts on time.
export default defineConfig({
  resolve: { conditions: ["@pvnet/source"] },
  ssr: { resolve: { conditions: ["@pvnet/source"] } },
  test: { include: ["test/**/*.test.ts"], testTimeout: 120_000, hookTimeout: 120_000 },
});
