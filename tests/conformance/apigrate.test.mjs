// The simulator's conformance test: a real Autotask REST client that this project did not
// write, @apigrate/autotask-restapi (pinned in package.json), against a running simulator.
// What the client sends and reads is what real integrations send and read, so a difference is
// a simulator bug unless the client is provably wrong; where it is, a comment says so.
//
// The expected results are computed here, in JavaScript, from every Ticket the simulator
// holds (read through the client's paging), with Autotask's filter semantics as
// host/sim/src/filter.rs documents them. Nothing is hard-coded but the data's shape.
//
// Run by `tests/run` through tests/e2e/conformance.rs, which starts the simulator and sets:
//   AUTOTASK_SIM_URL      http://127.0.0.1:PORT (where zone lookup starts)
//   AUTOTASK_SIM_USER, AUTOTASK_SIM_SECRET, AUTOTASK_SIM_CODE   the credentials it accepts
//   AUTOTASK_SIM_TICKETS  how many Tickets it was started with (optional)
// By hand: `cargo run -- sim --tickets 1200 --listen 127.0.0.1:18089`, then
//   AUTOTASK_SIM_URL=http://127.0.0.1:18089 node --test apigrate.test.mjs
// (the credentials default to the simulator's).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import autotask from '@apigrate/autotask-restapi';

const { AutotaskRestApi, AutotaskApiError } = autotask;

const SIM_URL = process.env.AUTOTASK_SIM_URL?.replace(/\/+$/, '');
if (!SIM_URL) {
  throw new Error('AUTOTASK_SIM_URL is not set: the address of a running Autotask simulator (http://127.0.0.1:PORT)');
}
const USER = process.env.AUTOTASK_SIM_USER || 'sim@example.com';
const SECRET = process.env.AUTOTASK_SIM_SECRET || 'sim-secret';
const CODE = process.env.AUTOTASK_SIM_CODE || 'SIMCODE';
const EXPECTED_TICKETS = process.env.AUTOTASK_SIM_TICKETS ? Number(process.env.AUTOTASK_SIM_TICKETS) : undefined;

/// Where the client starts its zone lookup: `${base_url}v1.0/zoneInformation?user=...`.
const BASE_URL = `${SIM_URL}/atservicesrest/`;
const EVERY = [{ op: 'exist', field: 'id' }];

function client({ user = USER, secret = SECRET, code = CODE } = {}) {
  return new AutotaskRestApi(user, secret, code, { base_url: BASE_URL });
}

/// One client for the whole file, as an integration keeps one: the zone is looked up once.
const api = client();

// ---------------------------------------------------------------------------------------
// Paging through the client's own transport.

/// A page link as the client's `_fetch` takes it: the endpoint relative to
/// `zoneInfo.url + "V1.0"` and the query parameters. Links must stay on the zone's origin.
function link(client, url) {
  const target = new URL(url);
  const base = new URL(`${client.zoneInfo.url}V${client.version}`);
  assert.equal(target.origin, base.origin, `page link ${url} leaves the zone ${base.origin}`);
  const prefix = base.pathname.toLowerCase();
  assert.ok(target.pathname.toLowerCase().startsWith(prefix), `page link ${url} is not under ${base.pathname}`);
  return { endpoint: target.pathname.slice(prefix.length), params: Object.fromEntries(target.searchParams) };
}

/// Checks a page's shape and returns its ids.
function pageIds(page) {
  assert.ok(Array.isArray(page.items), `a page has items: ${JSON.stringify(page).slice(0, 200)}`);
  assert.equal(page.pageDetails.count, page.items.length, 'pageDetails.count is the page size');
  return page.items.map((item) => item.id);
}

/// Every id once, ascending.
function assertAscendingOnce(ids, what) {
  for (let i = 1; i < ids.length; i++) {
    assert.ok(ids[i - 1] < ids[i], `${what}: id ${ids[i]} follows ${ids[i - 1]} (not ascending or repeated)`);
  }
}

