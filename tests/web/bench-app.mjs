// The field app's benchmark (run by hand, never in CI; prints figures and
// asserts nothing about time). Against the real relay binary
// (target/debug/gridsync-server) and Debian's Chromium on a 360×640 phone:
//
// - first load: every precached file gzipped (web/app/scripts/first-load.mjs);
// - cold start: a worker's grid holds TICKETS tickets (reported with the
//   `gridsync` CLI and synced through the relay), the app has synced them
//   into IndexedDB, the browser is closed; a new browser on the same
//   profile, CPU throttled 4× (CDP Emulation.setCPUThrottlingRate), opens
//   /app: milliseconds from navigation to the list showing every row (kept
//   rows count: the list as it last was, until each ticket opens), to the
//   app taking reports (`gridsync:store-ready`: catalog and grid index
//   open) and to every document open (`gridsync:store-loaded`);
// - an offline report: from the tap to the ticket durable in IndexedDB
//   (the app's `gridsync:report-durable` measure), unthrottled and 4×;
// - reconnect of TICKETS unchanged documents: WebSocket frames and bytes
//   each way (CDP Network.webSocketFrameSent/Received) and the time from the
//   socket's creation to its last frame before QUIET ms of silence.
//
//   cargo build --workspace --bins && node tests/web/bench-app.mjs [TICKETS]

import { firstLoad } from "../../web/app/scripts/first-load.mjs";
import { Relay } from "./harness.mjs";

const TICKETS = Number(process.argv[2] ?? 500);
const GRID = "GL-03-07";
const PASSWORD = "wang-bench-2026";
const QUIET = 3000;
const ROWS = "main.body a.ticket";

const relay = await Relay.start();
const figures = [];
const row = (what, value, target = "") => figures.push({ what, value, target });

/** Milliseconds from navigation until the list shows `n` rows (an observer installed before the page's scripts). */
async function coldStart(profile, { throttle, n }) {
  const { page, context } = await relay.phone(profile, { latitude: 30.2741, longitude: 120.1551, accuracy: 8 });
  const cdp = await context.newCDPSession(page);
  if (throttle > 1) await cdp.send("Emulation.setCPUThrottlingRate", { rate: throttle });
  await page.addInitScript(({ n, rows }) => {
    const check = () => {
      if (globalThis.shellAt === undefined && document.querySelector(".top .who")) globalThis.shellAt = performance.now();
      if (globalThis.firstRowAt === undefined && document.querySelector(rows)) globalThis.firstRowAt = performance.now();
      if (globalThis.listedAt === undefined && document.querySelectorAll(rows).length >= n) {
        globalThis.listedAt = performance.now();
      }
    };
    new MutationObserver(check).observe(document, { childList: true, subtree: true });
  }, { n, rows: ROWS });
  await page.goto(`${relay.url}/app/#/list`);
  await page.waitForFunction(() => globalThis.listedAt !== undefined, null, { timeout: 300_000, polling: 200 });
  const ms = await page.evaluate(() => globalThis.listedAt);
  await page.waitForFunction(() => performance.getEntriesByName("gridsync:store-loaded").length > 0, null, { timeout: 600_000, polling: 500 });
  const phases = await page.evaluate(() => {
    const mark = (name) => Math.round(performance.getEntriesByName(name)[0]?.startTime ?? NaN);
    return {
      shell: Math.round(globalThis.shellAt),
      firstRow: Math.round(globalThis.firstRowAt),
      wasm: mark("gridsync:wasm-ready"),
      ready: mark("gridsync:store-ready"),
      live: mark("gridsync:store-loaded"),
    };
  });
  return { page, context, cdp, ms, phases };
}

