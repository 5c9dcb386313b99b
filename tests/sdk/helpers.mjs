// Shared helpers for the fileport SDK compatibility suite.
//
// Every client made here records each HTTP exchange it performs (method, URL, status,
// response Content-Type, x-request-id, whether the request body was a stream) so each test
// file can finish by checking that every response the SDK saw was JSON (errors included) and
// carried an x-request-id.

import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import OpenAI from 'openai';

export const BASE_URL = process.env.FILEPORT_BASE_URL;
export const FILEPORT_BIN = process.env.FILEPORT_BIN;
export const FILEPORT_DATA = process.env.FILEPORT_DATA;

if (!BASE_URL) {
  throw new Error('FILEPORT_BASE_URL is not set; run the suite through tests/sdk/run.sh');
}

/** Origin of the server, e.g. http://127.0.0.1:1234 (BASE_URL without /v1). */
export const ORIGIN = new URL(BASE_URL).origin;

export const FILE_ID_RE = /^file-[A-Za-z0-9_-]{24}$/;
export const UPLOAD_ID_RE = /^upload_[A-Za-z0-9_-]{24}$/;
export const PART_ID_RE = /^part_[A-Za-z0-9_-]{24}$/;

export const CREATE_PURPOSES = ['assistants', 'batch', 'fine-tune', 'vision', 'user_data', 'evals'];
export const BAD_PURPOSE_MESSAGE = (v) =>
  `'${v}' is not one of ['assistants', 'batch', 'fine-tune', 'vision', 'user_data', 'evals'] - 'purpose'`;
export const NO_KEY_MESSAGE =
  "You didn't provide an API key. You need to provide your API key in an Authorization header " +
  'using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).';

export const THIRTY_DAYS = 30 * 24 * 3600; // 2592000
export const ONE_HOUR = 3600;

/** One log of HTTP exchanges shared by all clients of a test file (each file is its own process). */
export const exchanges = [];

function recordingFetch(log) {
  const wrapped = async (url, init = {}) => {
    const u = String(url);
    const res = await fetch(url, init);
    if (!u.startsWith('data:')) {
      const reqHeaders = new Headers(init.headers ?? {});
      log.push({
        method: (init.method ?? 'GET').toUpperCase(),
        url: u,
        path: new URL(u).pathname,
        status: res.status,
        contentType: res.headers.get('content-type'),
        requestId: res.headers.get('x-request-id'),
        streamingBody: typeof ReadableStream !== 'undefined' && init.body instanceof ReadableStream,
        requestHeaders: reqHeaders,
      });
    }
    return res;
  };
  // Lets the SDK's FormData support probe use Response directly instead of fetch('data:,').
  wrapped.Response = Response;
  return wrapped;
}

/** The standard client of the suite (open server, or any key while the server is open). */
export function makeClient(opts = {}) {
  return new OpenAI({
    baseURL: BASE_URL,
    apiKey: 'sk-test',
    maxRetries: 0,
    timeout: 60_000,
    fetch: recordingFetch(exchanges),
    ...opts,
  });
}

/** A client whose requests go out with no Authorization header at all. */
export function makeKeylessClient(opts = {}) {
  // new OpenAI({apiKey: ''}) throws "Missing credentials" in 6.x; an explicit null header is
  // the SDK's documented way to omit a header (it also satisfies its auth validation).
  return makeClient({ apiKey: 'unused', defaultHeaders: { Authorization: null }, ...opts });
}

export const isoNow = () => Math.floor(Date.now() / 1000);

export function randomBytes(n) {
  return crypto.randomBytes(n);
}

export function md5hex(...bufs) {
  const h = crypto.createHash('md5');
  for (const b of bufs) h.update(b);
  return h.digest('hex');
}

export function uniq(prefix = 't') {
  return `${prefix}-${Date.now().toString(36)}-${crypto.randomBytes(4).toString('hex')}`;
}

/** A syntactically valid id that the server has never issued. */
export function fakeId(prefix) {
  return prefix + crypto.randomBytes(18).toString('base64url'); // 24 chars
}

/** Writes `buf` to a fresh temp file and returns its path; the dir is removed at process exit. */
const tmpDirs = [];
export function tempFile(name, buf) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fileport-sdk-'));
  tmpDirs.push(dir);
  const p = path.join(dir, name);
  fs.writeFileSync(p, buf);
  return p;
}
process.on('exit', () => {
  for (const d of tmpDirs) fs.rmSync(d, { recursive: true, force: true });
});

export async function bytesOf(response) {
  return Buffer.from(await response.arrayBuffer());
}

/** Asserts `f` is a File object per API.md §2 (every key present, exact values given). */
export function assertFile(f, { bytes, filename, purpose, expiresAt, status = 'processed', near = true }) {
  assert.equal(typeof f, 'object', `expected a File object, got ${typeof f}: ${String(f)}`);
  for (const k of ['id', 'object', 'bytes', 'created_at', 'expires_at', 'filename', 'purpose', 'status', 'status_details']) {
    assert.ok(Object.hasOwn(f, k), `File is missing key ${k}: ${JSON.stringify(f)}`);
  }
  assert.match(f.id, FILE_ID_RE);
  assert.equal(f.object, 'file');
  assert.equal(f.bytes, bytes);
  assert.ok(Number.isInteger(f.created_at), `created_at not an integer: ${f.created_at}`);
  if (near) assert.ok(Math.abs(f.created_at - isoNow()) <= 120, `created_at ${f.created_at} is not near now`);
  if (expiresAt === undefined) assert.equal(f.expires_at, null);
  else if (typeof expiresAt === 'function') assert.equal(f.expires_at, expiresAt(f.created_at));
  else assert.equal(f.expires_at, expiresAt);
  assert.equal(f.filename, filename);
  assert.equal(f.purpose, purpose);
  assert.equal(f.status, status);
  assert.equal(f.status_details, null);
}

