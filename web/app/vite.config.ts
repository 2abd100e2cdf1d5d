import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { defineConfig, type Plugin } from "vite";

// The relay serves this build at /app (server/src/field_app.rs embeds
// dist/). Asset names carry content hashes, so the relay may cache them
// for a year; index.html, sw.js and the manifest are never cached.

/** Writes sw.js from sw.template.js with the list of every file of the build. */
function serviceWorker(): Plugin {
  return {
    name: "gridsync-service-worker",
    apply: "build",
    generateBundle(_options, bundle) {
      const files = Object.keys(bundle).filter((f) => f !== "sw.js" && !f.endsWith(".map"));
      const statics = ["manifest.webmanifest", "icon.svg", "icon-192.png", "icon-512.png"];
      const urls = ["/app/", ...[...files.filter((f) => f !== "index.html"), ...statics].sort().map((f) => `/app/${f}`)];
      const version = createHash("sha256").update(files.sort().join("\n")).digest("hex").slice(0, 12);
      const source = readFileSync(new URL("./sw.template.js", import.meta.url), "utf8")
        .replace("__VERSION__", version)
        .replace("__PRECACHE__", JSON.stringify(urls, null, 2));
      this.emitFile({ type: "asset", fileName: "sw.js", source });
    },
  };
}

export default defineConfig({
  base: "/app/",
  oxc: { jsx: { runtime: "automatic", importSource: "preact" } },
  plugins: [serviceWorker()],
  build: {
    outDir: "dist",
    emptyOutDir: true,
    assetsDir: "assets",
    sourcemap: false,
    target: "es2022",
    reportCompressedSize: true,
    // The wasm stays a file of its own (precached), never inlined.
    assetsInlineLimit: 0,
  },
});
