// The JavaScript runner's logic: loads a script plugin and maps batches with it.
//
// Nothing here imports from the host, so Node.js tests it as is (test/); the
// WIT glue is runner.js. The script contract is in ../README.md.
//
// How WIT values look in componentize-js: record fields are camelCase, an
// option<T> is T or undefined, a variant is {tag, val}, and a result is
// {tag: 'ok', val} or {tag: 'err', val}.

/** Names a custom event type may have (see event-type in plugin.wit). */
const CUSTOM_EVENT_TYPE = /^[A-Z][A-Z0-9_]{0,63}$/;

/** The WIT event types of the three standard names. */
const STANDARD_EVENT_TYPES = new Map([
  ['CREATED', { tag: 'created' }],
  ['UPDATED', { tag: 'updated' }],
  ['DELETED', { tag: 'deleted' }],
]);

/** What a script sees as `meta.defaultEventType`, by WIT case. */
const DEFAULT_EVENT_TYPE_NAMES = { created: 'CREATED', updated: 'UPDATED', deleted: 'DELETED' };

/** What precedes a script's first line: on that same line, so line numbers stay the script's. */
const WRAPPER_PREFIX = '(function (module, exports, console) {';

/**
 * Parses one record, keeping every number's text: a number whose text a
 * double would not give back (`12.50`, `9007199254740993`, `1.25e-3`) becomes
 * JSON.rawJSON(text), which JSON.stringify writes back verbatim.
 */
export function parseRecord(json) {
  return JSON.parse(json, exactNumbers);
}

function exactNumbers(key, value, context) {
  return typeof value === 'number' && String(value) !== context.source ? JSON.rawJSON(context.source) : value;
}

/** A script plugin: its file name and what its top level exported. */
export class Script {
  constructor(fileName, exports) {
    this.fileName = fileName;
    this.exports = exports;
  }
}

/** Why a script could not load, with its file and line. */
export class LoadError extends Error {}

/**
 * Evaluates `source` as a CommonJS module named `fileName`; throws a
 * LoadError naming the file and line when it does not parse, throws while it
 * runs, or exports no mapRecord.
 */
export function loadScript(fileName, source, console) {
  const wrapped = `${WRAPPER_PREFIX}${source}\n})\n//# sourceURL=${fileName}`;
  let factory;
  try {
    factory = (0, eval)(wrapped); // indirect: the script sees globals only, not this module
  } catch (e) {
    throw new LoadError(syntaxErrorMessage(fileName, e));
  }
  const module = { exports: {} };
  try {
    factory.call(module.exports, module, module.exports, console);
  } catch (e) {
    throw new LoadError(`${fileName}: ${reason(fileName, e)}`);
  }
  const exports = module.exports;
  if (exports === null || (typeof exports !== 'object' && typeof exports !== 'function')) {
    throw new LoadError(`${fileName}: module.exports is ${kind(exports)}, not an object with mapRecord`);
  }
  if (typeof exports.mapRecord !== 'function') {
    throw new LoadError(
      `${fileName}: the script exports no mapRecord function (set exports.mapRecord = (record, meta, ctx) => ...)`,
    );
  }
  if (exports.describe !== undefined && typeof exports.describe !== 'function') {
    throw new LoadError(`${fileName}: exports.describe is ${kind(exports.describe)}, not a function`);
  }
  return new Script(fileName, exports);
}

/** `accounts.js:3:14: SyntaxError: ...` for an error thrown while the source was parsed. */
function syntaxErrorMessage(fileName, e) {
  if (!(e instanceof Error)) {
    return `${fileName}: ${String(e)}`;
  }
  // SpiderMonkey puts a syntax error's position on the error; V8 in the first stack line.
  let line = e.lineNumber;
  let column = e.columnNumber;
  if (typeof line !== 'number') {
    const frame = scriptFrames(fileName, e.stack)[0];
    if (frame !== undefined) {
      ({ line, column } = frame);
    }
  }
  if (typeof line !== 'number') {
    return `${fileName}: ${e.name}: ${e.message}`;
  }
  // SpiderMonkey counts columns from 1 (0 in old versions); the wrapper shifts line 1.
  if (line === 1 && column > WRAPPER_PREFIX.length) {
    column -= WRAPPER_PREFIX.length;
  }
  return `${fileName}:${line}:${column}: ${e.name}: ${e.message}`;
}

/**
 * Why a script's code threw: `TypeError: message (at accounts.js:12:27)` and
 * then the script's frames, one a line. Values that are not errors are shown
 * as text.
 */
