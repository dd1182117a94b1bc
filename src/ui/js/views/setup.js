// First run: name the instance, create the first user (or choose no login), then add a repo.

import { rpc, authRpc, setToken } from '../api.js';
import { h, field, clearErrors } from '../dom.js';
import { needsSetup } from '../app.js';

export function render(main, _params, ctx) {
  const config = ctx.config;
  if (!needsSetup(config)) {
    ctx.go('#/');
    return;
  }
  const hostname = location.hostname && !/^[\d.:[\]]+$/.test(location.hostname) && location.hostname !== 'localhost'
    ? location.hostname.replace(/[^A-Za-z0-9_.-]/g, '-') : '';
  const instance = field('Instance name', h('input', { name: 'instance', value: config.instance || hostname, autocomplete: 'off', maxlength: 50 }), {
    name: 'instance',
    hint: 'Names this machine in snapshot tags (created-by:) and notifications. Letters, digits, _ - and . only. Keep it stable: snapshots made under another name count as another instance\'s.',
  });
  const withLogin = h('input', { type: 'radio', name: 'auth', value: 'users', checked: true });
  const noLogin = h('input', { type: 'radio', name: 'auth', value: 'none' });
  const username = field('Username', h('input', { name: 'username', autocomplete: 'username' }), { name: 'username' });
  const password = field('Password', h('input', { name: 'password', type: 'password', autocomplete: 'new-password' }), { name: 'password', hint: 'At least 8 characters.' });
  const confirm = field('Repeat password', h('input', { name: 'confirm', type: 'password', autocomplete: 'new-password' }), { name: 'confirm' });
  const userBox = h('div', username, password, confirm);
  const toggle = () => { userBox.hidden = noLogin.checked; };
  withLogin.addEventListener('change', toggle);
  noLogin.addEventListener('change', toggle);
  const formError = h('p.form-error', { role: 'alert' });
  const submit = h('button.primary', { type: 'submit' }, 'Save and continue');
  const form = h('form.card', { novalidate: true },
    instance,
    h('fieldset',
      h('legend', 'Who can use footrest'),
      h('label.choice', withLogin, 'Require a login (recommended)'),
      h('label.choice', noLogin, 'No login: anyone who can reach this address can run and restore backups'),
      userBox),
    formError, submit);

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    clearErrors(form);
    const name = instance.input.value.trim();
    const problems = [];
    if (!name) problems.push([instance, 'Give this instance a name.']);
    else if (!/^[A-Za-z0-9_.-]+$/.test(name)) problems.push([instance, 'Use only letters, digits, _ - and . (no spaces).']);
    else if (name.length > 50) problems.push([instance, 'At most 50 characters.']);
    const users = !noLogin.checked;
    if (users) {
      if (!username.input.value.trim()) problems.push([username, 'Choose a username.']);
      if (password.input.value.length < 8) problems.push([password, 'Use at least 8 characters.']);
      else if (password.input.value !== confirm.input.value) problems.push([confirm, 'The passwords differ.']);
    }
    if (problems.length) {
      for (const [f, msg] of problems) f.setError(msg);
      problems[0][0].input.focus();
      return;
    }
    submit.disabled = true;
    try {
      const next = structuredClone(config);
      next.instance = name;
      if (users) {
        const hash = await authRpc('HashPassword', { value: password.input.value });
        next.auth = { disabled: false, users: [{ name: username.input.value.trim(), passwordBcrypt: hash.value }] };
      } else {
        next.auth = { disabled: true };
      }
      const saved = await rpc('SetConfig', next);
      ctx.setConfig(saved);
      if (users) {
        const r = await authRpc('Login', { username: username.input.value.trim(), password: password.input.value });
        setToken(r.token);
      }
      ctx.notice('Saved. Now add a repository: where the backups are stored.');
      await ctx.start('#/repos/new');
    } catch (e) {
      if (/instance/i.test(e.message)) instance.setError(e.message);
      else formError.textContent = e.message;
    } finally {
      submit.disabled = false;
    }
  });

  main.append(h('div.narrow',
    h('h1', 'Welcome to footrest'),
    h('p', 'Two steps: name this instance and decide who may use it, then add a repository.'),
    form));
  instance.input.focus();
}
