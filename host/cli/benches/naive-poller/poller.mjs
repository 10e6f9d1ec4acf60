// The naive poller, the end_to_end bench's baseline: what an integration engineer
// writes in an afternoon. One poll of every Ticket changed since SINCE, each page
// mapped in JavaScript and delivered as signed 10-event Cloud Elements messages
// with Promise.all. Nothing durable: no store, no watermark, no retries, no order
// across pages' messages. Node's built-in fetch and crypto only.
// Env: AUTOTASK_URL, AUTOTASK_USER, AUTOTASK_SECRET, AUTOTASK_INTEGRATION_CODE,
//      CALLBACK_URL, SIGNATURE_KEY, SINCE, INSTANCE_ID.
import { createHmac, randomUUID } from 'node:crypto';

const env = process.env;
const auth = { UserName: env.AUTOTASK_USER, Secret: env.AUTOTASK_SECRET,
  ApiIntegrationCode: env.AUTOTASK_INTEGRATION_CODE, 'Content-Type': 'application/json' };
const RENAMED = { queueID: 'queueId', companyID: 'companyId', contactID: 'contactId',
  assignedResourceID: 'assignedResourceId', dueDateTime: 'dueDate', resolvedDateTime: 'resolvedDate' };
const KEPT = ['ticketNumber', 'title', 'description', 'status', 'priority', 'issueType', 'subIssueType',
  'ticketType', 'source', 'completedDate'];

function toEvent(t) {
  const { id, createDate, lastActivityDate, userDefinedFields, ...rest } = t;
  const out = { id: String(id), createdDate: createDate, updatedDate: lastActivityDate,
    customFields: Object.fromEntries((userDefinedFields ?? []).map((f) => [f.name, f.value ?? null])) };
  const extra = {};
  for (const [k, v] of Object.entries(rest)) {
    if (RENAMED[k]) out[RENAMED[k]] = v; else if (KEPT.includes(k)) out[k] = v; else extra[k] = v;
  }
  out.extra = extra;
  return { elementKey: 'autotaskhelpdesk', eventType: createDate === lastActivityDate ? 'CREATED' : 'UPDATED',
    hubKey: 'helpdesk', objectId: String(id), objectType: 'incidents', eventDate: lastActivityDate,
    eventId: randomUUID(), payload: out };
}

async function deliver(tickets) {
  const body = JSON.stringify({ message: { elementKey: 'autotaskhelpdesk', accountId: null, eventId: randomUUID(),
    companyId: null, instanceId: env.INSTANCE_ID, instance_id: env.INSTANCE_ID, instanceName: env.INSTANCE_ID,
    instanceTags: [], raw: { incidents: tickets, objectType: 'incidents' }, userId: null,
    events: tickets.map(toEvent) } });
  const signature = 'sha256=' + createHmac('sha256', env.SIGNATURE_KEY).update(body).digest('base64');
  const res = await fetch(env.CALLBACK_URL, { method: 'POST', body,
    headers: { 'Content-Type': 'application/json', 'Elements-Webhook-Signature': signature } });
  if (!res.ok) throw new Error(`callback answered ${res.status}`);
  await res.arrayBuffer();
}

console.log('naive poller starting');
const zoneUrl = `${env.AUTOTASK_URL}/atservicesrest/v1.0/zoneInformation?user=${encodeURIComponent(env.AUTOTASK_USER)}`;
const zone = await (await fetch(zoneUrl)).json();
const query = JSON.stringify({ MaxRecords: 500,
  filter: [{ op: 'gte', field: 'lastActivityDate', value: env.SINCE ?? '2000-01-01T00:00:00Z' }] });
let url = `${zone.url}v1.0/Tickets/query`;
let records = 0;
while (url) {
  const res = await fetch(url, { method: 'POST', headers: auth, body: query });
  if (!res.ok) throw new Error(`Autotask answered ${res.status}: ${await res.text()}`);
  const page = await res.json();
  const messages = [];
  for (let i = 0; i < page.items.length; i += 10) messages.push(deliver(page.items.slice(i, i + 10)));
  await Promise.all(messages);
  records += page.items.length;
  url = page.pageDetails.nextPageUrl;
}
const cpu = process.cpuUsage();
console.log(`delivered ${records} records, Node CPU ${((cpu.user + cpu.system) / 1e6).toFixed(2)} s`);
