// What the console's browser tests stand on: the real relay binary
// (target/debug/gridsync-server) on a free loopback port with its own data
// directory, real `gridsync` CLIs each with their own device store, and
// Debian's Chromium driven by playwright-core (never a downloaded browser),
// one fresh profile per person so each has their own session cookie.

import { spawn, execFileSync } from "node:child_process";
import { mkdtempSync, mkdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve, dirname } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const SERVER = join(ROOT, "target/debug/gridsync-server");
const CLI = join(ROOT, "target/debug/gridsync");
const PROXY = join(ROOT, "target/debug/gridsync-proxy");
export const SCREENSHOTS = join(ROOT, "target/screenshots");
export const CHROMIUM = "/usr/bin/chromium";
const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];
/** How long a page may take to show what a step waits for. */
export const PATIENCE = 20_000;

/** `gridsync-server serve` on `listen` over `data`, once it listens. */
async function serve(data, listen, log = []) {
  const child = spawn(SERVER, ["serve", "--listen", listen, "--data", data], {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, RUST_LOG: process.env.RUST_LOG ?? "warn" },
  });
  createInterface({ input: child.stderr }).on("line", (l) => {
    log.push(l);
    if (process.env.GRIDSYNC_WEB_LOG) console.error(`relay: ${l}`);
  });
  const lines = createInterface({ input: child.stdout });
  const addr = await new Promise((ok, fail) => {
    child.once("exit", (code) => fail(new Error(`gridsync-server exited (${code}) before it listened:\n${log.join("\n")}`)));
    lines.on("line", (line) => {
      const m = /ws:\/\/(\S+)/.exec(line);
      if (m) ok(m[1].replace(/\/$/, ""));
    });
  });
  return { child, addr, log };
}

/** A running relay, its registry commands, and the people's devices and browsers. */
export class Relay {
  static async start() {
    const dir = mkdtempSync(join(tmpdir(), "gridsync-web-"));
    const data = join(dir, "relay");
    const { child, addr, log } = await serve(data, "127.0.0.1:0");
    return new Relay(dir, data, child, addr, log);
  }

  /**
   * A relay someone else started (a Rust test), at `addr` (host:port): only
   * its browsers are this object's; `stop` closes them and leaves the relay.
   */
  static attach(addr) {
    return new Relay(mkdtempSync(join(tmpdir(), "gridsync-web-")), null, null, addr, []);
  }

  /** SIGKILL: no drain, no flush (what a power cut does to the relay). */
  async kill() {
    const exited = new Promise((ok) => (this.child.exitCode !== null || this.child.signalCode !== null ? ok() : this.child.once("exit", ok)));
    this.child.kill("SIGKILL");
    await exited;
  }

  /** Starts the relay again on the same data directory and port. */
  async restart() {
    const { child } = await serve(this.data, this.addr, this.log);
    this.child = child;
  }

  constructor(dir, data, child, addr, log) {
    this.dir = dir;
    this.data = data;
    this.child = child;
    this.addr = addr;
    this.log = log;
    this.browsers = [];
    this.url = `http://${addr}`;
    this.ws = `ws://${addr}/`;
  }

  /** `gridsync-server ARGS --data DATA`, its stdout; `input` goes to stdin. */
  admin(args, input) {
    return execFileSync(SERVER, [...args, "--data", this.data], { input, encoding: "utf8" });
  }

  addGrid(code, name, community, street, district) {
    this.admin(["grid", "add", "--code", code, "--name", name, "--community", community, "--street", street, "--district", district]);
  }

  /** A user; with `password`, one the console can log in as (`user add --password-stdin`). */
  addUser(name, role, scope, password) {
    const args = ["user", "add", "--name", name, "--role", role, "--scope", scope];
    if (password) this.admin([...args, "--password-stdin"], `${password}\n`);
    else this.admin(args);
  }

  issueToken(user) {
    return JSON.parse(this.admin(["token", "issue", "--user", user, "--label", `${user}'s test device`, "--json"])).token;
  }

  /** A device of `user`: a `gridsync` data directory, logged in to this relay. */
  device(user, role, grids) {
    const data = join(this.dir, `device-${user}-${Math.random().toString(36).slice(2, 8)}`);
    mkdirSync(data);
    const device = new Device(data);
    device.run(["init", "--user", user, "--role", role, ...grids.flatMap((g) => ["--grid", g])]);
    device.run(["login", "--server", this.ws, "--token", this.issueToken(user)]);
    return device;
  }

