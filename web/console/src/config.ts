// The relay's settings for the console (`/console/config.json`): the map
// tile layer, when one is configured.

import type { ConsoleConfig } from "./types";

let cached: Promise<ConsoleConfig> | null = null;

export function consoleConfig(): Promise<ConsoleConfig> {
  cached ??= fetch("/console/config.json", { credentials: "same-origin" })
    .then((r) => (r.ok ? (r.json() as Promise<ConsoleConfig>) : { tiles: null }))
    .catch(() => ({ tiles: null }));
  return cached;
}
