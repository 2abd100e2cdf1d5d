// The console in headless Chromium against the real relay and real
// `gridsync` CLIs: what a dispatcher sees and does, asserted as text on the
// screen and rows in queues, with screenshots of the main pages saved to
// target/screenshots/ as artefacts.
//
// The city: grid GL-03-07 (七网格) of 幸福社区, 文三街道, 西湖区; worker wang
// (CLI), supervisors chen and zhou (console; zhou also on a CLI), unit wuye,
// reviewer zhao, admin root.

import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { pageFetch, Relay, screenshot } from "./harness.mjs";

const GRID = "GL-03-07";
const PASSWORD = {
  chen: "chen-密码-2026",
  zhou: "zhou-pass-2026",
  wuye: "wuye-pass-2026",
  zhao: "zhao-pass-2026",
  root: "root-pass-2026",
};

let relay;

before(async () => {
  relay = await Relay.start();
  relay.addGrid(GRID, "七网格", "幸福社区", "文三街道", "西湖区");
  relay.addUser("wang", "worker", `grids:${GRID}`);
  relay.addUser("chen", "supervisor", "community:幸福社区", PASSWORD.chen);
  relay.addUser("zhou", "supervisor", "community:幸福社区", PASSWORD.zhou);
  relay.addUser("wuye", "unit", "street:文三街道", PASSWORD.wuye);
  relay.addUser("zhao", "reviewer", "district:西湖区", PASSWORD.zhao);
  relay.addUser("root", "admin", "all", PASSWORD.root);
});

after(async () => {
  await relay?.stop();
});

/** The row of ticket `id` in the queue list shown. */
const queueRow = (page, queue, id) => page.locator(`[data-queue-list="${queue}"] tr[data-ticket="${id}"]`);

test("a worker's synced ticket appears in 待立案 live; the supervisor accepts and dispatches it; the worker's next sync shows the deadline", async () => {
  const wang = relay.device("wang", "worker", [GRID]);
  const page = await relay.browser("chen", PASSWORD.chen);

  // 待办, with the event stream connected before the worker syncs.
  await page.locator('[data-queue="to_accept"]').waitFor();
  await page.locator('[data-live="on"]').waitFor();
  await page.locator('[data-queue-list="to_accept"] .empty').waitFor();

  const id = wang.report(GRID, "3号楼前路灯不亮", [
    "--description", "3号楼前两盏路灯晚上全黑",
    "--category", "0101",
    "--lat", "30.2741",
    "--lon", "120.1551",
  ]);
  wang.sync();

  // No reload: the row arrives through /api/events.
  const row = queueRow(page, "to_accept", id);
  await row.waitFor();
  assert.match(await row.innerText(), /3号楼前路灯不亮/);
  assert.match(await row.innerText(), /已上报/);
  await page.locator('[data-queue="to_accept"] .queue-count[data-count="1"]').waitFor();
  await screenshot(page, "queues");

  await row.locator("a").first().click();
  await page.locator('.ticket-page[data-status="reported"]').waitFor();
  await page.click('button[data-action="accepted"]');
  await page.click('[data-action-form="accepted"] button[type="submit"]');
  await page.locator('.ticket-page[data-status="accepted"]').waitFor();

  // Dispatch to wuye; the deadline is left to the relay (the category's
  // time limit on the working calendar).
  await page.click('button[data-action="dispatched"]');
  const form = page.locator('[data-action-form="dispatched"]');
  await form.locator('input[name="unit"]').fill("wuye");
  assert.equal(await form.locator('input[name="due_at"]').inputValue(), "");
  await form.locator("text=留空则按类别时限和工作日历自动计算").waitFor();
  await screenshot(page, "dispatch");
  await form.locator('button[type="submit"]').click();
  await page.locator('.ticket-page[data-status="dispatched"]').waitFor();
  await page.locator(".timeline .event[data-action='dispatched']", { hasText: "wuye" }).waitFor();
  await screenshot(page, "ticket");

  const shown = await pageFetch(page, "GET", `/api/tickets/${id}`);
  assert.equal(shown.status, 200);
  assert.equal(shown.json.summary.status, "dispatched");
  assert.equal(shown.json.summary.unit, "wuye");
  const due = Date.parse(shown.json.summary.due_at);
  assert.ok(due > Date.now(), `a deadline in the future: ${shown.json.summary.due_at}`);
  const dueText = (await page.locator(".fact", { hasText: "处置期限" }).locator(".fact-value").innerText()).trim();
  assert.match(dueText, /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}$/);

  // The worker's device receives the relay's change on its next sync.
  wang.sync();
  const onDevice = wang.json(["ticket", "show", id]);
  assert.equal(onDevice.state.status, "dispatched");
  assert.equal(onDevice.state.unit, "wuye");
  assert.equal(onDevice.state.due_at, due);
  const actions = onDevice.events.map((e) => e.Ok?.to);
  assert.deepEqual(actions, ["reported", "accepted", "dispatched"]);
  assert.deepEqual(
    onDevice.events.slice(1).map((e) => e.Ok.actor),
    ["chen", "chen"],
  );

  // A write the session cookie carries without the page's CSRF token is
  // refused (a cross-site form could send the cookie, never the token).
  const forged = await page.evaluate(async (id) => {
    const r = await fetch(`/api/tickets/${id}/comments`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ text: "forged" }),
    });
    return { status: r.status, body: await r.json() };
  }, id);
  assert.equal(forged.status, 403, JSON.stringify(forged.body));
  assert.equal(forged.body.reason, "csrf");

  // The same page in English, and back.
  await page.click("button:has-text('English')");
  await page.locator(".ticket-page .badge", { hasText: "Dispatched" }).waitFor();
  await page.locator(".panel h2", { hasText: "Timeline" }).waitFor();
  await page.click("button:has-text('中文')");
  await page.locator(".ticket-page .badge", { hasText: "已派遣" }).waitFor();

  // The list and the map show it too.
  await page.click('.sidebar a[href="/console/tickets"]');
  await page.locator(`tr[data-ticket="${id}"]`, { hasText: "已派遣" }).waitFor();
  await screenshot(page, "list");
  // Search and filters go through the address, so the list survives a reload.
  await page.fill('input[name="q"]', "路灯");
  await page.selectOption('select[name="status"]', "dispatched");
  await page.click('.filters button[type="submit"]');
  await page.waitForURL(/q=%E8%B7%AF%E7%81%AF/);
  await page.locator(`tr[data-ticket="${id}"]`).waitFor();
  await page.reload();
  await page.locator(`tr[data-ticket="${id}"]`).waitFor();
  assert.equal(await page.inputValue('input[name="q"]'), "路灯");
  await page.fill('input[name="q"]', "没有这样的工单");
  await page.click('.filters button[type="submit"]');
  await page.locator(".empty", { hasText: "没有符合条件的工单" }).waitFor();
  await page.click('.sidebar a[href="/console/map"]');
  await page.locator('[data-map-count="1"]', { hasText: "1 个工单有位置" }).waitFor();
  await page.locator("path.leaflet-interactive").first().waitFor();
  await screenshot(page, "map");
  assert.deepEqual(page.errors, []);
});