/// Every record a POST query matches: the first page by the client's `query`, the next ones
/// by POSTing the same body to each `nextPageUrl`, as Autotask requires.
async function readAllByPost(entity, body, via = api) {
  const pages = [await via[entity].query(body)];
  for (let next = pages[0].pageDetails.nextPageUrl; next; next = pages.at(-1).pageDetails.nextPageUrl) {
    const { endpoint, params } = link(via, next);
    pages.push(await via._fetch('POST', endpoint, params, body));
    assert.ok(pages.length < 1000, 'paging does not end');
  }
  return collect(pages, `POST ${entity}/query ${JSON.stringify(body)}`);
}

/// Every record a GET query matches: `search` holds the body; each `nextPageUrl` is GET as
/// given (it carries the `search`).
async function readAllByGet(entity, search, via = api) {
  const pages = [await via._get(`/${entity}/query`, { search })];
  for (let next = pages[0].pageDetails.nextPageUrl; next; next = pages.at(-1).pageDetails.nextPageUrl) {
    const { endpoint, params } = link(via, next);
    assert.ok('search' in params, `a GET query's next page link carries its search: ${next}`);
    pages.push(await via._get(endpoint, params));
    assert.ok(pages.length < 1000, 'paging does not end');
  }
  return collect(pages, `GET ${entity}/query?search=${search}`);
}

function collect(pages, what) {
  const ids = pages.flatMap(pageIds);
  assertAscendingOnce(ids, what);
  for (const page of pages.slice(0, -1)) {
    assert.equal(page.pageDetails.count, page.pageDetails.requestCount ?? 500, `${what}: only the last page is short`);
  }
  return { ids, items: pages.flatMap((page) => page.items), pages: pages.length };
}

let everyTicket;
/// Every Ticket, read once (by POST paging) and shared by the tests that compute expectations.
function allTickets() {
  everyTicket ??= readAllByPost('Tickets', { filter: EVERY }).then(({ items }) => {
    assert.ok(items.length > 1000, `the simulator holds over 1,000 Tickets (it has ${items.length})`);
    if (EXPECTED_TICKETS !== undefined) assert.equal(items.length, EXPECTED_TICKETS, 'every Ticket is read');
    return items;
  });
  return everyTicket;
}

/// The simulator's request statistics (its test-control API, not Autotask's).
async function simStats() {
  const response = await fetch(`${SIM_URL}/sim/stats`);
  assert.equal(response.status, 200);
  return response.json();
}

function answers(stats, endpoint, status) {
  return stats.byEndpoint[endpoint]?.[String(status)] ?? 0;
}

/// The error a call throws, which must be the client's `AutotaskApiError`.
async function apiError(call) {
  try {
    const result = await call();
    assert.fail(`expected an Autotask error, got ${JSON.stringify(result).slice(0, 300)}`);
  } catch (error) {
    if (!(error instanceof AutotaskApiError)) throw error;
    return error;
  }
}

/// Runs `call` with the client's `console.error` output captured (it reports zone lookup failures there).
async function capturingConsoleError(call) {
  const original = console.error;
  const lines = [];
  console.error = (...args) => lines.push(args.map(String).join(' '));
  try {
    return { result: await call().catch((error) => error), lines };
  } finally {
    console.error = original;
  }
}

// ---------------------------------------------------------------------------------------
// Autotask's filter semantics, the oracle (host/sim/src/filter.rs): text compares
// case-insensitively, numbers as numbers, dates as instants; a null or absent field meets
// no comparison (not `noteq`, not `notIn`), only `notExist`. User-defined fields are text,
// found by name (case-insensitively) in `userDefinedFields`; two numeric texts compare as
// numbers.

