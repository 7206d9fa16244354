import { defineConfig } from "vitest/config";

// One vitest run over every package's Node tests. Browser suites run in real
// Chromium through `npm run test:browser`, not here.
export default defineConfig({
  test: {
    include: ["packages/*/test/**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: "forks",
  },
});
