// The field app (/app) in headless Chromium on a 360×640 phone, against
// the real relay binary and real `gridsync` CLIs: a worker logs in online,
// loses the network, reports three tickets (one with a camera photo, kept
// in IndexedDB and uploaded when signal returns) and logs a visit, reloads
// with the network still cut (the service worker serves the shell,
// IndexedDB the records), comes back online, and a supervisor's CLI
// receives every field (read by client-core's Rust readers) and the
// photo's bytes; the supervisor dispatches from the CLI and the unit's app
// shows it and acknowledges. Screenshots of the main screens go to
// target/screenshots/app-*.png.

import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { Relay, cameraJpeg, catalogArrived, screenshot } from "./harness.mjs";

const GRID = "GL-03-07";
const PASSWORD = { wang: "wang-密码-2026", wuye: "wuye-pass-2026" };
const HERE = { latitude: 30.2741, longitude: 120.1551, accuracy: 8 };

/** Screenshots of what the phone's screen shows. */
const PHONE = { fullPage: false };

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

const synced = (page) => page.locator('[data-testid="unsynced"]', { hasText: "已全部同步" }).waitFor();

async function report(page, { category, title, description, urgent, address, shot }) {
  await page.click('a.tab[href="#/report"]');
  await page.locator('select[name="category"] option[value="' + category + '"]').waitFor({ state: "attached" });
  await page.selectOption('select[name="category"]', category);
  if (urgent) await page.click('fieldset.seg label:has-text("紧急")');
  await page.fill('input[name="title"]', title);
  await page.fill('textarea[name="description"]', description);
  await page.click('[data-testid="locate"]');
  await page.locator('[data-testid="fix"]').waitFor();
  await page.fill('input[name="address"]', address);
  if (shot) await screenshot(page, shot, PHONE);
  await page.click('form.report button[type="submit"]');
}

