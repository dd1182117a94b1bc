// Shared helpers for the browser scenarios in tests/ui/scenarios/. A scenario is run by
// tests/ui/main.rs as `node tests/ui/scenarios/<name>.mjs` with:
//   FOOTREST_URL  the daemon's base URL (http://127.0.0.1:PORT), no trailing slash
//   ARTIFACTS     a fresh directory for screenshots and failure dumps
//   CHROMIUM      the browser binary (Debian's /usr/bin/chromium; never a downloaded one)
//
// A scenario looks like:
//
//   import { main, newPage, step, shot, assertNoErrors, BASE_URL } from '../lib.mjs';
//   main(async () => {
//     const page = await newPage('phone');
//     await step('open the home page', async () => {
//       await page.goto(BASE_URL + '/');
//       await visible(page.getByRole('main'));
//     });
//     await shot(page, 'home');
//     await assertNoErrors(page);
//   });
//
// Errors in the page fail a scenario at assertNoErrors, including HTTP error statuses and the
// console line Chromium logs for each ("Failed to load resource: …"); allow the ones a scenario
// provokes with allowHttpError/allowErrors. Chromium fetches /favicon.ico unless the page links
// an icon, and a 404 there is such a console error too. Aborted requests (net::ERR_ABORTED: a
// cancelled stream, a fetch cut short by navigation) are not counted.
//
// Prefer role and label locators (getByRole, getByLabel, getByText): the UI is meant to be
// usable with a screen reader, and these locators fail when it is not.

import { chromium } from 'playwright-core';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';

export { assert };

export const BASE_URL = (process.env.FOOTREST_URL || '').replace(/\/+$/, '');
export const ARTIFACTS = path.resolve(process.env.ARTIFACTS || 'ui-artifacts');
export const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';

/** Default timeout of every action and wait (ms). */
export const TIMEOUT = 15_000;
/** For waits on real work such as a backup or a restore (ms). */
export const LONG_TIMEOUT = 120_000;
/** The whole scenario, launch included (ms); the Rust side kills node a bit later. */
const SCENARIO_TIMEOUT = Number(process.env.SCENARIO_TIMEOUT_MS || 240_000);

/**
 * Flags for a machine without internet, running as root: no sandbox (root), no GPU, and
 * nothing that phones home (updates, sync, QUIC probes). playwright-core adds its own fresh
 * temporary profile (`--user-data-dir`) to every launch and removes it on close.
 */
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-dev-shm-usage',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** Viewport presets: a phone (touch, mobile layout) and a laptop screen. */
export const PRESETS = {
  phone: { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2 },
  desktop: { viewport: { width: 1280, height: 800 }, isMobile: false, hasTouch: false, deviceScaleFactor: 1 },
};

let browser = null;
const t0 = Date.now();
/** Open pages and what went wrong on them. */
const tracked = new Map();
let shotSeq = 0;

function elapsed() {
  return `${((Date.now() - t0) / 1000).toFixed(1)}s`;
}

/** Logs a progress line (goes to the Rust test's output). */
export function log(...args) {
  console.log(`[${elapsed()}]`, ...args);
}

/** Starts Chromium; `main` does this, call it only to launch a second browser. */
export async function launch() {
  if (!fs.existsSync(CHROMIUM)) {
    throw new Error(`no browser at ${CHROMIUM}: run \`bash tests/run.sh --deps-only\``);
  }
  const started = Date.now();
  const b = await chromium.launch({
    executablePath: CHROMIUM,
    args: CHROMIUM_ARGS,
    headless: true,
    timeout: 60_000,
  });
  log(`chromium ${b.version()} launched in ${Date.now() - started} ms`);
  return b;
}

/** The browser `main` launched. */
export function getBrowser() {
  if (!browser) throw new Error('no browser: run the scenario inside main()');
  return browser;
}

/**
 * A new page in its own browser context (fresh cookies and storage), with error tracking.
 * `preset` is 'phone', 'desktop' or an object of context options
 * (`{ viewport: { width, height }, ... }`); `options` are more context options
 * (e.g. `{ httpCredentials }`, `{ locale }`) plus `allow: [pattern...]` (see allowErrors).
 */
