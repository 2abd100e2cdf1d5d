// A photo from the field to the console, as the README walks it, with the
// real relay, `gridsync` CLIs and the degraded link (`gridsync-proxy`,
// 50 kbit/s, 400 ms RTT, a cut every 20 s):
//
// 1. The worker wang reports a ticket with a photo while the relay is out
//    of reach (`ticket new --photo`); `sync` fails, the photo waits on the
//    device.
// 2. The link comes back, throttled; `sync` sends the ticket, then the
//    photo. While the photo is still on its way (the link stalls for a
//    moment) the supervisor's console shows the ticket with 未上传; once
//    it has arrived the thumbnail loads by itself, and the full photo opens
//    in the viewer (keyboard: Enter opens it, Esc closes it).
// 3. The unit wuye tries 处置完成 in the console on this category (1102 暴露
//    垃圾 requires a photo after the work): refused with the reason. Its
//    CLI attaches the after photo and marks it handled; the supervisor's
//    verify step shows before and after side by side.

import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { pageFetch, Proxy, Relay, screenshot } from "./harness.mjs";

const GRID = "GL-03-07";
const PASSWORD = { chen: "chen-密码-2026", wuye: "wuye-pass-2026" };

let relay;
const proxies = [];

before(async () => {
  relay = await Relay.start();
  relay.addGrid(GRID, "七网格", "幸福社区", "文三街道", "西湖区");
  relay.addUser("wang", "worker", `grids:${GRID}`);
  relay.addUser("chen", "supervisor", "community:幸福社区", PASSWORD.chen);
  relay.addUser("wuye", "unit", "street:文三街道", PASSWORD.wuye);
});

after(async () => {
  for (const p of proxies) await p.stop();
  await relay?.stop();
});

/** A JPEG of 640×480 drawn in the page (coloured blocks and a label): about 60 KB. */
async function jpeg(page, seed, label) {
  const b64 = await page.evaluate(
    async ({ seed, label }) => {
      const c = document.createElement("canvas");
      c.width = 640;
      c.height = 480;
      const g = c.getContext("2d");
      let x = seed;
      const rnd = () => (x = (Math.imul(x, 1103515245) + 12345) >>> 0) / 2 ** 32;
      g.fillStyle = "#556";
      g.fillRect(0, 0, 640, 480);
      for (let i = 0; i < 2000; i++) {
        g.fillStyle = `hsl(${Math.floor(rnd() * 360)},55%,${Math.floor(30 + rnd() * 40)}%)`;
        g.fillRect(rnd() * 640, rnd() * 480, 4 + rnd() * 36, 4 + rnd() * 36);
      }
      g.fillStyle = "#fff";
      g.font = "bold 96px sans-serif";
      g.fillText(label, 60, 280);
      const blob = await new Promise((ok) => c.toBlob(ok, "image/jpeg", 0.75));
      const bytes = new Uint8Array(await blob.arrayBuffer());
      let s = "";
      for (const b of bytes) s += String.fromCharCode(b);
      return btoa(s);
    },
    { seed, label },
  );
  return Buffer.from(b64, "base64");
}

/** Waits until the image `selector` matches has loaded (naturalWidth > 0); its natural width. */
async function loaded(page, selector) {
  const handle = await page.waitForFunction((sel) => {
    const img = document.querySelector(sel);
    return img && img.complete && img.naturalWidth > 0 ? img.naturalWidth : false;
  }, selector);
  return handle.jsonValue();
}

