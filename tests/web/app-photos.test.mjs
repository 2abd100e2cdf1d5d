// Photos in the field app (/app) on a 360×640 phone in headless Chromium,
// against the real relay binary and real `gridsync` CLIs. The test JPEGs
// are made in the page (a canvas of gradients and noise, encoded by the
// browser) and given to the camera input with setInputFiles, as a camera
// would hand over its file.
//
// 1. Offline: a worker reports a ticket with a photo (made smaller on the
//    phone, kept in IndexedDB), reloads with the network still cut and
//    finds the photo and "1 张照片未上传"; with signal back the ticket syncs,
//    the photo goes up, the count goes away, and a supervisor's CLI fetches
//    bytes that hash to the photo's name.
// 2. An upload whose connection is cut midway (route interception lets a
//    PATCH deliver part of its body, then resets it) resumes from the
//    relay's offset: the bytes that reached the relay stay under 1.1× the
//    photo.
// 3. A unit handling a category with `after_photos_required` is refused
//    without an after photo, then handles with one; the supervisor sees
//    both phases.
// Screenshots: target/screenshots/app-photo-*.png.

import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdtempSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { Relay, cameraJpeg, catalogArrived, screenshot } from "./harness.mjs";

const GRID = "GL-03-07";
const PASSWORD = { wang: "wang-密码-2026", wuye: "wuye-pass-2026" };
const HERE = { latitude: 30.2741, longitude: 120.1551, accuracy: 8 };
const PHONE = { fullPage: false };
/** Bytes per PATCH in web/app/src/data/tus.ts. */
const CHUNK = 256 * 1024;

let relay;
let chen;

before(async () => {
  relay = await Relay.start();
  relay.addGrid(GRID, "七网格", "幸福社区", "文三街道", "西湖区");
  relay.addUser("wang", "worker", `grids:${GRID}`, PASSWORD.wang);
  relay.addUser("chen", "supervisor", "community:幸福社区");
  relay.addUser("wuye", "unit", "street:文三街道", PASSWORD.wuye);
  chen = relay.device("chen", "supervisor", [GRID]);
});

after(async () => {
  await relay?.stop();
});

const sha = (b) => createHash("sha256").update(b).digest("hex");

const pending = (page) => page.locator('[data-testid="photos-pending"]');

async function fillReport(page, { category, title }) {
  await page.click('a.tab[href="#/report"]');
  await page.locator(`select[name="category"] option[value="${category}"]`).waitFor({ state: "attached" });
  await page.selectOption('select[name="category"]', category);
  await page.fill('input[name="title"]', title);
  await page.fill('textarea[name="description"]', "现场照片见附件");
  await page.click('[data-testid="locate"]');
  await page.locator('[data-testid="fix"]').waitFor();
}

/** Takes a photo with the report's camera button; the hash the app named it by. */
async function takePhoto(page, phase, jpeg, n) {
  await page.setInputFiles(`input[name="photo-${phase}"]`, { name: `IMG_${n}.jpg`, mimeType: "image/jpeg", buffer: jpeg });
  const thumb = page.locator(`[data-testid="photos-${phase}"] .thumb`).nth(n - 1);
  await thumb.locator("img").waitFor();
  return thumb.getAttribute("data-photo");
}

