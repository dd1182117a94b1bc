// Run a restic command against one repo (its URI, password and env come from footrest) and
// watch its output as it arrives.

import { rpc, stream, num } from '../api.js';
import { h, field, clear, statusBadge, statusText } from '../dom.js';

const FINAL = ['STATUS_SUCCESS', 'STATUS_WARNING', 'STATUS_ERROR', 'STATUS_USER_CANCELLED', 'STATUS_SYSTEM_CANCELLED'];
const KEY = 'footrest.commands';

export function render(main, params, ctx) {
  const repo = (ctx.config.repos || []).find((r) => r.id === params.id);
  if (!repo) {
    main.append(h('h1', 'Repo not found'), h('p', 'There is no repo ', h('code', params.id), '. ', h('a', { href: '#/repos' }, 'Back to repos')));
    return;
  }
  const ac = new AbortController();
  let run = null; // AbortController of the command being followed
  const input = h('input', { name: 'command', autocomplete: 'off', spellcheck: 'false', placeholder: 'snapshots --compact' });
  const f = field('restic arguments', input, { name: 'command', hint: 'What follows "restic", e.g. snapshots --compact, stats, check. Quotes group words; no shell.' });
  const runBtn = h('button.primary', { type: 'submit' }, 'Run');
  const cancelBtn = h('button', { type: 'button', hidden: true, onclick: () => cancel() }, 'Cancel command');
  const state = h('p', { role: 'status', 'aria-live': 'polite' });
  const out = h('pre.log.cmd-out', { role: 'log', 'aria-label': 'Command output', tabindex: '0', hidden: true });
  const hist = h('div');
  const form = h('form.card', { novalidate: true }, f, h('div.row', runBtn, cancelBtn));
  let opId = 0;

  main.append(
    h('h1', `Run a restic command on ${repo.id}`),
    h('p', 'The command runs as ', h('code', 'restic <arguments>'), ' against ', h('code', repo.uri || repo.id),
      ' with this repo\'s password and environment, supplied by footrest. It runs beside scheduled tasks and can change the repository (forget, prune, key …): take care.'),
    h('p', h('a', { href: `#/repos/${encodeURIComponent(repo.id)}/snapshots` }, 'Snapshots of this repo')),
    form, state, out, hist);

  const history = () => { try { return JSON.parse(sessionStorage.getItem(KEY) || '{}')[repo.id] || []; } catch { return []; } };
  function remember(cmd) {
    let all = {};
    try { all = JSON.parse(sessionStorage.getItem(KEY) || '{}'); } catch { /* start over */ }
    all[repo.id] = [cmd, ...(all[repo.id] || []).filter((c) => c !== cmd)].slice(0, 10);
    sessionStorage.setItem(KEY, JSON.stringify(all));
    showHistory();
  }
  function showHistory() {
    const cmds = history();
    clear(hist);
    if (!cmds.length) return;
    hist.append(h('h2', 'Run in this session'), h('ul.cmd-history', cmds.map((c) => h('li',
      h('button.link', { type: 'button', 'aria-label': `Use ${c}`, onclick: () => { input.value = c; input.focus(); } }, h('code', c))))));
  }
  showHistory();

  async function cancel() {
    if (!opId) return;
    try { await rpc('Cancel', { operationId: String(opId) }, { signal: ac.signal }); } catch (e) { ctx.error(e, 'Cancelling the command'); }
  }

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    f.setError('');
    const command = input.value.trim().replace(/^restic\s+/, '');
    if (!command) return f.setError('Enter the arguments to restic, e.g. snapshots.'), input.focus();
    run?.abort();
    run = new AbortController();
    const signal = AbortSignal.any([ac.signal, run.signal]);
    runBtn.disabled = true;
    state.textContent = `Starting restic ${command}…`;
    clear(out).hidden = true;
    let op;
    try {
      opId = num((await rpc('RunCommand', { repoId: repo.id, command }, { signal })).operationId);
      remember(command);
      op = (await rpc('GetOperations', { selector: { ids: [String(opId)] } }, { signal })).operations?.[0];
    } catch (e) {
      runBtn.disabled = false;
      state.textContent = '';
      if (e.name === 'AbortError') return;
      if (/^command/.test(e.message)) return f.setError(e.message), input.focus();
      return ctx.error(e, 'Running the command');
    }
    runBtn.disabled = false;
    cancelBtn.hidden = false;
    state.textContent = `Running restic ${command}…`;
    out.hidden = false;
    const ref = op?.operationRunCommand?.outputLogref;
    const dec = new TextDecoder();
    try {
      if (ref) {
        await stream('GetLogs', { ref }, (m) => {
          const bin = atob(m.value || '');
          const bytes = Uint8Array.from(bin, (c) => c.charCodeAt(0));
          const stick = out.scrollTop + out.clientHeight >= out.scrollHeight - 4;
          out.append(dec.decode(bytes, { stream: true }));
          if (stick) out.scrollTop = out.scrollHeight;
        }, signal);
      }
      // The log ends when the command has finished; its status follows right after.
      for (let i = 0; i < 60 && !signal.aborted; i++) {
        op = (await rpc('GetOperations', { selector: { ids: [String(opId)] } }, { signal })).operations?.[0];
        if (!op || FINAL.includes(op.status)) break;
        await new Promise((r) => setTimeout(r, ref ? 250 : 1000));
      }
    } catch (e) {
      if (e.name !== 'AbortError' && !signal.aborted) ctx.error(e, 'Reading the command output');
    }
    if (signal.aborted) return;
    cancelBtn.hidden = true;
    if (!out.textContent) out.textContent = '(no output)';
    if (!op) return (state.textContent = `Command ${opId} is gone from the history.`);
    clear(state).append(statusBadge(op.status), ' ',
      FINAL.includes(op.status) ? `restic ${command}: ${statusText(op.status).toLowerCase()}.` : `restic ${command} is still running.`,
      op.displayMessage && op.status !== 'STATUS_SUCCESS' ? ` ${op.displayMessage}` : '',
      ' ', h('a', { href: `#/operations?flow=${num(op.flowId) || opId}` }, `Operation ${opId}`));
  });

  input.focus();
  return () => { ac.abort(); };
}
