// The UI loads at phone and desktop widths, in light and dark: on a fresh daemon `/` routes to
// the first-run setup, a titled page with one main landmark, and nothing in the console.
import { main, newPage, step, shot, assertNoErrors, visible, until, assert, BASE_URL } from '../lib.mjs';

main(async () => {
  for (const preset of ['phone', 'desktop']) {
    for (const colorScheme of ['light', 'dark']) {
      const page = await newPage(preset, { colorScheme });
      await step(`${preset} ${colorScheme}: open the UI`, async () => {
        await page.goto(`${BASE_URL}/`);
        await until('the hash to be #/setup', async () => new URL(page.url()).hash === '#/setup');
        const title = await page.title();
        assert.match(title, /footrest/i, `the page title names footrest (it is "${title}")`);
        await visible(page.getByRole('main'));
        await visible(page.getByRole('heading', { name: 'Welcome to footrest' }));
      });
      await shot(page, `${preset}-${colorScheme}-setup`);
      await step(`${preset} ${colorScheme}: no errors in the console`, () => assertNoErrors(page));
      await page.context().close();
    }
  }
});