/// The Ticket fields the cases use, with the types Autotask documents for them (the
/// entityInformation test checks the simulator reports the same).
const TICKET_TYPES = {
  id: 'integer',
  status: 'integer',
  priority: 'integer',
  issueType: 'integer',
  contactID: 'integer',
  queueID: 'integer',
  title: 'string',
  description: 'string',
  ticketNumber: 'string',
  createDate: 'datetime',
  lastActivityDate: 'datetime',
  dueDateTime: 'datetime',
  estimatedHours: 'double',
};

const NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

function typed(type, value) {
  if (value === null || value === undefined) return null;
  switch (type) {
    case 'integer':
    case 'double':
      return { kind: 'number', v: typeof value === 'number' ? value : Number(String(value).trim()) };
    case 'datetime': {
      const instant = Date.parse(value);
      assert.ok(!Number.isNaN(instant), `a date: ${value}`);
      return { kind: 'number', v: instant };
    }
    default:
      return { kind: 'text', v: (typeof value === 'string' ? value : JSON.stringify(value)).toLowerCase() };
  }
}

/// Code-point order (as Rust's `str` compares), not JavaScript's UTF-16 order.
function compareText(a, b) {
  const x = Array.from(a, (c) => c.codePointAt(0));
  const y = Array.from(b, (c) => c.codePointAt(0));
  for (let i = 0; i < Math.min(x.length, y.length); i++) if (x[i] !== y[i]) return x[i] < y[i] ? -1 : 1;
  return Math.sign(x.length - y.length);
}

function compare(type, field, operand) {
  const a = typed(type, field);
  const b = typed(type, operand);
  if (a.kind === 'text' && NUMBER.test(a.v) && NUMBER.test(b.v)) return Math.sign(Number(a.v) - Number(b.v));
  if (a.kind === 'text') return compareText(a.v, b.v);
  return Math.sign(a.v - b.v);
}

function fieldOf(record, filter) {
  if (filter.udf) {
    const udf = (record.userDefinedFields ?? []).find((f) => f.name.toLowerCase() === filter.field.toLowerCase());
    return { value: udf?.value ?? null, type: 'string' };
  }
  const type = TICKET_TYPES[filter.field];
  assert.ok(type, `the oracle knows the type of ${filter.field}`);
  return { value: record[filter.field] ?? null, type };
}

function holds(record, filter) {
  const op = filter.op.toLowerCase();
  if (op === 'and') return filter.items.every((item) => holds(record, item));
  if (op === 'or') return filter.items.some((item) => holds(record, item));
  const { value, type } = fieldOf(record, filter);
  if (op === 'exist') return value !== null;
  if (op === 'notexist') return value === null;
  if (value === null) return false;
  const text = () => typed('string', value).v;
  const pattern = () => typed('string', filter.value).v;
  switch (op) {
    case 'eq': return compare(type, value, filter.value) === 0;
    case 'noteq': return compare(type, value, filter.value) !== 0;
    case 'gt': return compare(type, value, filter.value) > 0;
    case 'gte': return compare(type, value, filter.value) >= 0;
    case 'lt': return compare(type, value, filter.value) < 0;
    case 'lte': return compare(type, value, filter.value) <= 0;
    case 'beginswith': return text().startsWith(pattern());
    case 'endswith': return text().endsWith(pattern());
    case 'contains': return text().includes(pattern());
    case 'in': return filter.value.some((v) => compare(type, value, v) === 0);
    case 'notin': return filter.value.every((v) => compare(type, value, v) !== 0);
    default: throw new Error(`the oracle has no op ${filter.op}`);
  }
}

/// The ids of the records every top-level filter holds for (the array is an implicit AND).
function expectedIds(records, filters) {
  return records.filter((record) => filters.every((f) => holds(record, f))).map((record) => record.id);
}

// ---------------------------------------------------------------------------------------
// Operands taken from the data, so every case selects some Tickets and leaves out others.

function valuesOf(tickets, field) {
  return tickets.map((t) => t[field]).filter((v) => v !== null && v !== undefined);
}

