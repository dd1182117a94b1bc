// Dashboard: every plan and repo at a glance (last backup, next run, 30 days, bytes added),
// overdue warnings, "Back up now"; kept current from the operation event stream.

import { rpc, followEvents, num } from '../api.js';
import { h, clear, append, fmtBytes, fmtTime, fmtAgo, statusBadge, statusText } from '../dom.js';

const DAY = 86400e3;
const OK = ['STATUS_SUCCESS', 'STATUS_WARNING'];

/** A schedule in words: "daily", "every 6 hours", "by cron 0 2 * * *". */
export function scheduleText(s) {
  if (!s || s.disabled) return '';
  if (s.maxFrequencyDays) return +s.maxFrequencyDays === 1 ? 'daily' : `every ${s.maxFrequencyDays} days`;
  if (s.maxFrequencyHours) return +s.maxFrequencyHours === 1 ? 'hourly' : `every ${s.maxFrequencyHours} hours`;
  if (s.cron) return `by cron “${s.cron}”`;
  return '';
}

/** The backups of a summary's chart as a list of {t, status, added}. */
function backups(sum) {
  const r = sum?.recentBackups || {};
  return (r.timestampMs || []).map((t, i) => ({ t: num(t), status: (r.status || [])[i], added: num((r.bytesAdded || [])[i]) }));
}

/** Whether and why a plan is overdue, from the server's per-day flags and its last success. */
function overdue(plan, sum) {
  const sched = scheduleText(plan.schedule);
  const days = sum?.historyLast30days || [];
  if (!sched || !days.length) return '';
  const last = days[days.length - 1];
  const prev = days[days.length - 2];
  const okToday = (last.statusCounts || []).some((c) => OK.includes(c.status));
  if (!last.overdue && !(prev?.overdue && !okToday)) return '';
  const lastOk = backups(sum).filter((b) => OK.includes(b.status)).pop();
  const when = lastOk ? `last success ${fmtAgo(lastOk.t)}` : 'no successful backup in the last 30 days';
  return `Overdue: ${when}, scheduled ${sched}.`;
}

/** 30 cells, one per day, with a text alternative. */
function strip(sum) {
  const days = sum?.historyLast30days || [];
  let ok = 0, failed = 0, warned = 0;
  const cells = days.map((d) => {
    const has = (s) => (d.statusCounts || []).some((c) => c.status === s && num(c.count) > 0);
    const cls = has('STATUS_ERROR') ? 'err' : has('STATUS_WARNING') ? 'warn' : has('STATUS_SUCCESS') ? 'ok' : '';
    if (cls === 'err') failed++;
    if (cls === 'warn') warned++;
    if (has('STATUS_SUCCESS') || has('STATUS_WARNING')) ok++;
    const day = new Date(num(d.timestampMs)).toLocaleDateString();
    return h(`span${cls ? '.' + cls : ''}`, { title: `${day}: ${cls === 'err' ? 'failed' : cls === 'warn' ? 'warning' : cls ? 'backed up' : 'no backup'}` });
  });
  const n = days.length || 30;
  const label = `${ok} of ${n} days backed up` + (failed ? `, ${failed} failed` : '') + (warned ? `, ${warned} with warnings` : '');
  return h('div.strip', { role: 'img', 'aria-label': label }, cells);
}

const SVG = 'http://www.w3.org/2000/svg';
const svg = (tag, attrs = {}) => {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  return el;
};

/** Bytes added per backup as bars, newest right. */
function chart(sum) {
  const list = backups(sum).filter((b) => b.status !== 'STATUS_INPROGRESS');
  if (!list.length) return null;
  const max = Math.max(1, ...list.map((b) => b.added));
  const total = list.reduce((a, b) => a + b.added, 0);
  const label = `Bytes added by the last ${list.length} backups: ${fmtBytes(total)} in all, at most ${fmtBytes(max)} at once`;
  const w = 100, ht = 40, bw = w / Math.max(list.length, 10);
  const el = svg('svg', { class: 'chart', viewBox: `0 0 ${w} ${ht}`, preserveAspectRatio: 'none', role: 'img', 'aria-label': label });
  list.forEach((b, i) => {
    const bh = Math.max(b.added ? 1 : 0.4, (b.added / max) * (ht - 2));
    const r = svg('rect', { x: (w - list.length * bw + i * bw + bw * 0.15).toFixed(2), y: (ht - bh).toFixed(2), width: (bw * 0.7).toFixed(2), height: bh.toFixed(2), fill: 'currentColor', class: b.status === 'STATUS_ERROR' ? 'err' : '' });
    r.append(svg('title'));
    r.firstChild.textContent = `${fmtTime(b.t)}: ${fmtBytes(b.added)} added`;
    el.append(r);
  });
  return el;
}

