// Plans: what is backed up, to which repo, when.

import { h } from '../dom.js';

export function describeSchedule(s) {
  if (!s || s.disabled) return 'Not scheduled';
  if (s.cron) return `cron ${s.cron}`;
  const d = s.maxFrequencyDays;
  const hr = s.maxFrequencyHours;
  if (d) return `every ${d} day${d > 1 ? 's' : ''}`;
  if (hr) return `every ${hr} hour${hr > 1 ? 's' : ''}`;
  return 'Not scheduled';
}

export function render(main, _params, ctx) {
  const plans = ctx.config.plans || [];
  main.append(h('div.row.spread.head', h('h1', 'Plans'), h('a.button.primary', { href: '#/plans/new' }, 'Add a plan')));
  if (!plans.length) {
    main.append(h('p.card', (ctx.config.repos || []).length ? 'No plans yet. A plan says what to back up, to which repository, and when.'
      : 'No plans yet. Add a repository first, then a plan that backs up to it.'));
    return;
  }
  main.append(h('div.card.table-wrap', h('table',
    h('thead', h('tr', h('th', 'Plan'), h('th', 'Repository'), h('th.hide-phone', 'Paths'), h('th', 'Schedule'), h('th', h('span.sr-only', 'Actions')))),
    h('tbody', plans.map((p) => h('tr',
      h('td', p.id),
      h('td', p.repo),
      h('td.hide-phone', (p.paths || []).join(', ')),
      h('td', describeSchedule(p.schedule)),
      h('td.links', h('a', { href: `#/plans/${encodeURIComponent(p.id)}`, 'aria-label': `Edit plan ${p.id}` }, 'Edit'),
        h('a', { href: `#/operations?plan=${encodeURIComponent(p.id)}`, 'aria-label': `Operations of plan ${p.id}` }, 'Operations'))))))));
}
