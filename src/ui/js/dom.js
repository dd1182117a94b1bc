// Small DOM helpers: building elements, form fields with their error slots, formatting.

/** h('tag.class', {attr, onclick, text}, ...children) */
export function h(spec, props = {}, ...kids) {
  const [tag, ...classes] = spec.split('.');
  const el = document.createElement(tag || 'div');
  if (classes.length) el.className = classes.join(' ');
  if (props === null || typeof props !== 'object' || props instanceof Node || Array.isArray(props)) {
    kids.unshift(props);
    props = {};
  }
  for (const [k, v] of Object.entries(props)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'text') el.textContent = v;
    else if (k === 'class') el.className += (el.className ? ' ' : '') + v;
    else if (k in el && k !== 'list' && k !== 'form' && typeof v !== 'string') el[k] = v;
    else el.setAttribute(k, v === true ? '' : v);
  }
  append(el, kids);
  return el;
}

export function append(el, kids) {
  for (const k of kids.flat(Infinity)) {
    if (k === undefined || k === null || k === false) continue;
    el.append(k instanceof Node ? k : document.createTextNode(String(k)));
  }
  return el;
}

export function clear(el) {
  while (el.firstChild) el.firstChild.remove();
  return el;
}

let ids = 0;
export const uid = (p = 'f') => `${p}-${++ids}`;

/**
 * A labelled form field with a hint and an error slot wired for screen readers.
 * field('Name', h('input', {name: 'id'}), {hint}) → element with .input and .setError(msg).
 */
export function field(label, input, { hint, name } = {}) {
  const id = input.id || uid(name || 'field');
  input.id = id;
  const err = h('p.error', { id: `${id}-error` });
  const described = [`${id}-error`];
  let hintEl = null;
  if (hint) {
    hintEl = h('p.hint', { id: `${id}-hint` }, hint);
    described.push(`${id}-hint`);
  }
  input.setAttribute('aria-describedby', described.join(' '));
  const box = h('div.field', h('label', { for: id }, label), input, hintEl, err);
  if (name) box.dataset.field = name;
  box.input = input;
  box.setError = (msg) => {
    err.textContent = msg || '';
    box.classList.toggle('invalid', !!msg);
    if (msg) input.setAttribute('aria-invalid', 'true');
    else input.removeAttribute('aria-invalid');
  };
  return box;
}

/** Clears every field error inside `form`. */
export function clearErrors(form) {
  for (const f of form.querySelectorAll('.field')) f.setError?.('');
  for (const e of form.querySelectorAll('.form-error')) e.textContent = '';
}

export function fmtBytes(n) {
  n = Number(n) || 0;
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let i = 0;
  while (Math.abs(n) >= 1000 && i < units.length - 1) { n /= 1000; i++; }
  return `${i === 0 ? n : n.toFixed(n < 10 ? 2 : n < 100 ? 1 : 0)} ${units[i]}`;
}

export function fmtDuration(ms) {
  ms = Number(ms) || 0;
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${s % 60} s`;
  const hr = Math.floor(m / 60);
  if (hr < 48) return `${hr} h ${m % 60} min`;
  return `${Math.floor(hr / 24)} days`;
}

export function fmtTime(ms) {
  ms = Number(ms) || 0;
  if (!ms) return '—';
  return new Date(ms).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
}

export function fmtAgo(ms) {
  ms = Number(ms) || 0;
  if (!ms) return 'never';
  const d = Date.now() - ms;
  const future = d < 0;
  const a = Math.abs(d);
  const text = a < 60e3 ? `${Math.round(a / 1e3)} s` : a < 3600e3 ? `${Math.round(a / 60e3)} min`
    : a < 172800e3 ? `${Math.round(a / 3600e3)} h` : `${Math.round(a / 86400e3)} days`;
  return future ? `in ${text}` : `${text} ago`;
}

const STATUS = {
  STATUS_SUCCESS: ['Success', 'ok'], STATUS_ERROR: ['Error', 'err'], STATUS_WARNING: ['Warning', 'warn'],
  STATUS_INPROGRESS: ['Running', 'run'], STATUS_PENDING: ['Pending', ''], STATUS_USER_CANCELLED: ['Cancelled', 'warn'],
  STATUS_SYSTEM_CANCELLED: ['Cancelled by footrest', 'warn'], STATUS_UNKNOWN: ['Unknown', ''],
};

/** The plain-words name of an operation status. */
export const statusText = (s) => (STATUS[s] || [s || 'Unknown'])[0];

export function statusBadge(s) {
  const [text, cls] = STATUS[s] || [s || 'Unknown', ''];
  return h(`span.badge${cls ? '.' + cls : ''}`, text);
}
