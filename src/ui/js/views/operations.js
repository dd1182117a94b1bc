// Operations: the history grouped by flow (a backup and what it triggered), newest first,
// paged with lastN, filtered by plan/repo/flow, updated live; progress, cancel, logs.

import { rpc, stream, followEvents, num } from '../api.js';
import { h, clear, append, field, fmtBytes, fmtDuration, fmtTime, statusBadge, statusText } from '../dom.js';

const PAGE = 100;
const LIVE = ['STATUS_PENDING', 'STATUS_INPROGRESS'];
const KINDS = [
  ['operationBackup', 'Backup'], ['operationIndexSnapshot', 'Snapshot'], ['operationForget', 'Forget'],
  ['operationPrune', 'Prune'], ['operationRestore', 'Restore'], ['operationStats', 'Stats'],
  ['operationRunHook', 'Hook'], ['operationCheck', 'Check'], ['operationRunCommand', 'Command'],
];
const kind = (op) => (KINDS.find(([k]) => op[k]) || [, 'Operation'])[1];
const short = (id) => (id || '').slice(0, 8);

/** The logs an operation has, [label, ref]: its task log and, when separate, its output. */
function logsOf(op) {
  const refs = [op.logref, ...['operationPrune', 'operationCheck', 'operationRunCommand'].map((k) => op[k]?.outputLogref)];
  return [...new Set(refs.filter(Boolean))].map((r, i) => [i ? 'Show output' : 'Show log', r]);
}

function progress(label, pct, parts) {
  return h('div.op-progress',
    h('progress', { max: 100, value: pct, 'aria-label': `${label} ${pct}%` }),
    h('p.muted', [`${pct}%`, ...parts].filter(Boolean).join(' · ')));
}

/** What an operation did or is doing, as DOM. */
function details(op) {
  const out = [];
  const msg = op.displayMessage;
  const bad = ['STATUS_ERROR', 'STATUS_WARNING'].includes(op.status);
  if (msg && !(op.status === 'STATUS_PENDING' && msg === 'scheduled')) out.push(h(bad ? 'pre.op-msg.op-err' : 'pre.op-msg', msg));
  const b = op.operationBackup;
  if (b) {
    const st = b.lastStatus?.status;
    const sum = b.lastStatus?.summary;
    if (op.status === 'STATUS_INPROGRESS') {
      if (!st) out.push(h('p.muted', 'Starting…'));
      else {
        const pct = Math.round((st.percentDone || 0) * 100);
        const files = st.totalFiles || st.filesDone ? `${num(st.filesDone)} of ${num(st.totalFiles)} files` : '';
        out.push(progress('Backup progress', pct, [`${fmtBytes(num(st.bytesDone))} of ${fmtBytes(num(st.totalBytes))}`, files]));
        if (st.currentFile?.length) out.push(h('p.mono.op-file', 'Now: ', st.currentFile.join(', ')));
      }
    }
    if (sum) {
      out.push(h('dl.facts',
        h('dt', 'Files'), h('dd', `${num(sum.filesNew)} new, ${num(sum.filesChanged)} changed, ${num(sum.filesUnmodified)} unchanged`),
        h('dt', 'Added'), h('dd', `${fmtBytes(num(sum.dataAdded))} (of ${fmtBytes(num(sum.totalBytesProcessed))} read)`),
        sum.totalDuration ? [h('dt', 'restic took'), h('dd', fmtDuration(sum.totalDuration * 1000))] : null));
    }
    if (b.dryRun) out.push(h('p.muted', 'Dry run'));
    if (b.errors?.length) {
      out.push(h('p', `${b.errors.length} file error${b.errors.length > 1 ? 's' : ''}:`),
        h('ul.op-errors', b.errors.map((e) => h('li', h('code', e.item || '?'), ` (${e.during || 'unknown'}): ${e.message || ''}`))));
    }
  }
  const r = op.operationRestore;
  if (r) {
    out.push(h('p', 'Restore ', h('code', r.path || '/'), ' to ', h('code', r.target || '?')));
    const st = r.lastStatus;
    if (st && op.status === 'STATUS_INPROGRESS') {
      const pct = Math.round((st.percentDone || 0) * 100);
      out.push(progress('Restore progress', pct, [`${fmtBytes(num(st.bytesRestored))} of ${fmtBytes(num(st.totalBytes))}`,
        `${num(st.filesRestored)} of ${num(st.totalFiles)} files`]));
    }
  }
  const snap = op.operationIndexSnapshot;
  if (snap) {
    const s = snap.snapshot || {};
    out.push(h('p', snap.forgot ? h('span.badge', 'Forgotten') : null, ' ', (s.paths || []).join(', '), s.hostname ? ` on ${s.hostname}` : ''));
  }
  const f = op.operationForget;
  if (f) out.push(h('p', f.forget?.length ? `Removed ${f.forget.length} snapshot(s): ${f.forget.map((s) => short(s.id)).join(', ')}` : 'No snapshot removed'));
  const stats = op.operationStats?.stats;
  if (stats) out.push(h('p', `${num(stats.snapshotCount)} snapshots, ${fmtBytes(num(stats.totalSize))} stored`));
  const hook = op.operationRunHook;
  if (hook) out.push(h('p', `${hook.name || 'hook'}${hook.condition ? ' on ' + hook.condition.replace(/^CONDITION_/, '') : ''}`));
  const cmd = op.operationRunCommand;
  if (cmd) out.push(h('p', h('code', `restic ${cmd.command || ''}`)));
  return out;
}

