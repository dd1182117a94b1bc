// The login gate: username and password → a token kept in this browser (localStorage).

import { authRpc, setToken } from '../api.js';
import { h, field, clearErrors } from '../dom.js';

export function render(main, _params, ctx) {
  const user = field('Username', h('input', { name: 'username', autocomplete: 'username', required: true }));
  const pass = field('Password', h('input', { name: 'password', type: 'password', autocomplete: 'current-password', required: true }));
  const formError = h('p.form-error', { role: 'alert' });
  const submit = h('button.primary', { type: 'submit' }, 'Log in');
  const form = h('form.card', { novalidate: true }, user, pass, formError, submit);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    clearErrors(form);
    // A notice from before ("You are logged out.") must not sit next to this attempt's answer.
    ctx.clearAlerts();
    const username = user.input.value.trim();
    const password = pass.input.value;
    if (!username) return user.setError('Enter your username.'), user.input.focus();
    if (!password) return pass.setError('Enter your password.'), pass.input.focus();
    submit.disabled = true;
    try {
      const r = await authRpc('Login', { username, password });
      setToken(r.token);
      ctx.clearAlerts();
      const next = location.hash && location.hash !== '#/login' ? location.hash : '#/';
      await ctx.start(next);
    } catch (e) {
      formError.textContent = e.status === 401
        ? 'Wrong username or password.'
        : e.status === 429 ? `Too many failed attempts. ${e.message}` : e.message;
      pass.input.select();
      pass.input.focus();
    } finally {
      submit.disabled = false;
    }
  });
  main.append(h('div.narrow', h('h1', 'Log in to footrest'), form));
  user.input.focus();
}
