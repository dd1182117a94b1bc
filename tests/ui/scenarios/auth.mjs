// First run and the login gate, on a fresh daemon: the setup form refuses a too-short password and saves nothing,
// then creates the first user and moves on to adding a repo; Log out shows the gate and hides
// the nav; a wrong password is refused on the gate; the right one lets the user in. Screenshots
// of the gate at phone and desktop widths in light and dark. Prints `TOKEN=<token>`: the token
// the browser stored, for the Rust side to try against the API.
//
// FOOTREST_CONFIG is the daemon's config.json: it must not exist until setup saves.
import fs from 'node:fs';
import {
  main, newPage, step, shot, assertNoErrors, allowHttpError, visible, until, assert, BASE_URL,
} from '../lib.mjs';

const CONFIG = process.env.FOOTREST_CONFIG;
const USER = 'alice';
const PASSWORD = 'correct horse battery';
const INSTANCE = 'ui-test';

/** The API as a script sees it (no token unless given). */
async function api(method, body = {}, token) {
  const headers = { 'Content-Type': 'application/json' };
  if (token) headers.Authorization = `Bearer ${token}`;
  const r = await fetch(`${BASE_URL}/v1.Backrest/${method}`, { method: 'POST', headers, body: JSON.stringify(body) });
  return { status: r.status, body: await r.json().catch(() => ({})) };
}

function configOnDisk() {
  return CONFIG && fs.existsSync(CONFIG) ? JSON.parse(fs.readFileSync(CONFIG, 'utf8')) : null;
}

/** The error text shown for the input labelled `label` (its aria-describedby error slot). */
async function fieldError(page, label) {
  const input = page.getByLabel(label, { exact: true });
  return input.evaluate((el) => {
    const ids = (el.getAttribute('aria-describedby') || '').split(/\s+/).filter(Boolean);
    const errs = ids.map((id) => document.getElementById(id)).filter((e) => e && e.classList.contains('error'));
    return { invalid: el.getAttribute('aria-invalid'), text: errs.map((e) => e.textContent).join(' ').trim() };
  });
}

async function openSetup(page) {
  await page.goto(`${BASE_URL}/`);
  await until('the hash to be #/setup', async () => new URL(page.url()).hash === '#/setup');
  await visible(page.getByRole('heading', { name: 'Welcome to footrest' }));
}

main(async () => {
  assert.equal(configOnDisk(), null, 'a fresh daemon has no config.json yet');
  const page = await newPage('desktop');

  await step('fresh daemon: / routes to the setup form', () => openSetup(page));
  const nav = page.getByRole('navigation', { name: 'Main' });
  assert.equal(await nav.isVisible(), false, 'no nav during setup');

  await step('a too-short password is refused next to the Password field', async () => {
    await page.getByLabel('Instance name').fill(INSTANCE);
    assert.equal(await page.getByRole('radio', { name: 'Require a login (recommended)' }).isChecked(), true,
      'a login is the default');
    await page.getByLabel('Username').fill(USER);
    await page.getByLabel('Password', { exact: true }).fill('short');
    await page.getByLabel('Repeat password').fill('short');
    await page.getByRole('button', { name: 'Save and continue' }).click();
    const e = await until('an error on the Password field', async () => {
      const x = await fieldError(page, 'Password');
      return x.text ? x : null;
    });
    assert.match(e.text, /at least 8 characters/i);
    assert.equal(e.invalid, 'true', 'the Password input is marked aria-invalid');
    assert.equal((await fieldError(page, 'Username')).text, '', 'no error on Username');
    assert.equal(new URL(page.url()).hash, '#/setup', 'still on the setup page');
  });
  await shot(page, 'desktop-setup-short-password');
  await step('nothing was saved', async () => {
    assert.equal(configOnDisk(), null, 'config.json is still absent');
    const r = await api('GetConfig');
    assert.equal(r.status, 200);
    assert.ok(!Number(r.body.modno), `modno is still 0 (${r.body.modno})`);
  });

  await step('create the first user', async () => {
    await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
    await page.getByLabel('Repeat password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Save and continue' }).click();
    await until('the hash to be #/repos/new', async () => new URL(page.url()).hash === '#/repos/new', { timeout: 30_000 });
    await visible(nav);
    await visible(page.getByRole('button', { name: 'Log out' }));
  });
  const firstToken = await page.evaluate(() => localStorage.getItem('footrest.token'));
  assert.ok(firstToken, 'setup stored a token');

  await step('Log out shows the gate and hides the nav', async () => {
    await page.getByRole('button', { name: 'Log out' }).click();
    await visible(page.getByRole('heading', { name: 'Log in to footrest' }));
    await visible(page.getByText('You are logged out.'));
    assert.equal(await nav.isVisible(), false, 'nav hidden on the gate');
    assert.equal(await page.evaluate(() => localStorage.getItem('footrest.token')), null, 'token removed');
  });
  await shot(page, 'desktop-logged-out');

  await step('a wrong password is refused and the gate stays', async () => {
    allowHttpError(page, 401, '/v1.Authentication/Login', { expect: true });
    await page.getByLabel('Username').fill(USER);
    await page.getByLabel('Password').fill('not the password');
    await page.getByRole('button', { name: 'Log in' }).click();
    await visible(page.getByText('Wrong username or password.'));
    assert.equal(await page.getByText('You are logged out.').count(), 0, 'the old notice is gone');
    await visible(page.getByRole('heading', { name: 'Log in to footrest' }));
    assert.equal(await nav.isVisible(), false, 'nav still hidden');
    assert.equal(await page.evaluate(() => localStorage.getItem('footrest.token')), null, 'no token');
  });
  await shot(page, 'desktop-wrong-password');

  await step('the right password lets the user in', async () => {
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Log in' }).click();
    await visible(nav);
    await visible(page.getByRole('button', { name: 'Log out' }));
    for (const link of ['Dashboard', 'Operations', 'Repos', 'Plans', 'Settings']) {
      await visible(nav.getByRole('link', { name: link }));
    }
    await visible(page.getByRole('heading', { name: 'Add a repository' }));
    assert.equal(await page.getByRole('heading', { name: 'Log in to footrest' }).count(), 0, 'gate gone');
  });
  const token = await page.evaluate(() => localStorage.getItem('footrest.token'));
  assert.ok(token, 'login stored a token');
  await step('no unexpected errors', () => assertNoErrors(page));
  await page.context().close();

  // The gate as a new browser sees it, at both widths and in both colour schemes.
  for (const preset of ['phone', 'desktop']) {
    for (const colorScheme of ['light', 'dark']) {
      const p = await newPage(preset, { colorScheme });
      allowHttpError(p, 401, '/v1.Backrest/GetConfig', { expect: true });
      await step(`${preset} ${colorScheme}: a new browser meets the gate`, async () => {
        await p.goto(`${BASE_URL}/`);
        await visible(p.getByRole('heading', { name: 'Log in to footrest' }));
        await visible(p.getByLabel('Username'));
        assert.equal(await p.getByRole('navigation', { name: 'Main' }).isVisible(), false, 'no nav');
      });
      await shot(p, `${preset}-${colorScheme}-login`);
      await step(`${preset} ${colorScheme}: no unexpected errors`, () => assertNoErrors(p));
      await p.context().close();
    }
  }

  console.log(`TOKEN=${token}`);
});
