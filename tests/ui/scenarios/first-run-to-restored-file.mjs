// The whole way from a fresh daemon to a restored file, through the UI only: first-run setup
// with a user, log out and back in through the gate, a repository added in the repo editor, a
// plan in the plan editor, "Back up now" on the dashboard with its live progress, the finished
// backup on the dashboard and in the operations view, then the snapshot browser: down to a
// nested file, restore it to a new directory and download it.
//
// From the Rust side:
//   REPO_PATH      where the new repository goes (does not exist yet)
//   SOURCE         the directory to back up
//   FILE           a file below SOURCE to restore and download (its path inside the snapshot)
//   RESTORE_TARGET a directory that does not exist yet, for the restore
//   DOWNLOAD_TO    where to save the downloaded file
import path from 'node:path';
import {
  main, newPage, step, shot, log, assertNoErrors, visible, until, assert, BASE_URL, LONG_TIMEOUT,
} from '../lib.mjs';

const env = (k) => {
  const v = process.env[k];
  if (!v) throw new Error(`${k} is not set`);
  return v;
};
const REPO_PATH = env('REPO_PATH');
const SOURCE = env('SOURCE');
const FILE = env('FILE');
const RESTORE_TARGET = env('RESTORE_TARGET');
const DOWNLOAD_TO = env('DOWNLOAD_TO');

const USER = 'alice';
const PASSWORD = 'correct horse battery';
const REPO = 'local';
const REPO_PASSWORD = 'repo secret 123';
const PLAN = 'documents';
const NAME = path.basename(FILE);

const hash = (page) => new URL(page.url()).hash;