test("a conflict two CLIs made offline on one ticket appears in 冲突 with both events", async () => {
  const wang = relay.device("wang", "worker", [GRID]);
  const chenCli = relay.device("chen", "supervisor", [GRID]);
  const zhouCli = relay.device("zhou", "supervisor", [GRID]);
  const id = wang.report(GRID, "小区东门井盖松动", ["--category", "0102", "--urgency", "urgent"]);
  wang.sync();
  chenCli.sync();
  zhouCli.sync();
  // Both supervisors act offline on the same reported ticket.
  chenCli.run(["ticket", "event", id, "accepted"]);
  zhouCli.run(["ticket", "event", id, "invalid", "--note", "重复上报，已由12345处理"]);
  chenCli.sync();
  zhouCli.sync();

  const page = await relay.browser("chen", PASSWORD.chen);
  await page.click('[data-queue="conflicts"]');
  const row = queueRow(page, "conflicts", id);
  await row.waitFor();
  assert.match(await row.innerText(), /冲突 1/);
  await page.locator('[data-queue="conflicts"] .queue-count[data-count="1"]').waitFor();

  await row.locator("a").first().click();
  const conflicts = page.locator('.conflict-panel[data-conflicts="1"]');
  await conflicts.waitFor();
  // The fold keeps one of the two events and reports the other; which one
  // depends on the order Automerge gives concurrent list inserts, so the
  // test reads it from the timeline and checks that both are there.
  const kept = page.locator(".timeline .event:not(.unapplied)[data-action='accepted'], .timeline .event:not(.unapplied)[data-action='invalid']");
  const unapplied = page.locator(".timeline .event.unapplied");
  await unapplied.waitFor();
  assert.equal(await kept.count(), 1);
  assert.equal(await unapplied.count(), 1);
  const lost = await unapplied.getAttribute("data-action");
  const [loser, winner] = lost === "invalid" ? ["zhou", "chen"] : ["chen", "zhou"];
  assert.ok(["accepted", "invalid"].includes(lost), lost);
  assert.match(await kept.innerText(), new RegExp(winner));
  assert.match(await unapplied.innerText(), new RegExp(loser));
  assert.match(await unapplied.innerText(), /未采用/);
  const both = await page.locator(".timeline").innerText();
  assert.match(both, /重复上报，已由12345处理/);
  const explained = await conflicts.innerText();
  assert.match(explained, lost === "invalid" ? /注销 · zhou/ : /立案 · chen/);
  assert.match(explained, /另一台设备同时做了修改/);
  await screenshot(page, "conflict");
  assert.deepEqual(page.errors, []);
});