test("offline: a worker reports tickets and logs a visit, reloads offline, syncs, and a supervisor's CLI reads every field", async () => {
  const app = await relay.fieldApp("wang", PASSWORD.wang, HERE);
  let { page, context } = app;
  await page.locator('[data-testid="net"]', { hasText: "在线" }).waitFor();
  await screenshot(page, "app-list-empty", PHONE);
  await catalogArrived(page, "0101");

  await context.setOffline(true);
  await page.locator('[data-testid="net"]', { hasText: "离线" }).waitFor();

  await report(page, { category: "0101", title: "井盖缺失", description: "幸福路12号门口的上水井盖不见了", urgent: true, address: "幸福路12号", shot: "app-report" });
  await page.locator('[data-testid="status"]', { hasText: "已上报" }).waitFor();
  await page.locator(".detail .mark.unsynced").waitFor();
  const first = page.url().split("#/ticket/")[1];
  assert.match(first, /^[0-9a-f-]{36}$/);
  await screenshot(page, "app-ticket", PHONE);

  // The same category a few metres away: offered as a duplicate first.
  await report(page, { category: "0101", title: "井盖又丢了", description: "同一处", urgent: false, address: "幸福路12号旁" });
  await page.locator('[data-testid="duplicates"]', { hasText: "井盖缺失" }).waitFor();
  await screenshot(page, "app-duplicates", PHONE);
  await page.click('[data-testid="report-anyway"]');
  await page.locator('[data-testid="status"]', { hasText: "已上报" }).waitFor();
  const second = page.url().split("#/ticket/")[1];
  assert.notEqual(second, first);

  // A figure, not an assertion: how long an offline report took to be durable.
  const durable = await page.evaluate(() => performance.getEntriesByName("gridsync:report-durable").map((e) => Math.round(e.duration)));
  assert.equal(durable.length, 2);
  console.log(`offline report durable in IndexedDB after ${durable.join(" ms, ")} ms`);

  // A third ticket, with a photo from the camera (kept on the phone).
  await page.click('a.tab[href="#/report"]');
  await page.selectOption('select[name="category"]', "2106");
  await page.fill('input[name="title"]', "楼道堆放杂物");
  await page.setInputFiles('input[name="photo-before"]', { name: "IMG_1.jpg", mimeType: "image/jpeg", buffer: await cameraJpeg(page, { width: 3000, height: 2000, noise: 0.3 }) });
  const photo = await page.locator('[data-testid="photos-before"] .thumb').getAttribute("data-photo");
  await page.click('form.report button[type="submit"]');
  await page.locator('[data-testid="status"]', { hasText: "已上报" }).waitFor();
  const third = page.url().split("#/ticket/")[1];
  await page.locator(`[data-testid="ticket-photos"] [data-photo="${photo}"] img`).waitFor();

  await page.click('a.tab[href="#/visits"]');
  await page.fill('input[name="building"]', "3");
  await page.fill('input[name="unit"]', "2");
  await page.fill('input[name="room"]', "501");
  await page.selectOption('select[name="outcome"]', "not_home");
  await page.fill('textarea[name="notes"]', "独居老人，敲门无人应答");
  await page.click('[data-testid="visit-locate"]');
  await page.locator('[data-testid="visit-locate"]', { hasText: "已定位" }).waitFor();
  await page.click('[data-testid="save-visit"]');
  await page.locator('[data-testid="today"] li', { hasText: "3-2-501" }).waitFor();
  // A patrol check-in takes its own GPS fix.
  await page.click('fieldset.seg label:has-text("巡查打卡")');
  await page.fill('textarea[name="notes"]', "幸福路巡查");
  await page.click('[data-testid="save-visit"]');
  await page.locator('[data-testid="today"] li', { hasText: "幸福路巡查" }).waitFor();
  await screenshot(page, "app-visits", PHONE);

  // Reload with the network still cut: the shell from the service
  // worker, the records from IndexedDB.
  await page.reload();
  await page.locator('[data-testid="net"]', { hasText: "离线" }).waitFor();
  await page.click('a.tab[href="#/list"]');
  await page.locator(`a.ticket[data-ticket="${first}"]`, { hasText: "井盖缺失" }).waitFor();
  await page.locator(`a.ticket[data-ticket="${second}"] .mark.unsynced`).waitFor();
  await page.locator(`a.ticket[data-ticket="${third}"]`, { hasText: "楼道堆放杂物" }).waitFor();
  await page.locator('[data-testid="photos-pending"]', { hasText: "1 张照片未上传" }).waitFor();
  assert.match(await page.locator('[data-testid="unsynced"]').innerText(), /未同步/);
  await screenshot(page, "app-list-offline", PHONE);
  await page.click('a.tab[href="#/visits"]');
  await page.locator('[data-testid="today"] li', { hasText: "3-2-501" }).waitFor();

  // The browser restarts, still with no network.
  await context.close();
  ({ page, context } = await relay.reopenOffline(app.profile, HERE));
  await page.locator(`a.ticket[data-ticket="${first}"] .mark.unsynced`).waitFor();
  await page.locator('[data-testid="net"]', { hasText: "离线" }).waitFor();
  // Really cut: the relay is out of reach, the page came from the worker.
  assert.equal(await page.evaluate(() => fetch("/healthz").then(() => "reached", () => "cut")), "cut");
  assert.equal(await page.evaluate(() => navigator.serviceWorker.controller !== null), true);

  await context.setOffline(false);
  await page.locator('[data-testid="net"]', { hasText: "在线" }).waitFor();
  await synced(page);
  await page.locator('[data-testid="photos-pending"]').waitFor({ state: "detached" });

  chen.sync();
  // client-core's reader, through the CLI: every field the app wrote.
  const t = chen.json(["ticket", "show", first]);
  assert.equal(t.id, first);
  assert.equal(t.title, "井盖缺失", JSON.stringify(t));
  assert.equal(t.description, "幸福路12号门口的上水井盖不见了");
  assert.equal(t.category, "0101");
  assert.equal(t.kind, "component");
  assert.equal(t.urgency, "urgent");
  assert.equal(t.source, "patrol");
  assert.equal(t.grid, GRID);
  assert.equal(t.created_by, "wang");
  assert.ok(Math.abs(t.location.lat - HERE.latitude) < 1e-9, JSON.stringify(t.location));
  assert.ok(Math.abs(t.location.lon - HERE.longitude) < 1e-9);
  assert.equal(t.location.accuracy_m, 8);
  assert.equal(t.location.address, "幸福路12号");
  assert.equal(t.state.status, "reported");
  assert.deepEqual(t.state.conflicts, []);
  assert.deepEqual(t.resident, { name: null, phone: null });
  assert.deepEqual(t.photos, []);
  assert.deepEqual(t.comments, []);
  assert.equal(typeof t.created_at, "number");
  assert.equal(t.events.length, 1);
  const reported = t.events[0].Ok;
  assert.ok(reported, JSON.stringify(t.events));
  assert.equal(reported.to, "reported");
  assert.equal(reported.from, null);
  assert.equal(reported.actor, "wang");
  assert.equal(reported.role, "worker");
  assert.equal(reported.at_device, t.created_at);
  assert.equal(t.state.reported_at, t.created_at);

  const visits = chen.json(["visit", "list"]);
  const v = visits.find((x) => x.household === "3-2-501");
  assert.ok(v, JSON.stringify(visits));
  assert.equal(v.worker, "wang");
  assert.equal(v.visit_type, "household");
  assert.equal(v.outcome, "not_home");
  assert.equal(v.notes, "独居老人，敲门无人应答");
  assert.equal(v.grid, GRID);
  assert.ok(Math.abs(v.lat - HERE.latitude) < 1e-9);
  assert.ok(Math.abs(v.lon - HERE.longitude) < 1e-9);
  assert.equal(v.ended_at, null);
  assert.equal(v.amends, null);
  assert.equal(typeof v.started_at, "number");
  assert.deepEqual(v.tickets, []);
  const patrol = visits.find((x) => x.notes === "幸福路巡查");
  assert.ok(patrol, JSON.stringify(visits));
  assert.equal(patrol.visit_type, "patrol");
  assert.equal(patrol.household, null);
  assert.ok(Math.abs(patrol.lat - HERE.latitude) < 1e-9);
  const listed = chen.json(["ticket", "list"]);
  assert.ok(listed.some((r) => r.id === second), JSON.stringify(listed));
  const withPhoto = chen.json(["ticket", "show", third]);
  assert.deepEqual(withPhoto.photos.map((p) => [p.hash, p.phase, p.added_by]), [[photo, "before", "wang"]]);
  const out = mkdtempSync(join(relay.dir, "photos-"));
  chen.run(["ticket", "photo", "get", third, "--out", out]);
  assert.equal(createHash("sha256").update(readFileSync(join(out, `before-${photo}.jpg`))).digest("hex"), photo);
  assert.deepEqual(page.errors, []);
});

