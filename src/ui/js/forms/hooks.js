// The hooks editor (plans and repos), with a Test button (Footrest/TestHook).

import { h, field, clear, fmtDuration } from '../dom.js';
import { call, num } from '../api.js';
import { text, select, get, put, snake } from './common.js';

const CONDITIONS = [
  [1, 'ANY_ERROR', 'Any error'], [2, 'SNAPSHOT_START', 'Backup starts'], [3, 'SNAPSHOT_END', 'Backup ends'],
  [6, 'SNAPSHOT_SUCCESS', 'Backup succeeds'], [5, 'SNAPSHOT_WARNING', 'Backup has warnings'],
  [4, 'SNAPSHOT_ERROR', 'Backup fails'], [7, 'SNAPSHOT_SKIPPED', 'Backup skipped (unchanged)'],
  [100, 'PRUNE_START', 'Prune starts'], [102, 'PRUNE_SUCCESS', 'Prune succeeds'], [101, 'PRUNE_ERROR', 'Prune fails'],
  [200, 'CHECK_START', 'Check starts'], [202, 'CHECK_SUCCESS', 'Check succeeds'], [201, 'CHECK_ERROR', 'Check fails'],
  [300, 'FORGET_START', 'Forget starts'], [302, 'FORGET_SUCCESS', 'Forget succeeds'], [301, 'FORGET_ERROR', 'Forget fails'],
].map(([n, k, label]) => [n, 'CONDITION_' + k, label]);

const ON_ERROR = [[0, 'ON_ERROR_IGNORE', 'Ignore it (log and go on)'], [1, 'ON_ERROR_CANCEL', 'Cancel the task'],
  [2, 'ON_ERROR_FATAL', 'Fail the task'], [100, 'ON_ERROR_RETRY_1MINUTE', 'Retry the task after 1 minute'],
  [101, 'ON_ERROR_RETRY_10MINUTES', 'Retry the task after 10 minutes'],
  [103, 'ON_ERROR_RETRY_EXPONENTIAL_BACKOFF', 'Retry the task with growing delays']];

const T = ['template', 'Message template', 'area', 'Go template; empty: {{ .Summary }}'];
const TITLE = ['titleTemplate', 'Title template', 'line'];
const HOOK_URL = (label) => ['webhookUrl', label, 'url'];
const PRIORITY = ['priority', 'Priority', 'int'];
// kind → [action key, name, fields: [key, label, type, hint]]
const KINDS = {
  command: ['actionCommand', 'Run a command', [['command', 'Script', 'area', 'Run by sh on this machine; a #! first line picks the interpreter. Templates allowed.']]],
  webhook: ['actionWebhook', 'Webhook', [HOOK_URL('URL'), ['method', 'Method', 'method'], T]],
  discord: ['actionDiscord', 'Discord', [HOOK_URL('Discord webhook URL'), T]],
  slack: ['actionSlack', 'Slack', [HOOK_URL('Slack webhook URL'), T]],
  gotify: ['actionGotify', 'Gotify', [['baseUrl', 'Gotify server URL', 'url'], ['token', 'App token', 'line'], TITLE, T, PRIORITY]],
  ntfy: ['actionNtfy', 'ntfy', [['url', 'Topic URL', 'url'], ['token', 'Access token (optional)', 'line'], TITLE, T, PRIORITY]],
  telegram: ['actionTelegram', 'Telegram', [['botToken', 'Bot token', 'line'], ['chatId', 'Chat id', 'line'], T]],
  healthchecks: ['actionHealthchecks', 'Healthchecks', [HOOK_URL('Ping URL'), T]],
  shoutrrr: ['actionShoutrrr', 'Shoutrrr', [['shoutrrrUrl', 'Shoutrrr URL', 'url'], T]],
  uptimekuma: ['actionUptimeKuma', 'Uptime Kuma', [['pushUrl', 'Push URL', 'url'], T]],
};
const kindOf = (hook) => Object.keys(KINDS).find((k) => hook[KINDS[k][0]] != null || hook[snake(KINDS[k][0])] != null);
const condName = (c) => (CONDITIONS.find(([n, k]) => c === n || c === k) || [])[1];
const errName = (e) => (ON_ERROR.find(([n, k]) => e === n || e === k) || [])[1];

