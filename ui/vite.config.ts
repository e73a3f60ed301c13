import { defineConfig } from "vitest/config";
import { harness, harnessRequested } from "./harness/vite-plugin.mjs";

export default defineConfig({
  // Docker Desktop loads the UI from the image's /ui folder: every URL must be relative.
  base: "./",
  // `cargo xtask dev --browser`: a stand-in Docker Desktop around the dev server.
  plugins: harnessRequested() ? [harness()] : [],
  // Vite compiles TSX itself; React's automatic runtime means no `import React` per file.
  esbuild: { jsx: "automatic" },
  build: {
    outDir: "dist",
    emptyOutDir: true,
    chunkSizeWarningLimit: 1000,
    rollupOptions: {
      // MUI marks modules "use client" for React Server Components; meaningless in a bundle.
      onwarn(warning, warn) {
        if (warning.code !== "MODULE_LEVEL_DIRECTIVE") warn(warning);
      },
    },
  },
  test: {
    environment: "jsdom",
    include: ["src/**/*.test.tsx"],
    // jsdom has no matchMedia; the theme asks it for the colour scheme.
    setupFiles: ["src/test-setup.ts"],
  },
});