/// The value at the middle of a field's sorted values.
function median(tickets, field) {
  const values = valuesOf(tickets, field).sort((a, b) => compare(TICKET_TYPES[field], a, b));
  return values[Math.floor(values.length / 2)];
}

/// The same instant written with a +02:00 offset: dates must compare as instants.
function withOffset(date) {
  const shifted = new Date(Date.parse(date) + 2 * 3600_000).toISOString().replace('Z', '+02:00');
  assert.equal(Date.parse(shifted), Date.parse(date));
  return shifted;
}

/// Swaps the case of every letter: text must compare case-insensitively.
function swapCase(text) {
  return Array.from(text, (c) => (c === c.toUpperCase() ? c.toLowerCase() : c.toUpperCase())).join('');
}

/// The most common value of a user-defined field among the Tickets carrying it as text.
function commonUdfText(tickets, name) {
  const counts = new Map();
  for (const t of tickets) {
    for (const f of t.userDefinedFields ?? []) {
      if (f.name === name && typeof f.value === 'string') counts.set(f.value, (counts.get(f.value) ?? 0) + 1);
    }
  }
  return [...counts].sort((a, b) => b[1] - a[1])[0]?.[0];
}

function cases(tickets) {
  const pick = (i) => tickets[Math.floor((tickets.length * i) / 10)];
  const statuses = [...new Set(valuesOf(tickets, 'status'))].sort((a, b) => a - b);
  const priorities = [...new Set(valuesOf(tickets, 'priority'))].sort((a, b) => a - b);
  const contacts = valuesOf(tickets, 'contactID');
  const word = pick(3).title.split(' ')[0];
  const lastWord = pick(6).title.split(' ').at(-1);
  const udfNames = [...new Set(tickets.flatMap((t) => (t.userDefinedFields ?? []).map((f) => f.name)))];
  assert.ok(udfNames.length >= 2, `Tickets carry user-defined fields (${udfNames})`);
  const [udfA, udfB] = udfNames;
  const udfText = commonUdfText(tickets, udfA);
  assert.ok(udfText, `some Ticket has a text value in ${udfA}`);
  return [
    ['eq on an integer', [{ op: 'eq', field: 'status', value: pick(1).status }]],
    ['eq on text is case-insensitive', [{ op: 'eq', field: 'title', value: swapCase(pick(2).title) }]],
    ['eq on a date, written with another offset', [{ op: 'eq', field: 'createDate', value: withOffset(pick(4).createDate) }]],
    ['noteq on an integer', [{ op: 'noteq', field: 'priority', value: pick(5).priority }]],
    ['noteq leaves out nulls and absent fields', [{ op: 'noteq', field: 'contactID', value: contacts[7] }]],
    ['gt on the id', [{ op: 'gt', field: 'id', value: pick(5).id }]],
    ['gt on a date', [{ op: 'gt', field: 'lastActivityDate', value: median(tickets, 'lastActivityDate') }]],
    ['gt on a double', [{ op: 'gt', field: 'estimatedHours', value: median(tickets, 'estimatedHours') }]],
    ['gt on text', [{ op: 'gt', field: 'title', value: median(tickets, 'title') }]],
    ['gte on a date with an offset', [{ op: 'gte', field: 'lastActivityDate', value: withOffset(median(tickets, 'lastActivityDate')) }]],
    ['gte on a nullable integer', [{ op: 'gte', field: 'contactID', value: median(tickets, 'contactID') }]],
    ['lt on a date', [{ op: 'lt', field: 'createDate', value: median(tickets, 'createDate') }]],
    ['lt on a nullable date', [{ op: 'lt', field: 'dueDateTime', value: median(tickets, 'dueDateTime') }]],
    ['lte on an integer given as text', [{ op: 'lte', field: 'id', value: String(pick(3).id) }]],
    ['lte on a date with an offset', [{ op: 'lte', field: 'createDate', value: withOffset(median(tickets, 'createDate')) }]],
    ['beginsWith, case-insensitive', [{ op: 'beginsWith', field: 'title', value: swapCase(word) }]],
    ['endsWith, case-insensitive', [{ op: 'endsWith', field: 'title', value: swapCase(lastWord) }]],
    ['contains on a nullable text', [{ op: 'contains', field: 'description', value: swapCase(word) }]],
    ['exist on a nullable field', [{ op: 'exist', field: 'contactID' }]],
    ['notExist on a nullable field', [{ op: 'notExist', field: 'contactID' }]],
    ['notExist on a date', [{ op: 'notExist', field: 'dueDateTime' }]],
    ['in', [{ op: 'in', field: 'status', value: [statuses[0], statuses.at(-1)] }]],
    ['in on a nullable field', [{ op: 'in', field: 'contactID', value: contacts.slice(0, 40) }]],
    ['notIn', [{ op: 'notIn', field: 'priority', value: priorities.slice(0, 2) }]],
    ['notIn leaves out nulls', [{ op: 'notIn', field: 'contactID', value: contacts.slice(0, 3) }]],
    ['several top-level filters are an AND', [
      { op: 'gte', field: 'id', value: pick(2).id },
      { op: 'in', field: 'priority', value: priorities.slice(1) },
      { op: 'exist', field: 'queueID' },
    ]],
    ['nested and/or groups', [
      { op: 'or', items: [
        { op: 'and', items: [
          { op: 'eq', field: 'status', value: statuses[1] },
          { op: 'lte', field: 'priority', value: priorities[1] },
        ] },
        { op: 'and', items: [
          { op: 'notExist', field: 'contactID' },
          { op: 'or', items: [
            { op: 'contains', field: 'title', value: word },
            { op: 'in', field: 'issueType', value: [1, 2, 3, 4, 5] },
          ] },
        ] },
      ] },
      { op: 'lt', field: 'id', value: pick(9).id },
    ]],
    ['op names and group names in other cases', [
      { op: 'OR', items: [{ op: 'EQ', field: 'status', value: statuses[0] }, { op: 'beginswith', field: 'title', value: word }] },
    ]],
    ['udf eq, case-insensitive', [{ op: 'eq', field: udfA, value: swapCase(udfText), udf: true }]],
    ['udf contains', [{ op: 'contains', field: udfA, value: udfText.split(' ')[0], udf: true }]],
    ['udf exist', [{ op: 'exist', field: udfB, udf: true }]],
    ['udf notExist', [{ op: 'notExist', field: udfB, udf: true }]],
    ['udf noteq leaves out nulls', [{ op: 'noteq', field: udfA, value: udfText, udf: true }]],
    ['udf gt compares numbers as numbers', [{ op: 'gt', field: udfB, value: 99, udf: true }]],
    ['udf in', [{ op: 'in', field: udfA, value: [udfText, 'no such value'], udf: true }]],
    ['udf inside an or group', [
      { op: 'or', items: [
        { op: 'beginsWith', field: udfA, value: udfText.slice(0, 3), udf: true },
        { op: 'eq', field: 'status', value: statuses[0] },
      ] },
    ]],
  ];
}

