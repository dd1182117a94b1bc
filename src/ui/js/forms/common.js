// Shared by the editors: inputs, and the server's validation problems mapped to fields.

import { h, field } from '../dom.js';

export const ID_RE = /^[A-Za-z0-9_.-]+$/;

/** An id problem in plain words, or ''. */
export const idProblem = (id, taken) => !id ? 'An id is required.'
  : !ID_RE.test(id) ? 'Use only letters, digits, _ - and . (no spaces).'
    : taken ? 'This id is already in use.' : '';

export const text = (value, props = {}) => h('input', { value: value ?? '', autocomplete: 'off', spellcheck: 'false', ...props });
export const int = (value, props = {}) => h('input', { type: 'number', inputMode: 'numeric', step: 1, value: value ?? '', ...props });
/** A decimal number input (a proto double: 12.5 as well as 12). */
export const num = (value, props = {}) => h('input', { type: 'number', inputMode: 'decimal', step: 'any', value: value ?? '', ...props });

/** A checkbox with its label; `.input` is the checkbox. */
export function checkbox(label, checked, hint) {
  const input = h('input', { type: 'checkbox', checked: !!checked });
  const box = h('div.field', h('label.choice', input, label), hint && h('p.hint', hint));
  box.input = input;
  return box;
}

export const select = (options, value, props = {}) =>
  h('select', props, options.map(([v, t]) => h('option', { value: v, selected: v === value }, t)));

/** A labelled select field. */
export const selectField = (label, options, value, opts) => field(label, select(options, value), opts);

/** Number of a decimal input, undefined when empty, NaN when not a number. */
export function numValue(input) {
  const v = input.value.trim();
  if (v === '') return undefined;
  return /^(\d+\.?\d*|\.\d+)$/.test(v) ? Number(v) : NaN;
}

/** Number of an int input, undefined when empty, NaN when not a whole number. */
export function intValue(input) {
  const v = input.value.trim();
  if (v === '') return undefined;
  return /^-?\d+$/.test(v) ? Number(v) : NaN;
}

/** obj[key] = v, or no key when v is a default (proto3 JSON omits them); drops the snake_case twin. */
export const snake = (k) => k.replace(/[A-Z]/g, (c) => '_' + c.toLowerCase());
export function put(obj, key, v) {
  if (snake(key) !== key) delete obj[snake(key)];
  if (v === undefined || v === '' || v === false || (Array.isArray(v) && !v.length)) delete obj[key];
  else obj[key] = v;
  return obj;
}

/** obj[key] or its snake_case spelling (Backrest configs may hold either). */
export const get = (obj, key) => obj?.[key] ?? obj?.[snake(key)];

/** Splits `invalid config: a; b` into its problems; null for any other message. */
export function problems(msg) {
  const m = /^invalid config: ([\s\S]*)$/.exec(msg || '');
  return m ? m[1].split(/; (?=(?:plan|repo|plans|repos|instance|auth)\b)/) : null;
}

/**
 * A failed save: each problem of `owners` (['plan "x"', 'plans[2]']) goes next to the field of
 * the first rule ([regex, target or fn(match)]) matching it; the rest goes to `formError`.
 */
export function showSaveError(err, { owners, rules, formError, onReload }) {
  const list = problems(err.message) || [err.message];
  const byTarget = new Map();
  const rest = [];
  for (const p of list) {
    const own = owners.find((o) => p.startsWith(o + ': '));
    const msg = own ? p.slice(own.length + 2) : p;
    const rule = own && rules.find(([re]) => re.test(msg));
    if (!rule) { rest.push(p); continue; }
    const t = typeof rule[1] === 'function' ? rule[1](msg.match(rule[0])) : rule[1];
    if (!t) { rest.push(p); continue; }
    // The field shows its own name: `schedule: cron: …` next to Schedule reads `cron: …`.
    byTarget.set(t, [...(byTarget.get(t) || []), msg.replace(/^[a-z][\w.[\]]*: (?=.)/, '')]);
  }
  for (const [t, msgs] of byTarget) t.setError(msgs.join(' '));
  formError.textContent = '';
  if (err.code === 'failed_precondition' && /modno/.test(err.message)) {
    formError.append('The configuration was changed elsewhere since this page was loaded, so nothing was saved. ',
      'Reload it (your edits on this page will be lost) and make them again. ',
      h('button.link', { type: 'button', onclick: onReload }, 'Reload the configuration'));
  } else if (rest.length) {
    formError.textContent = (byTarget.size || problems(err.message) ? 'Not saved: ' : 'Not saved. ') + rest.join('\n');
  } else {
    formError.textContent = 'Not saved: fix the fields marked below.';
  }
  const first = [...byTarget.keys()][0];
  (first?.input || first?.querySelector?.('input,select,textarea') || formError).focus?.();
  if (!first) formError.scrollIntoView?.({ block: 'center' });
}

/** Client-side problems: [[target, msg], …] → shown; true if there were any. */
export function showProblems(list, formError) {
  for (const [t, msg] of list) t.setError(msg);
  if (!list.length) return false;
  formError.textContent = 'Fix the fields marked below.';
  const t = list[0][0];
  (t.input || t.querySelector('input,select,textarea'))?.focus();
  return true;
}

/** Goes to `hash` and then shows `msg` (the router clears alerts on a hash change). */
export function goWith(ctx, hash, msg) {
  if (location.hash !== hash) window.addEventListener('hashchange', () => ctx.notice(msg), { once: true });
  else ctx.notice(msg);
  ctx.go(hash);
}
