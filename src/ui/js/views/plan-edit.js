// Add or edit a plan. The plan is edited as a copy of what GetConfig gave, so fields this form
// does not show are sent back unchanged.

import { h, field, clearErrors } from '../dom.js';
import { rpc } from '../api.js';
import { stringList } from '../forms/lists.js';
import { scheduleEditor } from '../forms/schedule.js';
import { retentionEditor } from '../forms/retention.js';
import { hooksEditor } from '../forms/hooks.js';
import { text, checkbox, selectField, idProblem, put, get, showSaveError, showProblems, goWith } from '../forms/common.js';

export function render(main, params, ctx) {
  const base = structuredClone(ctx.config);
  base.plans ||= [];
  const index = params.id ? base.plans.findIndex((p) => p.id === params.id) : -1;
  if (params.id && index < 0) {
    main.append(h('h1', 'Plan not found'), h('p', 'There is no plan ', h('code', params.id), '. ', h('a', { href: '#/plans' }, 'See all plans')));
    return;
  }
  const isNew = index < 0;
  const repos = base.repos || [];
  const orig = isNew ? {
    repo: repos.length === 1 ? repos[0].id : '', schedule: { cron: '0 2 * * *', clock: 'CLOCK_LOCAL' },
    retention: { policyTimeBucketed: { daily: 7, weekly: 4, monthly: 6 } },
  } : base.plans[index];

  const id = field('Plan id', text(orig.id, { readOnly: !isNew }), {
    hint: isNew ? 'Letters, digits, _ - and . only. It cannot be changed later.' : 'The id cannot be changed.',
  });
  const repoOpts = [['', repos.length ? 'Choose a repository' : 'No repositories yet'], ...repos.map((r) => [r.id, `${r.id} (${r.uri})`])];
  if (orig.repo && !repos.some((r) => r.id === orig.repo)) repoOpts.push([orig.repo, `${orig.repo} (missing)`]);
  const repo = selectField('Repository', repoOpts, orig.repo || '');
  const paths = stringList('Paths to back up', orig.paths, { item: 'path', placeholder: '/home/me' });
  const excludes = stringList('Excludes', orig.excludes, { item: 'exclude', placeholder: '*.tmp', hint: 'restic --exclude patterns.' });
  const iexcludes = stringList('Case-insensitive excludes', orig.iexcludes, { item: 'case-insensitive exclude', hint: 'restic --iexclude patterns.' });
  const schedule = scheduleEditor('Schedule', orig.schedule);
  const retention = retentionEditor('Retention', orig.retention, { hint: 'What to keep when forgetting after a backup.' });
  const flags = stringList('Extra backup flags', get(orig, 'backupFlags'), { item: 'flag', placeholder: '--one-file-system', hint: 'Passed to restic backup as they are.' });
  const skip = checkbox('Skip the backup when nothing changed', get(orig, 'skipIfUnchanged'), 'No new snapshot when restic finds no changes.');
  const hooks = hooksEditor(orig.hooks, () => ({ planId: id.input.value.trim() }));
  const formError = h('p.form-error', { role: 'alert', tabindex: '-1' });
  const save = h('button.primary', { type: 'submit' }, isNew ? 'Create plan' : 'Save plan');
  const status = h('p.muted', { role: 'status' });
  const del = !isNew && h('button.danger', { type: 'button', onclick: remove }, 'Delete plan');
  const form = h('form', { novalidate: true, 'aria-label': isNew ? 'New plan' : `Plan ${orig.id}` },
    formError,
    h('div.card', id, repo, repos.length ? null : h('p', h('a', { href: '#/repos/new' }, 'Add a repository first')), paths, excludes, iexcludes, flags, skip),
    h('div.card', schedule, retention),
    h('div.card', hooks),
    h('div.row', save, h('a.button', { href: '#/plans' }, 'Cancel'), del), status);

  function build() {
    const p = structuredClone(orig);
    p.id = id.input.value.trim();
    p.repo = repo.input.value;
    put(p, 'paths', paths.value());
    put(p, 'excludes', excludes.value());
    put(p, 'iexcludes', iexcludes.value());
    put(p, 'schedule', schedule.value());
    put(p, 'retention', retention.value());
    delete p.backupFlags;
    put(p, 'backup_flags', flags.value());
    put(p, 'skipIfUnchanged', skip.input.checked);
    put(p, 'hooks', hooks.value());
    return p;
  }

  const owners = () => [`plan "${id.input.value.trim()}"`, `plans[${isNew ? base.plans.length : index}]`];
  const rules = [
    [/^(id|duplicate id|ids )/, id], [/^repo/, repo], [/path/, paths], [/backup flag/, flags],
    [/^schedule/, schedule], [/^retention/, retention],
    [/^hooks\[(\d+)\]/, (m) => hooks.hook(Number(m[1]))],
  ];

  async function send(next, done) {
    try {
      const saved = await rpc('SetConfig', next);
      ctx.setConfig(saved);
      done();
      return true;
    } catch (e) {
      if (e.status === 401) return false;
      showSaveError(e, { owners: owners(), rules, formError, onReload: async () => { await ctx.reloadConfig(); ctx.go(location.hash); } });
      return false;
    }
  }

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    clearErrors(form);
    hooks.setError('');
    const p = build();
    const problems = [];
    const idp = isNew ? idProblem(p.id, base.plans.some((x) => x.id === p.id)) : '';
    if (idp) problems.push([id, idp]);
    if (!p.repo) problems.push([repo, 'Choose the repository to back up to.']);
    if (!paths.value().length && !flags.value().length) problems.push([paths, 'Add at least one path to back up.']);
    for (const [box] of [[schedule], [retention]]) if (box.check()) problems.push([box, box.check()]);
    problems.push(...hooks.check());
    if (showProblems(problems, formError)) return;
    const next = structuredClone(base);
    if (isNew) next.plans.push(p);
    else next.plans[index] = p;
    save.disabled = true;
    status.textContent = 'Saving…';
    await send(next, () => {
      goWith(ctx, '#/plans', `Plan "${p.id}" ${isNew ? 'created' : 'saved'}.`);
    });
    save.disabled = false;
    status.textContent = '';
  });

  async function remove() {
    if (!confirm(`Delete plan "${orig.id}"? It will no longer run. Its snapshots stay in repository "${orig.repo}", and its operation history stays in footrest.`)) return;
    clearErrors(form);
    const next = structuredClone(base);
    next.plans.splice(index, 1);
    del.disabled = true;
    await send(next, () => {
      goWith(ctx, '#/plans', `Plan "${orig.id}" deleted.`);
    });
    del.disabled = false;
  }

  main.append(h('h1', isNew ? 'Add a plan' : `Plan ${orig.id}`), form);
  if (isNew) id.input.focus();
  return () => schedule.stop();
}
