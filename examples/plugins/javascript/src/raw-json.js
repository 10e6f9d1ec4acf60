// Reads JSON text without converting its values: an object's members and an
// array's elements come back as slices of the input text.
//
// Why not JSON.parse and JSON.stringify: a round trip through JS values changes
// what Autotask wrote. `0.0` comes back as `0`, integers past 2^53 lose digits,
// and object members whose names look like array indexes ("42") move to the
// front. The mapping promises to copy values through unchanged, as the Rust
// plugin does, so it moves text instead.
//
// These functions only find where values end; they do not validate. Give them
// text that JSON.parse has accepted.
//
// Inside the component the engine is an interpreter, slow per step, so the
// scans let its native regular expressions do the walking: most members (a
// name and a string or a number) take one match.

const QUOTE = 0x22; // "
const OPEN_OBJECT = 0x7b; // {
const CLOSE_OBJECT = 0x7d; // }
const OPEN_ARRAY = 0x5b; // [
const CLOSE_ARRAY = 0x5d; // ]
const COMMA = 0x2c; // ,

/** A JSON string, as a regular expression's source. */
export const STRING = String.raw`"[^"\\]*(?:\\.[^"\\]*)*"`;
/** A JSON number, `true`, `false` or `null`, as a regular expression's source (loosely: after JSON.parse). */
export const SCALAR = String.raw`[-+.\w]+`;
/**
 * One member from where the previous one ended: the separator (group 1), the
 * name (group 2), the colon, then the value when it is a string or a scalar
 * (group 3), or else the bracket that opens it.
 */
const MEMBER = new RegExp(String.raw`([\s,{]*)(${STRING})\s*:\s*(?:(${STRING}|${SCALAR})|[{[])`, 'y');
const STRING_AT = new RegExp(STRING, 'y');
/** A whole string, or a bracket. */
const STRING_OR_BRACKET = new RegExp(String.raw`${STRING}|[{}[\]]`, 'g');
const END_OF_SCALAR = /[,\]}\s]/g;
const WHITESPACE = /\s*/y;

/**
 * The members of the object in `text`, in order, as {name, member, value}:
 * `name` decoded, `member` the whole `"name": value` as written, and `value`
 * as written.
 */
export function members(text) {
  const result = [];
  let end = skipWhitespace(text, 0) + 1; // past '{'
  MEMBER.lastIndex = 0;
  for (let match; (match = MEMBER.exec(text)) !== null; ) {
    const start = match.index + match[1].length;
    let value = match[3];
    if (value === undefined) {
      // An object or an array: find its closing bracket.
      const valueStart = MEMBER.lastIndex - 1;
      MEMBER.lastIndex = skipContainer(text, valueStart);
      value = text.slice(valueStart, MEMBER.lastIndex);
    }
    end = MEMBER.lastIndex;
    result.push({ name: decodeString(match[2]), member: text.slice(start, end), value });
  }
  // The last member must end the object: anything else is a bug here, and
  // failing beats dropping the fields that follow.
  if (text.charCodeAt(skipWhitespace(text, end)) !== CLOSE_OBJECT) {
    throw new Error(`raw-json: lost track of an object's members at character ${end}`);
  }
  return result;
}

/** The elements of the array in `text`, in order, as JSON text. */
export function elements(text) {
  const result = [];
  let i = skipWhitespace(text, 0) + 1; // past '['
  for (;;) {
    i = skipWhitespace(text, i);
    if (text.charCodeAt(i) === CLOSE_ARRAY) {
      return result;
    }
    const end = skipValue(text, i);
    result.push(text.slice(i, end));
    i = skipWhitespace(text, end);
    if (text.charCodeAt(i) === COMMA) {
      i++;
    }
  }
}

/** What kind of JSON value `text` holds: 'object', 'array', 'string', 'number', 'boolean' or 'null'. */
export function kind(text) {
  switch (text.charAt(skipWhitespace(text, 0))) {
    case '{':
      return 'object';
    case '[':
      return 'array';
    case '"':
      return 'string';
    case 'n':
      return 'null';
    case 't':
    case 'f':
      return 'boolean';
    default:
      return 'number';
  }
}

/** The JSON string `text` as a JS string. */
export function decodeString(text) {
  // Most names have no escapes: slicing off the quotes is all they need.
  return text.indexOf('\\') === -1 ? text.slice(1, -1) : JSON.parse(text);
}

/** Where the value that starts at `start` ends (one past its last character). */
function skipValue(text, start) {
  const c = text.charCodeAt(start);
  if (c === QUOTE) {
    return skipString(text, start);
  }
  if (c === OPEN_OBJECT || c === OPEN_ARRAY) {
    return skipContainer(text, start);
  }
  return search(text, END_OF_SCALAR, start);
}

/** Where the string that opens at `start` ends, past its closing quote. */
function skipString(text, start) {
  STRING_AT.lastIndex = start;
  return STRING_AT.test(text) ? STRING_AT.lastIndex : text.length;
}

/** Where the object or array that opens at `start` ends, past its closing bracket. */
function skipContainer(text, start) {
  let depth = 0;
  STRING_OR_BRACKET.lastIndex = start;
  for (let match; (match = STRING_OR_BRACKET.exec(text)) !== null; ) {
    const c = text.charCodeAt(match.index);
    if (c === OPEN_OBJECT || c === OPEN_ARRAY) {
      depth++;
    } else if (c !== QUOTE && --depth === 0) {
      return STRING_OR_BRACKET.lastIndex;
    }
  }
  return text.length; // unterminated: only in text JSON.parse refuses
}

/** The index of the first match of the global `pattern` at or after `from`, or the text's length. */
function search(text, pattern, from) {
  pattern.lastIndex = from;
  const match = pattern.exec(text);
  return match === null ? text.length : match.index;
}

/** The index of the first character at or after `i` that is not whitespace. */
function skipWhitespace(text, i) {
  WHITESPACE.lastIndex = i;
  WHITESPACE.test(text);
  return WHITESPACE.lastIndex;
}