test("a ticket the supervisor dispatches from the CLI appears in the unit's app; a worker's and the unit's offline changes of it both survive as a conflict shown in both apps", async () => {
  const wangCli = relay.device("wang", "worker", [GRID]);
  // 物业服务 needs no after photo (0102 would: app-photos.test.mjs tests that rule).
  const id = wangCli.report(GRID, "小区门口污水外溢", ["--description", "污水井冒水", "--category", "2104", "--lat", "30.2745", "--lon", "120.1559"]);
  wangCli.sync();
  chen.sync();
  chen.run(["ticket", "event", id, "accepted"]);
  chen.run(["ticket", "event", id, "dispatched", "--unit", "wuye"]);
  chen.sync();

  const unit = await relay.fieldApp("wuye", PASSWORD.wuye, HERE);
  const row = unit.page.locator(`a.ticket[data-ticket="${id}"]`);
  await row.locator(".status", { hasText: "已派遣" }).waitFor();
  await screenshot(unit.page, "app-unit-list", PHONE);
  await row.click();
  await unit.page.locator('[data-testid="unit"]', { hasText: "wuye" }).waitFor();
  // A unit acknowledges, returns, starts work; it never verifies.
  const offered = await unit.page.locator("[data-action]").evaluateAll((bs) => bs.map((b) => b.dataset.action));
  assert.deepEqual(offered, ["acknowledged", "returned"]);
  await unit.page.click('[data-action="acknowledged"]');
  await unit.page.locator('[data-testid="status"]', { hasText: "已签收" }).waitFor();
  await unit.page.click('[data-action="in_progress"]');
  await unit.page.locator('[data-testid="status"]', { hasText: "处置中" }).waitFor();
  await synced(unit.page);
  chen.sync();
  assert.equal(chen.json(["ticket", "show", id]).state.status, "in_progress");

  // The worker sees it in progress; both go offline and both mark it handled.
  const worker = await relay.fieldApp("wang", PASSWORD.wang, HERE);
  await worker.page.goto(`${relay.url}/app/#/ticket/${id}`);
  await worker.page.locator('[data-testid="status"]', { hasText: "处置中" }).waitFor();
  await worker.context.setOffline(true);
  await unit.context.setOffline(true);
  await worker.page.locator('[data-testid="net"]', { hasText: "离线" }).waitFor();
  await unit.page.locator('[data-testid="net"]', { hasText: "离线" }).waitFor();
  await worker.page.click('[data-action="handled"]');
  await unit.page.click('[data-action="handled"]');
  await worker.page.locator('[data-testid="status"]', { hasText: "已处置" }).waitFor();
  await unit.page.locator('[data-testid="status"]', { hasText: "已处置" }).waitFor();
  await worker.context.setOffline(false);
  await unit.context.setOffline(false);

  // After both sync, both events are kept: one applies, one is a conflict.
  for (const p of [worker.page, unit.page]) {
    await p.locator('[data-testid="conflicts"]', { hasText: "concurrent change" }).waitFor();
    await synced(p);
  }
  await worker.page.locator('[data-testid="conflicts"]').scrollIntoViewIfNeeded();
  await screenshot(worker.page, "app-conflict", PHONE);
  chen.sync();
  const t = chen.json(["ticket", "show", id]);
  const handled = t.events.filter((e) => e.Ok?.to === "handled");
  assert.equal(handled.length, 2, JSON.stringify(t.events));
  assert.deepEqual(handled.map((e) => e.Ok.actor).sort(), ["wang", "wuye"]);
  assert.equal(t.state.conflicts.length, 1);
  assert.equal(t.state.conflicts[0].reason.kind, "concurrent");
  assert.equal(t.state.status, "handled");
  assert.deepEqual([...unit.page.errors, ...worker.page.errors], []);
});

