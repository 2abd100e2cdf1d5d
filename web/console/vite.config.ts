import { defineConfig } from "vite";

// The relay serves this build at /console (server/src/console.rs embeds
// dist/). Asset names carry content hashes, so the relay may cache them
// for a year; index.html is never cached.
export default defineConfig({
  base: "/console/",
  oxc: { jsx: { runtime: "automatic", importSource: "preact" } },
  build: {
    outDir: "dist",
    emptyOutDir: true,
    assetsDir: "assets",
    sourcemap: false,
    reportCompressedSize: true,
  },
});