test("a reviewer sees the figures and no action buttons, and an action is refused with 403", async () => {
  const wang = relay.device("wang", "worker", [GRID]);
  const id = wang.report(GRID, "垃圾桶满溢未清运", ["--category", "0201"]);
  wang.sync();

  const page = await relay.browser("zhao", PASSWORD.zhao);
  // A reviewer lands on the figures; the navigation has no 待办.
  await page.locator('[data-figure="on_time_rate"]').waitFor();
  await page.locator('[data-figure="satisfaction_rate"]').waitFor();
  const reported = await page.locator('[data-figure="reported"] .figure-value').innerText();
  assert.ok(Number(reported) >= 1, `reported: ${reported}`);
  await page.locator(".trend svg").waitFor();
  // Per handling unit: the new ticket is held by none yet.
  const byUnit = page.locator('[data-table="by_unit"]');
  await byUnit.locator("th", { hasText: "督办次数" }).waitFor();
  await byUnit.locator("td", { hasText: "未派遣" }).waitFor();
  assert.equal(await page.locator('.sidebar a[href="/console/"]').count(), 0);
  await screenshot(page, "figures");

  await page.goto(`${relay.url}/console/tickets/${id}`);
  await page.locator('.ticket-page[data-status="reported"]').waitFor();
  await page.locator(".actions-panel", { hasText: "只读" }).waitFor();
  assert.equal(await page.locator(".actions-panel button").count(), 0);
  assert.equal(await page.locator(".comment-form").count(), 0);

  const refused = await pageFetch(page, "POST", `/api/tickets/${id}/actions`, { action: "accepted" });
  assert.equal(refused.status, 403, refused.text);
  assert.ok(refused.json?.error, refused.text);

  await page.click('.sidebar a[href="/console/export"]');
  const link = page.locator("[data-export-link]");
  await link.waitFor();
  const exported = await pageFetch(page, "GET", await link.getAttribute("href"));
  assert.equal(exported.status, 200, exported.text.slice(0, 200));
  assert.deepEqual(page.errors, []);
});

test("an admin sees users, grids, tokens and the audit log", async () => {
  const page = await relay.browser("root", PASSWORD.root);
  await page.click('.sidebar a[href="/console/admin/users"]');
  const users = page.locator('[data-admin="users"]');
  await users.locator("td", { hasText: "zhao" }).waitFor();
  assert.match(await users.innerText(), /复核人员/);
  await screenshot(page, "admin");
  await page.click('.sidebar a[href="/console/admin/grids"]');
  await page.locator('[data-admin="grids"] td', { hasText: GRID }).waitFor();
  await page.click('.sidebar a[href="/console/admin/tokens"]');
  await page.locator('[data-admin="tokens"] td', { hasText: "wang" }).first().waitFor();
  await page.click('.sidebar a[href="/console/admin/audit"]');
  const audit = page.locator('[data-admin="audit"]');
  await audit.locator("tbody tr").first().waitFor();
  assert.match(await audit.innerText(), /登录/);
  // Opening the console in a fresh browser asks nothing of the relay
  // before the login form, so nobody's visit is audited as a failure.
  assert.doesNotMatch(await audit.innerText(), /认证失败/);
  await screenshot(page, "admin-audit");
  assert.deepEqual(page.errors, []);
});

test("a handling unit sees only the tickets dispatched to it, with its own next steps", async () => {
  const wang = relay.device("wang", "worker", [GRID]);
  const chenCli = relay.device("chen", "supervisor", [GRID]);
  const mine = wang.report(GRID, "单元门禁损坏", ["--category", "0105"]);
  const other = wang.report(GRID, "绿化带缺株", ["--category", "0106"]);
  wang.sync();
  chenCli.sync();
  chenCli.run(["ticket", "event", mine, "accepted"]);
  chenCli.run(["ticket", "event", mine, "dispatched", "--unit", "wuye"]);
  chenCli.sync();

  const page = await relay.browser("wuye", PASSWORD.wuye);
  // A unit lands on its ticket list; there is no 待办, map or figures.
  const row = page.locator(`tr[data-ticket="${mine}"]`);
  await row.waitFor();
  assert.match(await row.innerText(), /已派遣/);
  assert.equal(await page.locator(`tr[data-ticket="${other}"]`).count(), 0);
  assert.equal(await page.locator('.sidebar a[href="/console/figures"]').count(), 0);
  const hidden = await pageFetch(page, "GET", `/api/tickets/${other}`);
  assert.equal(hidden.status, 404, hidden.text);

  await row.locator("a").first().click();
  await page.locator('.ticket-page[data-status="dispatched"]').waitFor();
  await page.locator('button[data-action="acknowledged"]').waitFor();
  await page.locator('button[data-action="returned"]').waitFor();
  assert.equal(await page.locator('button[data-action="dispatched"]').count(), 0);
  await page.click('button[data-action="acknowledged"]');
  await page.click('[data-action-form="acknowledged"] button[type="submit"]');
  await page.locator('.ticket-page[data-status="acknowledged"]').waitFor();
  assert.deepEqual(page.errors, []);
});

