// Stagecast control-API helper shared by the SDK modules: JSON calls with the x-api-key header, errors as
// HttpError(status, code, message) from the server's {"success":false,"error":{"code","message"}} answers.
// Plain ES module.
import { HttpError } from './whip-whep.js';

export { HttpError };

/** The origin the page was served from, or a loopback default outside a browser. */
export function defaultBaseUrl() {
  return typeof location !== 'undefined' ? location.origin : 'http://127.0.0.1';
}

/**
 * Calls the JSON control API; resolves with the response body or throws HttpError(status, code, message).
 * `keepalive: true` lets the request outlive the page (for a hangup sent while the page goes away).
 */
export async function callApi(baseUrl, apiKey, method, path, body, { keepalive = false } = {}) {
  const headers = { 'x-api-key': apiKey };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const response = await fetch(new URL(path, baseUrl), {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    keepalive,
  });
  if (response.status === 204) return { success: true };
  let parsed = null;
  try {
    parsed = await response.json();
  } catch (_) { /* not JSON */ }
  if (!response.ok || !parsed || parsed.success === false) {
    const err = parsed && parsed.error ? parsed.error : {};
    throw new HttpError(response.status, err.code || `HTTP_${response.status}`, err.message || response.statusText);
  }
  return parsed;
}