try {
  relay.addGrid(GRID, "七网格", "幸福社区", "文三街道", "西湖区");
  relay.addUser("wang", "worker", `grids:${GRID}`, PASSWORD);
  const cli = relay.device("wang", "worker", [GRID]);
  const seeded = Date.now();
  for (let i = 0; i < TICKETS; i++) {
    cli.report(GRID, `基准工单 ${i + 1}`, ["--category", "0302", "--description", "路边垃圾堆放，影响通行", "--lat", String(30.27 + i * 1e-4), "--lon", "120.155"]);
  }
  cli.sync();
  console.error(`seeded ${TICKETS} tickets through the relay in ${((Date.now() - seeded) / 1000).toFixed(1)} s`);

  // First visit: the app syncs the grid into IndexedDB.
  const first = await relay.fieldApp("wang", PASSWORD);
  const t0 = Date.now();
  await first.page.locator(ROWS).nth(TICKETS - 1).waitFor({ timeout: 600_000 });
  await first.page.locator('[data-testid="unsynced"]', { hasText: "已全部同步" }).waitFor();
  console.error(`first sync of ${TICKETS} tickets into the app: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  // The app keeps its list for the next cold start a second after changes settle.
  await first.page.waitForTimeout(2500);
  await first.context.close();

  const load = firstLoad();
  row("first load (precached shell + wasm), gzip", `${(load.gzip / 1e6).toFixed(2)} MB (${load.gzip} B; raw ${load.raw} B)`, "< 1.5 MB");

  for (const [i, throttle] of [4, 4, 1].entries()) {
    const cold = await coldStart(first.profile, { throttle, n: TICKETS });
    row(`cold start ${i + 1} to ${TICKETS} listed tickets, CPU ${throttle}×`, `${Math.round(cold.ms)} ms (shell ${cold.phases.shell}, first row ${cold.phases.firstRow}, wasm ${cold.phases.wasm}, usable ${cold.phases.ready}, every document open ${cold.phases.live} ms)`, throttle === 4 ? "< 1500 ms" : "");
    await cold.context.close();
  }

  // Reconnect of unchanged documents, unthrottled: count the wire.
  {
    const { page, context } = await relay.phone(first.profile, { latitude: 30.2741, longitude: 120.1551, accuracy: 8 });
    const cdp = await context.newCDPSession(page);
    await cdp.send("Network.enable");
    const wire = { sent: 0, sentBytes: 0, received: 0, receivedBytes: 0, created: null, last: null };
    const bytes = (r) => (r.opcode === 2 ? Buffer.from(r.payloadData, "base64").length : Buffer.byteLength(r.payloadData));
    cdp.on("Network.webSocketCreated", () => {
      wire.created ??= performance.now();
    });
    cdp.on("Network.webSocketFrameSent", ({ response }) => {
      wire.sent++;
      wire.sentBytes += bytes(response);
      wire.last = performance.now();
    });
    cdp.on("Network.webSocketFrameReceived", ({ response }) => {
      wire.received++;
      wire.receivedBytes += bytes(response);
      wire.last = performance.now();
    });
    await page.goto(`${relay.url}/app/#/list`);
    await page.locator(ROWS).nth(TICKETS - 1).waitFor({ timeout: 300_000 });
    while (wire.last === null || performance.now() - wire.last < QUIET) await new Promise((ok) => setTimeout(ok, 250));
    row(`reconnect of ${TICKETS} unchanged documents: frames sent / received`, `${wire.sent} / ${wire.received}`);
    row(`reconnect: bytes sent / received`, `${wire.sentBytes} B / ${wire.receivedBytes} B`);
    row(`reconnect: socket created to last frame`, `${Math.round(wire.last - wire.created)} ms`);

    // Offline reports, durable in IndexedDB (the live screen, not the kept list).
    await page.locator('[data-testid="unsynced"]').waitFor();
    await context.setOffline(true);
    await page.locator('[data-testid="net"]', { hasText: "离线" }).waitFor();
    for (const throttle of [1, 4]) {
      await cdp.send("Emulation.setCPUThrottlingRate", { rate: throttle });
      for (let i = 0; i < 5; i++) {
        await page.click('a.tab[href="#/report"]');
        await page.locator('select[name="category"] option[value="0302"]').waitFor({ state: "attached" });
        await page.selectOption('select[name="category"]', "0302");
        await page.fill('input[name="title"]', `离线上报 ${throttle}× ${i + 1}`);
        await page.click('form.report button[type="submit"]');
        await page.locator('[data-testid="status"]', { hasText: "已上报" }).waitFor();
      }
      const ms = await page.evaluate(() => {
        const all = performance.getEntriesByName("gridsync:report-durable").map((e) => e.duration);
        const last = all.slice(-5).sort((a, b) => a - b);
        return { median: last[2], max: last[4] };
      });
      row(`offline report durable in IndexedDB, CPU ${throttle}× (median / max of 5, ${TICKETS} tickets held)`, `${Math.round(ms.median)} / ${Math.round(ms.max)} ms`, "< 100 ms");
    }
    await context.close();
  }

} finally {
  const w = Math.max(...figures.map((f) => f.what.length));
  const v = Math.max(...figures.map((f) => f.value.length));
  console.log(`${"figure".padEnd(w)}  ${"measured".padEnd(v)}  target`);
  for (const f of figures) console.log(`${f.what.padEnd(w)}  ${f.value.padEnd(v)}  ${f.target}`);
  await relay.stop();
}