test("with poor GPS the worker moves the pin by hand, and the ticket keeps the placed point with no claimed accuracy", async () => {
  const { page } = await relay.fieldApp("wang", PASSWORD.wang, { ...HERE, accuracy: 85 });
  await page.click('a.tab[href="#/report"]');
  await page.locator('select[name="category"] option[value="0302"]').waitFor({ state: "attached" });
  await page.selectOption('select[name="category"]', "0302");
  await page.fill('input[name="title"]', "路边堆放垃圾");
  await page.click('[data-testid="locate"]');
  const grid = page.locator('[data-testid="pin-grid"]');
  await grid.waitFor();
  assert.match(await page.locator('[data-testid="fix"]').innerText(), /±85 米/);
  // A tap at three quarters across and one quarter down: 50 m east, 50 m north.
  const box = await grid.boundingBox();
  await page.mouse.click(box.x + box.width * 0.75, box.y + box.height * 0.25);
  await page.locator('[data-testid="fix"]', { hasText: "已手动调整" }).waitFor();
  await screenshot(page, "app-pin", PHONE);
  await page.click('form.report button[type="submit"]');
  await page.locator('[data-testid="status"]', { hasText: "已上报" }).waitFor();
  const id = page.url().split("#/ticket/")[1];
  await synced(page);
  chen.sync();
  const t = chen.json(["ticket", "show", id]);
  assert.equal(t.location.accuracy_m, null);
  const north = (t.location.lat - HERE.latitude) * 111_320;
  const east = (t.location.lon - HERE.longitude) * 111_320 * Math.cos((HERE.latitude * Math.PI) / 180);
  assert.ok(Math.abs(north - 50) < 3 && Math.abs(east - 50) < 3, JSON.stringify({ north, east }));
});