test("a photo attached offline reaches the supervisor's console over a poor link; before and after side by side on the verify step", async () => {
  const started = Date.now();
  const chen = await relay.browser("chen", PASSWORD.chen);
  const wang = relay.device("wang", "worker", [GRID]);
  wang.sync(); // at the office: the catalog arrives

  // The link's address, then the link goes: the relay is out of reach.
  const first = await Proxy.start(relay.addr, { kbit: 50, rttMs: 400, cutEvery: "20s" });
  const port = first.addr;
  await first.stop();

  const beforeJpeg = await jpeg(chen, 7, "BEFORE");
  const afterJpeg = await jpeg(chen, 11, "AFTER");
  console.log(`photos: ${beforeJpeg.length} and ${afterJpeg.length} bytes`);
  const beforeFile = join(wang.data, "..", "rubbish-before.jpg");
  writeFileSync(beforeFile, beforeJpeg);

  // Offline: the ticket and its photo are on the device.
  const made = wang.json([
    "ticket", "new", "--grid", GRID, "--title", "路口垃圾堆积",
    "--description", "幸福路与文三路口东北角，约两立方米生活垃圾",
    "--category", "1102", "--photo", beforeFile,
  ]);
  const id = made.id;
  const hash = made.photos[0];
  assert.match(wang.run(["ticket", "show", id]), /not uploaded yet/);
  const unreachable = wang.start(["sync", "--server", `ws://${port}/`, "--timeout", "5"]);
  const failed = await unreachable.done;
  assert.notEqual(failed.code, 0, `sync with the relay out of reach: ${failed.stdout}`);

  // The signal returns, poor: 50 kbit/s, 400 ms RTT, a cut every 20 s.
  const link = await Proxy.start(relay.addr, { listen: port, kbit: 50, rttMs: 400, cutEvery: "20s" });
  proxies.push(link);
  // As the README: a plain `sync`, to the address the failed one kept.
  const syncing = wang.start(["--json", "sync"]);

  // The ticket arrives first; the photo is still crossing the link, which
  // now stalls for a moment (nothing moves while it is paused).
  let shown;
  for (;;) {
    shown = await pageFetch(chen, "GET", `/api/tickets/${id}`);
    if (shown.status === 200) break;
    await new Promise((ok) => setTimeout(ok, 100));
  }
  link.pause();
  assert.equal(shown.json.ticket.photos.length, 1);
  assert.equal(shown.json.ticket.photos[0].hash, hash);
  assert.equal(shown.json.ticket.photos[0].phase, "before");
  assert.equal(shown.json.ticket.photos[0].added_by, "wang");
  assert.equal(shown.json.ticket.photos[0].uploaded, false, "the photo is still on its way");

  // The list counts the photo.
  await chen.goto(`${relay.url}/console/tickets`);
  await chen.locator(`tr[data-ticket="${id}"] .tag-photos`, { hasText: "照片 1" }).waitFor();

  await chen.goto(`${relay.url}/console/tickets/${id}`);
  const group = chen.locator('.photos-panel [data-phase-group="before"]');
  await group.locator("h3", { hasText: "处置前 (1)" }).waitFor();
  await group.locator(`[data-missing="${hash}"]`, { hasText: "未上传" }).waitFor();
  assert.equal(await group.locator("img").count(), 0, "no broken image while the photo is missing");
  await chen.locator('.photos-panel [data-phase-group="after"]', { hasText: "处置后 (0)" }).waitFor();
  await screenshot(chen, "console-photo-not-uploaded");

  link.resume();
  const synced = await syncing.done;
  assert.equal(synced.code, 0, `sync over the poor link:\n${synced.stdout}\n${synced.stderr}`);
  const report = JSON.parse(synced.stdout);
  assert.equal(report.photos_uploaded, 1, synced.stdout);
  assert.deepEqual(report.photos_not_uploaded, []);
  console.log(`worker's sync over the link done ${((Date.now() - started) / 1000).toFixed(1)} s into the test`);

  // The page looks again while a photo is missing: the thumbnail loads.
  const thumb = `.photos-panel [data-photo="${hash}"] img`;
  const thumbWidth = await loaded(chen, thumb);
  assert.ok(thumbWidth > 0 && thumbWidth <= 320, `a thumbnail: ${thumbWidth} px wide`);
  assert.match(await chen.locator(thumb).getAttribute("src"), new RegExp(`/api/blobs/${hash}\\?size=thumb$`));
  await chen.locator(`.photos-panel [data-photo="${hash}"] figcaption`, { hasText: "wang" }).waitFor();
  await screenshot(chen, "console-photo-thumbnail");

  // The full photo, with the keyboard: Enter opens the viewer, Esc closes it.
  await chen.locator(`.photos-panel [data-photo="${hash}"] .photo-button`).focus();
  await chen.keyboard.press("Enter");
  const viewer = chen.locator("dialog.photo-viewer[open]");
  await viewer.waitFor();
  assert.equal(await loaded(chen, "dialog.photo-viewer[open] .viewer-image img"), 640, "the full photo");
  await screenshot(chen, "console-photo-viewer", { fullPage: false });
  await chen.keyboard.press("Escape");
  await viewer.waitFor({ state: "detached" });
  assert.equal(await chen.locator("dialog.photo-viewer[open]").count(), 0);

  // Accepted and dispatched to wuye; its work starts.
  for (const body of [{ action: "accepted" }, { action: "dispatched", unit: "wuye" }]) {
    const r = await pageFetch(chen, "POST", `/api/tickets/${id}/actions`, body);
    assert.equal(r.status, 200, r.text);
  }
  const wuyeCli = relay.device("wuye", "unit", [GRID]);
  wuyeCli.sync();
  wuyeCli.run(["ticket", "event", id, "acknowledged"]);
  wuyeCli.run(["ticket", "event", id, "in_progress"]);
  wuyeCli.sync();

  // The unit tries 处置完成 in the console without a photo after the work.
  const wuye = await relay.browser("wuye", PASSWORD.wuye);
  await wuye.goto(`${relay.url}/console/tickets/${id}`);
  await wuye.locator('.ticket-page[data-status="in_progress"]').waitFor();
  await wuye.click('button[data-action="handled"]');
  await wuye.click('[data-action-form="handled"] button[type="submit"]');
  const refusal = wuye.locator('[data-action-form="handled"] .error-box[data-reason="after_photos_required"]');
  await refusal.waitFor();
  assert.match(await refusal.innerText(), /此类别要求处置后照片/);
  assert.match(await refusal.innerText(), new RegExp(`gridsync ticket photo add ${id} 照片文件 --phase after`));
  await screenshot(wuye, "console-after-photo-required");

  // Its device attaches one and marks it handled.
  const afterFile = join(wuyeCli.data, "..", "rubbish-after.jpg");
  writeFileSync(afterFile, afterJpeg);
  const added = wuyeCli.json(["ticket", "photo", "add", id, afterFile, "--phase", "after"]);
  wuyeCli.run(["ticket", "event", id, "handled", "--note", "已清运，地面冲洗干净"]);
  wuyeCli.sync();

  // The supervisor's verify step: before and after side by side.
  await chen.goto(`${relay.url}/console/tickets/${id}`);
  await chen.locator('.ticket-page[data-status="handled"]').waitFor();
  await chen.locator('button[data-action="verified"]').waitFor();
  const compare = chen.locator(".verify-compare");
  await compare.waitFor();
  const beforeImg = `.verify-compare [data-compare="before"] [data-photo="${hash}"] img`;
  const afterImg = `.verify-compare [data-compare="after"] [data-photo="${added.photo}"] img`;
  assert.equal(await loaded(chen, beforeImg), 640);
  assert.equal(await loaded(chen, afterImg), 640);
  const b = await chen.locator(beforeImg).boundingBox();
  const a = await chen.locator(afterImg).boundingBox();
  assert.ok(b.x + b.width <= a.x, `before (x ${b.x}, w ${b.width}) left of after (x ${a.x})`);
  assert.ok(Math.abs(b.y - a.y) < 4, `on one line: ${b.y} and ${a.y}`);
  await chen.locator('.photos-panel [data-phase-group="after"] h3', { hasText: "处置后 (1)" }).waitFor();
  await screenshot(chen, "console-verify-before-after");

  await chen.click('button[data-action="verified"]');
  await chen.click('[data-action-form="verified"] button[type="submit"]');
  await chen.locator('.ticket-page[data-status="verified"]').waitFor();
  assert.equal(await chen.locator(".verify-compare").count(), 0, "no comparison once verified");

  console.log(`link: ${(await link.stop()).at(-1)}`);
  assert.deepEqual([...chen.errors, ...wuye.errors], []);
  console.log(`the whole flow took ${((Date.now() - started) / 1000).toFixed(1)} s`);
});
