// What `tests/tests/field_app.rs` runs: the field app in headless Chromium
// on a 360×640 phone, against a relay the Rust test started, logs in as a
// worker, goes offline, reports a ticket with every field the form has (a
// resident's contact among them) and logs a household visit, comes back
// online and waits until the relay has acknowledged everything. Prints
// what it entered as JSON, for the Rust test to compare with what
// client-core reads from the relay.
//   node app-writes.mjs HOST:PORT USER PASSWORD

import { Relay } from "./harness.mjs";

const [addr, user, password] = process.argv.slice(2);
const HERE = { latitude: 30.2741, longitude: 120.1551, accuracy: 8 };
const entered = {
  category: "0101",
  title: "井盖缺失",
  description: "幸福路12号门口的上水井盖不见了",
  address: "幸福路12号",
  resident: { name: "钱女士", phone: "13700000000" },
  urgency: "urgent",
  source: "resident",
  lat: HERE.latitude,
  lon: HERE.longitude,
  accuracy_m: HERE.accuracy,
  household: "3-2-501",
  outcome: "not_home",
  notes: "独居老人，敲门无人应答",
};

const relay = Relay.attach(addr);
try {
  const { page, context } = await relay.fieldApp(user, password, HERE);
  await page.click('a.tab[href="#/report"]');
  await page.locator(`select[name="category"] option[value="${entered.category}"]`).waitFor({ state: "attached" });
  await context.setOffline(true);
  await page.locator('[data-testid="net"]', { hasText: "离线" }).waitFor();
  await page.selectOption('select[name="category"]', entered.category);
  await page.click('fieldset.seg label:has-text("紧急")');
  await page.selectOption('select[name="source"]', entered.source);
  await page.fill('input[name="title"]', entered.title);
  await page.fill('textarea[name="description"]', entered.description);
  await page.click('[data-testid="locate"]');
  await page.locator('[data-testid="fix"]').waitFor();
  await page.fill('input[name="address"]', entered.address);
  await page.fill('input[name="resident_name"]', entered.resident.name);
  await page.fill('input[name="resident_phone"]', entered.resident.phone);
  await page.click('form.report button[type="submit"]');
  await page.locator('[data-testid="status"]', { hasText: "已上报" }).waitFor();
  const ticket = page.url().split("#/ticket/")[1];

  await page.click('a.tab[href="#/visits"]');
  await page.fill('input[name="building"]', "3");
  await page.fill('input[name="unit"]', "2");
  await page.fill('input[name="room"]', "501");
  await page.selectOption('select[name="outcome"]', entered.outcome);
  await page.fill('textarea[name="notes"]', entered.notes);
  await page.click('[data-testid="visit-locate"]');
  await page.locator('[data-testid="visit-locate"]', { hasText: "已定位" }).waitFor();
  await page.click('[data-testid="save-visit"]');
  await page.locator('[data-testid="today"] li', { hasText: entered.household }).waitFor();

  await context.setOffline(false);
  await page.locator('[data-testid="unsynced"]', { hasText: "已全部同步" }).waitFor();
  if (page.errors.length > 0) throw new Error(`page errors: ${page.errors.join("; ")}`);
  console.log(JSON.stringify({ ...entered, ticket }));
} finally {
  await relay.stop();
}