test("a 12345 transfer made in the console reaches the worker's device", async () => {
  const wang = relay.device("wang", "worker", [GRID]);
  const page = await relay.browser("chen", PASSWORD.chen);
  await page.click('.sidebar a[href="/console/new"]');
  await page.selectOption('select[name="grid"]', GRID);
  await page.selectOption('select[name="source"]', "hotline");
  await page.selectOption('select[name="kind"]', "livelihood");
  await page.fill('input[name="category"]', "0501");
  await page.fill('input[name="title"]', "居民反映夜间施工噪音");
  await page.fill('textarea[name="description"]', "12345工单转办：5幢旁工地夜间施工");
  await page.fill('input[name="lat"]', "30.2745");
  await page.fill('input[name="lon"]', "120.1549");
  await page.click('form button[type="submit"]');
  await page.locator('.ticket-page[data-status="reported"]').waitFor();
  await page.locator(".fact", { hasText: "12345转办" }).waitFor();
  const id = page.url().split("/tickets/")[1];
  assert.ok(id, page.url());

  wang.sync();
  const onDevice = wang.json(["ticket", "show", id]);
  assert.equal(onDevice.title, "居民反映夜间施工噪音");
  assert.equal(onDevice.source, "hotline");
  assert.equal(onDevice.state.status, "reported");
  assert.equal(onDevice.created_by, "chen");
  assert.deepEqual(page.errors, []);
});

test("a long 待立案 shows a page and more on demand; 即将超期 lists what its card counts while others are overdue", async () => {
  const page = await relay.browser("zhou", PASSWORD.zhou);
  await page.locator('[data-queue="to_accept"]').waitFor();
  const create = async (title) => {
    const made = await pageFetch(page, "POST", "/api/tickets", {
      grid: GRID, kind: "livelihood", source: "hotline", category: "0501", urgency: "normal", title,
    });
    assert.equal(made.status, 201, made.text);
    return made.json.ticket.id;
  };
  const act = async (id, body) => {
    const done = await pageFetch(page, "POST", `/api/tickets/${id}/actions`, body);
    assert.equal(done.status, 200, done.text);
  };
  for (let n = 1; n <= 51; n++) await create(`12345转办 第${n}件`);
  // Two dispatched: one past its deadline, one due in two hours.
  const late = await create("超期的工单");
  const soon = await create("两小时后到期");
  for (const [id, due] of [[late, Date.now() - 3_600_000], [soon, Date.now() + 2 * 3_600_000]]) {
    await act(id, { action: "accepted" });
    await act(id, { action: "dispatched", unit: "wuye", due_at: new Date(due).toISOString() });
  }

  await page.reload();
  // The count is empty ("…" on screen) until /api/queues answers.
  const count = page.locator('[data-queue="to_accept"] .queue-count:not([data-count=""])');
  await count.waitFor();
  const counted = Number(await count.getAttribute("data-count"));
  assert.ok(counted > 50, `${counted}`);
  const rows = page.locator('[data-queue-list="to_accept"] tr[data-ticket]');
  await page.locator("[data-queue-more]").waitFor();
  assert.equal(await rows.count(), 50);
  assert.match(await page.locator("[data-queue-more]").innerText(), new RegExp(`已显示 50 件，共 ${counted} 件`));
  await page.click("[data-queue-more] button");
  await page.locator(`[data-queue-list="to_accept"] tr[data-ticket]:nth-child(${counted})`).waitFor();
  assert.equal(await rows.count(), counted);
  assert.equal(await page.locator("[data-queue-more]").count(), 0, "all shown: no more");

  await page.click('[data-queue="due_soon"]');
  await queueRow(page, "due_soon", soon).waitFor();
  // Earlier tests' tickets may be nearly due too, depending on the hour:
  // the list holds exactly what the card counts, the overdue one not.
  const dueSoon = Number(await page.locator('[data-queue="due_soon"] .queue-count').getAttribute("data-count"));
  assert.ok(dueSoon >= 1, `${dueSoon}`);
  assert.equal(await page.locator('[data-queue-list="due_soon"] tr[data-ticket]').count(), dueSoon);
  assert.equal(await queueRow(page, "due_soon", late).count(), 0, "an overdue ticket is not 即将超期");
  await page.click('[data-queue="overdue"]');
  await queueRow(page, "overdue", late).waitFor();
  assert.deepEqual(page.errors, []);
});