export async function newPage(preset = 'desktop', options = {}) {
  const { allow = [], ...contextOptions } = options;
  const base = typeof preset === 'string' ? PRESETS[preset] : preset;
  if (!base) throw new Error(`unknown preset ${preset}: use ${Object.keys(PRESETS).join(', ')}`);
  const context = await getBrowser().newContext({ ...base, ...contextOptions });
  context.setDefaultTimeout(TIMEOUT);
  context.setDefaultNavigationTimeout(TIMEOUT);
  const page = await context.newPage();
  const t = {
    label: typeof preset === 'string' ? preset : `${base.viewport?.width}x${base.viewport?.height}`,
    errors: [],
    allowed: [...allow],
    expected: [],
  };
  tracked.set(page, t);
  page.on('console', (msg) => {
    if (msg.type() !== 'error') return;
    const where = msg.location()?.url;
    t.errors.push(`console: ${msg.text()}${where ? ` [${where}]` : ''}`);
  });
  page.on('pageerror', (err) => {
    t.errors.push(`pageerror: ${err.stack || err.message || err}`);
  });
  page.on('requestfailed', (req) => {
    const why = req.failure()?.errorText || 'failed';
    // An aborted request is a stream the UI cancels or a fetch cut short by navigating away.
    if (why === 'net::ERR_ABORTED') return;
    t.errors.push(`requestfailed: ${req.method()} ${req.url()} (${why})`);
  });
  page.on('response', (res) => {
    if (res.status() >= 400) {
      t.errors.push(`http ${res.status()}: ${res.request().method()} ${res.url()}`);
    }
  });
  page.on('close', () => tracked.delete(page));
  return page;
}

function matches(pattern, text) {
  return pattern instanceof RegExp ? pattern.test(text) : text.includes(pattern);
}

/**
 * Errors on `page` that assertNoErrors should not count: strings (substring) or RegExps,
 * matched against entries such as "console: boom [url]", "pageerror: …",
 * "http 401: POST http://…/v1.Backrest/GetConfig", "requestfailed: GET url (net::…)".
 */
export function allowErrors(page, ...patterns) {
  tracked.get(page)?.allowed.push(...patterns);
}

/** Like allowErrors, but assertNoErrors also fails if nothing matched a pattern. */
export function expectErrors(page, ...patterns) {
  const t = tracked.get(page);
  if (t) {
    t.allowed.push(...patterns);
    t.expected.push(...patterns);
  }
}