main(async () => {
  const page = await newPage('desktop');
  const nav = page.getByRole('navigation', { name: 'Main' });

  await step('first run: create the first user', async () => {
    await page.goto(`${BASE_URL}/`);
    await until('the hash to be #/setup', async () => hash(page) === '#/setup');
    await page.getByLabel('Instance name').fill('ui-test');
    await page.getByLabel('Username').fill(USER);
    await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
    await page.getByLabel('Repeat password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Save and continue' }).click();
    await visible(page.getByRole('heading', { name: 'Add a repository' }), { timeout: 30_000 });
    await visible(page.getByRole('button', { name: 'Log out' }));
  });

  await step('log out, and log in again through the gate', async () => {
    await page.getByRole('button', { name: 'Log out' }).click();
    await visible(page.getByRole('heading', { name: 'Log in to footrest' }));
    assert.equal(await nav.isVisible(), false, 'no nav on the gate');
    await page.getByLabel('Username').fill(USER);
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Log in' }).click();
    await visible(nav);
    // Back where the user was: the repo editor.
    await visible(page.getByRole('heading', { name: 'Add a repository' }));
  });

  await step('add a repository in the repo editor', async () => {
    await page.getByLabel('Repository id').fill(REPO);
    await page.getByLabel('Repository URI').fill(REPO_PATH);
    await page.getByLabel('Repository password').fill(REPO_PASSWORD);
    // Percentages are proto doubles: a fraction is taken as it is.
    await page.getByLabel('Maximum unused space (%)').fill('12.5');
    await page.getByLabel('Read this share of the data (%)').fill('5.5');
    await page.getByRole('button', { name: 'Add repository' }).click();
    // restic initialises the new repository first.
    await until('the repository list', async () => hash(page) === '#/repos', { timeout: 60_000 });
    await visible(page.getByText(`Repository "${REPO}" added`));
    await visible(page.getByRole('link', { name: `Edit repository ${REPO}` }));
    const saved = await page.evaluate(async () => {
      const r = await fetch('/v1.Backrest/GetConfig', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${localStorage.getItem('footrest.token')}` },
        body: '{}',
      });
      return (await r.json()).repos[0];
    });
    assert.equal(saved.prunePolicy?.maxUnusedPercent, 12.5, JSON.stringify(saved));
    assert.equal(saved.checkPolicy?.readDataSubsetPercent, 5.5, JSON.stringify(saved));
  });
  await shot(page, 'desktop-repo-added');

  await step('add a plan in the plan editor', async () => {
    await page.getByRole('link', { name: 'Plans' }).click();
    await page.getByRole('link', { name: 'Add a plan' }).click();
    await visible(page.getByRole('heading', { name: 'Add a plan' }));
    await page.getByLabel('Plan id').fill(PLAN);
    const repo = page.getByLabel('Repository', { exact: true });
    assert.equal(await repo.inputValue(), REPO, 'the only repository is chosen');
    await page.getByRole('button', { name: 'Add path' }).click();
    await page.getByRole('textbox', { name: 'Path 1', exact: true }).fill(SOURCE);
    await page.getByRole('button', { name: 'Create plan' }).click();
    await until('the plan list', async () => hash(page) === '#/plans');
    await visible(page.getByText(`Plan "${PLAN}" created`));
    await visible(page.getByRole('link', { name: `Edit plan ${PLAN}` }));
  });

  const planCard = page.getByRole('article', { name: `Plan ${PLAN}` });
  await step('Back up now on the dashboard shows live progress', async () => {
    await nav.getByRole('link', { name: 'Dashboard' }).click();
    await visible(page.getByRole('heading', { name: 'Dashboard' }));
    await visible(planCard.getByText('No backup in the last 30 days.'));
    await planCard.getByRole('button', { name: `Back up now: ${PLAN}` }).click();
    // restic scans first (0%), then the bar moves while it reads the big file. Stop early if
    // the backup ends before the bar was seen moving.
    const seen = [];
    const moving = /^Backup progress [1-9]\d?%$/;
    await until('the backup progress to move past 0%', async () => {
      const labels = await planCard.getByRole('progressbar').evaluateAll((els) => els.map((e) => e.getAttribute('aria-label')));
      for (const l of labels) if (seen.at(-1) !== l) seen.push(l);
      return labels.some((l) => moving.test(l)) || (await planCard.getByText(/^Last backup: /).count()) > 0;
    }, { timeout: LONG_TIMEOUT, interval: 50 });
    log(`progress seen: ${seen.join(', ')}`);
    assert.ok(seen.some((l) => moving.test(l)), `the bar moved while the backup ran (seen: ${seen.join(', ') || 'nothing'})`);
  });
  await shot(page, 'desktop-dashboard-backup-running');

  await step('the backup ends in Success on the dashboard', async () => {
    await visible(planCard.getByText(/^Last backup: Success\b/), { timeout: LONG_TIMEOUT });
    assert.equal(await planCard.getByRole('progressbar').count(), 0, 'no progress bar once done');
    await visible(page.getByRole('status').filter({ hasText: `Backup of plan ${PLAN}` }));
    const repoCard = page.getByRole('article', { name: `Repository ${REPO}` });
    await visible(repoCard.getByText(/^Last backup: Success\b/));
  });
  await shot(page, 'desktop-dashboard-backup-done');

  let snapshot;
  await step('the operations view shows the finished backup', async () => {
    await nav.getByRole('link', { name: 'Operations' }).click();
    await visible(page.getByRole('heading', { name: 'Operations', exact: true }));
    const flow = page.getByRole('article', { name: `Backup · plan ${PLAN}, repo ${REPO}` });
    const backup = flow.getByRole('listitem').filter({ has: page.locator('strong', { hasText: /^Backup$/ }) });
    await visible(backup.locator('.badge', { hasText: /^Success$/ }));
    await visible(backup.getByText(/^\d+ new, 0 changed, 0 unchanged$/));
    snapshot = await backup.locator('code[title]').first().getAttribute('title');
    assert.match(snapshot || '', /^[0-9a-f]{64}$/, `the backup names its snapshot (${snapshot})`);
  });
  await shot(page, 'desktop-operations-backup-done');

  await step('open the snapshot and walk down to the nested file', async () => {
    await nav.getByRole('link', { name: 'Dashboard' }).click();
    await page.getByRole('link', { name: `Snapshots of repository ${REPO}` }).click();
    await visible(page.getByRole('heading', { name: `Snapshots of ${REPO}` }));
    await page.getByRole('button', { name: `Browse snapshot ${snapshot.slice(0, 8)}` }).click();
    const crumbs = page.getByRole('navigation', { name: 'Folder path' });
    await visible(crumbs.getByText('Snapshot root'));
    const dirs = path.dirname(FILE).split('/').filter(Boolean);
    for (const d of dirs) {
      await page.getByRole('button', { name: `Open folder ${d}`, exact: true }).click();
      await visible(crumbs.locator('[aria-current="location"]', { hasText: d }));
    }
    await visible(page.getByRole('cell', { name: NAME, exact: true }));
  });
  await shot(page, 'desktop-snapshot-folder');

  await step(`download ${NAME}`, async () => {
    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.getByRole('button', { name: `Download ${NAME}`, exact: true }).click(),
    ]);
    assert.equal(download.suggestedFilename(), NAME);
    await download.saveAs(DOWNLOAD_TO);
    assert.equal(await download.failure(), null, 'the download completed');
  });

  await step(`restore ${NAME} to a new directory`, async () => {
    await page.getByRole('button', { name: `Restore ${NAME}…`, exact: true }).click();
    const dlg = page.getByRole('dialog', { name: `Restore ${NAME}` });
    await visible(dlg);
    await dlg.getByLabel('Restore to').fill(RESTORE_TARGET);
    await dlg.getByRole('button', { name: 'Restore', exact: true }).click();
    await until('the dialog to close', async () => (await dlg.count()) === 0);
    const result = page.locator('.restore[role="status"]');
    await visible(result.getByText(`Restored ${FILE} to ${RESTORE_TARGET}`, { exact: false }), { timeout: LONG_TIMEOUT });
    await visible(result.locator('.badge', { hasText: /^Success$/ }));
  });
  await shot(page, 'desktop-restored');

  await step('no unexpected errors', () => assertNoErrors(page));
});
