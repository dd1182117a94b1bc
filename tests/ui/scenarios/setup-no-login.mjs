// First run choosing "No login": setup saves auth disabled, and a reload shows no login gate.
// FOOTREST_CONFIG is the daemon's config.json: it must not exist until setup saves.
import fs from 'node:fs';
import { main, newPage, step, shot, assertNoErrors, visible, until, assert, BASE_URL } from '../lib.mjs';

const CONFIG = process.env.FOOTREST_CONFIG;
const INSTANCE = 'ui-test';

function configOnDisk() {
  return CONFIG && fs.existsSync(CONFIG) ? JSON.parse(fs.readFileSync(CONFIG, 'utf8')) : null;
}

main(async () => {
  assert.equal(configOnDisk(), null, 'a fresh daemon has no config.json yet');
  const page = await newPage('phone');
  const nav = page.getByRole('navigation', { name: 'Main' });

  await step('fresh daemon: / routes to the setup form', async () => {
    await page.goto(`${BASE_URL}/`);
    await until('the hash to be #/setup', async () => new URL(page.url()).hash === '#/setup');
    await visible(page.getByRole('heading', { name: 'Welcome to footrest' }));
  });
  await step('setup without a login', async () => {
    await page.getByLabel('Instance name').fill(INSTANCE);
    await page.getByRole('radio', { name: /^No login/ }).check();
    await until('the user fields to hide', async () => !(await page.getByLabel('Username').isVisible()));
    await page.getByRole('button', { name: 'Save and continue' }).click();
    await until('the hash to be #/repos/new', async () => new URL(page.url()).hash === '#/repos/new');
  });
  await step('auth is off on disk and in the API', async () => {
    const c = await until('config.json to be written', async () => configOnDisk());
    assert.equal(c.instance, INSTANCE);
    assert.equal(c.auth?.disabled, true, `auth disabled on disk: ${JSON.stringify(c.auth)}`);
    const r = await fetch(`${BASE_URL}/v1.Backrest/GetConfig`, {
      method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{}',
    });
    assert.equal(r.status, 200, 'GetConfig without a token works with auth off');
  });
  await step('a reload shows no gate: the nav, without Log out', async () => {
    await page.reload();
    await visible(nav);
    assert.equal(await page.getByRole('button', { name: 'Log out' }).isVisible(), false, 'no Log out without a login');
    assert.equal(await page.getByRole('heading', { name: 'Log in to footrest' }).count(), 0, 'no login gate');
    assert.equal(await page.evaluate(() => localStorage.getItem('footrest.token')), null, 'no token stored');
  });
  await shot(page, 'phone-after-setup-no-login');
  await step('no unexpected errors', () => assertNoErrors(page));
});
