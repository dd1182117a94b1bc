// A repo's snapshots: list (filter by plan), browse one, download, restore, forget.

import { rpc, num } from '../api.js';
import { h, field, clear, fmtBytes, fmtTime, statusBadge, statusText, uid } from '../dom.js';

const FINAL = ['STATUS_SUCCESS', 'STATUS_WARNING', 'STATUS_ERROR', 'STATUS_USER_CANCELLED', 'STATUS_SYSTEM_CANCELLED'];
const planOf = (s) => (s.tags || []).find((t) => t.startsWith('plan:'))?.slice(5) || '';
const short = (id) => (id || '').slice(0, 8);
const parentOf = (p) => p.replace(/\/[^/]*$/, '') || '/';
const baseOf = (p) => p.split('/').pop() || '/';

/** A modal dialog: a heading, content, and buttons; resolves with the chosen value. */
function dialog(title, body, buttons, onOpen) {
  const hid = uid('dlg');
  const d = h('dialog.dlg', { 'aria-labelledby': hid }, h('h2', { id: hid }, title), body,
    h('div.row', buttons.map(([label, value, cls]) => h(`button${cls ? '.' + cls : ''}`,
      { type: value === 'submit' ? 'submit' : 'button', onclick: value === 'submit' ? null : () => done(value) }, label))));
  let resolve;
  const done = (v) => { resolve(v); d.close(); d.remove(); };
  d.addEventListener('cancel', (e) => { e.preventDefault(); done(false); });
  document.body.append(d);
  d.showModal();
  onOpen?.(d, done);
  return new Promise((r) => { resolve = r; });
}

