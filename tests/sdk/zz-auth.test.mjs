// Authentication and multi-tenancy (API.md §1 "Auth", §5, §6).
//
// Named zz-… so that it runs LAST: the server starts open (no keys) and this file creates keys
// with the CLI, which turns it into a keyed server for the rest of the run. run.sh runs files
// one at a time (--test-concurrency=1) in sorted order.

import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI, { toFile } from 'openai';
import {
  makeClient,
  makeKeylessClient,
  exchanges,
  cli,
  rawFetch,
  eventually,
  fakeId,
  randomBytes,
  bytesOf,
  expectError,
  assertAllExchangesJson,
  NO_KEY_MESSAGE,
  FILEPORT_DATA,
} from './helpers.mjs';

const T = { timeout: 60_000 };
let alphaKey, betaKey, alpha, beta;

function createKey(project) {
  const out = cli(['keys', 'create', '--project', project, '--data', FILEPORT_DATA, '--json']);
  let k;
  try {
    k = JSON.parse(out);
  } catch {
    assert.fail(`keys create --json did not print one JSON object:\n${out}`);
  }
  assert.match(k.id, /^key_/);
  assert.equal(k.project, project);
  assert.match(k.key, /^sk-/);
  return k;
}

before(async () => {
  // Before any key exists the server is open: no Authorization header needed.
  const open = await rawFetch('/v1/files');
  assert.equal(open.status, 200, `server should be open before keys exist: ${open.status} ${open.text}`);
  assert.equal(open.json.object, 'list');

  alphaKey = createKey('alpha');
  betaKey = createKey('beta');
  assert.notEqual(alphaKey.key, betaKey.key);
  assert.notEqual(alphaKey.id, betaKey.id);
  alpha = makeClient({ apiKey: alphaKey.key });
  beta = makeClient({ apiKey: betaKey.key });

  // The running server must notice the keys in its data dir (allow it a few seconds).
  await eventually(async () => {
    const r = await rawFetch('/v1/files');
    assert.equal(r.status, 401, `server still open after keys were created: ${r.status}`);
  }, 5000);
});

test('the SDK refuses apiKey "" itself; a request without Authorization → 401 with the exact text', T, async () => {
  // openai 6.x: an empty apiKey is "no credentials" and the constructor throws.
  assert.throws(() => new OpenAI({ baseURL: 'http://127.0.0.1:1/v1', apiKey: '' }), (e) => {
    assert.ok(e instanceof OpenAI.OpenAIError);
    assert.match(e.message, /Missing credentials/);
    return true;
  });

  const keyless = makeKeylessClient();
  const n = exchanges.length;
  await expectError(keyless.files.list(), OpenAI.AuthenticationError, { status: 401, param: null, message: NO_KEY_MESSAGE });
  assert.equal(exchanges[n].requestHeaders.get('authorization'), null, 'the request really had no Authorization header');
  await expectError(keyless.files.create({ file: await toFile(Buffer.from('x'), 'x.txt'), purpose: 'assistants' }), OpenAI.AuthenticationError, {
    status: 401,
    message: NO_KEY_MESSAGE,
  });
  await expectError(keyless.uploads.create({ bytes: 1, filename: 'x', mime_type: 'txt', purpose: 'assistants' }), OpenAI.AuthenticationError, {
    status: 401,
    message: NO_KEY_MESSAGE,
  });

  const raw = await rawFetch('/v1/files');
  assert.equal(raw.status, 401);
  assert.equal(raw.headers.get('content-type')?.split(';')[0], 'application/json');
  assert.deepEqual(raw.json, {
    error: { message: NO_KEY_MESSAGE, type: 'invalid_request_error', param: null, code: raw.json.error.code },
  });
});

test('a wrong key → AuthenticationError, code invalid_api_key, key masked in the message', T, async () => {
  const wrongKey = 'sk-abSECRETSECRETSECRETSECRETyz';
  const bad = makeClient({ apiKey: wrongKey });
  const e = await expectError(bad.files.list(), OpenAI.AuthenticationError, { status: 401, param: null, code: 'invalid_api_key' });
  // API.md §5 example: "Incorrect API key provided: sk-ab***yz." (masking width not specified)
  assert.match(e.error.message, /^Incorrect API key provided: sk-ab[^ ]*\*{3,}[^ ]*yz\.$/);
  assert.ok(!e.error.message.includes('SECRET'), `the key leaked: ${e.error.message}`);
  await expectError(bad.files.retrieve(fakeId('file-')), OpenAI.AuthenticationError, { status: 401, code: 'invalid_api_key' });
});

test('a valid key works, and SDK extra headers are ignored', T, async () => {
  const page = await alpha.files.list();
  assert.ok(Array.isArray(page.data));
  const withOrg = makeClient({ apiKey: alphaKey.key, organization: 'org-x', project: 'proj-y' });
  await withOrg.files.list();
});

