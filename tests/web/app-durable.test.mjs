// The field app never loses field work, never shows personal data to the
// wrong role, and never receives another grid's records: headless Chromium
// on a 360×640 phone against the real relay binary and real `gridsync`
// CLIs. A resident's contact goes into the ticket's private document, seen
// by the reporter and the supervisor and not by the unit; the answer of
// `navigator.storage.persist()` is shown; a full disk is an error on
// screen and the report is not claimed saved until a retry saves it; a
// logout and a lost token warn with the unsynced count (and a re-login
// keeps the records); the relay is SIGKILLed while the app uploads and
// nothing the app showed as acknowledged is lost; a grid-A worker's app
// holds none of grid B's documents in IndexedDB; a first connection that
// nobody answers for seconds still brings the catalog and the tickets once
// the relay does. Screenshots go to
// target/screenshots/app-*.png.

import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { Relay, catalogArrived, screenshot } from "./harness.mjs";
import { documentIdFromBytes, gridIndexId, ticketDocumentId, ticketPrivateId, visitLogId } from "./ids.mjs";

const A = "GL-03-07";
const B = "GL-05-01";
const PASSWORD = { wang: "wang-密码-2026", wuye: "wuye-pass-2026", li: "li-pass-2026", zhou: "zhou-pass-2026" };
const HERE = { latitude: 30.2741, longitude: 120.1551, accuracy: 8 };
const PHONE = { fullPage: false };

let relay;
let chen;
let chenToken;

before(async () => {
  relay = await Relay.start();
  relay.addGrid(A, "七网格", "幸福社区", "文三街道", "西湖区");
  relay.addGrid(B, "一网格", "翠苑社区", "翠苑街道", "西湖区");
  relay.addUser("wang", "worker", `grids:${A}`, PASSWORD.wang);
  relay.addUser("li", "worker", `grids:${B}`, PASSWORD.li);
  relay.addUser("chen", "supervisor", "district:西湖区");
  relay.addUser("wuye", "unit", "street:文三街道", PASSWORD.wuye);
  chen = relay.device("chen", "supervisor", [A, B]);
  chenToken = relay.issueToken("chen");
});

after(async () => {
  await relay?.stop();
});

const ready = (page) => catalogArrived(page);

const synced = (page) => page.locator('[data-testid="unsynced"]', { hasText: "已全部同步" }).waitFor();

/** Reports a ticket through the form (no GPS fix, so no duplicate check); returns when the form was sent. */
async function fillReport(page, { title, category = "0302", name, phone }) {
  await page.click('a.tab[href="#/report"]');
  await page.locator(`select[name="category"] option[value="${category}"]`).waitFor({ state: "attached" });
  await page.selectOption('select[name="category"]', category);
  await page.fill('input[name="title"]', title);
  if (name) await page.fill('input[name="resident_name"]', name);
  if (phone) await page.fill('input[name="resident_phone"]', phone);
  await page.click('form.report button[type="submit"]');
}

async function report(page, fields) {
  await fillReport(page, fields);
  await page.locator('[data-testid="status"]', { hasText: "已上报" }).waitFor();
  return page.url().split("#/ticket/")[1];
}

/** The document ids in the app's automerge-repo IndexedDB storage. */
function storedDocumentIds(page, user) {
  return page.evaluate(async (name) => {
    const db = await new Promise((ok, fail) => {
      const r = indexedDB.open(name);
      r.onsuccess = () => ok(r.result);
      r.onerror = () => fail(r.error);
    });
    const keys = await new Promise((ok, fail) => {
      const r = db.transaction("documents").objectStore("documents").getAllKeys();
      r.onsuccess = () => ok(r.result);
      r.onerror = () => fail(r.error);
    });
    db.close();
    return [...new Set(keys.filter((k) => Array.isArray(k) && k.length > 1).map((k) => k[0]))];
  }, `gridsync-${user}`);
}

/**
 * The document ids in the app's IndexedDB once it holds every one of
 * `expected`: a received document is on screen before automerge-repo's
 * throttled save puts it in IndexedDB (the relay has it meanwhile). After
 * 20 s it returns what is there, and the caller's assertion says what is
 * missing.
 */
async function storedOnceSaved(page, user, expected) {
  let held = new Set();
  for (let tries = 0; tries < 100; tries++) {
    held = new Set(await storedDocumentIds(page, user));
    if (expected.every((id) => held.has(id))) break;
    await new Promise((ok) => setTimeout(ok, 200));
  }
  return held;
}

/** GET on the relay's records API as chen (reads the relay's store). */
async function api(path) {
  const r = await fetch(`${relay.url}${path}`, { headers: { Authorization: `Bearer ${chenToken}` } });
  return { status: r.status, json: r.ok ? await r.json() : null };
}

