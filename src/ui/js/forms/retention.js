// The retention editor (plans; repo forget policy).

import { h, field, uid } from '../dom.js';
import { int, intValue, get, snake } from './common.js';

const BUCKETS = [['keepLastN', 'Latest'], ['hourly', 'Hourly'], ['daily', 'Daily'],
  ['weekly', 'Weekly'], ['monthly', 'Monthly'], ['yearly', 'Yearly']];

/** retentionEditor('Retention', plan.retention) → fieldset with .value(), .check(), .setError(). */
export function retentionEditor(legend, ret, { hint } = {}) {
  const orig = ret ? structuredClone(ret) : undefined;
  const tb = get(ret, 'policyTimeBucketed');
  const lastN = get(ret, 'policyKeepLastN');
  const mode0 = lastN != null ? 'last' : tb ? 'time' : 'all';
  const group = uid('ret');
  const radio = (v, label) => {
    const r = h('input', { type: 'radio', name: group, value: v, checked: v === mode0 });
    return h('label.choice', r, label);
  };
  const lastF = field('Snapshots to keep', int(lastN, { min: 1 }));
  const bucketF = BUCKETS.map(([k, label]) => [k, field(label, int(get(tb, k) || '', { min: 0 }))]);
  const timeBox = h('div.buckets', h('p.hint', 'How many snapshots to keep per period (the newest of each hour, day, …). Empty or 0: none.'),
    h('div.bucket-grid', bucketF.map(([, f]) => f)));
  const err = h('p.error', { 'aria-live': 'polite' });
  const box = h('fieldset.field.retention', h('legend', legend), hint && h('p.hint', hint),
    radio('all', 'Keep all snapshots'), radio('last', 'Keep the last N snapshots'), radio('time', 'Keep snapshots by time'),
    lastF, timeBox, err);
  const mode = () => box.querySelector(`input[name="${group}"]:checked`)?.value || 'all';
  const show = () => { lastF.hidden = mode() !== 'last'; timeBox.hidden = mode() !== 'time'; };
  box.addEventListener('change', show);
  show();

  box.value = () => {
    const m = mode();
    if (m === 'all' && mode0 === 'all') return orig;
    const r = orig ? structuredClone(orig) : {};
    for (const k of ['policyKeepLastN', 'policyTimeBucketed', 'policyKeepAll', 'policy_keep_last_n', 'policy_time_bucketed', 'policy_keep_all']) delete r[k];
    if (m === 'all') r.policyKeepAll = true;
    else if (m === 'last') r.policyKeepLastN = intValue(lastF.input);
    else {
      const b = tb ? structuredClone(tb) : {};
      for (const [k, f] of bucketF) {
        delete b[snake(k)];
        const n = intValue(f.input);
        if (n) b[k] = n;
        else delete b[k];
      }
      r.policyTimeBucketed = b;
    }
    return r;
  };
  box.check = () => {
    const m = mode();
    if (m === 'last' && !(intValue(lastF.input) >= 1)) return 'Keep at least 1 snapshot (a whole number).';
    if (m === 'time') {
      const ns = bucketF.map(([, f]) => intValue(f.input) ?? 0);
      if (ns.some((n) => !(n >= 0))) return 'Counts must be whole numbers, 0 or more.';
      if (!ns.some((n) => n > 0)) return 'Keep at least one snapshot in some period.';
    }
    return '';
  };
  box.setError = (msg) => { err.textContent = msg || ''; box.classList.toggle('invalid', !!msg); };
  Object.defineProperty(box, 'input', { get: () => box.querySelector(`input[name="${group}"]:checked`) });
  return box;
}