test("offline: a ticket reported with a photo keeps it across a reload, uploads it when signal returns, and the supervisor gets the same bytes", async () => {
  const { page, context } = await relay.fieldApp("wang", PASSWORD.wang, HERE);
  await page.locator('[data-testid="net"]', { hasText: "在线" }).waitFor();
  const jpeg = await cameraJpeg(page, { width: 4000, height: 3000, noise: 0.25 });
  await catalogArrived(page, "2101");

  await context.setOffline(true);
  await page.locator('[data-testid="net"]', { hasText: "离线" }).waitFor();
  await fillReport(page, { category: "2101", title: "楼道停电" });

  // A full phone: the photo is refused with the reason, and nothing is attached.
  await page.evaluate(() => {
    const put = IDBObjectStore.prototype.put;
    globalThis.__realPut = put;
    IDBObjectStore.prototype.put = function (...args) {
      if (this.name === "photos") throw new DOMException("quota", "QuotaExceededError");
      return put.apply(this, args);
    };
  });
  await page.setInputFiles('input[name="photo-before"]', { name: "IMG_0.jpg", mimeType: "image/jpeg", buffer: jpeg });
  await page.locator(".photo-picker .error", { hasText: "手机存储空间已满" }).waitFor();
  assert.equal(await page.locator('[data-testid="photos-before"]').count(), 0);
  await page.evaluate(() => {
    IDBObjectStore.prototype.put = globalThis.__realPut;
  });

  const hash = await takePhoto(page, "before", jpeg, 1);
  assert.match(hash, /^[0-9a-f]{64}$/);
  const size = await page.locator('[data-testid="photo-size"]').innerText();
  console.log(`test photo: camera file ${jpeg.length} B (4000×3000), stored ${size}`);
  await screenshot(page, "app-photo-report", { fullPage: true });
  await page.click('form.report button[type="submit"]');
  await page.locator('[data-testid="status"]', { hasText: "已上报" }).waitFor();
  const id = page.url().split("#/ticket/")[1];
  await page.locator(`[data-testid="ticket-photos"] [data-photo="${hash}"] img`).waitFor();
  await pending(page).filter({ hasText: "1 张照片未上传" }).waitFor();
  await screenshot(page, "app-photo-ticket", PHONE);

  // Reload with the network still cut: the photo is on the phone.
  await page.reload();
  await page.locator('[data-testid="net"]', { hasText: "离线" }).waitFor();
  await pending(page).filter({ hasText: "1 张照片未上传" }).waitFor();
  const img = page.locator(`[data-testid="ticket-photos"] [data-photo="${hash}"] img`);
  await img.waitFor();
  await page.waitForFunction((h) => {
    const i = document.querySelector(`[data-photo="${h}"] img`);
    return i && i.complete && i.naturalWidth > 0;
  }, hash);
  const shown = await img.evaluate((i) => ({ src: i.src, w: i.naturalWidth, h: i.naturalHeight }));
  assert.match(shown.src, /^blob:/);
  assert.equal(Math.max(shown.w, shown.h), 1600, JSON.stringify(shown));
  await page.locator('[data-photo] [data-testid="photo-local"]').waitFor();

  // Signal: the ticket syncs, then the photo goes up and leaves the phone.
  await context.setOffline(false);
  await page.locator('[data-testid="net"]', { hasText: "在线" }).waitFor();
  await pending(page).waitFor({ state: "detached" });
  await page.click('a.tab[href="#/me"]');
  await page.locator('[data-testid="me-photos"]', { hasText: "0 张" }).waitFor();

  chen.sync();
  const t = chen.json(["ticket", "show", id]);
  assert.equal(t.photos.length, 1, JSON.stringify(t.photos));
  assert.equal(t.photos[0].hash, hash);
  assert.equal(t.photos[0].phase, "before");
  assert.equal(t.photos[0].added_by, "wang");
  assert.equal(typeof t.photos[0].at, "number");
  assert.equal(t.photos[0].at, t.created_at);
  const out = mkdtempSync(join(relay.dir, "photos-"));
  chen.run(["ticket", "photo", "get", id, "--out", out]);
  const files = readdirSync(out);
  assert.deepEqual(files, [`before-${hash}.jpg`]);
  const got = readFileSync(join(out, files[0]));
  assert.equal(sha(got), hash);
  assert.ok(got.length < jpeg.length, `${got.length} < ${jpeg.length}`);

  // The local copy is gone: the ticket shows the relay's thumbnail.
  await page.goto(`${relay.url}/app/#/ticket/${id}`);
  await page.waitForFunction((h) => {
    const i = document.querySelector(`[data-photo="${h}"] img`);
    return i && i.complete && i.naturalWidth > 0 && i.src.includes("/api/blobs/");
  }, hash);
  assert.equal(await page.locator('[data-photo] [data-testid="photo-local"]').count(), 0);
  assert.deepEqual(page.errors, []);
});