function when(op) {
  const start = num(op.unixTimeStartMs), end = num(op.unixTimeEndMs);
  if (op.status === 'STATUS_PENDING') return start > Date.now() ? `scheduled for ${fmtTime(start)}` : `queued since ${fmtTime(start)}`;
  if (op.status === 'STATUS_INPROGRESS') return `started ${fmtTime(start)}, running for ${fmtDuration(Date.now() - start)}`;
  return `${fmtTime(start)}${end >= start && end ? ', took ' + fmtDuration(end - start) : ''}`;
}

export async function render(main, params, ctx) {
  const ac = new AbortController();
  const cfg = ctx.config || {};
  const plans = cfg.plans || [], repos = cfg.repos || [];
  const repo = repos.find((r) => r.id === params.repo);
  const flow = params.flow && /^\d+$/.test(params.flow) ? params.flow : '';
  let lastN = PAGE;

  const selector = {};
  if (flow) selector.flowId = flow;
  if (params.plan) selector.planId = params.plan;
  if (params.repo) selector.repoGuid = repo?.guid || '-';
  const matches = (op) => (!flow || op.flowId === flow) && (!params.plan || op.planId === params.plan)
    && (!params.repo || op.repoId === params.repo || (repo?.guid && op.repoGuid === repo.guid));

  // Filters: changing one moves to the matching address (the router renders again).
  const go = (plan, rep) => {
    const q = new URLSearchParams();
    if (plan) q.set('plan', plan);
    if (rep) q.set('repo', rep);
    ctx.go(`#/operations${q.size ? '?' + q : ''}`);
  };
  const planSel = h('select', { name: 'plan' }, h('option', { value: '' }, 'All plans'), plans.map((p) => h('option', { value: p.id }, p.id)));
  const repoSel = h('select', { name: 'repo' }, h('option', { value: '' }, 'All repositories'), repos.map((r) => h('option', { value: r.id }, r.id)));
  for (const [sel, val] of [[planSel, params.plan], [repoSel, params.repo]]) {
    if (val && ![...sel.options].some((o) => o.value === val)) sel.append(h('option', { value: val }, `${val} (removed)`));
    sel.value = val || '';
  }
  planSel.addEventListener('change', () => go(planSel.value, repoSel.value));
  repoSel.addEventListener('change', () => go(planSel.value, repoSel.value));

  const status = h('p.muted', { role: 'status', 'aria-live': 'polite' });
  const list = h('div.flows');
  const more = h('button', { type: 'button', hidden: true }, 'Show older operations');
  main.append(h('h1', flow ? `Operations of flow ${flow}` : 'Operations'),
    flow ? h('p', h('a', { href: '#/operations' }, 'Show all operations')) : h('div.row.op-filters', field('Plan', planSel), field('Repository', repoSel)),
    status, list, more);

  const ops = new Map(); // id → op
  const els = new Map(); // id → {el, info, actions, logs}
  const logStreams = new Map(); // ref → AbortController

  function toggleLog(op, label, ref, btn, box) {
    const open = logStreams.get(ref);
    if (open) {
      open.abort();
      logStreams.delete(ref);
      clear(box);
      btn.setAttribute('aria-expanded', 'false');
      return;
    }
    const la = new AbortController();
    logStreams.set(ref, la);
    btn.setAttribute('aria-expanded', 'true');
    const pre = h('pre.log', { role: 'log', tabindex: 0, 'aria-label': `${label.replace('Show ', '')} of operation ${op.id}` });
    const note = h('p.muted', { 'aria-live': 'polite' }, 'Loading…');
    clear(box).append(pre, note);
    const dec = new TextDecoder();
    const onMsg = (m) => {
      const bin = atob(m.value || '');
      const bytes = Uint8Array.from(bin, (c) => c.charCodeAt(0));
      const stick = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
      pre.append(dec.decode(bytes, { stream: true }));
      if (stick) pre.scrollTop = pre.scrollHeight;
      note.textContent = LIVE.includes(ops.get(op.id)?.status) ? 'Following the log while the task runs…' : '';
    };
    stream('GetLogs', { ref }, onMsg, la.signal).then(() => {
      if (la.signal.aborted) return;
      note.textContent = pre.textContent ? 'End of log.' : 'The log is empty.';
    }, (e) => {
      note.textContent = `The log could not be read: ${e.message}`;
      note.className = 'form-error';
    });
  }

  function opElement(op) {
    let e = els.get(op.id);
    if (!e) {
      e = { info: h('div'), actions: h('div.row'), logs: h('div'), refs: '' };
      e.el = h('li.op', e.info, e.actions, e.logs);
      els.set(op.id, e);
    }
    const start = num(op.unixTimeStartMs);
    append(clear(e.info), [
      h('div.row', h('strong', kind(op)), statusBadge(op.status),
        h('time.muted', { datetime: start ? new Date(start).toISOString() : undefined }, when(op)),
        op.snapshotId ? h('span', 'snapshot ', h('code', { title: op.snapshotId }, short(op.snapshotId))) : null),
      details(op)]);
    const refs = logsOf(op).map(([, r]) => r).join(' ');
    const cancellable = LIVE.includes(op.status);
    if (refs !== e.refs || cancellable !== e.cancellable) {
      e.refs = refs;
      e.cancellable = cancellable;
      clear(e.actions);
      for (const [label, ref] of logsOf(op)) {
        const bid = `log-${op.id}-${ref.replace(/\W/g, '_')}`;
        const box = e.logs.querySelector(`#${bid}`) || e.logs.appendChild(h('div.op-log', { id: bid }));
        const btn = h('button', { type: 'button', 'aria-expanded': logStreams.has(ref) ? 'true' : 'false', 'aria-controls': box.id, 'aria-label': `${label} of operation ${op.id}` }, label);
        btn.addEventListener('click', () => toggleLog(op, label, ref, btn, box));
        e.actions.append(btn);
      }
      if (cancellable) {
        const btn = h('button.danger', { type: 'button', 'aria-label': `Cancel operation ${op.id}` }, 'Cancel');
        btn.addEventListener('click', () => cancel(op.id, btn));
        e.actions.append(btn);
      }
    }
    return e.el;
  }

  async function cancel(id, btn) {
    const op = ops.get(id);
    if (!confirm(`Cancel ${kind(op || {}).toLowerCase()} operation ${id}?`)) return;
    btn.disabled = true;
    try {
      await rpc('Cancel', { value: String(id) });
      status.textContent = `Cancel requested for operation ${id}.`;
    } catch (e) {
      ctx.error(e, `Cancelling operation ${id}`);
      btn.disabled = false;
    }
  }

  function flowTitle(group) {
    const first = group.find((o) => o.operationBackup) || group[0];
    const where = [first.planId && !first.planId.startsWith('_') ? `plan ${first.planId}` : '', first.repoId ? `repo ${first.repoId}` : ''].filter(Boolean).join(', ');
    return `${kind(first)}${where ? ' · ' + where : ''}`;
  }

  /** Groups by flow, newest first; reuses each operation's element (open logs stay open). */
  function drawAll() {
    const flows = new Map();
    for (const op of ops.values()) {
      const k = op.flowId || op.id;
      if (!flows.has(k)) flows.set(k, []);
      flows.get(k).push(op);
    }
    const latest = (g) => Math.max(...g.map((o) => num(o.unixTimeStartMs)));
    const sorted = [...flows.entries()].sort((a, b) => latest(b[1]) - latest(a[1]) || num(b[0]) - num(a[0]));
    const kids = sorted.map(([fid, group]) => {
      group.sort((a, b) => num(a.unixTimeStartMs) - num(b.unixTimeStartMs) || num(a.id) - num(b.id));
      const hid = `flow-${fid}`;
      return h('article.card.flow', { 'aria-labelledby': hid },
        h('div.row.spread', h('h2', { id: hid }, flowTitle(group)),
          !flow && group.length > 1 ? h('a', { href: `#/operations?flow=${fid}`, 'aria-label': `Only flow ${fid}` }, `Flow ${fid}`) : null),
        h('ul.ops', group.map(opElement)));
    });
    clear(list).append(...kids);
    if (!kids.length) list.append(h('p', 'No operations yet.', ' ', plans.length ? h('a', { href: '#/' }, 'Start a backup from the dashboard') : null));
  }

  async function load() {
    more.disabled = true;
    try {
      const r = await rpc('GetOperations', { selector, lastN: String(lastN) }, { signal: ac.signal });
      const got = r.operations || [];
      for (const op of got) ops.set(op.id, op);
      more.hidden = got.length < lastN;
      drawAll();
    } catch (e) {
      ctx.error(e, 'Loading the operations failed');
    } finally {
      more.disabled = false;
    }
  }
  more.addEventListener('click', () => { lastN += PAGE; load(); });

  // Live: changed operations are redrawn in place every 500 ms at most; new or deleted ones
  // regroup the list.
  const dirty = new Set();
  let regroup = false, timer = null;
  const flush = () => {
    timer = null;
    if (regroup) drawAll();
    else for (const id of dirty) if (ops.has(id)) opElement(ops.get(id));
    dirty.clear();
    regroup = false;
  };
  const onEvent = (ev) => {
    for (const op of [...(ev.createdOperations?.operations || []), ...(ev.updatedOperations?.operations || [])]) {
      if (!matches(op)) continue;
      const old = ops.get(op.id);
      if (!old) regroup = true;
      else if (old.status !== op.status) {
        if (!LIVE.includes(op.status)) status.textContent = `${kind(op)} operation ${op.id}: ${statusText(op.status)}.`;
        else if (op.status === 'STATUS_INPROGRESS') status.textContent = `${kind(op)} operation ${op.id} is running.`;
        if (old.unixTimeStartMs !== op.unixTimeStartMs) regroup = true;
      }
      ops.set(op.id, op);
      dirty.add(op.id);
    }
    for (const id of ev.deletedOperations?.values || []) {
      if (ops.delete(id)) {
        els.delete(id);
        regroup = true;
      }
    }
    if ((dirty.size || regroup) && !timer) timer = setTimeout(flush, 500);
  };
  // Running operations' "running for" text moves on even without events.
  const tick = setInterval(() => {
    for (const op of ops.values()) if (op.status === 'STATUS_INPROGRESS') dirty.add(op.id);
    if (dirty.size && !timer) timer = setTimeout(flush, 0);
  }, 5000);

  await load();
  // The event stream, reconnected 10 s after it breaks (one alert per outage).
  followEvents(onEvent, {
    signal: ac.signal,
    onResume: load,
    onDown: (e) => ctx.error(e, 'Live updates paused; trying again every 10 s'),
  });
  return () => {
    ac.abort();
    for (const a of logStreams.values()) a.abort();
    clearTimeout(timer);
    clearInterval(tick);
  };
}