// ---------------------------------------------------------------------------------------
// The tests.

test('zone lookup: the client finds its zone once and queries there', async () => {
  const fresh = client();
  assert.equal(fresh.zoneInfo, null, 'the zone is looked up lazily');
  const before = await simStats();
  const first = await fresh.Tickets.count({ filter: EVERY });
  const second = await fresh.Tickets.get(1);
  const after = await simStats();
  assert.equal(typeof first.queryCount, 'number');
  assert.ok(second.item, 'Ticket 1 is read in the zone');
  assert.equal(typeof fresh.zoneInfo.url, 'string');
  assert.equal(new URL(fresh.zoneInfo.url).origin, new URL(SIM_URL).origin, 'the zone points back at the simulator');
  assert.match(fresh.zoneInfo.url, /\/$/, 'zoneInfo.url ends with a slash: the client appends V1.0 to it');
  assert.equal(answers(after, 'GET zoneInformation', 200) - answers(before, 'GET zoneInformation', 200), 1, 'looked up once');
});

test('zone lookup: an unknown user has no zone, and its requests fail', async () => {
  const stranger = client({ user: 'nobody@example.com' });
  const before = await simStats();
  const { result, lines } = await capturingConsoleError(() => stranger.Tickets.count({ filter: EVERY }));
  const after = await simStats();
  assert.equal(answers(after, 'GET zoneInformation', 500) - answers(before, 'GET zoneInformation', 500), 1);
  // The client logs the failed lookup, keeps no zone, and sends the request to its base URL,
  // where Autotask refuses an unknown user with a 500 (not a 401).
  assert.ok(lines.some((line) => line.includes('Error fetching zone information: HTTP-500')), lines.join('\n'));
  assert.equal(stranger.zoneInfo, null);
  assert.ok(result instanceof AutotaskApiError, `the request fails: ${result}`);
  assert.equal(result.status, 500);
});

