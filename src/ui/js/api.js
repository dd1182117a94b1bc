// The public JSON API, as any client uses it: unary Connect calls and server streams.
// Nothing here is private to the UI; every call is one a script can make with curl.

const TOKEN_KEY = 'footrest.token';

export class ApiError extends Error {
  constructor(code, message, status) {
    super(message);
    this.code = code;
    this.status = status;
  }
}

export const token = () => localStorage.getItem(TOKEN_KEY);
export const setToken = (t) => localStorage.setItem(TOKEN_KEY, t);
export const clearToken = () => localStorage.removeItem(TOKEN_KEY);

function headers(contentType) {
  const h = { 'Content-Type': contentType };
  const t = token();
  if (t) h.Authorization = `Bearer ${t}`;
  return h;
}

// A 401 on a data call means the session is over (or auth was turned on): the shell shows the
// login gate. A refused Login is the form's own business.
function unauthenticated(err, service = 'Backrest') {
  if (err.status === 401 && service !== 'Authentication') window.dispatchEvent(new CustomEvent('footrest:unauthenticated', { detail: err }));
  return err;
}

async function post(path, body, signal) {
  try {
    return await fetch(path, { method: 'POST', headers: headers('application/json'), body: JSON.stringify(body), signal });
  } catch (e) {
    if (e.name === 'AbortError') throw e;
    throw new ApiError('unavailable', `footrest could not be reached (${e.message}). Is it running?`, 0);
  }
}

/** A unary call: resolves to the answer's JSON, rejects with an ApiError in plain words. */
export async function call(service, method, body = {}, { signal } = {}) {
  const resp = await post(`/v1.${service}/${method}`, body, signal);
  const text = await resp.text();
  let data = {};
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      throw new ApiError('unknown', `footrest answered ${method} with something that is not JSON (HTTP ${resp.status})`, resp.status);
    }
  }
  if (!resp.ok) {
    throw unauthenticated(new ApiError(data.code || 'unknown', data.message || `${method} failed (HTTP ${resp.status})`, resp.status), service);
  }
  return data;
}

export const rpc = (method, body, opts) => call('Backrest', method, body, opts);
export const authRpc = (method, body, opts) => call('Authentication', method, body, opts);

function envelope(msg) {
  const json = new TextEncoder().encode(JSON.stringify(msg));
  const out = new Uint8Array(5 + json.length);
  new DataView(out.buffer).setUint32(1, json.length);
  out.set(json, 5);
  return out;
}

/**
 * A server-streaming call (GetOperationEvents, GetLogs): calls onMessage for each message until
 * the stream ends or `signal` aborts. Resolves when the server ends the stream cleanly, rejects
 * with an ApiError when it ends with an error.
 */
export async function stream(method, body, onMessage, signal) {
  let resp;
  try {
    resp = await fetch(`/v1.Backrest/${method}`, {
      method: 'POST', headers: headers('application/connect+json'), body: envelope(body), signal,
    });
  } catch (e) {
    if (e.name === 'AbortError') return;
    throw new ApiError('unavailable', `footrest could not be reached (${e.message})`, 0);
  }
  if (!resp.ok) {
    let data = {};
    try { data = await resp.json(); } catch { /* not JSON */ }
    throw unauthenticated(new ApiError(data.code || 'unknown', data.message || `${method} failed (HTTP ${resp.status})`, resp.status));
  }
  const reader = resp.body.getReader();
  let buf = new Uint8Array(0);
  const dec = new TextDecoder();
  for (;;) {
    let chunk;
    try {
      chunk = await reader.read();
    } catch (e) {
      if (e.name === 'AbortError' || signal?.aborted) return;
      throw new ApiError('unavailable', `the ${method} stream broke off (${e.message})`, 0);
    }
    if (chunk.done) return;
    const joined = new Uint8Array(buf.length + chunk.value.length);
    joined.set(buf);
    joined.set(chunk.value, buf.length);
    buf = joined;
    while (buf.length >= 5) {
      const len = new DataView(buf.buffer, buf.byteOffset).getUint32(1);
      if (buf.length < 5 + len) break;
      const flags = buf[0];
      const msg = JSON.parse(dec.decode(buf.subarray(5, 5 + len)) || '{}');
      buf = buf.slice(5 + len);
      if (flags & 2) {
        if (msg.error) throw unauthenticated(new ApiError(msg.error.code || 'unknown', msg.error.message || `${method} ended with an error`, 0));
        return;
      }
      onMessage(msg);
    }
  }
}

/**
 * Follows GetOperationEvents until `signal` aborts: each event goes to onEvent. When the stream
 * breaks or ends, it waits 10 s, calls onResume (to reload what it may have missed) and
 * reconnects; onDown(err) is called once per outage.
 */
export async function followEvents(onEvent, { signal, onResume, onDown }) {
  let down = false;
  while (!signal.aborted) {
    try {
      await stream('GetOperationEvents', {}, (ev) => { down = false; onEvent(ev); }, signal);
    } catch (e) {
      if (!signal.aborted && !down) onDown(e);
      down = true;
    }
    await new Promise((r) => setTimeout(r, 10000));
    if (!signal.aborted) onResume();
  }
}

/** Backrest's 64-bit integers travel as strings; this reads them as numbers (ms, bytes). */
export const num = (v) => (v === undefined || v === null || v === '' ? 0 : Number(v));