test("another project's file is indistinguishable from an unknown id", T, async () => {
  const buf = randomBytes(4096);
  const f = await alpha.files.create({ file: await toFile(buf, 'alpha.bin'), purpose: 'assistants' });
  assert.deepEqual(await bytesOf(await alpha.files.content(f.id)), buf);

  const want = { status: 404, param: 'id', code: null, message: `No such File object: ${f.id}` };
  await expectError(beta.files.retrieve(f.id), OpenAI.NotFoundError, want);
  await expectError(beta.files.content(f.id), OpenAI.NotFoundError, want);
  await expectError(beta.files.delete(f.id), OpenAI.NotFoundError, want);

  // same shape as a never-issued id
  const unknown = fakeId('file-');
  const eu = await expectError(beta.files.retrieve(unknown), OpenAI.NotFoundError);
  const ef = await expectError(beta.files.retrieve(f.id), OpenAI.NotFoundError);
  assert.deepEqual({ ...ef.error, message: ef.error.message.replace(f.id, 'ID') }, { ...eu.error, message: eu.error.message.replace(unknown, 'ID') });

  // beta's list doesn't show it; alpha's does
  const betaIds = [];
  for await (const x of beta.files.list({ limit: 2 })) betaIds.push(x.id);
  assert.ok(!betaIds.includes(f.id));
  const betaAssistants = [];
  for await (const x of beta.files.list({ purpose: 'assistants' })) betaAssistants.push(x.id);
  assert.ok(!betaAssistants.includes(f.id));
  const alphaIds = [];
  for await (const x of alpha.files.list({ limit: 2, purpose: 'assistants' })) alphaIds.push(x.id);
  assert.ok(alphaIds.includes(f.id));

  // beta's failed delete changed nothing
  assert.equal((await alpha.files.retrieve(f.id)).id, f.id);
  const d = await alpha.files.delete(f.id);
  assert.equal(d.deleted, true);
});

test("another project's upload: parts, complete, cancel, get → 404 upload_id; alpha unaffected", T, async () => {
  const u = await alpha.uploads.create({ bytes: 6, filename: 'a.jsonl', mime_type: 'text/jsonl', purpose: 'fine-tune' });
  const p = await alpha.uploads.parts.create(u.id, { data: await toFile(Buffer.from('abc'), 'p') });
  const want = { status: 404, param: 'upload_id', message: `No such Upload object: ${u.id}` };
  await expectError(beta.uploads.parts.create(u.id, { data: await toFile(Buffer.from('def'), 'p') }), OpenAI.NotFoundError, want);
  await expectError(beta.uploads.complete(u.id, { part_ids: [p.id] }), OpenAI.NotFoundError, want);
  await expectError(beta.uploads.cancel(u.id), OpenAI.NotFoundError, want);
  await expectError(beta.get(`/uploads/${u.id}`), OpenAI.NotFoundError, want);

  // a part of alpha's upload cannot be used in beta's own upload: same as an unknown part
  const bu = await beta.uploads.create({ bytes: 3, filename: 'b.jsonl', mime_type: 'text/jsonl', purpose: 'fine-tune' });
  await expectError(beta.uploads.complete(bu.id, { part_ids: [p.id] }), OpenAI.BadRequestError, {
    status: 400,
    param: 'part_ids',
    message: `Part ${p.id} does not belong to upload ${bu.id}`,
  });
  await beta.uploads.cancel(bu.id);

  // alpha's upload is still pending with only its own bytes
  const p2 = await alpha.uploads.parts.create(u.id, { data: await toFile(Buffer.from('def'), 'p') });
  const done = await alpha.uploads.complete(u.id, { part_ids: [p.id, p2.id] });
  assert.equal(done.status, 'completed');
  assert.equal((await bytesOf(await alpha.files.content(done.file.id))).toString(), 'abcdef');
  await expectError(beta.files.retrieve(done.file.id), OpenAI.NotFoundError, {
    status: 404,
    param: 'id',
    message: `No such File object: ${done.file.id}`,
  });
});

test('keys revoke → that key gets 401 invalid_api_key; other keys keep working', T, async () => {
  const before = await beta.files.list();
  assert.ok(Array.isArray(before.data));
  cli(['keys', 'revoke', betaKey.id, '--data', FILEPORT_DATA]);
  await eventually(async () => {
    await expectError(beta.files.list(), OpenAI.AuthenticationError, { status: 401, param: null, code: 'invalid_api_key' });
  }, 5000);
  await expectError(beta.uploads.create({ bytes: 1, filename: 'x', mime_type: 'txt', purpose: 'assistants' }), OpenAI.AuthenticationError, {
    status: 401,
    code: 'invalid_api_key',
  });
  const page = await alpha.files.list();
  assert.ok(Array.isArray(page.data));
});

test('every response the SDK saw was JSON (downloads excepted) with an x-request-id', () => {
  assertAllExchangesJson();
});
