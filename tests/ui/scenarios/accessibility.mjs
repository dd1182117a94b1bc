// Every view through axe-core at phone and desktop widths in light and dark: the setup form
// (SETUP_URL: a fresh daemon), the login gate, and, logged in on a daemon with a repository
// "local", a plan "documents" (schedule and hook) with one finished backup and a plan "broken"
// whose backup failed: dashboard, operations with a log open, repositories, a repository's
// editor, a new repository, plans, a plan's editor with an invalid cron's error showing,
// settings, snapshots with one open, and the run-command view after `snapshots`.
// Fails on any serious or critical violation; the full results are in ARTIFACTS.
import {
  main, newPage, step, checkA11y, assertNoErrors, allowHttpError, visible, until, assert, BASE_URL,
} from '../lib.mjs';

const SETUP_URL = (process.env.SETUP_URL || '').replace(/\/+$/, '');
const USER = process.env.FOOTREST_USER || 'admin';
const PASSWORD = process.env.FOOTREST_PASSWORD || 'footrest-demo';
const REPO = 'local';
const PLAN = 'documents';

const heading = (page, name) => visible(page.getByRole('heading', { name, exact: true, level: 1 }));

/** [name, hash, what to do once there]: the views reached through the main UI. */
const VIEWS = [
  ['dashboard', '#/', async (page) => {
    await heading(page, 'Dashboard');
    await visible(page.getByRole('article', { name: `Plan ${PLAN}` }).getByText(/^Last backup: Success\b/));
    await visible(page.getByRole('article', { name: 'Plan broken' }).getByText(/^Last backup: (Error|Warning)\b/));
  }],
  ['operations', '#/operations', async (page) => {
    await heading(page, 'Operations');
    const flow = page.getByRole('article', { name: `Backup · plan ${PLAN}, repo ${REPO}` });
    await flow.getByRole('button', { name: /^Show log of operation / }).first().click();
    const log = flow.locator('pre.log').first();
    await visible(log);
    await until('the log to load', async () => (await log.innerText()).trim().length > 0);
    await visible(page.getByRole('article', { name: `Backup · plan broken, repo ${REPO}` }).locator('.badge.err, .badge.warn').first());
  }],
  ['repos', '#/repos', (page) => heading(page, 'Repositories')],
  ['repo-edit', `#/repos/${REPO}`, (page) => heading(page, `Repository ${REPO}`)],
  ['repo-new', '#/repos/new', (page) => heading(page, 'Add a repository')],
  ['plans', '#/plans', (page) => heading(page, 'Plans')],
  ['plan-edit-invalid-cron', `#/plans/${PLAN}`, async (page) => {
    await heading(page, `Plan ${PLAN}`);
    allowHttpError(page, 400, '/v1.Footrest/PreviewSchedule');
    const cron = page.getByLabel('Cron expression');
    await cron.fill('61 * * * *');
    await until('the cron field to show an error', () => cron.evaluate((el) => el.getAttribute('aria-invalid') === 'true'
      && (el.getAttribute('aria-describedby') || '').split(/\s+/)
        .some((id) => document.getElementById(id)?.classList.contains('error') && document.getElementById(id).textContent.trim())));
  }],
  ['settings', '#/settings', (page) => heading(page, 'Settings')],
  ['snapshots-browser', `#/repos/${REPO}/snapshots`, async (page) => {
    await heading(page, `Snapshots of ${REPO}`);
    await page.getByRole('button', { name: /^Browse snapshot / }).first().click();
    await visible(page.getByRole('heading', { name: /^Snapshot / }));
    await visible(page.getByRole('table', { name: /^Contents of / }));
  }],
  ['run-command', `#/repos/${REPO}/run`, async (page) => {
    await heading(page, `Run a restic command on ${REPO}`);
    await page.getByLabel('restic arguments').fill('snapshots');
    await page.getByRole('button', { name: 'Run', exact: true }).click();
    await visible(page.getByText(/restic snapshots: success/), { timeout: 60_000 });
  }],
];

main(async () => {
  assert.ok(SETUP_URL, 'SETUP_URL: a fresh daemon for the setup form');
  for (const preset of ['phone', 'desktop']) {
    for (const colorScheme of ['light', 'dark']) {
      const label = `${preset}-${colorScheme}`;

      const fresh = await newPage(preset, { colorScheme });
      await step(`${label}: setup`, async () => {
        await fresh.goto(`${SETUP_URL}/`);
        await visible(fresh.getByRole('heading', { name: 'Welcome to footrest' }));
        await checkA11y(fresh, `${label}-setup`);
      });
      await step(`${label}: no errors on the setup form`, () => assertNoErrors(fresh));
      await fresh.context().close();

      const page = await newPage(preset, { colorScheme });
      allowHttpError(page, 401, '/v1.Backrest/GetConfig', { expect: true });
      await step(`${label}: login gate`, async () => {
        await page.goto(`${BASE_URL}/`);
        await visible(page.getByRole('heading', { name: 'Log in to footrest' }));
        await checkA11y(page, `${label}-login`);
        await page.getByLabel('Username').fill(USER);
        await page.getByLabel('Password').fill(PASSWORD);
        await page.getByRole('button', { name: 'Log in' }).click();
        await visible(page.getByRole('button', { name: 'Log out' }));
      });
      for (const [name, hash, ready] of VIEWS) {
        await step(`${label}: ${name}`, async () => {
          await page.goto(`${BASE_URL}/${hash}`);
          await ready(page);
          await checkA11y(page, `${label}-${name}`);
        });
      }
      await step(`${label}: no unexpected errors`, () => assertNoErrors(page));
      await page.context().close();
    }
  }
});
