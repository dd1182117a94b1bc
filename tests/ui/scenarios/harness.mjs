// Checks the harness itself against pages served here: error collection and allowlists,
// presets, screenshots, and the dump a failing step leaves.
import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import {
  main, newPage, step, shot, assertNoErrors, allowErrors, expectErrors, allowHttpError,
  errorsOf, visible, assert, ARTIFACTS,
} from '../lib.mjs';

const pages = {
  '/': `<!doctype html><html lang="en"><head><meta charset="utf-8">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <title>harness check</title><link rel="icon" href="data:,"></head>
    <body><main><h1>Hello</h1><label>Name <input name="n"></label>
    <button type="button">Save</button></main></body></html>`,
  '/noisy': `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>noisy</title>
    <link rel="icon" href="data:,"></head><body><main><h1>Noisy</h1></main>
    <script>
      console.error('boom from the page');
      fetch('/denied', { method: 'POST' }).then(() => { document.body.dataset.done = '1'; });
      setTimeout(() => { throw new Error('uncaught in a timer'); }, 0);
    </script></body></html>`,
};

function serve() {
  const server = http.createServer((req, res) => {
    if (req.url === '/denied') {
      res.writeHead(401, { 'content-type': 'application/json' });
      res.end('{"code":"unauthenticated","message":"no"}');
      return;
    }
    const body = pages[req.url];
    res.writeHead(body ? 200 : 404, { 'content-type': 'text/html; charset=utf-8' });
    res.end(body || 'not found');
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => resolve(server));
  });
}

async function rejects(what, promise, re) {
  try {
    await promise;
  } catch (e) {
    assert.match(e.message, re, what);
    return e.message;
  }
  throw new Error(`${what}: expected a failure`);
}

main(async () => {
  const server = await serve();
  const url = `http://127.0.0.1:${server.address().port}`;
  try {
    await step('a clean page at phone size passes', async () => {
      const page = await newPage('phone');
      await page.goto(`${url}/`);
      assert.equal(await page.title(), 'harness check');
      await visible(page.getByRole('main'));
      await visible(page.getByRole('button', { name: 'Save' }));
      await page.getByLabel('Name').fill('x');
      assert.equal(await page.evaluate(() => window.innerWidth), 390);
      assert.equal(await page.evaluate(() => navigator.maxTouchPoints > 0), true);
      const file = await shot(page, 'phone-clean');
      assert.deepEqual([...fs.readFileSync(file).subarray(0, 4)], [0x89, 0x50, 0x4e, 0x47]);
      await assertNoErrors(page);
      await page.context().close();
    });

    await step('console errors, uncaught exceptions and HTTP errors are reported', async () => {
      const page = await newPage('desktop');
      await page.goto(`${url}/noisy`);
      await page.locator('body[data-done="1"]').waitFor({ state: 'attached' });
      assert.equal(await page.evaluate(() => window.innerWidth), 1280);
      const message = await rejects('unexpected errors', assertNoErrors(page), /errors in the page/);
      for (const what of ['boom from the page', 'uncaught in a timer', 'http 401: POST', 'status of 401']) {
        assert.ok(message.includes(what), `"${what}" is listed in:\n${message}`);
      }
      allowErrors(page, 'boom from the page', /uncaught in a timer/);
      await rejects('a 401 not allowed yet', assertNoErrors(page), /denied/);
      allowHttpError(page, 401, '/denied', { expect: true });
      await assertNoErrors(page);
      expectErrors(page, 'an error that never happens');
      await rejects('a missing expected error', assertNoErrors(page), /expected but not seen: an error that never happens/);
      assert.ok(errorsOf(page).length >= 4);
      await page.context().close();
    });

    await step('a failing step saves a screenshot and the HTML', async () => {
      const page = await newPage('desktop');
      await page.goto(`${url}/`);
      await rejects(
        'a missing element',
        step('find a missing button', () => visible(page.getByRole('button', { name: 'Nope' }), { timeout: 500 })),
        /step "find a missing button": .*Timeout 500ms/s,
      );
      const dumped = fs.readdirSync(ARTIFACTS).filter((f) => f.startsWith('failed-find-a-missing-button-desktop-'));
      assert.ok(dumped.some((f) => f.endsWith('.png')), `a screenshot in ${dumped}`);
      const html = dumped.find((f) => f.endsWith('.html'));
      assert.ok(html, `the HTML in ${dumped}`);
      assert.match(fs.readFileSync(path.join(ARTIFACTS, html), 'utf8'), /<h1>Hello<\/h1>/);
      await page.context().close();
    });
  } finally {
    server.close();
  }
});