test("the test's id helpers derive ids as client-core does", () => {
  const file = JSON.parse(readFileSync(new URL("../../client-core/conformance/lifecycle.json", import.meta.url), "utf8"));
  for (const g of file.ids.grid_index) assert.equal(gridIndexId(g.grid), g.index_id);
  for (const t of file.ids.ticket) assert.equal(ticketDocumentId(t.ticket), t.document_id);
  for (const p of file.ids.ticket_private) assert.equal(ticketPrivateId(p.ticket), p.id);
  for (const l of file.ids.visit_log) assert.equal(visitLogId(l.grid, l.worker, l.date), l.id);
  for (const b of file.ids.bs58check) assert.equal(documentIdFromBytes(Buffer.from(b.bytes)), b.text);
});

test("a resident's contact goes to the ticket's private document: the reporter's app and the supervisor see it, the unit's app neither holds nor shows it", async () => {
  const { page, context } = await relay.fieldApp("wang", PASSWORD.wang, HERE);
  await ready(page);
  const id = await report(page, { title: "楼道堆物", name: "钱女士", phone: "13700000000" });
  await page.locator('[data-testid="contact"]', { hasText: "钱女士 · 13700000000" }).waitFor();
  await screenshot(page, "app-ticket-contact", PHONE);
  await synced(page);
  assert.ok((await storedDocumentIds(page, "wang")).includes(ticketPrivateId(id)));

  chen.sync();
  const t = chen.json(["ticket", "show", id]);
  assert.deepEqual(t.resident, { name: "钱女士", phone: "13700000000" });
  chen.run(["ticket", "event", id, "accepted"]);
  chen.run(["ticket", "event", id, "dispatched", "--unit", "wuye"]);
  chen.sync();

  const unit = await relay.fieldApp("wuye", PASSWORD.wuye, HERE);
  await unit.page.locator(`a.ticket[data-ticket="${id}"] .status`, { hasText: "已派遣" }).waitFor();
  await unit.page.click(`a.ticket[data-ticket="${id}"]`);
  await unit.page.locator('[data-testid="unit"]', { hasText: "wuye" }).waitFor();
  await synced(unit.page);
  assert.equal(await unit.page.locator('[data-testid="contact"]').count(), 0);
  assert.doesNotMatch(await unit.page.locator("article.detail").innerText(), /钱女士|13700000000/);
  const held = await storedOnceSaved(unit.page, "wuye", [ticketDocumentId(id)]);
  assert.ok(held.has(ticketDocumentId(id)), "the unit holds the ticket");
  assert.ok(!held.has(ticketPrivateId(id)), "the unit holds no private document");
  assert.deepEqual([...page.errors, ...unit.page.errors], []);
  await unit.context.close();
  await context.close();
});

test("我的 shows what navigator.storage.persist() answered, and a logout with unsynced records warns with their count and deletes nothing until confirmed", async () => {
  const { page, context } = await relay.fieldApp("wang", PASSWORD.wang, HERE);
  await ready(page);
  await page.click('a.tab[href="#/me"]');
  const persisted = await page.evaluate(() => navigator.storage.persisted());
  await page.locator('[data-testid="persist"]', { hasText: persisted ? "已获持久保存" : "未获持久保存" }).waitFor();

  await context.setOffline(true);
  await page.locator('[data-testid="net"]', { hasText: "离线" }).waitFor();
  const id = await report(page, { title: "路灯不亮" });
  await page.click('a.tab[href="#/me"]');
  const count = (await page.locator('[data-testid="me-unsynced"]').innerText()).match(/\d+/)[0];
  assert.ok(Number(count) > 0);
  await page.click('button:has-text("退出登录")');
  await page.locator('[data-testid="logout-warning"]', { hasText: `还有 ${count} 项记录或照片未同步` }).waitFor();
  await screenshot(page, "app-me-logout-warning", PHONE);
  // Not confirmed: still logged in, the ticket still here.
  await page.click('a.tab[href="#/list"]');
  await page.locator(`a.ticket[data-ticket="${id}"] .mark.unsynced`).waitFor();

  await context.setOffline(false);
  await synced(page);
  await page.click('a.tab[href="#/me"]');
  await page.click('button:has-text("退出登录")');
  await page.locator('button[type="submit"]', { hasText: "登录" }).waitFor();
  assert.deepEqual(page.errors, []);
  await context.close();
});