test('every filter operator, and/or groups and udf filters select what Autotask would', async (t) => {
  const tickets = await allTickets();
  for (const [name, filter] of cases(tickets)) {
    await t.test(name, async () => {
      const expected = expectedIds(tickets, filter);
      assert.ok(expected.length > 0, `the case selects some Tickets: ${JSON.stringify(filter)}`);
      assert.ok(expected.length < tickets.length, `the case leaves some Tickets out: ${JSON.stringify(filter)}`);
      const { ids } = await readAllByPost('Tickets', { filter });
      assert.deepEqual(ids, expected, JSON.stringify(filter));
    });
  }
});

test('every operator is covered', async () => {
  // A case list that lost an operator would pass silently; this names the ones missing.
  const ops = new Set();
  const walk = (f) => {
    ops.add(f.op.toLowerCase());
    f.items?.forEach(walk);
  };
  for (const [, filter] of cases(await allTickets())) filter.forEach(walk);
  const all = ['eq', 'noteq', 'gt', 'gte', 'lt', 'lte', 'beginswith', 'endswith', 'contains', 'exist', 'notexist', 'in', 'notin', 'and', 'or'];
  assert.deepEqual(all.filter((op) => !ops.has(op)), []);
});

test('paging by POST: over 1,000 records, every id once, ascending, as many as the count', async () => {
  const tickets = await allTickets();
  const { ids, pages } = await readAllByPost('Tickets', { filter: EVERY });
  assert.ok(ids.length > 1000 && pages >= 3, `${ids.length} records in ${pages} pages`);
  assert.deepEqual(ids, tickets.map((t) => t.id));
  const { queryCount } = await api.Tickets.count({ filter: EVERY });
  assert.equal(queryCount, ids.length);
  // Smaller pages: MaxRecords is the page size.
  const small = await readAllByPost('Tickets', { MaxRecords: 300, filter: EVERY });
  assert.deepEqual(small.ids, ids);
  assert.equal(small.pages, Math.ceil(ids.length / 300));
});

test('paging by GET: search on the query and on every next page link', async () => {
  const tickets = await allTickets();
  const { ids, pages } = await readAllByGet('Tickets', JSON.stringify({ filter: EVERY }));
  assert.ok(ids.length > 1000 && pages >= 3, `${ids.length} records in ${pages} pages`);
  assert.deepEqual(ids, tickets.map((t) => t.id));
  const { queryCount } = await api.Tickets.count({ filter: EVERY });
  assert.equal(queryCount, ids.length);
  const filter = [{ op: 'gt', field: 'id', value: tickets[100].id }, { op: 'exist', field: 'contactID' }];
  const filtered = await readAllByGet('Tickets', JSON.stringify({ MaxRecords: 200, filter }));
  assert.deepEqual(filtered.ids, expectedIds(tickets, filter));
  assert.ok(filtered.pages > 1);
});