/** Asserts `u` is an Upload object per API.md §2. */
export function assertUpload(u, { bytes, filename, purpose, status }) {
  assert.equal(typeof u, 'object', `expected an Upload object, got ${typeof u}: ${String(u)}`);
  for (const k of ['id', 'object', 'bytes', 'created_at', 'expires_at', 'filename', 'purpose', 'status', 'file']) {
    assert.ok(Object.hasOwn(u, k), `Upload is missing key ${k}: ${JSON.stringify(u)}`);
  }
  assert.match(u.id, UPLOAD_ID_RE);
  assert.equal(u.object, 'upload');
  assert.equal(u.bytes, bytes);
  assert.ok(Number.isInteger(u.created_at));
  assert.ok(Math.abs(u.created_at - isoNow()) <= 120, `created_at ${u.created_at} is not near now`);
  assert.equal(u.expires_at, u.created_at + ONE_HOUR);
  assert.equal(u.filename, filename);
  assert.equal(u.purpose, purpose);
  assert.equal(u.status, status);
  if (status !== 'completed') assert.equal(u.file, null);
}

export function assertPart(p, uploadId) {
  for (const k of ['id', 'object', 'created_at', 'upload_id']) {
    assert.ok(Object.hasOwn(p, k), `UploadPart is missing key ${k}: ${JSON.stringify(p)}`);
  }
  assert.match(p.id, PART_ID_RE);
  assert.equal(p.object, 'upload.part');
  assert.ok(Number.isInteger(p.created_at));
  assert.equal(p.upload_id, uploadId);
}

/**
 * Awaits `promise`, expects it to reject with an SDK error of class `Cls` and checks the
 * fields given in `want` exactly: status, message (the server's error.message), param, code,
 * type (default 'invalid_request_error'). Returns the error.
 */
export async function expectError(promise, Cls, want = {}) {
  let err;
  try {
    const v = await promise;
    assert.fail(`expected ${Cls.name}, but the call succeeded with ${JSON.stringify(v)}`);
  } catch (e) {
    if (e instanceof assert.AssertionError) throw e;
    err = e;
  }
  assert.ok(err instanceof Cls, `expected ${Cls.name}, got ${err?.constructor?.name}: ${err?.message}`);
  assert.ok(err instanceof OpenAI.APIError);
  // The SDK found an `error` object in a JSON body (otherwise: "<status> status code (no body)").
  assert.equal(typeof err.error, 'object', `no parsed error body: ${err.message}`);
  assert.ok(err.error !== null, `no parsed error body: ${err.message}`);
  for (const k of ['message', 'type', 'param', 'code']) {
    assert.ok(Object.hasOwn(err.error, k), `error envelope lacks key ${k}: ${JSON.stringify(err.error)}`);
  }
  assert.equal(typeof err.error.message, 'string');
  assert.ok(err.error.message.length > 0);
  assert.equal(err.message, `${err.status} ${err.error.message}`);
  assert.equal(err.type, want.type ?? 'invalid_request_error');
  assert.equal(err.headers.get('content-type')?.split(';')[0].trim(), 'application/json');
  assert.equal(typeof err.requestID, 'string', 'error lacks requestID (x-request-id)');
  assert.ok(err.requestID.length > 0, 'empty x-request-id');
  if ('status' in want) assert.equal(err.status, want.status);
  if ('message' in want) {
    if (want.message instanceof RegExp) assert.match(err.error.message, want.message);
    else assert.equal(err.error.message, want.message);
  }
  if ('param' in want) assert.equal(err.param, want.param);
  if ('code' in want) assert.equal(err.code, want.code);
  return err;
}

/** Raw fetch against the server; `p` is a path on the server's origin, e.g. '/v1/files'. */
export async function rawFetch(p, init = {}) {
  const res = await fetch(ORIGIN + p, init);
  const text = await res.text();
  let json;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { res, status: res.status, headers: res.headers, text, json };
}

/** Retries `fn` until it stops throwing or `ms` elapse (then rethrows the last error). */
export async function eventually(fn, ms = 5000, step = 100) {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      return await fn();
    } catch (e) {
      if (Date.now() > deadline) throw e;
      await new Promise((r) => setTimeout(r, step));
    }
  }
}

/** Runs the fileport CLI against the suite's data dir. */
export function cli(args) {
  assert.ok(FILEPORT_BIN, 'FILEPORT_BIN is not set; run the suite through tests/sdk/run.sh');
  assert.ok(FILEPORT_DATA, 'FILEPORT_DATA is not set; run the suite through tests/sdk/run.sh');
  return execFileSync(FILEPORT_BIN, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 30_000 });
}

const mediaType = (ct) => ct?.split(';')[0].trim().toLowerCase();

/**
 * Checks every exchange recorded so far: a JSON Content-Type on every response except a
 * successful /content download, and a non-empty x-request-id on every response.
 */
export function assertAllExchangesJson() {
  assert.ok(exchanges.length > 0, 'no HTTP exchanges were recorded');
  const bad = [];
  for (const x of exchanges) {
    const isDownload = /\/content$/.test(x.path) && x.status >= 200 && x.status < 300;
    if (!isDownload && mediaType(x.contentType) !== 'application/json') {
      bad.push(`${x.method} ${x.path} → ${x.status} with Content-Type ${x.contentType}`);
    }
    if (!x.requestId) bad.push(`${x.method} ${x.path} → ${x.status} without x-request-id`);
  }
  assert.deepEqual(bad, [], `non-conforming responses:\n${bad.join('\n')}`);
}

export { mediaType };