export async function render(main, params, ctx) {
  const repo = (ctx.config.repos || []).find((r) => r.id === params.id);
  if (!repo) {
    main.append(h('h1', 'Repo not found'), h('p', 'There is no repo ', h('code', params.id), '. ', h('a', { href: '#/repos' }, 'Back to repos')));
    return;
  }
  const ac = new AbortController();
  const { signal } = ac;
  const state = { plan: params.plan || '', snapshot: params.snapshot || '', path: params.path || '/' };
  const base = `#/repos/${encodeURIComponent(repo.id)}/snapshots`;
  const remember = () => {
    const q = new URLSearchParams(Object.entries({ plan: state.plan, snapshot: short(state.snapshot), path: state.snapshot && state.path !== '/' ? state.path : '' }).filter(([, v]) => v));
    history.replaceState(null, '', `${base}${q.size ? '?' + q : ''}`);
  };
  let snaps = [];
  let ops = [];

  const planSel = h('select', { name: 'plan', onchange: () => { state.plan = planSel.value; remember(); showList(); } });
  const status = h('p.muted', { role: 'status' }, 'Loading snapshots…');
  const list = h('div');
  const browser = h('section', { 'aria-labelledby': 'snap-title' });
  const restores = h('div', { 'aria-live': 'polite' });
  main.append(
    h('h1', `Snapshots of ${repo.id}`),
    h('p.row.snap-links', h('a', { href: `#/repos/${encodeURIComponent(repo.id)}/run` }, 'Run a restic command'), ' · ',
      h('a', { href: `#/repos/${encodeURIComponent(repo.id)}` }, 'Edit repo'), ' · ',
      h('button.link', { type: 'button', onclick: () => load() }, 'Refresh')),
    h('div.snap-filter', field('Plan', planSel)), status, list, restores, browser);

  async function load() {
    status.textContent = 'Loading snapshots…';
    try {
      const [s, o] = await Promise.all([
        rpc('ListSnapshots', { repoId: repo.id }, { signal }),
        repo.guid ? rpc('GetOperations', { selector: { repoGuid: repo.guid } }, { signal }) : { operations: [] },
      ]);
      snaps = (s.snapshots || []).slice().sort((a, b) => num(b.unixTimeMs) - num(a.unixTimeMs));
      ops = o.operations || [];
    } catch (e) {
      status.textContent = 'The snapshots could not be listed.';
      return ctx.error(e, 'Listing snapshots');
    }
    const plans = new Set((ctx.config.plans || []).filter((p) => p.repo === repo.id).map((p) => p.id));
    for (const s of snaps) if (planOf(s)) plans.add(planOf(s));
    if (state.plan) plans.add(state.plan);
    clear(planSel).append(h('option', { value: '' }, 'All plans'), ...[...plans].sort().map((p) => h('option', { value: p }, p)));
    planSel.value = state.plan;
    showList();
    const sel = state.snapshot.length >= 8 && snaps.find((s) => s.id.startsWith(state.snapshot));
    if (sel) open(sel, state.path, false);
    else if (state.snapshot) { state.snapshot = ''; clear(browser); remember(); }
  }

  const opsOf = (id) => ops.filter((o) => o.snapshotId === id);
  const sizeOf = (s) => {
    const sum = s.summary || opsOf(s.id).map((o) => o.operationBackup?.lastStatus?.summary).find(Boolean);
    return sum ? [fmtBytes(num(sum.totalBytesProcessed)), num(sum.dataAdded) ? h('span.hide-phone', `, ${fmtBytes(num(sum.dataAdded))} added`) : ''] : '—';
  };

  function showList() {
    const shown = snaps.filter((s) => !state.plan || planOf(s) === state.plan);
    status.textContent = `${shown.length} snapshot${shown.length === 1 ? '' : 's'}${state.plan ? ` of plan ${state.plan}` : ''}, newest first.`;
    clear(list);
    if (!shown.length) return;
    list.append(h('div.table-wrap', h('table',
      h('caption.sr-only', 'Snapshots'),
      h('thead', h('tr', ['Time', 'ID', 'Plan', 'Host and tags', 'Paths', 'Size', h('span.sr-only', 'Actions')].map((t, i) => h(i === 3 || i === 4 ? 'th.hide-phone' : 'th', { scope: 'col' }, t)))),
      h('tbody', shown.map((s) => h('tr', { class: s.id === state.snapshot ? 'current' : null },
        h('td', fmtTime(num(s.unixTimeMs))),
        h('td', h('code.nowrap', short(s.id))),
        h('td', planOf(s) || h('span.muted', 'none')),
        h('td.hide-phone', s.hostname || '', ' ', (s.tags || []).filter((t) => !t.startsWith('plan:')).map((t) => [h('span.badge', t), ' '])),
        h('td.hide-phone', (s.paths || []).map((p) => h('div', h('code', p)))),
        h('td', sizeOf(s)),
        h('td', h('button', { type: 'button', 'aria-label': `Browse snapshot ${short(s.id)}`, onclick: () => open(s, '/', true) }, 'Browse'))))))));
  }

  async function indexOp(s) {
    const find = () => ops.find((o) => o.snapshotId === s.id && o.operationIndexSnapshot);
    if (!find()) {
      // Not indexed yet (a snapshot made outside footrest, or just now): index, then look again.
      await rpc('DoRepoTask', { repoId: repo.id, task: 'TASK_INDEX_SNAPSHOTS' }, { signal });
      ops = (await rpc('GetOperations', { selector: { repoGuid: repo.guid } }, { signal })).operations || [];
    }
    const op = find();
    if (!op) throw new Error(`snapshot ${short(s.id)} has no index operation; downloads need one`);
    return op.id;
  }

  async function download(s, path, btn) {
    btn.disabled = true;
    try {
      const r = await rpc('GetDownloadURL', { opId: String(await indexOp(s)), filePath: path }, { signal });
      const a = h('a', { href: new URL(r.value + encodeURIComponent(baseOf(path)), location.href).href, download: '' });
      document.body.append(a);
      a.click();
      a.remove();
    } catch (e) {
      ctx.error(e, `Downloading ${path}`);
    } finally {
      btn.disabled = false;
    }
  }

  async function open(s, path, focus) {
    state.snapshot = s.id;
    state.path = path;
    remember();
    showList();
    const title = h('h2', { id: 'snap-title', tabindex: '-1' }, `Snapshot ${short(s.id)}, ${fmtTime(num(s.unixTimeMs))}`);
    const where = h('p.muted', { role: 'status' }, `Listing ${path}…`);
    clear(browser).append(title, where);
    if (focus) title.focus();
    let entries;
    try {
      entries = (await rpc('ListSnapshotFiles', { repoId: repo.id, snapshotId: s.id, path }, { signal })).entries || [];
    } catch (e) {
      where.textContent = `${path} could not be listed.`;
      return ctx.error(e, `Listing ${path} in snapshot ${short(s.id)}`);
    }
    if (state.snapshot !== s.id || state.path !== path) return;
    entries = entries.filter((e) => e.path !== path && parentOf(e.path) === path)
      .sort((a, b) => (b.type === 'dir') - (a.type === 'dir') || a.name.localeCompare(b.name));
    const parts = path.split('/').filter(Boolean);
    const crumbs = h('nav.crumbs', { 'aria-label': 'Folder path' }, h('ol',
      ['/', ...parts].map((p, i) => {
        const to = '/' + parts.slice(0, i).join('/');
        const label = i === 0 ? 'Snapshot root' : p;
        return h('li', i === parts.length ? h('span', { 'aria-current': 'location' }, label)
          : h('button.link', { type: 'button', onclick: () => open(s, to, true) }, label));
      })));
    const dirBtn = (label, fn) => h('button', { type: 'button', onclick: (e) => fn(e.currentTarget) }, label);
    where.textContent = `${path}: ${entries.length} item${entries.length === 1 ? '' : 's'}.`;
    browser.append(crumbs,
      h('div.row.snap-actions',
        dirBtn(path === '/' ? 'Download snapshot' : 'Download this folder', (b) => download(s, path, b)),
        dirBtn(path === '/' ? 'Restore snapshot…' : 'Restore this folder…', () => restoreForm(s, path)),
        h('button.danger', { type: 'button', onclick: (e) => forget(s, e.currentTarget) }, 'Forget this snapshot')),
      h('p.hint', 'A folder downloads as a .tar archive; a file as itself.'),
      entries.length ? h('div.table-wrap', h('table',
        h('caption.sr-only', `Contents of ${path}`),
        h('thead', h('tr', ['Name', 'Size', 'Modified', 'Actions'].map((t, i) => h(i === 2 ? 'th.hide-phone' : 'th', { scope: 'col' }, t)))),
        h('tbody', entries.map((e) => h('tr',
          h('td', e.type === 'dir'
            ? h('button.link.entry', { type: 'button', 'aria-label': `Open folder ${e.name}`, onclick: () => open(s, e.path, true) }, `${e.name}/`)
            : h('span.entry', e.type === 'symlink' ? `↪ ${e.name}` : e.name)),
          h('td', e.type === 'dir' ? '' : fmtBytes(num(e.size))),
          h('td.hide-phone', e.mtime ? fmtTime(Date.parse(e.mtime)) : ''),
          h('td', h('div.row',
            h('button', { type: 'button', 'aria-label': `Download ${e.name}`, onclick: (ev) => download(s, e.path, ev.currentTarget) }, 'Download'),
            h('button', { type: 'button', 'aria-label': `Restore ${e.name}…`, onclick: () => restoreForm(s, e.path) }, 'Restore…'))))))))
        : h('p.muted', 'This folder is empty.'));
  }

  async function forget(s, btn) {
    const ok = await dialog(`Forget snapshot ${short(s.id)}?`,
      h('p', `This removes snapshot ${short(s.id)} (${fmtTime(num(s.unixTimeMs))}) from the repository ${repo.id}. Its data is freed by the next prune. This cannot be undone.`),
      [['Forget snapshot', true, 'danger'], ['Cancel', false]]);
    if (!ok) return;
    btn.disabled = true;
    btn.textContent = 'Forgetting…';
    try {
      await rpc('Forget', { repoId: repo.id, snapshotId: s.id }, { signal });
      ctx.notice(`Snapshot ${short(s.id)} was forgotten.`);
      state.snapshot = '';
      clear(browser);
      remember();
      await load();
    } catch (e) {
      ctx.error(e, `Forgetting snapshot ${short(s.id)}`);
      btn.disabled = false;
      btn.textContent = 'Forget this snapshot';
    }
  }

  function restoreForm(s, path) {
    const input = h('input', { name: 'target', autocomplete: 'off', spellcheck: 'false', placeholder: '/path/that/does/not/exist/yet' });
    const dl = h('datalist', { id: uid('targets') });
    input.setAttribute('list', dl.id);
    const f = field('Restore to', input, { name: 'target', hint: 'An absolute path on the footrest machine that does not exist yet. Leave empty for ~/Downloads/restic-restore-<time>.' });
    let timer;
    let asked = '';
    input.addEventListener('input', () => {
      clearTimeout(timer);
      timer = setTimeout(async () => {
        const dir = input.value.startsWith('/') ? input.value.replace(/[^/]*$/, '') : '';
        if (!dir || dir === asked) return;
        asked = dir;
        try {
          const r = await rpc('PathAutocomplete', { value: dir }, { signal });
          clear(dl).append(...(r.values || []).slice(0, 200).map((v) => h('option', { value: dir + v })));
        } catch { asked = ''; /* suggestions are optional; the restore reports real errors */ }
      }, 200);
    });
    const formError = h('p.form-error', { role: 'alert' });
    const form = h('form', { novalidate: true, id: uid('restore') },
      h('p', 'Restore ', h('code', path), ` from snapshot ${short(s.id)} (${fmtTime(num(s.unixTimeMs))}).`), f, dl, formError);
    dialog(`Restore ${baseOf(path)}`, form, [['Restore', 'submit', 'primary'], ['Cancel', false]], (d, done) => {
      d.querySelector('button[type=submit]').setAttribute('form', form.id);
      input.focus();
      form.addEventListener('submit', async (ev) => {
        ev.preventDefault();
        f.setError('');
        formError.textContent = '';
        const target = input.value.trim();
        if (target && !target.startsWith('/')) return f.setError('Enter an absolute path (starting with /), or leave it empty.');
        const plan = planOf(s);
        try {
          const r = await rpc('Restore', { repoId: repo.id, planId: (ctx.config.plans || []).some((p) => p.id === plan) ? plan : '', snapshotId: s.id, path, target }, { signal });
          done(true);
          follow(num(r.operationId), path);
        } catch (e) {
          if (/target/.test(e.message)) f.setError(e.message), input.focus();
          else formError.textContent = e.message;
        }
      });
    });
  }

  async function follow(id, path) {
    const line = h('p', `Restore of ${path} started.`);
    const link = h('a', { href: `#/operations?flow=${id}` }, `Operation ${id}`);
    const box = h('div.card.restore', { role: 'status' }, h('div.row.spread', line, link));
    restores.prepend(box);
    while (!signal.aborted) {
      let op;
      try {
        op = (await rpc('GetOperations', { selector: { ids: [String(id)] } }, { signal })).operations?.[0];
      } catch (e) {
        if (signal.aborted) return;
        return ctx.error(e, `Following restore ${id}`);
      }
      if (!op) return (line.textContent = `Restore of ${path}: operation ${id} is gone from the history.`);
      link.href = `#/operations?flow=${num(op.flowId) || id}`;
      const r = op.operationRestore || {};
      const st = r.lastStatus || {};
      if (FINAL.includes(op.status)) {
        clear(line).append(statusBadge(op.status), ' ');
        if (op.status === 'STATUS_SUCCESS') {
          line.append(`Restored ${path} to `, h('code', r.target), num(st.totalBytes) ? ` (${num(st.filesRestored)} file${num(st.filesRestored) === 1 ? '' : 's'}, ${fmtBytes(num(st.bytesRestored))}).` : '.');
          box.append(h('button', { type: 'button', onclick: async (e) => {
            try {
              const u = await rpc('GetDownloadURL', { opId: String(id), filePath: '/' }, { signal });
              const a = h('a', { href: new URL(u.value + encodeURIComponent(baseOf(r.target)) + '.tar.gz', location.href).href, download: '' });
              document.body.append(a); a.click(); a.remove();
            } catch (err) { ctx.error(err, 'Downloading the restored files'); }
            e.currentTarget?.blur();
          } }, 'Download restored files (.tar.gz)'));
        } else {
          line.append(`Restore of ${path} ${statusText(op.status).toLowerCase()}: ${op.displayMessage || 'no details'}`);
        }
        return;
      }
      line.textContent = `Restoring ${path} to ${r.target || '…'}: ${statusText(op.status).toLowerCase()}${st.percentDone ? `, ${Math.round(st.percentDone * 100)}%` : ''}.`;
      await new Promise((res) => setTimeout(res, 1000));
    }
  }

  load();
  return () => ac.abort();
}