function escapeRe(s) {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * Patterns for an HTTP error the scenario provokes on purpose: the response itself and the
 * console line Chromium logs for it ("Failed to load resource: the server responded with a
 * status of 401 (Unauthorized) [url]"). `url` is a substring or RegExp of the request URL;
 * leave it out to match any URL.
 */
export function httpError(status, url) {
  const u = url === undefined ? '' : url instanceof RegExp ? `.*(?:${url.source})` : `.*${escapeRe(url)}`;
  return [
    new RegExp(`^http ${status}: \\S+ ${u}`),
    new RegExp(`^console: Failed to load resource: the server responded with a status of ${status}\\b.*\\[${u}`),
  ];
}

/** Allows an HTTP error status (see httpError); `expect: true` also requires it to happen. */
export function allowHttpError(page, status, url, { expect = false } = {}) {
  const [res, con] = httpError(status, url);
  (expect ? expectErrors : allowErrors)(page, res);
  allowErrors(page, con);
}

/**
 * Fails listing every console error, uncaught exception, failed request and HTTP error status
 * seen on `page` (or on every open page) that no allowed pattern covers, and every expected
 * pattern that never matched. Waits `graceMs` first so late errors of the last action count.
 */
export async function assertNoErrors(page = undefined, { graceMs = 300 } = {}) {
  if (graceMs > 0) await new Promise((r) => setTimeout(r, graceMs));
  const pages = page ? [page] : [...tracked.keys()];
  const problems = [];
  for (const p of pages) {
    const t = tracked.get(p);
    if (!t) continue;
    for (const e of t.errors) {
      if (!t.allowed.some((a) => matches(a, e))) problems.push(`  [${t.label}] ${e}`);
    }
    for (const x of t.expected) {
      if (!t.errors.some((e) => matches(x, e))) problems.push(`  [${t.label}] expected but not seen: ${x}`);
    }
  }
  if (problems.length) {
    throw new Error(`errors in the page:\n${problems.join('\n')}`);
  }
}

/** Everything recorded on `page` so far, allowed or not. */
export function errorsOf(page) {
  return [...(tracked.get(page)?.errors || [])];
}

/** Forgets the errors recorded on `page` so far (e.g. after checking an expected one). */
export function clearErrors(page) {
  const t = tracked.get(page);
  if (t) t.errors.length = 0;
}

function fileName(name) {
  return name.replace(/[^A-Za-z0-9._-]+/g, '-').replace(/^-+|-+$/g, '') || 'page';
}

/** Saves a full-page PNG as ARTIFACTS/<name>.png and returns its path. */
export async function shot(page, name) {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  const file = path.join(ARTIFACTS, `${fileName(name)}.png`);
  await page.screenshot({ path: file, fullPage: true });
  log(`screenshot ${file}`);
  return file;
}

/** Saves a screenshot and the HTML of every open page, for a failure. */
async function dumpPages(prefix) {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  for (const [p, t] of tracked) {
    const base = path.join(ARTIFACTS, fileName(`${prefix}-${t.label}-${++shotSeq}`));
    try {
      await p.screenshot({ path: `${base}.png`, fullPage: true, timeout: 5_000 });
      fs.writeFileSync(`${base}.html`, await p.content());
      log(`saved ${base}.png and .html (${p.url()})`);
    } catch (e) {
      log(`could not save ${base}: ${e.message}`);
    }
  }
}

/** Runs one named step; on failure saves screenshots and HTML of the open pages, rethrows. */
export async function step(name, fn) {
  const started = Date.now();
  log(`> ${name}`);
  try {
    const v = await fn();
    log(`ok ${name} (${Date.now() - started} ms)`);
    return v;
  } catch (e) {
    log(`FAILED ${name} (${Date.now() - started} ms)`);
    await dumpPages(`failed-${name}`);
    if (e instanceof Error) e.message = `step "${name}": ${e.message}`;
    throw e;
  }
}

/** Waits until `locator` is visible (one element; a strict-mode error if several match). */
export async function visible(locator, { timeout = TIMEOUT } = {}) {
  await locator.waitFor({ state: 'visible', timeout });
  return locator;
}

/** Polls `fn` until it returns a truthy value, which it returns. */
export async function until(what, fn, { timeout = TIMEOUT, interval = 100 } = {}) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeout} ms waiting for ${what}${last ? `: ${last.message}` : ''}`);
    }
    await new Promise((r) => setTimeout(r, interval));
  }
}

/**
 * Runs a scenario: launches Chromium, runs `fn({ browser })`, always closes the browser, and
 * exits non-zero (with the error and its stack) if anything failed or the scenario ran past
 * its time limit.
 */
export function main(fn) {
  const watchdog = setTimeout(() => {
    console.error(`scenario timed out after ${SCENARIO_TIMEOUT} ms`);
    dumpPages('timeout').finally(() => {
      browser?.close().catch(() => {});
      process.exit(2);
    });
  }, SCENARIO_TIMEOUT);
  (async () => {
    let code = 0;
    try {
      fs.mkdirSync(ARTIFACTS, { recursive: true });
      browser = await launch();
      await fn({ browser });
      log('scenario passed');
    } catch (e) {
      code = 1;
      console.error(`scenario failed: ${e?.stack || e}`);
      console.error(`artifacts: ${ARTIFACTS}`);
    } finally {
      try {
        await browser?.close();
      } catch (e) {
        console.error(`closing the browser: ${e.message}`);
      }
      clearTimeout(watchdog);
    }
    process.exit(code);
  })();
}

let axeSource = null;

/**
 * Runs axe-core on `page` as it is now and fails, listing rule id, impact, the elements'
 * selectors and the rule's help, on every violation of impact serious or critical. The whole
 * result goes to ARTIFACTS/a11y-<label>.json.
 *
 * axe is injected with page.evaluate(source): the page's CSP (`script-src 'self'`) refuses an
 * inline <script> (so page.addScriptTag({ content }) fails), but evaluate runs through the
 * DevTools protocol, which CSP does not govern. That keeps the page under its real CSP, so
 * the check sees what users get; bypassCSP would change the page under test.
 */
export async function checkA11y(page, label) {
  if (!axeSource) {
    const require = createRequire(import.meta.url);
    axeSource = fs.readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
  }
  if (!(await page.evaluate(() => typeof window.axe === 'object'))) {
    await page.evaluate(`${axeSource}\n;undefined`);
  }
  const result = await page.evaluate(() => window.axe.run(document, { resultTypes: ['violations'] }));
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  fs.writeFileSync(path.join(ARTIFACTS, `a11y-${fileName(label)}.json`), JSON.stringify(result, null, 1));
  const bad = result.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  if (bad.length) {
    const lines = bad.map((v) => `  ${v.id} (${v.impact}): ${v.help}\n${v.nodes
      .map((n) => `    ${n.target.join(' ')}${n.failureSummary ? ` — ${n.failureSummary.replace(/\s+/g, ' ')}` : ''}`).join('\n')}`);
    throw new Error(`accessibility violations on ${label} (${page.url()}):\n${lines.join('\n')}`);
  }
  const minor = result.violations.map((v) => `${v.id} (${v.impact})`);
  // What axe could not decide (e.g. contrast over an image): logged to review, not failed.
  const review = (result.incomplete || []).map((v) => `${v.id} (${v.impact})`);
  log(`a11y ${label}: no serious or critical violations${minor.length ? `; minor: ${minor.join(', ')}` : ''}`
    + `${review.length ? `; to review: ${review.join(', ')}` : ''}`);
}