function progressLine(op) {
  const st = op?.operationBackup?.lastStatus?.status;
  if (!st) return h('p', 'Running…');
  const pct = Math.round((st.percentDone || 0) * 100);
  return h('div', h('progress', { max: 100, value: pct, 'aria-label': `Backup progress ${pct}%` }),
    h('p.muted', `${pct}% · ${fmtBytes(num(st.bytesDone))} of ${fmtBytes(num(st.totalBytes))}`));
}

function lastLine(sum) {
  const last = backups(sum).filter((b) => b.status !== 'STATUS_INPROGRESS').pop();
  if (!last) return h('p.muted', 'No backup in the last 30 days.');
  return h('p', 'Last backup: ', statusBadge(last.status), ' ', h('time', { datetime: new Date(last.t).toISOString(), title: fmtTime(last.t) }, fmtAgo(last.t)));
}

function nextLine(sum, sched) {
  const next = num(sum?.nextBackupTimeMs);
  if (next) return h('p', `Next run: ${fmtTime(next)} (${fmtAgo(next)})`);
  return h('p.muted', sched ? 'Next run: not scheduled yet' : 'No schedule: runs only when started by hand');
}

export async function render(main, _params, ctx) {
  const ac = new AbortController();
  let alive = true;
  const cfg = ctx.config || {};
  const repos = cfg.repos || [];
  const plans = cfg.plans || [];
  main.append(h('h1', 'Dashboard'));
  if (!repos.length) {
    main.append(h('div.card.dash', h('h2', 'No repositories yet'),
      h('p', 'A repository is where restic keeps your backups. Add one to begin.'),
      h('a.button.primary', { href: '#/repos/new' }, 'Add a repository')));
    return () => ac.abort();
  }
  const status = h('p.muted', { role: 'status', 'aria-live': 'polite' });
  main.append(status);

  const running = new Map(); // planId → running backup operation
  const planCards = new Map();
  const repoCards = new Map();
  let summary = {};

  const planSection = h('section', { 'aria-labelledby': 'dash-plans' }, h('h2', { id: 'dash-plans' }, 'Plans'));
  if (!plans.length) {
    planSection.append(h('div.card.dash', h('p', 'No plan yet. A plan says what to back up, where, and when.'),
      h('a.button.primary', { href: '#/plans/new' }, 'Add a plan')));
  }
  const planGrid = h('div.grid');
  planSection.append(planGrid);
  for (const p of plans) {
    const body = h('div');
    const btn = h('button.primary', { type: 'button', 'aria-label': `Back up now: ${p.id}` }, 'Back up now');
    btn.addEventListener('click', () => backupNow(p.id, btn));
    planGrid.append(h('article.card.dash', { 'aria-labelledby': `plan-${p.id}` },
      h('h3', { id: `plan-${p.id}` }, `Plan ${p.id}`), body,
      h('div.row', btn,
        h('a', { href: `#/operations?plan=${encodeURIComponent(p.id)}`, 'aria-label': `Operations of plan ${p.id}` }, 'Operations'),
        h('a', { href: `#/plans/${encodeURIComponent(p.id)}`, 'aria-label': `Edit plan ${p.id}` }, 'Edit'))));
    planCards.set(p.id, { plan: p, body });
  }

  const repoGrid = h('div.grid');
  for (const r of repos) {
    const body = h('div');
    const id = encodeURIComponent(r.id);
    repoGrid.append(h('article.card.dash', { 'aria-labelledby': `repo-${r.id}` },
      h('h3', { id: `repo-${r.id}` }, `Repository ${r.id}`), body,
      h('div.row',
        h('a', { href: `#/repos/${id}/snapshots`, 'aria-label': `Snapshots of repository ${r.id}` }, 'Snapshots'),
        h('a', { href: `#/repos/${id}/run`, 'aria-label': `Run command in repository ${r.id}` }, 'Run command'),
        h('a', { href: `#/repos/${id}`, 'aria-label': `Edit repository ${r.id}` }, 'Edit'))));
    repoCards.set(r.id, { repo: r, body });
  }
  main.append(planSection, h('section', { 'aria-labelledby': 'dash-repos' }, h('h2', { id: 'dash-repos' }, 'Repositories'), repoGrid));

  function drawPlan(id) {
    const c = planCards.get(id);
    const sum = (summary.planSummaries || []).find((s) => s.id === id);
    const sched = scheduleText(c.plan.schedule);
    const late = overdue(c.plan, sum);
    const op = running.get(id);
    const ch = chart(sum);
    append(clear(c.body), [
      h('p.muted', `To ${c.plan.repo} · ${sched ? 'runs ' + sched : 'no schedule'}`),
      late && h('p.overdue', late),
      op ? progressLine(op) : lastLine(sum),
      nextLine(sum, sched),
      h('h4.muted', '30 days'), strip(sum),
      ch && [h('h4.muted', 'Bytes added per backup'), ch]]);
  }

  function drawRepo(id) {
    const c = repoCards.get(id);
    const sum = (summary.repoSummaries || []).find((s) => s.id === id);
    const ok = num(sum?.backupsSuccessLast30days), warn = num(sum?.backupsWarningLast30days), bad = num(sum?.backupsFailed30days);
    const late = (sum?.historyLast30days || []).slice(-1)[0]?.overdue;
    append(clear(c.body), [
      h('p.muted.mono', c.repo.uri),
      late && h('p.overdue', 'A plan of this repository is overdue.'),
      lastLine(sum), nextLine(sum, plans.some((p) => p.repo === id && scheduleText(p.schedule))),
      h('dl.facts',
        h('dt', 'Snapshots'), h('dd', String(num(sum?.totalSnapshots))),
        h('dt', 'Backups, 30 days'), h('dd', `${ok} succeeded` + (warn ? `, ${warn} with warnings` : '') + `, ${bad} failed`),
        h('dt', 'Added, 30 days'), h('dd', fmtBytes(num(sum?.bytesAddedLast30days))))]);
  }

  const drawAll = () => {
    for (const id of planCards.keys()) drawPlan(id);
    for (const id of repoCards.keys()) drawRepo(id);
  };

  async function load() {
    try {
      summary = await rpc('GetSummaryDashboard', {}, { signal: ac.signal });
      // A backup already running when the page opened: fetch it for its progress.
      for (const s of summary.planSummaries || []) {
        if (planCards.has(s.id) && !running.has(s.id) && (s.recentBackups?.status || []).includes('STATUS_INPROGRESS')) {
          const r = await rpc('GetOperations', { selector: { planId: s.id }, lastN: '3' }, { signal: ac.signal });
          const op = (r.operations || []).find((o) => o.status === 'STATUS_INPROGRESS' && o.operationBackup);
          if (op) running.set(s.id, op);
        }
      }
      if (alive) drawAll();
    } catch (e) {
      if (alive) ctx.error(e, 'Loading the dashboard failed');
    }
  }

  function backupNow(planId, btn) {
    btn.disabled = true;
    status.textContent = `Backup of plan ${planId} started.`;
    rpc('Backup', { value: planId }).then(() => {
      if (alive) status.textContent = `Backup of plan ${planId} finished.`;
    }, (e) => {
      if (!alive) return;
      if (e.code === 'canceled') status.textContent = `Backup of plan ${planId} was cancelled.`;
      else ctx.error(e, `Backup of plan ${planId}`);
    }).finally(() => {
      btn.disabled = false;
      if (alive) scheduleLoad();
    });
  }

  // Live: progress redraws one card at most every 500 ms; status changes reload the summary
  // (which reads the whole history on the server) at most every 3 s.
  let loadTimer = null, lastLoad = 0;
  const scheduleLoad = () => {
    if (loadTimer) return;
    loadTimer = setTimeout(() => { loadTimer = null; lastLoad = Date.now(); load(); }, Math.max(300, 3000 - (Date.now() - lastLoad)));
  };
  const dirty = new Set();
  let drawTimer = null;
  const scheduleDraw = (id) => {
    dirty.add(id);
    drawTimer ??= setTimeout(() => {
      drawTimer = null;
      for (const p of dirty) if (planCards.has(p)) drawPlan(p);
      dirty.clear();
    }, 500);
  };
  const onEvent = (ev) => {
    const ops = [...(ev.createdOperations?.operations || []), ...(ev.updatedOperations?.operations || [])];
    if (ev.deletedOperations) scheduleLoad();
    for (const op of ops) {
      if (!op.operationBackup) {
        if (op.operationIndexSnapshot || op.status !== 'STATUS_INPROGRESS') scheduleLoad();
        continue;
      }
      const was = running.get(op.planId);
      if (op.status === 'STATUS_INPROGRESS') {
        running.set(op.planId, op);
        if (!was) { status.textContent = `Backup of plan ${op.planId} is running.`; scheduleLoad(); }
      } else {
        if (was && was.id === op.id) {
          running.delete(op.planId);
          status.textContent = `Backup of plan ${op.planId}: ${statusText(op.status)}.`;
        }
        scheduleLoad();
      }
      scheduleDraw(op.planId);
    }
  };
  drawAll();
  lastLoad = Date.now();
  await load();
  // The event stream, reconnected 10 s after it breaks (one alert per outage).
  followEvents(onEvent, {
    signal: ac.signal,
    onResume: load,
    onDown: (e) => ctx.error(e, 'Live updates paused; trying again every 10 s'),
  });
  return () => {
    alive = false;
    ac.abort();
    clearTimeout(loadTimer);
    clearTimeout(drawTimer);
  };
}