test("a full disk: IndexedDB refuses the write, the user sees why, the report is not claimed saved, and a retry after space returns saves it once", async () => {
  const { page, context } = await relay.fieldApp("wang", PASSWORD.wang, HERE);
  // The phone's storage fills up: from the moment the test says so, every
  // IndexedDB write throws the QuotaExceededError a full disk gives.
  await context.addInitScript(() => {
    for (const method of ["put", "add"]) {
      const real = IDBObjectStore.prototype[method];
      IDBObjectStore.prototype[method] = function (...args) {
        if (globalThis.diskFull) throw new DOMException("The quota has been exceeded.", "QuotaExceededError");
        return real.apply(this, args);
      };
    }
  });
  await page.reload();
  await ready(page);
  await page.evaluate(() => {
    globalThis.diskFull = true;
  });
  await fillReport(page, { title: "消防通道被占", name: "孙先生" });
  await page.locator('[data-testid="report-error"]', { hasText: "存储空间已满" }).waitFor();
  await page.locator('[data-testid="storage-error"]', { hasText: "未能保存到本机" }).waitFor();
  assert.match(page.url(), /#\/report$/, "still on the form: nothing claimed saved");
  assert.equal(await page.locator('form.report button[type="submit"]').count(), 0, "no second report from the same form");
  await screenshot(page, "app-storage-full");
  await page.click('a.tab[href="#/list"]');
  const row = page.locator("a.ticket", { hasText: "消防通道被占" });
  await row.locator(".mark.unsaved").waitFor();
  const id = await row.getAttribute("data-ticket");
  assert.ok(!(await storedDocumentIds(page, "wang")).includes(ticketDocumentId(id)), "not in IndexedDB");

  await page.evaluate(() => {
    globalThis.diskFull = false;
  });
  await page.click('[data-testid="retry-save"]');
  await page.locator('[data-testid="storage-error"]').waitFor({ state: "detached" });
  assert.equal(await row.locator(".mark.unsaved").count(), 0);
  assert.ok((await storedDocumentIds(page, "wang")).includes(ticketDocumentId(id)));
  assert.ok((await storedDocumentIds(page, "wang")).includes(ticketPrivateId(id)));
  await synced(page);
  chen.sync();
  const t = chen.json(["ticket", "show", id]);
  assert.equal(t.title, "消防通道被占");
  assert.equal(t.resident.name, "孙先生");
  assert.equal(chen.json(["ticket", "list"]).filter((r) => r.title === "消防通道被占").length, 1);
  assert.deepEqual(page.errors, []);
  await context.close();
});

test("a revoked token with unsynced records: the app warns with the count, and logging in again keeps the records and syncs them", async () => {
  const { page, context } = await relay.fieldApp("wang", PASSWORD.wang, HERE);
  await ready(page);
  await context.setOffline(true);
  await page.locator('[data-testid="net"]', { hasText: "离线" }).waitFor();
  const id = await report(page, { title: "井盖松动" });
  const tokenId = await page.evaluate(() => JSON.parse(localStorage.getItem("gridsync:session")).tokenId);
  relay.admin(["token", "revoke", tokenId]);
  await context.setOffline(false);
  await page.locator('[data-testid="token-lost"]', { hasText: "项记录未同步，仍保存在本机" }).waitFor();
  await screenshot(page, "app-token-lost", PHONE);
  await page.click('[data-testid="relogin"]');
  await page.fill('input[name="user"]', "wang");
  await page.fill('input[name="password"]', PASSWORD.wang);
  await page.click('button[type="submit"]');
  await page.click('a.tab[href="#/list"]');
  await page.locator(`a.ticket[data-ticket="${id}"]`).waitFor();
  await synced(page);
  assert.equal(await page.locator('[data-testid="token-lost"]').count(), 0);
  chen.sync();
  assert.equal(chen.json(["ticket", "show", id]).title, "井盖松动");
  assert.deepEqual(page.errors, []);
  await context.close();
});

test("the relay is SIGKILLed while the app uploads offline reports: nothing the app showed as acknowledged is lost, and the app sends the rest after the restart", async () => {
  const N = 16;
  const { page, context } = await relay.fieldApp("wang", PASSWORD.wang, HERE);
  await ready(page);
  await context.setOffline(true);
  await page.locator('[data-testid="net"]', { hasText: "离线" }).waitFor();
  const titles = [];
  for (let i = 0; i < N; i++) {
    titles.push(`停电批量上报 ${i + 1}`);
    await report(page, { title: titles[i] });
  }
  await page.click('a.tab[href="#/list"]');
  await page.locator('a.ticket:has-text("停电批量上报") .mark.unsynced').nth(N - 1).waitFor();
  // A slow phone, so the upload takes a while.
  const cdp = await context.newCDPSession(page);
  await cdp.send("Emulation.setCPUThrottlingRate", { rate: 20 });
  // The moment the screen shows one report acknowledged, the page itself
  // calls out (a MutationObserver, not polling from here, which a fast
  // upload can outrun) and the relay dies.
  let died;
  const killed = new Promise((ok) => {
    died = ok;
  });
  await page.exposeBinding("firstAcknowledged", async (_source, rows) => {
    await relay.kill();
    died(rows);
  });
  await page.evaluate(() => {
    let fired = false;
    const look = () => {
      if (fired) return;
      const rows = [...document.querySelectorAll("a.ticket")]
        .filter((a) => a.textContent.includes("停电批量上报"))
        .map((a) => ({ id: a.dataset.ticket, unsynced: a.querySelector(".mark.unsynced") !== null }));
      if (rows.some((r) => !r.unsynced)) {
        fired = true;
        observer.disconnect();
        void globalThis.firstAcknowledged(rows);
      }
    };
    const observer = new MutationObserver(look);
    observer.observe(document.body, { childList: true, subtree: true, attributes: true, characterData: true });
  });
  await context.setOffline(false);
  const rows = await killed;
  const acked = rows.filter((r) => !r.unsynced).map((r) => r.id);
  const pending = rows.length - acked.length;
  await context.setOffline(true);
  await cdp.send("Emulation.setCPUThrottlingRate", { rate: 1 });
  console.log(`SIGKILL with ${acked.length} of ${N} reports acknowledged on screen, ${pending} not`);
  assert.ok(pending > 0, "the relay died mid-upload");

  await relay.restart();
  // The app is still cut off: what the relay has now is what it had.
  for (const id of acked) {
    const r = await api(`/api/tickets/${id}`);
    assert.equal(r.status, 200, `acknowledged ticket ${id} lost`);
  }
  await context.setOffline(false);
  await synced(page);
  chen.sync();
  const listed = chen.json(["ticket", "list"]).map((r) => r.title);
  for (const t of titles) assert.ok(listed.includes(t), `${t} missing after the re-sync`);
  assert.deepEqual(page.errors, []);
  await context.close();
});

test("a first connection slower than the repo waits for: the catalog and the grid's tickets open once the relay answers", async () => {
  const wangCli = relay.device("wang", "worker", [A]);
  const ticket = wangCli.report(A, "首次连接很慢时上报的工单");
  wangCli.sync();
  // The app's first socket opens and nobody answers on it: after a second
  // the repo stops waiting for peers and finds the catalog and the index
  // unavailable. Then the socket drops, the app reconnects to the relay,
  // and the documents come.
  let attempts = 0;
  const prepare = (page, context) =>
    context.routeWebSocket(/\/\?token=/, (ws) => {
      attempts += 1;
      if (attempts === 1) setTimeout(() => ws.close({ code: 1001, reason: "no signal" }), 2500);
      else ws.connectToServer();
    });
  const { page } = await relay.fieldApp("wang", PASSWORD.wang, HERE, { prepare });
  await page.locator('[data-testid="net"]', { hasText: "在线" }).waitFor();
  assert.ok(attempts >= 2, `the app connected ${attempts} time(s)`);
  await ready(page);
  await page.click('a.tab[href="#/list"]');
  await page.locator(`a.ticket[data-ticket="${ticket}"]`).waitFor();
  assert.deepEqual(page.errors, []);
});

test("a grid-A worker's app never receives grid B's tickets: none of B's document ids in its IndexedDB, none on screen", async () => {
  const li = relay.device("li", "worker", [B]);
  const bTickets = [
    li.report(B, "翠苑三区垃圾满溢", ["--category", "0302", "--resident-name", "赵阿姨", "--resident-phone", "13900000000"]),
    li.report(B, "翠苑路面塌陷"),
  ];
  li.run(["visit", "add", "--grid", B, "--type", "household", "--household", "1-1-101", "--outcome", "met"]);
  li.sync();
  const wangCli = relay.device("wang", "worker", [A]);
  const aTicket = wangCli.report(A, "幸福路占道经营");
  wangCli.sync();

  const { page } = await relay.fieldApp("wang", PASSWORD.wang, HERE);
  await page.locator(`a.ticket[data-ticket="${aTicket}"]`).waitFor();
  await synced(page);
  // The inspection sees what the app does hold.
  const held = await storedOnceSaved(page, "wang", [gridIndexId(A), ticketDocumentId(aTicket)]);
  assert.ok(held.has(gridIndexId(A)) && held.has(ticketDocumentId(aTicket)), JSON.stringify([...held]));
  const date = new Date(Date.now() + 8 * 3600_000).toISOString().slice(0, 10);
  const bIds = [gridIndexId(B), visitLogId(B, "li", date), ...bTickets.flatMap((t) => [ticketDocumentId(t), ticketPrivateId(t)])];
  for (const id of bIds) assert.ok(!held.has(id), `grid B's document ${id} is on grid A's phone`);
  const screen = await page.locator("main.body").innerText();
  assert.doesNotMatch(screen, /翠苑/);
  // Reported from the CLI with no category: the row says so.
  assert.match(await page.locator(`a.ticket[data-ticket="${aTicket}"] .row2`).innerText(), /^未分类 · /);
  await screenshot(page, "app-list", PHONE);
  assert.deepEqual(page.errors, []);
});