  /** Chromium with a fresh profile, logged in as `user` through the console's login form. */
  async browser(user, password) {
    const profile = mkdtempSync(join(this.dir, `chromium-${user}-`));
    const context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      args: CHROMIUM_ARGS,
      viewport: { width: 1440, height: 900 },
      locale: "zh-CN",
      timezoneId: "Asia/Shanghai",
    });
    this.browsers.push(context);
    const page = context.pages()[0] ?? (await context.newPage());
    page.setDefaultTimeout(PATIENCE);
    const errors = [];
    page.on("pageerror", (e) => errors.push(e));
    page.errors = errors;
    await page.goto(`${this.url}/console/`);
    await page.fill('input[name="user"]', user);
    await page.fill('input[name="password"]', password);
    await page.click('button[type="submit"]');
    await page.locator(".who-name", { hasText: user }).waitFor();
    return page;
  }

  /**
   * The field app at /app on a 360×640 phone (touch, zh-CN, GPS at `geo`),
   * logged in as `user` with `password`, in a fresh profile of its own;
   * `prepare(page, context)`, if given, runs before the app is opened.
   */
  async fieldApp(user, password, geo = { latitude: 30.2741, longitude: 120.1551, accuracy: 8 }, { prepare } = {}) {
    const profile = mkdtempSync(join(this.dir, `app-${user}-`));
    const { page, context } = await this.phone(profile, geo);
    // For a test to set up the browser (routes, say) before the app starts.
    if (prepare) await prepare(page, context);
    await page.goto(`${this.url}/app/`);
    await page.fill('input[name="user"]', user);
    await page.fill('input[name="password"]', password);
    await page.click('button[type="submit"]');
    await page.locator(".top .who", { hasText: user }).waitFor();
    // The service worker has the shell once it is active.
    await page.evaluate(() => navigator.serviceWorker.ready);
    return { page, context, profile };
  }

  /**
   * The browser restarted on the phone's profile `profile` with no network
   * at all, opening /app.
   */
  async reopenOffline(profile, geo = { latitude: 30.2741, longitude: 120.1551, accuracy: 8 }) {
    const { page, context } = await this.phone(profile, geo, { offline: true });
    await page.goto(`${this.url}/app/`);
    return { page, context, profile };
  }

  /** Chromium as a 360×640 phone (touch, zh-CN, GPS at `geo`) on `profile`. */
  async phone(profile, geo, { offline = false } = {}) {
    const context = await chromium.launchPersistentContext(profile, {
      offline,
      executablePath: CHROMIUM,
      args: CHROMIUM_ARGS,
      viewport: { width: 360, height: 640 },
      deviceScaleFactor: 2,
      isMobile: true,
      hasTouch: true,
      locale: "zh-CN",
      timezoneId: "Asia/Shanghai",
      permissions: ["geolocation"],
      geolocation: geo,
    });
    this.browsers.push(context);
    const page = context.pages()[0] ?? (await context.newPage());
    page.setDefaultTimeout(PATIENCE);
    const errors = [];
    page.on("pageerror", (e) => errors.push(e));
    page.errors = errors;
    return { page, context };
  }

  async stop() {
    for (const b of this.browsers) await b.close().catch(() => {});
    if (!this.child) return rmSync(this.dir, { recursive: true, force: true });
    this.child.kill("SIGTERM");
    await new Promise((ok) => (this.child.exitCode !== null || this.child.signalCode !== null ? ok() : this.child.once("exit", ok)));
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** One `gridsync` device store. */
export class Device {
  constructor(data) {
    this.data = data;
  }

  /** `gridsync --data DIR ARGS`; stdout. Throws with stderr on a non-zero exit. */
  run(args) {
    try {
      return execFileSync(CLI, ["--data", this.data, ...args], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
    } catch (e) {
      throw new Error(`gridsync ${args.join(" ")} failed (${e.status}):\n${e.stderr}${e.stdout}`);
    }
  }

  json(args) {
    return JSON.parse(this.run(["--json", ...args]));
  }

  /** Reports a ticket offline; its id. */
  report(grid, title, extra = []) {
    return this.json(["ticket", "new", "--grid", grid, "--title", title, ...extra]).id;
  }

  sync() {
    return this.run(["sync"]);
  }

  /** `gridsync --data DIR ARGS` left running: `{ child, done }`, `done` resolving to `{ code, stdout, stderr }`. */
  start(args) {
    const child = spawn(CLI, ["--data", this.data, ...args], { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    const done = new Promise((ok) => child.once("exit", (code) => ok({ code, stdout, stderr })));
    return { child, done };
  }
}

/**
 * The degraded link (`target/debug/gridsync-proxy`, the tests crate's
 * proxy): bandwidth, latency and cuts between a device and the relay.
 */
export class Proxy {
  /** Starts it in front of `upstream` (host:port); `listen` defaults to a free port. */
  static async start(upstream, { listen = "127.0.0.1:0", kbit, rttMs = 0, cutEvery } = {}) {
    const args = ["--listen", listen, "--upstream", upstream, "--rtt-ms", String(rttMs)];
    if (kbit) args.push("--kbit", String(kbit));
    if (cutEvery) args.push("--cut-every", cutEvery);
    const child = spawn(PROXY, args, { stdio: ["ignore", "pipe", "pipe"] });
    const lines = createInterface({ input: child.stdout });
    const said = [];
    lines.on("line", (l) => said.push(l));
    const addr = await new Promise((ok, fail) => {
      child.once("exit", (code) => fail(new Error(`gridsync-proxy exited (${code}) before it listened`)));
      lines.on("line", (line) => {
        const m = /listening on (\S+)/.exec(line);
        if (m) ok(m[1]);
      });
    });
    return new Proxy(child, addr, said);
  }

  constructor(child, addr, said) {
    this.child = child;
    this.addr = addr;
    this.said = said;
    this.ws = `ws://${addr}/`;
  }

  /** The link goes dead (the process is stopped: nothing moves either way) until `resume`. */
  pause() {
    this.child.kill("SIGSTOP");
  }

  resume() {
    this.child.kill("SIGCONT");
  }

  /** Stops it; what it printed (the last line counts the bytes that crossed). */
  async stop() {
    if (this.child.exitCode === null) {
      this.child.kill("SIGCONT");
      this.child.kill("SIGTERM");
      await new Promise((ok) => (this.child.exitCode !== null ? ok() : this.child.once("exit", ok)));
    }
    return this.said;
  }
}

/** Saves a screenshot (full page unless `fullPage: false`: what a phone's screen shows) as target/screenshots/NAME.png. */
/**
 * The field app holds the category catalog (its report form offers
 * `code`): what a worker has once online for a moment, before going out.
 */
export async function catalogArrived(page, code = "0302") {
  await page.click('a.tab[href="#/report"]');
  await page.locator(`select[name="category"] option[value="${code}"]`).waitFor({ state: "attached" });
}

export async function screenshot(page, name, { fullPage = true } = {}) {
  mkdirSync(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage });
}

/** The page's own fetch, with the session cookie and, for writes, the CSRF token from /api/me. */
export async function pageFetch(page, method, path, body) {
  return page.evaluate(
    async ({ method, path, body }) => {
      const me = await (await fetch("/api/me")).json();
      const headers = { "Content-Type": "application/json" };
      if (method !== "GET" && me.csrf) headers["X-CSRF-Token"] = me.csrf;
      const r = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
      const text = await r.text();
      let json = null;
      try {
        json = JSON.parse(text);
      } catch {}
      return { status: r.status, json, text };
    },
    { method, path, body },
  );
}

/**
 * A camera-sized JPEG made by the page (gradients, a dark shape, noise), to
 * hand to the app's camera input: the more `noise` (0 none, 1.5 heavy) the
 * worse it compresses.
 */
export async function cameraJpeg(page, { width, height, noise, quality = 0.92 }) {
  const b64 = await page.evaluate(async ({ width, height, noise, quality }) => {
    const c = new OffscreenCanvas(width, height);
    const g = c.getContext("2d");
    const grad = g.createLinearGradient(0, 0, width, height);
    grad.addColorStop(0, "#5b7c99");
    grad.addColorStop(0.6, "#c9b28a");
    grad.addColorStop(1, "#3d4a3a");
    g.fillStyle = grad;
    g.fillRect(0, 0, width, height);
    g.fillStyle = "#222";
    g.beginPath();
    g.ellipse(width / 2, height * 0.6, width / 6, height / 10, 0, 0, 2 * Math.PI);
    g.fill();
    const img = g.getImageData(0, 0, width, height);
    let seed = 7;
    for (let i = 0; i < img.data.length; i += 4) {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      const n = ((seed >> 8) % 256 - 128) * noise;
      img.data[i] += n;
      img.data[i + 1] += n;
      img.data[i + 2] += n;
    }
    g.putImageData(img, 0, 0);
    const blob = await c.convertToBlob({ type: "image/jpeg", quality });
    const bytes = new Uint8Array(await blob.arrayBuffer());
    let s = "";
    for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
    return btoa(s);
  }, { width, height, noise, quality });
  return Buffer.from(b64, "base64");
}