test("paging: a POST-started next page link cannot be read with GET", async () => {
  const first = await api.Tickets.query({ filter: EVERY });
  const { endpoint, params } = link(api, first.pageDetails.nextPageUrl);
  const error = await apiError(() => api._get(endpoint, params));
  assert.equal(error.status, 405);
  assert.deepEqual(error.details, { Message: "The requested resource does not support http method 'GET'." });
});

test('count agrees with the paged total', async () => {
  const tickets = await allTickets();
  for (const [name, filter] of [['every Ticket', EVERY], ...cases(tickets)]) {
    const { ids } = await readAllByPost('Tickets', { filter });
    const { queryCount } = await api.Tickets.count({ filter });
    assert.equal(queryCount, ids.length, name);
  }
});

test('entity information: info() says Tickets can be queried and have user-defined fields', async () => {
  const tickets = await allTickets();
  const carries = tickets.some((t) => (t.userDefinedFields ?? []).length > 0);
  const info = await api.Tickets.info();
  assert.ok(info && typeof info.info === 'object', `{info: {...}}: ${JSON.stringify(info)}`);
  assert.equal(info.info.canQuery, true);
  assert.equal(info.info.hasUserDefinedFields, carries);
  // TicketNotes carry none.
  const notes = await api.TicketNotes.query({ filter: EVERY, MaxRecords: 50 });
  assert.ok(notes.items.length > 0);
  const notesInfo = await api.TicketNotes.info();
  assert.equal(notesInfo.info.canQuery, true);
  assert.equal(notesInfo.info.hasUserDefinedFields, notes.items.some((n) => (n.userDefinedFields ?? []).length > 0));
});

test('entity information: udfInfo() defines the user-defined fields the records carry', async () => {
  const tickets = await allTickets();
  const carried = [...new Set(tickets.flatMap((t) => (t.userDefinedFields ?? []).map((f) => f.name)))].sort();
  const udfs = await api.Tickets.udfInfo();
  assert.ok(udfs && Array.isArray(udfs.fields), `{fields: [...]}: ${JSON.stringify(udfs)}`);
  assert.deepEqual(udfs.fields.map((f) => f.name).sort(), carried);
});

test('entity information: fieldInfo() marks status and priority required, with the types filters use', async () => {
  const tickets = await allTickets();
  const { fields } = await api.Tickets.fieldInfo();
  const byName = Object.fromEntries(fields.map((f) => [f.name, f]));
  assert.equal(byName.status?.isRequired, true, 'status is required');
  assert.equal(byName.priority?.isRequired, true, 'priority is required');
  for (const [name, type] of Object.entries(TICKET_TYPES)) {
    assert.equal(byName[name]?.dataType, type, `the type of ${name}`);
  }
  // The status picklist holds every status the Tickets have.
  assert.equal(byName.status.isPickList, true);
  const listed = new Set(byName.status.picklistValues.map((v) => Number(v.value)));
  for (const status of new Set(valuesOf(tickets, 'status'))) assert.ok(listed.has(status), `status ${status} is listed`);
});

test('includeFields: only those fields (and the id), with "userDefinedFields": []', async () => {
  const tickets = await allTickets();
  const byId = new Map(tickets.map((t) => [t.id, t]));
  const page = await api.Tickets.query({ filter: EVERY, includeFields: ['status', 'Title'], MaxRecords: 25 });
  assert.equal(page.items.length, 25);
  for (const item of page.items) {
    assert.deepEqual(Object.keys(item).sort(), ['id', 'status', 'title', 'userDefinedFields']);
    assert.deepEqual(item.userDefinedFields, []);
    assert.equal(item.status, byId.get(item.id).status);
    assert.equal(item.title, byId.get(item.id).title);
  }
});

