// The keyboard alone: on the login gate Tab goes Username → Password → Log in and Enter logs in;
// on the dashboard, opened afresh, the first Tab lands on the skip link, which moves focus to
// the main content without leaving the page; focused elements show an outline.
import {
  main, newPage, step, shot, assertNoErrors, allowHttpError, visible, until, assert, BASE_URL,
} from '../lib.mjs';

const USER = process.env.FOOTREST_USER || 'admin';
const PASSWORD = process.env.FOOTREST_PASSWORD || 'footrest-demo';

/** What has focus: its tag, id, name (label, aria-label or text) and computed outline. */
function focused(page) {
  return page.evaluate(() => {
    const el = document.activeElement;
    if (!el || el === document.body) return { tag: 'body', name: '', outline: 'none' };
    const name = el.getAttribute('aria-label') || el.labels?.[0]?.textContent || el.textContent || '';
    const cs = getComputedStyle(el);
    return { tag: el.tagName.toLowerCase(), id: el.id, name: name.trim(), outline: cs.outlineStyle, outlineWidth: cs.outlineWidth };
  });
}

/** Presses Tab until focus is on `name` (at most `max` times); returns the names passed. */
async function tabTo(page, name, max = 10) {
  const seen = [];
  for (let i = 0; i < max; i++) {
    await page.keyboard.press('Tab');
    const f = await focused(page);
    seen.push(f.name || f.tag);
    if (f.name === name) return { seen, f };
  }
  throw new Error(`${max} Tabs did not reach "${name}": ${seen.join(' → ')}`);
}

main(async () => {
  const page = await newPage('desktop');
  allowHttpError(page, 401, '/v1.Backrest/GetConfig', { expect: true });

  await step('login gate: Tab goes Username → Password → Log in, each with a focus outline', async () => {
    await page.goto(`${BASE_URL}/`);
    await visible(page.getByRole('heading', { name: 'Log in to footrest' }));
    await page.evaluate(() => document.activeElement?.blur());
    const { seen, f } = await tabTo(page, 'Username');
    assert.equal(f.tag, 'input');
    assert.notEqual(f.outline, 'none', `Username shows focus (${seen.join(' → ')})`);
    await page.keyboard.type(USER);
    await page.keyboard.press('Tab');
    const pw = await focused(page);
    assert.equal(pw.name, 'Password', 'Tab from Username goes to Password');
    assert.notEqual(pw.outline, 'none', 'Password shows focus');
    await page.keyboard.type(PASSWORD);
    await page.keyboard.press('Tab');
    const btn = await focused(page);
    assert.equal(btn.name, 'Log in', 'Tab from Password goes to Log in');
    assert.equal(btn.tag, 'button');
    assert.notEqual(btn.outline, 'none', 'Log in shows focus');
  });
  await shot(page, 'login-button-focused');

  await step('Enter in the Password field logs in', async () => {
    await page.keyboard.press('Shift+Tab');
    assert.equal((await focused(page)).name, 'Password');
    await page.keyboard.press('Enter');
    await visible(page.getByRole('button', { name: 'Log out' }));
    await visible(page.getByRole('heading', { name: 'Dashboard' }));
    await until('focus on main after logging in', async () => (await focused(page)).id === 'main');
  });

  await step('dashboard opened afresh: the first Tab reaches the skip link, which shows focus', async () => {
    await page.reload();
    await visible(page.getByRole('heading', { name: 'Dashboard' }));
    await page.keyboard.press('Tab');
    const f = await focused(page);
    assert.equal(f.id, 'skip', `the first Tab focuses the skip link, not ${f.tag} "${f.name}"`);
    assert.equal(f.name, 'Skip to content');
    assert.notEqual(f.outline, 'none', 'the skip link shows focus');
    assert.ok(await page.locator('#skip').isVisible(), 'the skip link is visible when focused');
  });
  await shot(page, 'dashboard-skip-link-focused');

  await step('activating the skip link moves focus to main and stays on the dashboard', async () => {
    await page.keyboard.press('Enter');
    await until('focus on main', async () => (await focused(page)).id === 'main');
    assert.equal(new URL(page.url()).hash, '#/', 'still on the dashboard');
    await visible(page.getByRole('heading', { name: 'Dashboard' }));
    await page.keyboard.press('Tab');
    const next = await focused(page);
    assert.ok(await page.evaluate(() => document.getElementById('main').contains(document.activeElement)),
      `Tab from main goes into the content (${next.tag} "${next.name}")`);
    assert.notEqual(next.outline, 'none', `the next element shows focus (${next.tag} "${next.name}")`);
  });
  await step('no unexpected errors', () => assertNoErrors(page));
});
