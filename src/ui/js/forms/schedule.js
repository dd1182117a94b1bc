// The schedule editor (plans; repo prune/check/forget), previewed by Footrest/PreviewSchedule.

import { h, field, clear, fmtTime } from '../dom.js';
import { call, num } from '../api.js';
import { text, int, select, intValue, get } from './common.js';

const KINDS = [['disabled', 'Disabled (never runs)'], ['cron', 'Cron expression'],
  ['days', 'At most every N days'], ['hours', 'At most every N hours']];
const CLOCKS = [['CLOCK_DEFAULT', 'Default (local time)'], ['CLOCK_LOCAL', 'Local time'],
  ['CLOCK_UTC', 'UTC'], ['CLOCK_LAST_RUN_TIME', 'Since the last run']];

/** scheduleEditor('Schedule', plan.schedule) → fieldset with .value(), .check(), .setError(). */
export function scheduleEditor(legend, sched) {
  const orig = sched ? structuredClone(sched) : undefined;
  const days = get(sched, 'maxFrequencyDays');
  const hours = get(sched, 'maxFrequencyHours');
  const kind0 = !sched || sched.disabled ? 'disabled' : sched.cron != null ? 'cron'
    : days != null ? 'days' : hours != null ? 'hours' : 'disabled';
  const kind = select(KINDS, kind0);
  const cron = field('Cron expression', text(sched?.cron, { placeholder: '30 2 * * *' }),
    { hint: 'minute hour day-of-month month day-of-week, e.g. "30 2 * * *" for 02:30 every day.' });
  const dayF = field('Days between runs', int(days, { min: 1 }));
  const hourF = field('Hours between runs', int(hours, { min: 1 }));
  const clock = select(CLOCKS, sched?.clock || 'CLOCK_DEFAULT');
  const clockF = field('Clock', clock, { hint: 'When counting starts: now (local or UTC), or the end of the last run.' });
  const fsErr = h('p.error', { 'aria-live': 'polite' });
  const preview = h('div.preview', { 'aria-live': 'polite' });
  const box = h('fieldset.field.schedule', h('legend', legend),
    field('Type', kind), cron, dayF, hourF, clockF, fsErr, preview);
  for (const f of [cron, dayF, hourF]) f.querySelector('.error').setAttribute('aria-live', 'polite');
  const valueField = () => ({ cron, days: dayF, hours: hourF })[kind.value];

  box.value = () => {
    const k = kind.value;
    const s = orig ? structuredClone(orig) : {};
    if (k === 'disabled' && kind0 === 'disabled') {
      if (!orig) return undefined;
    } else {
      for (const key of ['disabled', 'cron', 'maxFrequencyDays', 'maxFrequencyHours', 'max_frequency_days', 'max_frequency_hours']) delete s[key];
      if (k === 'disabled') s.disabled = true;
      else if (k === 'cron') s.cron = cron.input.value.trim();
      else if (k === 'days') s.maxFrequencyDays = intValue(dayF.input);
      else s.maxFrequencyHours = intValue(hourF.input);
    }
    if (clock.value === 'CLOCK_DEFAULT') delete s.clock;
    else s.clock = clock.value;
    return s;
  };
  box.check = () => {
    const k = kind.value;
    if (k === 'cron' && !cron.input.value.trim()) return 'Enter a cron expression, or choose another type.';
    if (k === 'days' || k === 'hours') {
      const n = intValue(valueField().input);
      if (!(n >= 1)) return `Enter a whole number of ${k}, at least 1.`;
    }
    return '';
  };
  let errFor = null; // the value the shown error is about: kept until the value changes
  box.setError = (msg) => {
    errFor = msg ? JSON.stringify(box.value()) : null;
    for (const f of [cron, dayF, hourF]) f.setError('');
    fsErr.textContent = '';
    const f = valueField();
    if (f) f.setError(msg);
    else fsErr.textContent = msg || '';
    box.classList.toggle('invalid', !!msg);
  };
  Object.defineProperty(box, 'input', { get: () => valueField()?.input || kind });

  let timer = 0;
  let ctl = null;
  async function refresh() {
    ctl?.abort();
    const problem = box.check();
    if (problem || errFor !== JSON.stringify(box.value())) box.setError(problem);
    clear(preview);
    if (problem) return;
    ctl = new AbortController();
    const signal = ctl.signal;
    try {
      const r = await call('Footrest', 'PreviewSchedule', { schedule: box.value() || { disabled: true }, count: 3 }, { signal });
      if (signal.aborted) return;
      const runs = (r.nextRunsMs || []).map((ms) => h('li', fmtTime(num(ms))));
      preview.append(h('p', r.description || ''), runs.length ? h('p.muted', 'Next runs (your time):') : null,
        runs.length ? h('ul', runs) : null, r.timezone ? h('p.hint', `footrest's time zone: ${r.timezone}`) : null);
    } catch (e) {
      if (e.name === 'AbortError' || signal.aborted) return;
      if (e.code === 'invalid_argument') box.setError(e.message.replace(/^schedule: /, ''));
      else preview.append(h('p.muted', `schedule preview unavailable: ${e.message}`));
    }
  }
  const later = () => { clearTimeout(timer); timer = setTimeout(refresh, 300); };
  const show = () => {
    for (const [k, f] of [['cron', cron], ['days', dayF], ['hours', hourF]]) f.hidden = kind.value !== k;
    clockF.hidden = kind.value === 'disabled';
  };
  kind.addEventListener('change', () => { show(); later(); });
  box.addEventListener('input', later);
  clock.addEventListener('change', later);
  show();
  refresh();
  box.stop = () => { clearTimeout(timer); ctl?.abort(); };
  return box;
}
