// Repositories: where backups are stored.

import { h } from '../dom.js';

export function render(main, _params, ctx) {
  const repos = ctx.config.repos || [];
  main.append(h('div.row.spread.head', h('h1', 'Repositories'), h('a.button.primary', { href: '#/repos/new' }, 'Add a repository')));
  if (!repos.length) {
    main.append(h('p.card', 'No repositories yet. A repository is where restic stores the backups: a local directory, a server, or cloud storage.'));
    return;
  }
  const link = (href, label, text) => h('a', { href, 'aria-label': label }, text);
  main.append(h('div.card.table-wrap', h('table',
    h('thead', h('tr', h('th', 'Repository'), h('th', 'URI'), h('th.hide-phone', 'GUID'), h('th', h('span.sr-only', 'Actions')))),
    h('tbody', repos.map((r) => {
      const e = encodeURIComponent(r.id);
      return h('tr',
        h('td', r.id),
        h('td', h('code.uri', r.uri)),
        h('td.hide-phone', h('code', { title: r.guid || '' }, r.guid ? r.guid.slice(0, 8) : '—')),
        h('td.links', link(`#/repos/${e}`, `Edit repository ${r.id}`, 'Edit'),
          link(`#/repos/${e}/snapshots`, `Snapshots of ${r.id}`, 'Snapshots'),
          link(`#/repos/${e}/run`, `Run command on ${r.id}`, 'Run command')));
    })))));
}
