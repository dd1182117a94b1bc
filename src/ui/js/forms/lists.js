// One editor for every list of strings (paths, excludes, env, flags): a row per entry.

import { h, uid } from '../dom.js';

/**
 * stringList('Paths', ['/home'], {item: 'path', hint, placeholder}) → a fieldset with
 * `.value()` (entries that are not blank, as typed) and `.setError(msg)`.
 */
export function stringList(label, values, { item = 'entry', hint, placeholder } = {}) {
  const errId = uid('list');
  const rows = h('div.list-rows');
  const err = h('p.error', { id: errId, 'aria-live': 'polite' });
  const addBtn = h('button', { type: 'button', onclick: () => add('', true) }, `Add ${item}`);
  const box = h('fieldset.field.list', h('legend', label), hint && h('p.hint', hint), rows, addBtn, err);
  const Item = item[0].toUpperCase() + item.slice(1);
  const renumber = () => [...rows.children].forEach((r, i) => {
    r.input.setAttribute('aria-label', `${Item} ${i + 1}`);
    r.btn.setAttribute('aria-label', `Remove ${item} ${i + 1}`);
  });
  function add(v, focus) {
    const input = h('input', {
      value: v, placeholder, autocomplete: 'off', spellcheck: 'false', 'aria-describedby': errId,
      onkeydown: (e) => { if (e.key === 'Enter') { e.preventDefault(); add('', true); } },
    });
    const row = h('div.list-row', input);
    row.btn = h('button', {
      type: 'button',
      onclick: () => {
        const next = row.nextElementSibling || row.previousElementSibling;
        row.remove();
        renumber();
        (next?.input || addBtn).focus();
      },
    }, 'Remove');
    row.append(row.btn);
    row.input = input;
    rows.append(row);
    renumber();
    if (focus) input.focus();
  }
  for (const v of values || []) add(v);
  box.value = () => [...rows.children].map((r) => r.input.value).filter((v) => v.trim() !== '');
  Object.defineProperty(box, 'input', { get: () => rows.firstElementChild?.input || addBtn });
  box.setError = (msg) => {
    err.textContent = msg || '';
    box.classList.toggle('invalid', !!msg);
  };
  return box;
}
