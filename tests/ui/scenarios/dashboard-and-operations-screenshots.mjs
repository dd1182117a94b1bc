// The dashboard and the operations view with data in them (the Rust side has run one backup of
// plan "documents" to repository "local"), at phone and desktop widths in light and dark:
// what they show, a screenshot of each, and nothing in the console.
import { main, newPage, step, shot, assertNoErrors, visible, assert, BASE_URL } from '../lib.mjs';

const PLAN = 'documents';
const REPO = 'local';

main(async () => {
  for (const preset of ['phone', 'desktop']) {
    for (const colorScheme of ['light', 'dark']) {
      const page = await newPage(preset, { colorScheme });
      const label = `${preset} ${colorScheme}`;

      await step(`${label}: the dashboard shows the backup`, async () => {
        await page.goto(`${BASE_URL}/#/`);
        await visible(page.getByRole('heading', { name: 'Dashboard' }));
        const plan = page.getByRole('article', { name: `Plan ${PLAN}` });
        await visible(plan.getByText(/^Last backup: Success\b/));
        await visible(plan.getByRole('img', { name: /^1 of \d+ days backed up$/ }));
        await visible(plan.getByRole('img', { name: /^Bytes added by the last 1 backups: / }));
        const repo = page.getByRole('article', { name: `Repository ${REPO}` });
        await visible(repo.getByText(/^Last backup: Success\b/));
        assert.match(await repo.locator('dl.facts').innerText(), /Snapshots\s+1\b/);
        const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
        assert.ok(overflow <= 0, `no horizontal scrolling (${overflow}px too wide)`);
      });
      await shot(page, `${preset}-${colorScheme}-dashboard`);
      await step(`${label}: no errors on the dashboard`, () => assertNoErrors(page));

      await step(`${label}: the operations view shows the backup`, async () => {
        await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Operations' }).click();
        await visible(page.getByRole('heading', { name: 'Operations', exact: true }));
        const flow = page.getByRole('article', { name: `Backup · plan ${PLAN}, repo ${REPO}` });
        const backup = flow.getByRole('listitem').filter({ has: page.locator('strong', { hasText: /^Backup$/ }) });
        await visible(backup.locator('.badge', { hasText: /^Success$/ }));
        await visible(backup.getByText(/^2 new, 0 changed, 0 unchanged$/));
        const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
        assert.ok(overflow <= 0, `no horizontal scrolling (${overflow}px too wide)`);
      });
      await shot(page, `${preset}-${colorScheme}-operations`);
      await step(`${label}: no errors on the operations view`, () => assertNoErrors(page));
      await page.context().close();
    }
  }
});
