// Settings: the instance name (shown), who may log in, whether a login is required, and the
// API keys scripts use (Footrest/CreateApiKey, ListApiKeys, RevokeApiKey).

import { h, field, clearErrors, fmtTime } from '../dom.js';
import { rpc, authRpc, call, num } from '../api.js';
import { text, select, showProblems, ID_RE } from '../forms/common.js';

export function render(main, _params, ctx) {
  const config = ctx.config;
  const auth = config.auth || {};
  const users = auth.users || [];
  const authOn = !auth.disabled;
  const formError = h('p.form-error', { role: 'alert', tabindex: '-1' });
  const status = h('p.muted', { role: 'status' });

  async function save(change, done) {
    const next = structuredClone(config);
    next.auth = structuredClone(config.auth || {});
    next.auth.users ||= [];
    change(next.auth);
    if (!next.auth.users.length) delete next.auth.users;
    if (!next.auth.disabled) delete next.auth.disabled;
    status.textContent = 'Saving…';
    try {
      ctx.setConfig(await rpc('SetConfig', next));
      ctx.notice(done);
      ctx.go('#/settings');
      return true;
    } catch (e) {
      if (e.status === 401) return false;
      formError.textContent = e.code === 'failed_precondition' && /modno/.test(e.message)
        ? 'The configuration was changed elsewhere: nothing was saved. Reload the page and try again.'
        : `Not saved: ${e.message}`;
      formError.focus();
      return false;
    } finally {
      status.textContent = '';
    }
  }

  const pwFields = (who) => {
    const pw = field(who ? `New password for ${who}` : 'Password', text('', { type: 'password', autocomplete: 'new-password' }), { hint: 'At least 8 characters.' });
    const again = field(who ? `Confirm the password for ${who}` : 'Repeat password', text('', { type: 'password', autocomplete: 'new-password' }));
    const problems = () => pw.input.value.length < 8 ? [[pw, 'Use at least 8 characters.']]
      : pw.input.value !== again.input.value ? [[again, 'The passwords differ.']] : [];
    return [pw, again, problems];
  };
  const hash = async (pw) => (await authRpc('HashPassword', { value: pw })).value;

  // Change one user's password, in a form under the table.
  const pwBox = h('div');
  function changePassword(u) {
    const [pw, again, problems] = pwFields(u.name);
    const form = h('form.card', { novalidate: true, 'aria-label': `Change the password of ${u.name}` },
      h('h3', `Change the password of ${u.name}`), pw, again,
      h('div.row', h('button.primary', { type: 'submit' }, 'Save password'), h('button', { type: 'button', onclick: () => form.remove() }, 'Cancel')));
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      clearErrors(form);
      if (showProblems(problems(), formError)) return;
      try {
        const value = await hash(pw.input.value);
        await save((a) => { a.users.find((x) => x.name === u.name).passwordBcrypt = value; }, `The password of ${u.name} was changed.`);
      } catch (e) { pw.setError(e.message); }
    });
    pwBox.replaceChildren(form);
    pw.input.focus();
  }

  function removeUser(u) {
    if (authOn && users.length === 1) {
      formError.textContent = `${u.name} is the only user. Add another user, or turn the login off, before removing ${u.name}.`;
      formError.focus();
      return;
    }
    if (!confirm(`Remove the user ${u.name}? They will no longer be able to log in.`)) return;
    save((a) => { a.users = a.users.filter((x) => x.name !== u.name); }, `The user ${u.name} was removed.`);
  }

  function toggleAuth() {
    if (authOn) {
      if (!confirm('Turn the login off? Anyone who can reach this address will be able to run, restore and delete backups without a password.')) return;
      save((a) => { a.disabled = true; }, 'The login is off.');
    } else {
      if (!users.length) {
        formError.textContent = 'Add a user first.';
        formError.focus();
        return;
      }
      save((a) => { a.disabled = false; }, 'The login is on. Log in with one of the users.').then((ok) => ok && ctx.start('#/settings'));
    }
  }

  const userRows = users.map((u) => h('tr', h('td', u.name),
    h('td.links', h('button.link', { type: 'button', 'aria-label': `Change password of ${u.name}`, onclick: () => changePassword(u) }, 'Change password'),
      h('button.link.danger', { type: 'button', 'aria-label': `Remove user ${u.name}`, onclick: () => removeUser(u) }, 'Remove'))));

  // Add a user.
  const name = field('Username', text('', { autocomplete: 'off' }));
  const [pw, again, problems] = pwFields();
  const addForm = h('form.card', { novalidate: true, 'aria-label': 'Add a user' }, h('h2', 'Add a user'), name, pw, again,
    h('button.primary', { type: 'submit' }, 'Add user'));
  addForm.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    clearErrors(addForm);
    const n = name.input.value.trim();
    const list = [];
    if (!n) list.push([name, 'Choose a username.']);
    else if (users.some((u) => u.name === n)) list.push([name, 'There is a user with this name already.']);
    list.push(...problems());
    if (showProblems(list, formError)) return;
    try {
      const value = await hash(pw.input.value);
      await save((a) => { a.users.push({ name: n, passwordBcrypt: value }); }, `The user ${n} was added.`);
    } catch (e) { pw.setError(e.message); }
  });

  main.append(h('h1', 'Settings'), formError, status,
    h('section.card', h('h2', 'Instance'),
      h('dl.facts', h('dt', 'Instance name'), h('dd', h('strong', config.instance || '—'))),
      h('p.muted', 'Set at the first start and not changeable here: snapshots are tagged with it, so a new name would make them count as another instance\'s.')),
    h('section.card', h('h2', 'Login'),
      h('p', authOn ? 'A login is required: only the users below can use footrest.' : 'The login is off: anyone who can reach this address can use footrest.'),
      h(authOn ? 'button.danger' : 'button.primary', { type: 'button', onclick: toggleAuth }, authOn ? 'Turn the login off' : 'Turn the login on')),
    h('section.card', h('h2', 'Users'),
      users.length ? h('div.table-wrap', h('table', h('thead', h('tr', h('th', 'Username'), h('th', h('span.sr-only', 'Actions')))), h('tbody', userRows)))
        : h('p', 'No users yet.'),
      h('p.muted', 'Passwords are stored as bcrypt hashes, never shown.'), pwBox),
    addForm, apiKeys(formError));
}