/** hooksEditor(plan.hooks, () => ({planId})) → section with .value(), .check(), .hook(i). */
export function hooksEditor(hooks, owner) {
  const list = h('div.hooks');
  const addBtn = h('button', { type: 'button', onclick: () => add({ conditions: ['CONDITION_SNAPSHOT_END'], actionCommand: { command: '' } }, true) }, 'Add a hook');
  const err = h('p.error', { 'aria-live': 'polite' });
  const box = h('section.hooks-editor', h('h2', 'Hooks'),
    h('p.hint', 'Commands or notifications run when a task starts, ends or fails.'), list, addBtn, err);
  const renumber = () => [...list.children].forEach((c, i) => c.number(i + 1));

  function add(orig, focus) {
    const conds = new Set((get(orig, 'conditions') || []).map(condName));
    let kind = kindOf(orig) || 'command';
    const origKind = kindOf(orig);
    const vals = { ...(get(orig, KINDS[kind][0]) || {}) };
    for (const [k] of KINDS[kind][2]) vals[k] = get(vals, k);
    const legend = h('legend');
    const condBox = h('fieldset.conditions', h('legend', 'Runs when'),
      h('div.cond-grid', CONDITIONS.map(([, k, label]) => h('label.choice',
        h('input', { type: 'checkbox', value: k, checked: conds.has(k) }), label))));
    const kindSel = select(Object.entries(KINDS).map(([k, [, n]]) => [k, n]), kind);
    const onErr = select(ON_ERROR.map(([, k, l]) => [k, l]), errName(get(orig, 'onError')) || 'ON_ERROR_IGNORE');
    const fields = h('div.action-fields');
    const inputs = {};
    const drawFields = () => {
      clear(fields);
      for (const [k, label, type, hint] of KINDS[kind][2]) {
        const v = vals[k] ?? '';
        const input = type === 'area' ? h('textarea', { rows: 3, text: v })
          : type === 'method' ? select([['POST', 'POST'], ['GET', 'GET']], v === 'GET' || v === 1 ? 'GET' : 'POST')
            : text(v, { type: type === 'int' ? 'number' : type === 'url' ? 'url' : 'text' });
        input.addEventListener('input', () => { vals[k] = input.value; });
        inputs[k] = input;
        fields.append(field(label, input, { hint }));
      }
    };
    kindSel.addEventListener('change', () => {
      for (const [k, input] of Object.entries(inputs)) vals[k] = input.value;
      kind = kindSel.value;
      for (const k of Object.keys(inputs)) delete inputs[k];
      drawFields();
    });
    drawFields();
    const result = h('p.hook-result', { 'aria-live': 'polite' });
    const hookErr = h('p.error', { 'aria-live': 'polite' });
    const testBtn = h('button', { type: 'button' }, 'Test');
    const removeBtn = h('button.danger', { type: 'button' }, 'Remove');
    const card = h('fieldset.field.hook', legend, h('div.grid', field('Action', kindSel), field('If the hook fails', onErr)),
      condBox, fields, hookErr, h('div.row', testBtn, removeBtn), result);

    card.value = () => {
      const o = structuredClone(orig);
      put(o, 'conditions', [...condBox.querySelectorAll('input:checked')].map((c) => c.value));
      const e = onErr.value;
      if (e === 'ON_ERROR_IGNORE' && get(orig, 'onError') == null) put(o, 'onError');
      else put(o, 'onError', e);
      const key = KINDS[kind][0];
      let a = {};
      if (origKind === kind) a = structuredClone(get(orig, key));
      if (origKind) { delete o[KINDS[origKind][0]]; delete o[snake(KINDS[origKind][0])]; }
      for (const [k, , type] of KINDS[kind][2]) {
        const v = inputs[k].value;
        if (type === 'int') put(a, k, v.trim() === '' ? undefined : Number(v));
        else put(a, k, v);
      }
      o[key] = a;
      return o;
    };
    card.number = (i) => {
      legend.textContent = `Hook ${i}`;
      testBtn.setAttribute('aria-label', `Test hook ${i}`);
      removeBtn.setAttribute('aria-label', `Remove hook ${i}`);
    };
    card.setError = (msg) => { hookErr.textContent = msg || ''; card.classList.toggle('invalid', !!msg); };
    card.input = kindSel;
    removeBtn.onclick = () => {
      const next = card.nextElementSibling || card.previousElementSibling;
      card.remove();
      renumber();
      (next?.querySelector('select') || addBtn).focus();
    };
    testBtn.onclick = async () => {
      testBtn.disabled = true;
      result.className = 'hook-result';
      result.textContent = 'Running the hook…';
      try {
        const r = await call('Footrest', 'TestHook', { hook: card.value(), ...owner() });
        result.classList.add(r.ok ? 'ok' : 'err');
        result.textContent = `${r.ok ? 'Worked' : 'Failed'} (${fmtDuration(num(r.durationMs))})${r.message ? ': ' + r.message : ''}`;
      } catch (e) {
        result.classList.add('err');
        result.textContent = e.code === 'invalid_argument' ? `Not run: ${e.message}` : `Hook test unavailable: ${e.message}`;
      } finally {
        testBtn.disabled = false;
      }
    };
    list.append(card);
    renumber();
    if (focus) kindSel.focus();
  }
  for (const hk of hooks || []) add(hk);
  box.value = () => [...list.children].map((c) => c.value());
  box.hook = (i) => list.children[i];
  box.setError = (msg) => { err.textContent = msg || ''; };
  box.check = () => [...list.children].flatMap((c) => c.querySelector('.conditions input:checked') ? []
    : [[c, 'Choose when the hook runs (at least one condition).']]);
  return box;
}
