// The plan editor with an invalid cron expression: Save sends the plan, the daemon refuses it,
// and the reason is shown in the Cron expression field's own error slot (the element its
// aria-describedby points to, inside the Schedule fieldset); the page stays on the editor.
// The Rust side checks that config.json and modno did not change.
import { main, newPage, step, shot, assertNoErrors, allowHttpError, visible, until, assert, BASE_URL } from '../lib.mjs';

const PLAN = 'documents';
const BAD = '61 * * * *';

/** The text in the error slots `input` names in aria-describedby, and where they are. */
function errorSlot(input) {
  return input.evaluate((el) => {
    const ids = (el.getAttribute('aria-describedby') || '').split(/\s+/).filter(Boolean);
    const errs = ids.map((id) => document.getElementById(id)).filter((e) => e && e.classList.contains('error'));
    const fieldset = el.closest('fieldset');
    return {
      invalid: el.getAttribute('aria-invalid'),
      text: errs.map((e) => e.textContent).join(' ').trim(),
      visible: errs.some((e) => e.getClientRects().length > 0),
      sameField: errs.every((e) => e.closest('.field') === el.closest('.field')),
      legend: fieldset?.querySelector('legend')?.textContent,
    };
  });
}

main(async () => {
  const page = await newPage('desktop');
  const form = page.getByRole('form', { name: `Plan ${PLAN}` });
  const cron = page.getByLabel('Cron expression');

  await step('open the plan in the editor', async () => {
    await page.goto(`${BASE_URL}/#/plans/${PLAN}`);
    await visible(page.getByRole('heading', { name: `Plan ${PLAN}` }));
    assert.equal(await cron.inputValue(), '0 2 * * *');
    assert.equal((await errorSlot(cron)).text, '', 'no error to begin with');
  });

  await step(`type "${BAD}" and save: the daemon refuses`, async () => {
    // The daemon answers the save with a 400, which the page logs; that is the point here.
    allowHttpError(page, 400, '/v1.Backrest/SetConfig', { expect: true });
    // The schedule preview may see the bad cron first and answer 400 as well.
    allowHttpError(page, 400, '/v1.Footrest/PreviewSchedule');
    await cron.fill(BAD);
    const [res] = await Promise.all([
      page.waitForResponse((r) => r.url().endsWith('/v1.Backrest/SetConfig')),
      form.getByRole('button', { name: 'Save plan' }).click(),
    ]);
    assert.equal(res.status(), 400, `SetConfig refused (${res.status()})`);
    await visible(form.getByText('Not saved: fix the fields marked below.'));
  });

  await step('the error is in the Cron expression field\'s own slot, in the Schedule fieldset', async () => {
    const e = await until('an error on the Cron expression field', async () => {
      const x = await errorSlot(cron);
      return x.text ? x : null;
    });
    assert.match(e.text, /61|minute|out of range|cron/i, `says what is wrong: ${e.text}`);
    assert.equal(e.invalid, 'true', 'the cron input is aria-invalid');
    assert.ok(e.visible, 'the error slot is visible');
    assert.ok(e.sameField, 'the error slot belongs to the cron field');
    assert.equal(e.legend, 'Schedule');
    assert.equal(await cron.inputValue(), BAD, 'what was typed stays');
    assert.equal(new URL(page.url()).hash, `#/plans/${PLAN}`, 'still in the editor');
    // Nothing else in the form is marked.
    const others = await form.locator('[aria-invalid="true"]').count();
    assert.equal(others, 1, 'only the cron input is marked invalid');
  });
  await step('the schedule preview drops the old cron\'s next runs, and the error stays', async () => {
    const schedule = page.getByRole('group', { name: 'Schedule' });
    await until('no next runs in the preview', async () => (await schedule.getByText('Next runs').count()) === 0);
    assert.match((await errorSlot(cron)).text, /61/, 'the cron field still says what is wrong');
  });
  await shot(page, 'desktop-invalid-cron');
  await step('no unexpected errors', () => assertNoErrors(page));
});
