// The shell: gate (first run, login), navigation, alerts, and the hash router that loads a view.
// A view module exports `render(main, params, ctx)` and may return a cleanup function
// (called when the user leaves it: closes streams, stops timers).

import { rpc, ApiError, clearToken, token } from './api.js';
import { h, clear } from './dom.js';

const main = document.getElementById('main');
const alerts = document.getElementById('alerts');
const nav = document.getElementById('nav');
const logoutBtn = document.getElementById('logout');

const routes = [
  [/^\/$/, 'dashboard'],
  [/^\/operations$/, 'operations'],
  [/^\/repos$/, 'repos'],
  [/^\/repos\/new$/, 'repo-edit'],
  [/^\/repos\/([^/]+)$/, 'repo-edit'],
  [/^\/repos\/([^/]+)\/snapshots$/, 'snapshots'],
  [/^\/repos\/([^/]+)\/run$/, 'run-command'],
  [/^\/plans$/, 'plans'],
  [/^\/plans\/new$/, 'plan-edit'],
  [/^\/plans\/([^/]+)$/, 'plan-edit'],
  [/^\/settings$/, 'settings'],
  [/^\/setup$/, 'setup'],
  [/^\/login$/, 'login'],
];

let cleanup = null;
let config = null;
let rendering = 0;
// Focus moves to the new view after navigating inside the app, not on the page's first load:
// there the first Tab should reach the skip link.
let moveFocus = false;

/** Shows an error in plain words at the top of the page (and for screen readers). */
export function showError(err, context) {
  if (err?.name === 'AbortError') return;
  const msg = err instanceof ApiError || err instanceof Error ? err.message : String(err);
  const text = context ? `${context}: ${msg}` : msg;
  const box = h('div.alert', { role: 'alert' }, h('span', text),
    h('button', { type: 'button', 'aria-label': 'Dismiss', onclick: () => box.remove() }, '×'));
  alerts.append(box);
  console.info('footrest:', text);
}

/** A short confirmation (not an error). */
export function showNotice(text) {
  const box = h('div.alert.info', { role: 'status' }, h('span', text),
    h('button', { type: 'button', 'aria-label': 'Dismiss', onclick: () => box.remove() }, '×'));
  alerts.append(box);
  setTimeout(() => box.remove(), 8000);
}

export function clearAlerts() {
  clear(alerts);
}

/**
 * Whether this is the first run: footrest answers a default config (modno 0, auth off, no repos
 * or plans) until something is saved. Every save bumps modno, so choosing "no login" in the
 * setup ends the first run too.
 */
export function needsSetup(c) {
  const noAuth = !c.auth || c.auth.disabled || !(c.auth.users || []).length;
  return !c.instance || (!Number(c.modno) && noAuth && !(c.repos || []).length && !(c.plans || []).length);
}

function showInstance(c) {
  document.getElementById('instance').textContent = c && !needsSetup(c) ? c.instance : '';
}

async function loadConfig() {
  config = await rpc('GetConfig', {});
  showInstance(config);
  document.title = config.instance ? `${config.instance} · footrest` : 'footrest';
  return config;
}

const ctx = {
  get config() { return config; },
  reloadConfig: loadConfig,
  setConfig(c) { config = c; showInstance(c); },
  go(hash) { if (location.hash === hash) route(); else location.hash = hash; },
  error: showError,
  notice: showNotice,
  clearAlerts,
  start: (next) => start(next),
};

function setNav(visible) {
  nav.hidden = !visible;
  const authOn = !!config?.auth && !config.auth.disabled && (config.auth.users || []).length > 0;
  logoutBtn.hidden = !(visible && authOn && token());
  const [path] = current();
  for (const a of nav.querySelectorAll('a')) {
    const target = a.getAttribute('href').slice(1);
    const current = target === '/' ? path === '/' : path === target || path.startsWith(target + '/');
    if (current) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
}

async function show(name, params) {
  const mine = ++rendering;
  if (cleanup) {
    try { cleanup(); } catch (e) { console.warn(e); }
    cleanup = null;
  }
  let mod;
  try {
    mod = await import(`./views/${name}.js`);
  } catch (e) {
    if (mine !== rendering) return;
    clear(main).append(h('h1', 'This page could not be loaded'),
      h('p', 'footrest did not send the page\'s code. Reload to try again.'));
    showError(e, `Loading the ${name} page failed`);
    return;
  }
  if (mine !== rendering) return;
  clear(main);
  try {
    const c = await mod.render(main, params, ctx);
    if (mine === rendering) cleanup = typeof c === 'function' ? c : null;
    else if (typeof c === 'function') c();
  } catch (e) {
    showError(e);
  }
}

/** The route's path and query: `#/operations?plan=p` → ['/operations', {plan: 'p'}]. */
function current() {
  const [path, query] = (location.hash.slice(1) || '/').split('?');
  return [path || '/', Object.fromEntries(new URLSearchParams(query || ''))];
}

async function route() {
  const [path, query] = current();
  if (!config) {
    try {
      await loadConfig();
    } catch (e) {
      if (e.status === 401) {
        showInstance(null);
        setNav(false);
        return show('login', {});
      }
      clear(main).append(h('h1', 'footrest'), h('p', 'The configuration could not be loaded.'));
      showError(e);
      return;
    }
  }
  if (needsSetup(config) && path !== '/setup') {
    location.replace('#/setup');
    return;
  }
  for (const [re, name] of routes) {
    const m = path.match(re);
    if (!m) continue;
    setNav(name !== 'setup' && name !== 'login');
    const params = { ...query };
    if (m[1]) params.id = decodeURIComponent(m[1]);
    await show(name, params);
    if (moveFocus) main.focus({ preventScroll: true });
    return;
  }
  clear(main).append(h('h1', 'Not found'), h('p', 'There is no page at ', h('code', path), '. ', h('a', { href: '#/' }, 'Go to the dashboard')));
}

window.addEventListener('hashchange', () => { clearAlerts(); moveFocus = true; route(); });

// The skip link moves focus to the content; following its #main would route to a missing page.
document.getElementById('skip').addEventListener('click', (e) => {
  e.preventDefault();
  main.focus();
});

// A 401 anywhere (expired token, auth turned on elsewhere): back to the login gate.
window.addEventListener('footrest:unauthenticated', () => {
  config = null;
  showInstance(null);
  clearToken();
  setNav(false);
  if (location.hash !== '#/login') show('login', {});
});

logoutBtn.addEventListener('click', () => {
  clearToken();
  config = null;
  showInstance(null);
  clearAlerts();
  setNav(false);
  showNotice('You are logged out.');
  show('login', {});
});

/** After login or setup: load the config again and go on. */
export async function start(next) {
  config = null;
  moveFocus = true;
  if (next && location.hash !== next) location.hash = next;
  else await route();
}

route();
