import { defineConfig } from "vitest/config";

// Tests import sibling packages from source through the private "@pvnet/source" export condition.
export default defineConfig({
  resolve: { conditions: ["@pvnet/source"] },
  ssr: { resolve: { conditions: ["@pvnet/source"] } },
  test: { include: ["test/**/*.test.ts"] },
});