test('a GET search written with single quotes is accepted', async () => {
  const tickets = await allTickets();
  const word = tickets[10].title.split(' ')[0];
  const bound = tickets[700].id;
  assert.ok(!word.includes("'"), 'the word needs no escaping');
  const search = `{'filter':[{'op':'beginsWith','field':'title','value':'${word}'},{'op':'lte','field':'id','value':${bound}}]}`;
  const { ids } = await readAllByGet('Tickets', search);
  const expected = expectedIds(tickets, [
    { op: 'beginsWith', field: 'title', value: word },
    { op: 'lte', field: 'id', value: bound },
  ]);
  assert.ok(expected.length > 0);
  assert.deepEqual(ids, expected);
});

test('an unknown operator is ignored: its clause is dropped, the others apply, and it is counted', async () => {
  const tickets = await allTickets();
  const bound = tickets[300].id;
  const before = await simStats();
  const page = await api.Tickets.query({
    filter: [{ op: 'ne', field: 'status', value: tickets[0].status }, { op: 'lte', field: 'id', value: bound }],
  });
  const after = await simStats();
  assert.equal(page.pageDetails.nextPageUrl, null, 'one page');
  assert.deepEqual(pageIds(page), expectedIds(tickets, [{ op: 'lte', field: 'id', value: bound }]));
  const ignored = (stats) => stats.ignoredFilterOperators?.ne ?? 0;
  assert.ok(after.ignoredFilterOperators, `/sim/stats has ignoredFilterOperators: ${JSON.stringify(after)}`);
  assert.equal(ignored(after) - ignored(before), 1, 'the ignored operator is counted once');

  // Inside an or group, only that clause goes: the group keeps its other items.
  const status = tickets[1].status;
  const nested = await api.Tickets.query({
    filter: [
      { op: 'or', items: [{ op: 'ne', field: 'status', value: status }, { op: 'eq', field: 'status', value: status }] },
      { op: 'lte', field: 'id', value: bound },
    ],
  });
  const expected = expectedIds(tickets, [{ op: 'eq', field: 'status', value: status }, { op: 'lte', field: 'id', value: bound }]);
  assert.ok(expected.length > 0 && expected.length < 300, 'the group still filters');
  assert.deepEqual(pageIds(nested), expected);
  assert.equal(ignored(await simStats()) - ignored(after), 1, 'the nested ignored operator is counted once');
});

test('errors: a wrong secret is refused with 401', async () => {
  const wrong = client({ secret: 'not-the-secret' });
  const error = await apiError(() => wrong.Tickets.query({ filter: EVERY }));
  assert.equal(error.status, 401);
  assert.notEqual(wrong.zoneInfo, null, 'the zone lookup needs no secret');
});

test('errors: an unknown field is a 500 naming it', async () => {
  const error = await apiError(() => api.Tickets.query({ filter: [{ op: 'gt', field: 'lastActivityDat', value: '2024-01-01T00:00:00Z' }] }));
  assert.equal(error.status, 500);
  assert.deepEqual(error.details.errors, ['Unable to find lastActivityDat in the Ticket Entity.']);
});

test('errors: MaxRecords over 500 is a 500', async () => {
  const error = await apiError(() => api.Tickets.query({ filter: EVERY, MaxRecords: 501 }));
  assert.equal(error.status, 500);
  assert.ok(
    error.details.errors.some((text) => text.includes('maxCountOfRecordsToReturn must be between 1 and 500')),
    JSON.stringify(error.details),
  );
});

test('errors: a POST query without a body is a 500 about the queryModel', async () => {
  // The client sends no body when the search is left out.
  const error = await apiError(() => api.Tickets.query());
  assert.equal(error.status, 500);
  assert.ok(JSON.stringify(error.details).includes('Parameter name: queryModel'), JSON.stringify(error.details));
});

test('errors: a Ticket that does not exist is {item: null}', async () => {
  const tickets = await allTickets();
  const missing = tickets.at(-1).id + 1000;
  assert.deepEqual(await api.Tickets.get(missing), { item: null });
  const present = await api.Tickets.get(tickets[0].id);
  assert.equal(present.item.id, tickets[0].id);
});