const SCOPES = [
  ['read', 'read: configuration without secrets, operations, dashboard, status, metrics'],
  ['backup', 'backup: read, and start or cancel backups'],
  ['admin', 'admin: everything a user can do'],
];

// API keys: listed, created (the key is shown once) and revoked.
function apiKeys(formError) {
  const list = h('div');
  const shown = h('div', { role: 'status' });
  async function refresh() {
    try {
      const r = await call('Footrest', 'ListApiKeys', {});
      const keys = r.keys || [];
      list.replaceChildren(keys.length
        ? h('div.table-wrap', h('table', h('thead', h('tr', h('th', 'Name'), h('th', 'Scope'), h('th', 'Created'), h('th', h('span.sr-only', 'Actions')))),
          h('tbody', keys.map((k) => h('tr', h('td', k.name), h('td', k.scope), h('td', fmtTime(num(k.createdMs))),
            h('td.links', h('button.link.danger', { type: 'button', 'aria-label': `Revoke API key ${k.name}`, onclick: () => revoke(k.name) }, 'Revoke')))))))
        : h('p', 'No API keys.'));
    } catch (e) {
      list.replaceChildren(h('p.form-error', `The keys could not be listed: ${e.message}`));
    }
  }
  async function revoke(name) {
    if (!confirm(`Revoke the API key ${name}? Scripts that use it stop working at once.`)) return;
    try {
      await call('Footrest', 'RevokeApiKey', { name });
      shown.replaceChildren(h('p', `The API key ${name} was revoked.`));
      refresh();
    } catch (e) {
      formError.textContent = `Not revoked: ${e.message}`;
      formError.focus();
    }
  }
  const name = field('Key name', text('', { autocomplete: 'off' }), { hint: 'Letters, digits, - _ and . (for example grafana).' });
  const scope = field('Scope', select(SCOPES, 'read'));
  const form = h('form', { novalidate: true, 'aria-label': 'Create an API key' }, name, scope,
    h('button.primary', { type: 'submit' }, 'Create key'));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    clearErrors(form);
    const n = name.input.value.trim();
    if (!ID_RE.test(n)) {
      name.setError('Use letters, digits, -, _ and . only.');
      name.input.focus();
      return;
    }
    try {
      const r = await call('Footrest', 'CreateApiKey', { name: n, scope: scope.input.value });
      name.input.value = '';
      shown.replaceChildren(h('div.card',
        h('p', h('strong', `The API key ${r.name} (${r.scope}):`), ' copy it now, it is not shown again.'),
        h('p', h('code.api-key', r.key)),
        h('p.muted', `Send it as: Authorization: Bearer ${r.key.slice(0, 8)}…`)));
      refresh();
    } catch (e) {
      name.setError(e.message);
      name.input.focus();
    }
  });
  refresh();
  return h('section.card', h('h2', 'API keys'),
    h('p.muted', 'For scripts, Home Assistant and monitoring: a key is sent as Authorization: Bearer <key>, has a scope, and is stored only as a hash. Keys matter when the login is on.'),
    list, shown, form);
}
