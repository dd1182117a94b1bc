// Add a repository (AddRepo: restic opens it, or initialises it when nothing is there) or edit
// one (SetConfig). The repo is edited as a copy of what GetConfig gave: unknown fields survive.

import { h, field, clearErrors } from '../dom.js';
import { rpc } from '../api.js';
import { stringList } from '../forms/lists.js';
import { scheduleEditor } from '../forms/schedule.js';
import { retentionEditor } from '../forms/retention.js';
import { hooksEditor } from '../forms/hooks.js';
import { text, int, num, numValue, checkbox, selectField, idProblem, put, get, showSaveError, showProblems, goWith } from '../forms/common.js';

const IO = [['IO_DEFAULT', 'Default'], ['IO_BEST_EFFORT_HIGH', 'Best effort, high'], ['IO_BEST_EFFORT_LOW', 'Best effort, low'], ['IO_IDLE', 'Idle']];
const CPU = [['CPU_DEFAULT', 'Default'], ['CPU_HIGH', 'High priority'], ['CPU_LOW', 'Low priority']];

export function render(main, params, ctx) {
  const base = structuredClone(ctx.config);
  base.repos ||= [];
  const index = params.id ? base.repos.findIndex((r) => r.id === params.id) : -1;
  if (params.id && index < 0) {
    main.append(h('h1', 'Repository not found'), h('p', 'There is no repository ', h('code', params.id), '. ', h('a', { href: '#/repos' }, 'See all repositories')));
    return;
  }
  const isNew = index < 0;
  const orig = isNew ? {} : base.repos[index];
  const prune = get(orig, 'prunePolicy') || {};
  const check = get(orig, 'checkPolicy') || {};
  const forget = get(orig, 'forgetPolicy') || {};
  const prefix = get(orig, 'commandPrefix') || {};

  const id = field('Repository id', text(orig.id, { readOnly: !isNew }), {
    hint: isNew ? 'A short name: letters, digits, _ - and . only. It cannot be changed later.' : 'The id cannot be changed.',
  });
  const uri = field('Repository URI', text(orig.uri, { placeholder: '/srv/backup or s3:https://…' }), {
    hint: isNew ? 'A local path or any restic repository URL. An empty location is initialised.'
      : `Changing it does not move the data. GUID: ${orig.guid || 'not known yet'}.`,
  });
  const password = field('Repository password', text(orig.password, { type: 'password', autocomplete: 'new-password' }), {
    hint: 'restic\'s encryption password (or set RESTIC_PASSWORD_FILE in the environment). Losing it means losing the backups.',
  });
  const env = stringList('Environment variables', orig.env, { item: 'variable', placeholder: 'AWS_ACCESS_KEY_ID=…', hint: 'KEY=VALUE, for restic (cloud credentials, RESTIC_PASSWORD_FILE…).' });
  const flags = stringList('Extra restic flags', orig.flags, { item: 'flag', placeholder: '--limit-upload 1000', hint: 'Added to every restic command for this repository.' });
  const autoUnlock = checkbox('Remove stale locks automatically', get(orig, 'autoUnlock'), 'Only safe if nothing else uses this repository.');
  const autoInit = checkbox('Initialise the repository when it does not exist', get(orig, 'autoInitialize'));
  const ioNice = selectField('Disk priority (ionice)', IO, get(prefix, 'ioNice') || 'IO_DEFAULT');
  const cpuNice = selectField('CPU priority (nice)', CPU, get(prefix, 'cpuNice') || 'CPU_DEFAULT');
  const pruneSched = scheduleEditor('Prune schedule', prune.schedule);
  const maxPct = field('Maximum unused space (%)', num(get(prune, 'maxUnusedPercent'), { min: 0, max: 100 }), { hint: 'Prune repacks until at most this share of the repository is unused.' });
  const maxBytes = field('Maximum unused space (bytes)', int(get(prune, 'maxUnusedBytes'), { min: 0 }), { hint: 'Used instead of the percentage when set.' });
  const checkSched = scheduleEditor('Check schedule', check.schedule);
  const structOnly = checkbox('Check the structure only (read no data)', get(check, 'structureOnly'));
  const readPct = field('Read this share of the data (%)', num(get(check, 'readDataSubsetPercent'), { min: 0, max: 100 }), { hint: 'restic check --read-data-subset; 0 or empty reads none.' });
  const forgetSched = scheduleEditor('Forget schedule', forget.schedule);
  const forgetRet = retentionEditor('Forget retention', forget.retention, { hint: 'Applies to all snapshots in the repository, not only this footrest\'s.' });
  const hooks = hooksEditor(orig.hooks, () => ({ repoId: id.input.value.trim() }));
  const syncCheck = () => { readPct.input.disabled = structOnly.input.checked; };
  structOnly.input.addEventListener('change', syncCheck);
  syncCheck();

  const formError = h('p.form-error', { role: 'alert', tabindex: '-1' });
  const status = h('p.muted', { role: 'status' });
  const save = h('button.primary', { type: 'submit' }, isNew ? 'Add repository' : 'Save repository');
  const del = !isNew && h('button.danger', { type: 'button', onclick: remove }, 'Remove repository');
  const sched = [pruneSched, checkSched, forgetSched];
  const form = h('form', { novalidate: true, 'aria-label': isNew ? 'New repository' : `Repository ${orig.id}` },
    formError,
    h('div.card', id, uri, password, env, flags, autoUnlock, autoInit, h('div.grid', ioNice, cpuNice)),
    h('div.card', h('h2', 'Maintenance'), pruneSched, h('div.grid', maxPct, maxBytes), checkSched, structOnly, readPct, forgetSched, forgetRet),
    h('div.card', hooks),
    h('div.row', save, h('a.button', { href: '#/repos' }, 'Cancel'), del), status);

  // A copy of the original policy with `fields` set; undefined if it was absent and stays empty.
  function policy(key, fields) {
    const o = structuredClone(get(orig, key) || {});
    for (const [k, v] of Object.entries(fields)) put(o, k, v);
    return !get(orig, key) && !Object.keys(o).length ? undefined : o;
  }

  function build() {
    const r = structuredClone(orig);
    r.id = id.input.value.trim();
    r.uri = uri.input.value.trim();
    put(r, 'password', password.input.value);
    put(r, 'env', env.value());
    put(r, 'flags', flags.value());
    put(r, 'autoUnlock', autoUnlock.input.checked);
    put(r, 'autoInitialize', autoInit.input.checked);
    const io = ioNice.input.value;
    const cpu = cpuNice.input.value;
    put(r, 'commandPrefix', policy('commandPrefix', { ioNice: io === 'IO_DEFAULT' ? undefined : io, cpuNice: cpu === 'CPU_DEFAULT' ? undefined : cpu }));
    const bytes = maxBytes.input.value.trim();
    put(r, 'prunePolicy', policy('prunePolicy', { schedule: pruneSched.value(), maxUnusedPercent: numValue(maxPct.input) || undefined, maxUnusedBytes: bytes && bytes !== '0' ? bytes : undefined }));
    const pct = numValue(readPct.input);
    const checkFields = { schedule: checkSched.value(), structureOnly: structOnly.input.checked || undefined, readDataSubsetPercent: structOnly.input.checked || pct === undefined ? undefined : pct };
    put(r, 'checkPolicy', policy('checkPolicy', checkFields));
    put(r, 'forgetPolicy', policy('forgetPolicy', { schedule: forgetSched.value(), retention: forgetRet.value() }));
    put(r, 'hooks', hooks.value());
    return r;
  }

  const owners = () => [`repo "${id.input.value.trim()}"`, `repos[${isNew ? base.repos.length : index}]`];
  const rules = [
    [/^(id|duplicate id|ids )/, id], [/^uri/, uri], [/^env/, env], [/^flag/, flags],
    [/^prunePolicy\.schedule/, pruneSched], [/^prunePolicy\.maxUnusedPercent/, maxPct], [/^prunePolicy\.maxUnusedBytes/, maxBytes],
    [/^checkPolicy\.schedule/, checkSched], [/^checkPolicy\.readData/, readPct],
    [/^forgetPolicy\.schedule/, forgetSched], [/^forgetPolicy\.retention/, forgetRet],
    [/^hooks\[(\d+)\]/, (m) => hooks.hook(Number(m[1]))],
    [/password|wrong/i, password],
  ];
  const onReload = async () => { await ctx.reloadConfig(); ctx.go(location.hash); };

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    clearErrors(form);
    hooks.setError('');
    const r = build();
    const problems = [];
    const idp = isNew ? idProblem(r.id, base.repos.some((x) => x.id === r.id)) : '';
    if (idp) problems.push([id, idp]);
    if (!r.uri) problems.push([uri, 'Enter where the repository is.']);
    const badEnv = env.value().find((e) => !/^[^=\s][^=]*=/.test(e));
    if (badEnv) problems.push([env, `"${badEnv}" is not of the form KEY=VALUE.`]);
    const envSetsPw = env.value().some((e) => /^RESTIC_PASSWORD(_FILE|_COMMAND)?=/.test(e));
    if (!r.password && !envSetsPw) problems.push([password, 'Enter the repository password (or set RESTIC_PASSWORD_FILE in the environment).']);
    const pctOk = (f, max) => { const n = numValue(f.input); if (n !== undefined && !(n >= 0 && n <= max)) problems.push([f, `Enter a number from 0 to ${max} (12.5 is fine).`]); };
    pctOk(maxPct, 100);
    pctOk(readPct, 100);
    if (!/^\d*$/.test(maxBytes.input.value.trim())) problems.push([maxBytes, 'Enter a whole number of bytes.']);
    for (const s of [...sched, forgetRet]) if (s.check()) problems.push([s, s.check()]);
    problems.push(...hooks.check());
    if (showProblems(problems, formError)) return;
    save.disabled = true;
    if (del) del.disabled = true;
    form.setAttribute('aria-busy', 'true');
    status.textContent = isNew ? 'restic is opening the repository, or initialising it if there is none. This can take a while…' : 'Saving…';
    try {
      let saved;
      if (isNew) saved = await rpc('AddRepo', { repo: r });
      else {
        const next = structuredClone(base);
        next.repos[index] = r;
        saved = await rpc('SetConfig', next);
      }
      ctx.setConfig(saved);
      const guid = saved.repos?.find((x) => x.id === r.id)?.guid;
      goWith(ctx, '#/repos', isNew ? `Repository "${r.id}" added${guid ? ` (GUID ${guid.slice(0, 8)}…)` : ''}.` : `Repository "${r.id}" saved.`);
    } catch (e) {
      if (e.code === 'permission_denied') {
        formError.textContent = 'Not saved: restic could not open the repository with this password.';
        password.setError(e.message);
        password.input.focus();
      } else if (e.status !== 401) showSaveError(e, { owners: owners(), rules, formError, onReload });
    } finally {
      save.disabled = false;
      if (del) del.disabled = false;
      form.removeAttribute('aria-busy');
      status.textContent = '';
    }
  });

  async function remove() {
    const users = (base.plans || []).filter((p) => p.repo === orig.id).map((p) => p.id);
    clearErrors(form);
    if (users.length) {
      formError.textContent = `Repository "${orig.id}" is used by plan${users.length > 1 ? 's' : ''} ${users.join(', ')}. Delete or move ${users.length > 1 ? 'them' : 'it'} first.`;
      formError.focus();
      return;
    }
    if (!confirm(`Remove repository "${orig.id}" from footrest? Its operation history in footrest is deleted. The repository itself and its snapshots at ${orig.uri} are not touched.`)) return;
    del.disabled = true;
    try {
      const saved = await rpc('RemoveRepo', { value: orig.id });
      ctx.setConfig(saved);
      goWith(ctx, '#/repos', `Repository "${orig.id}" removed from footrest.`);
    } catch (e) {
      if (e.status !== 401) showSaveError(e, { owners: owners(), rules, formError, onReload });
    } finally {
      del.disabled = false;
    }
  }

  main.append(h('h1', isNew ? 'Add a repository' : `Repository ${orig.id}`), form);
  if (isNew) id.input.focus();
  return () => sched.forEach((s) => s.stop());
}
