// The UI loads at phone and desktop widths: a titled page with one main landmark, and nothing
// in the console.
import { main, newPage, step, shot, assertNoErrors, visible, assert, BASE_URL } from '../lib.mjs';

main(async () => {
  for (const preset of ['phone', 'desktop']) {
    const page = await newPage(preset);
    await step(`${preset}: open the UI`, async () => {
      await page.goto(`${BASE_URL}/`);
      const title = await page.title();
      assert.match(title, /footrest/i, `the page title names footrest (it is "${title}")`);
      await visible(page.getByRole('main'));
    });
    await shot(page, `${preset}-home`);
    await step(`${preset}: no errors in the console`, () => assertNoErrors(page));
    await page.context().close();
  }
});
