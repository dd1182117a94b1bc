// API keys in Settings: logged in, create a key with the backup scope (shown once), use it from
// outside the browser (allowed: /status; refused 403: SetConfig), then revoke it (refused 401).
// Prints `KEY=<key>` for the Rust side to check once more.
import { main, newPage, step, assertNoErrors, allowHttpError, visible, until, assert, BASE_URL } from '../lib.mjs';

const USER = process.env.FOOTREST_USER || 'admin';
const PASSWORD = process.env.FOOTREST_PASSWORD || 'footrest-demo';

const withKey = (path, key, init = {}) =>
  fetch(`${BASE_URL}${path}`, { ...init, headers: { ...(init.headers || {}), Authorization: `Bearer ${key}` } });

main(async () => {
  const page = await newPage('desktop');
  const nav = page.getByRole('navigation', { name: 'Main' });
  let key;

  await step('log in and open Settings', async () => {
    // The app's first GetConfig, before the login gate, is answered 401.
    allowHttpError(page, 401, '/v1.Backrest/GetConfig', { expect: true });
    await page.goto(`${BASE_URL}/#/settings`);
    await page.getByLabel('Username').fill(USER);
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Log in' }).click();
    await visible(nav);
    await nav.getByRole('link', { name: 'Settings' }).click();
    await visible(page.getByRole('heading', { name: 'API keys' }));
    await visible(page.getByText('No API keys.'));
  });
  await step('a name that is not an id is refused in the form', async () => {
    await page.getByLabel('Key name').fill('my key');
    await page.getByRole('button', { name: 'Create key' }).click();
    await visible(page.getByText('Use letters, digits, -, _ and . only.'));
  });
  await step('create a backup-scoped key: shown once', async () => {
    await page.getByLabel('Key name').fill('cron-job');
    await page.getByLabel('Scope').selectOption('backup');
    await page.getByRole('button', { name: 'Create key' }).click();
    const code = page.locator('code.api-key');
    await visible(code);
    key = (await code.textContent()).trim();
    assert.match(key, /^ftk_[A-Za-z0-9_-]{40,}$/);
    const row = page.getByRole('row', { name: /cron-job/ });
    await visible(row);
    await visible(row.getByText('backup', { exact: true }));
  });
  await step('the key works within its scope, from outside the browser', async () => {
    assert.equal((await withKey('/status', key)).status, 200, '/status with the key');
    const r = await withKey('/v1.Backrest/SetConfig', key, {
      method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{}',
    });
    assert.equal(r.status, 403, 'SetConfig is outside the backup scope');
  });
  await step('revoke it: refused at once', async () => {
    page.once('dialog', (d) => d.accept());
    await page.getByRole('button', { name: 'Revoke API key cron-job' }).click();
    await visible(page.getByText('The API key cron-job was revoked.'));
    await visible(page.getByText('No API keys.'));
    await until('the key to be refused', async () => (await withKey('/status', key)).status === 401);
  });
  console.log(`KEY=${key}`);
  await step('no unexpected errors', () => assertNoErrors(page));
});