export function reason(fileName, e) {
  if (!(e instanceof Error) && (e === null || typeof e !== 'object' || typeof e.stack !== 'string')) {
    return `uncaught ${kind(e)}: ${safeString(e)}`;
  }
  const head = `${e.name ?? 'Error'}: ${e.message ?? ''}`;
  const frames = scriptFrames(fileName, e.stack);
  if (frames.length === 0) {
    return head;
  }
  const at = ({ line, column }) => `${fileName}:${line}:${column}`;
  const lines = frames.map((frame) => `    at ${frame.name ? `${frame.name} (${at(frame)})` : at(frame)}`);
  return `${head} (at ${at(frames[0])})\n${lines.join('\n')}`;
}

/**
 * The frames of `stack` that are the script's, innermost first, as
 * {name, line, column}. Frames are the script's when they name its file
 * (the sourceURL) or an eval (engines that ignore sourceURL).
 */
export function scriptFrames(fileName, stack) {
  if (typeof stack !== 'string') {
    return [];
  }
  const frames = [];
  for (const text of stack.split('\n')) {
    let at = text.lastIndexOf(`${fileName}:`);
    let start = at + fileName.length + 1;
    if (at === -1) {
      at = text.lastIndexOf(' > eval:'); // SpiderMonkey without sourceURL: `f@runner.js line 9 > eval:3:1`
      if (at === -1) {
        continue;
      }
      start = at + 8;
    }
    const position = /^(\d+):(\d+)/.exec(text.slice(start));
    if (position === null) {
      continue;
    }
    let line = Number(position[1]);
    let column = Number(position[2]);
    if (line === 1 && column > WRAPPER_PREFIX.length) {
      column -= WRAPPER_PREFIX.length;
    }
    frames.push({ name: frameName(text.slice(0, at)), line, column });
  }
  return frames;
}