test("an upload cut midway resumes from the relay's offset: the bytes that reached the relay stay under 1.1× the photo", async () => {
  const { page } = await relay.fieldApp("wang", PASSWORD.wang, HERE);
  await page.locator('[data-testid="net"]', { hasText: "在线" }).waitFor();
  // Noise compresses badly: a photo of several chunks.
  const jpeg = await cameraJpeg(page, { width: 2400, height: 1800, noise: 1.6 });
  let delivered = 0;
  let offered = 0;
  let patches = 0;
  const offsets = [];
  await page.route("**/api/blobs/*", async (route) => {
    const req = route.request();
    if (req.method() !== "PATCH") return route.continue();
    const body = req.postDataBuffer() ?? Buffer.alloc(0);
    offered += body.length;
    offsets.push(Number(req.headers()["upload-offset"]));
    if (++patches === 2) {
      // The link dies 100 KB into the second chunk: the relay keeps those bytes.
      const part = body.subarray(0, 100_000);
      delivered += part.length;
      await route.fetch({ postData: part });
      return route.abort("connectionreset");
    }
    delivered += body.length;
    return route.continue();
  });
  await fillReport(page, { category: "2103", title: "夜间施工噪声" });
  const hash = await takePhoto(page, "before", jpeg, 1);
  await page.click('form.report button[type="submit"]');
  await page.locator('[data-testid="status"]', { hasText: "已上报" }).waitFor();
  await pending(page).waitFor({ state: "detached" });

  const r = await fetch(`${relay.url}/api/blobs/${hash}`, { headers: { Authorization: `Bearer ${relay.issueToken("chen")}` } });
  assert.equal(r.status, 200);
  const got = Buffer.from(await r.arrayBuffer());
  assert.equal(sha(got), hash);
  console.log(`cut upload: photo ${got.length} B, delivered to the relay ${delivered} B (${(delivered / got.length).toFixed(3)}×), offered by the app ${offered} B (${(offered / got.length).toFixed(3)}×), PATCH offsets ${offsets.join(", ")}`);
  assert.ok(got.length > 2 * CHUNK, `the photo (${got.length} B) spans more than two chunks`);
  assert.ok(patches >= 4, `${patches} PATCHes`);
  // The request after the cut began where the relay stood.
  assert.equal(offsets[2], CHUNK + 100_000, offsets.join(", "));
  assert.ok(delivered < 1.1 * got.length, `${delivered} B sent for a ${got.length} B photo`);
  assert.deepEqual(page.errors, []);
});

test("a unit cannot mark handled a category that requires after photos until it takes one; the supervisor sees before and after", async () => {
  const wangCli = relay.device("wang", "worker", [GRID]);
  const id = wangCli.report(GRID, "井盖缺失", ["--category", "0101", "--lat", "30.2745", "--lon", "120.1559"]);
  wangCli.sync();
  chen.sync();
  chen.run(["ticket", "event", id, "accepted"]);
  chen.run(["ticket", "event", id, "dispatched", "--unit", "wuye"]);
  chen.sync();

  const { page } = await relay.fieldApp("wuye", PASSWORD.wuye, HERE);
  await page.locator(`a.ticket[data-ticket="${id}"]`).click();
  await page.click('[data-action="acknowledged"]');
  await page.locator('[data-testid="status"]', { hasText: "已签收" }).waitFor();
  await page.click('[data-action="in_progress"]');
  await page.locator('[data-testid="status"]', { hasText: "处置中" }).waitFor();
  await page.click('[data-action="handled"]');
  await page.locator(".actions .error", { hasText: "须有处置后照片" }).waitFor();
  assert.equal(await page.locator('[data-testid="status"]').innerText(), "处置中");

  const jpeg = await cameraJpeg(page, { width: 3000, height: 4000, noise: 0.2 });
  const hash = await takePhoto(page, "after", jpeg, 1);
  await page.locator(".actions .photo-picker").scrollIntoViewIfNeeded();
  await screenshot(page, "app-photo-handle", PHONE);
  await page.click('[data-action="handled"]');
  await page.locator('[data-testid="status"]', { hasText: "已处置" }).waitFor();
  await page.locator(`[data-testid="ticket-photos"] [data-photo="${hash}"]`).waitFor();
  await pending(page).waitFor({ state: "detached" });
  await page.locator('[data-testid="ticket-photos"]').scrollIntoViewIfNeeded();
  await screenshot(page, "app-photo-after", PHONE);

  chen.sync();
  const t = chen.json(["ticket", "show", id]);
  assert.equal(t.state.status, "handled");
  const afterPhotos = t.photos.filter((p) => p.phase === "after");
  assert.deepEqual(afterPhotos.map((p) => [p.hash, p.added_by]), [[hash, "wuye"]]);
  const handled = t.events.find((e) => e.Ok?.to === "handled").Ok;
  assert.equal(afterPhotos[0].at, handled.at_device);
  const out = mkdtempSync(join(relay.dir, "after-"));
  chen.run(["ticket", "photo", "get", id, "--out", out]);
  assert.equal(sha(readFileSync(join(out, `after-${hash}.jpg`))), hash);
  assert.deepEqual(page.errors, []);
});