/** A frame's function name: SpiderMonkey writes `name@file`, V8 `    at name (file`. */
function frameName(before) {
  const sm = before.indexOf('@');
  if (sm !== -1 && !before.trimStart().startsWith('at ')) {
    return before.slice(0, sm);
  }
  const v8 = /^\s*at (?:async )?(.*?) \(/.exec(before);
  if (v8 === null) {
    return '';
  }
  const name = v8[1].replace(/^Object\./, '');
  return name === 'eval' || name === '<anonymous>' ? '' : name;
}

/** The context as scripts see it: plain values, null for what is absent. */
export function scriptContext(ctx) {
  const { poll } = ctx;
  const { dates } = poll;
  return {
    instanceId: ctx.instanceId,
    instanceName: ctx.instanceName,
    elementKey: ctx.elementKey,
    resource: ctx.resource,
    previousPoll: ctx.previousPoll,
    thisPoll: ctx.thisPoll,
    poll: {
      idField: poll.idField,
      createdCheckToleranceSeconds: poll.createdCheckToleranceSeconds,
      dates: {
        updatedDateField: dates.updatedDateField ?? null,
        updatedDateFormat: dates.updatedDateFormat ?? null,
        updatedDateTimezone: dates.updatedDateTimezone ?? null,
        createdDateField: dates.createdDateField ?? null,
        createdDateFormat: dates.createdDateFormat ?? null,
        createdDateTimezone: dates.createdDateTimezone ?? null,
      },
    },
  };
}

/**
 * Maps a batch with `script`: one result per record, in order. A record whose
 * mapping throws, or returns something that is no event, fails alone; its
 * reason also goes to `console.error`.
 */
export function transform(script, ctx, records, console) {
  const mapRecord = script.exports.mapRecord;
  const fileName = script.fileName;
  const context = scriptContext(ctx);
  const results = new Array(records.length);
  for (let i = 0; i < records.length; i++) {
    const raw = records[i];
    const created = raw.created ?? null;
    const updated = raw.updated ?? null;
    const meta = {
      objectId: raw.objectId,
      created,
      updated,
      defaultEventType: DEFAULT_EVENT_TYPE_NAMES[raw.defaultEventType.tag] ?? 'UPDATED',
    };
    let returned;
    try {
      returned = mapRecord(parseRecord(raw.json), meta, context);
    } catch (e) {
      const why = reason(fileName, e);
      console.error(`${fileName}: record ${raw.objectId}: ${why}`);
      results[i] = { tag: 'err', val: why };
      continue;
    }
    try {
      results[i] = { tag: 'ok', val: events(returned, meta, context, updated ?? created ?? context.thisPoll) };
    } catch (e) {
      const why = e instanceof EventError ? e.message : reason(fileName, e);
      console.error(`${fileName}: record ${raw.objectId}: ${why}`);
      results[i] = { tag: 'err', val: why };
    }
  }
  return results;
}

/** Why what mapRecord returned is no event. */
class EventError extends Error {}

/** The WIT events of what mapRecord returned: an event, a list of them, or nothing. */
function events(returned, meta, context, eventDate) {
  if (returned === null || returned === undefined) {
    return [];
  }
  if (Array.isArray(returned)) {
    const out = new Array(returned.length);
    for (let i = 0; i < returned.length; i++) {
      out[i] = event(returned[i], `returned event ${i}`, meta, context, eventDate);
    }
    return out;
  }
  return [event(returned, 'the returned event', meta, context, eventDate)];
}

function event(e, which, meta, context, eventDate) {
  if (e === null || typeof e !== 'object' || Array.isArray(e)) {
    throw new EventError(`mapRecord returned ${which} as ${kind(e)}, not an event object`);
  }
  return {
    eventType: eventType(e.eventType, meta.defaultEventType, which),
    objectId: text(e.objectId, meta.objectId, which, 'objectId'),
    objectType: text(e.objectType, context.resource, which, 'objectType'),
    eventDate: text(e.eventDate, eventDate, which, 'eventDate'),
    payload: payload(e.payload, which),
  };
}

function eventType(name, defaultName, which) {
  if (name === undefined || name === null) {
    name = defaultName;
  } else if (typeof name !== 'string') {
    throw new EventError(`${which}'s eventType is ${kind(name)}, not a string`);
  }
  const standard = STANDARD_EVENT_TYPES.get(name);
  if (standard !== undefined) {
    return standard;
  }
  if (!CUSTOM_EVENT_TYPE.test(name)) {
    throw new EventError(
      `${which}'s eventType ${JSON.stringify(name)} is not an event type: CREATED, UPDATED, DELETED or a name of ` +
        'upper-case letters, digits and _ (at most 64, starting with a letter)',
    );
  }
  return { tag: 'custom', val: name };
}

function text(value, fallback, which, field) {
  if (value === undefined || value === null) {
    return fallback;
  }
  if (typeof value === 'string') {
    return value;
  }
  if (typeof value === 'number' && Number.isFinite(value)) {
    return String(value);
  }
  throw new EventError(`${which}'s ${field} is ${kind(value)}, not a string`);
}

function payload(value, which) {
  if (typeof value === 'string') {
    return value;
  }
  if (value === undefined) {
    throw new EventError(`${which} has no payload`);
  }
  let json;
  try {
    json = JSON.stringify(value);
  } catch (e) {
    throw new EventError(`${which}'s payload is not JSON-serializable: ${e && e.message}`);
  }
  if (json === undefined) {
    throw new EventError(`${which}'s payload is ${kind(value)}, which JSON cannot hold`);
  }
  return json;
}

/**
 * What the script says it maps; without a describe export, its file stem as
 * the resource and no entity (which the host takes for "not described").
 */
export function describe(script, console) {
  const stem = script.fileName.replace(/\.[^.]*$/, '');
  const fallback = { resource: stem, entity: '', idField: 'id', createdDateField: undefined, updatedDateField: undefined };
  if (typeof script.exports.describe !== 'function') {
    return fallback;
  }
  try {
    const d = script.exports.describe();
    if (d === null || typeof d !== 'object') {
      throw new EventError(`describe returned ${kind(d)}, not an object`);
    }
    const field = (name, otherwise) => {
      const v = d[name];
      if (v === undefined || v === null) {
        return otherwise;
      }
      if (typeof v !== 'string') {
        throw new EventError(`describe returned a ${name} that is ${kind(v)}, not a string`);
      }
      return v;
    };
    return {
      resource: field('resource', stem),
      entity: field('entity', ''),
      idField: field('idField', 'id'),
      createdDateField: field('createdDateField', undefined),
      updatedDateField: field('updatedDateField', undefined),
    };
  } catch (e) {
    const why = e instanceof EventError ? e.message : reason(script.fileName, e);
    console.error(`${script.fileName}: describe failed, so the script is not described: ${why}`);
    return fallback;
  }
}

/** 'null', 'a number', 'an array', ... for messages. */
function kind(value) {
  if (value === null) {
    return 'null';
  }
  if (Array.isArray(value)) {
    return 'an array';
  }
  const type = typeof value;
  return type === 'undefined' ? 'undefined' : /^[aeiou]/.test(type) ? `an ${type}` : `a ${type}`;
}

function safeString(value) {
  try {
    return String(value);
  } catch {
    return Object.prototype.toString.call(value);
  }
}
