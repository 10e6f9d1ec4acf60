// raw-json.js against JSON.parse, on generated documents with awkward strings,
// nesting and whitespace: every member and element must come back whole.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { elements, kind, members } from '../src/raw-json.js';

/** A small deterministic generator (xorshift), so a failure can be replayed. */
function generator(seed) {
  let state = seed;
  const next = () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) / 2 ** 32;
  };
  const pick = (items) => items[Math.floor(next() * items.length)];
  const space = () => pick(['', '', ' ', '\n  ', '\t', ' \r\n ']);
  const string = () => JSON.stringify(pick(['', 'plain', 'q"uote', 'back\\', '\\"', '}]', '{[', ',:', 'é 日本 🚀', '\n\t', '\\\\"']));
  const value = (depth) => {
    const choice = depth > 2 ? Math.floor(next() * 4) : Math.floor(next() * 6);
    switch (choice) {
      case 0:
        return string();
      case 1:
        return pick(['0', '-0', '0.0', '1e2', '-1.5E+10', '18446744073709551617', '42']);
      case 2:
        return pick(['true', 'false', 'null']);
      case 3:
        return string();
      case 4:
        return object(depth + 1);
      default:
        return array(depth + 1);
    }
  };
  const array = (depth) => {
    const items = Array.from({ length: Math.floor(next() * 4) }, () => space() + value(depth) + space());
    return `[${items.join(',')}${items.length ? '' : space()}]`;
  };
  const object = (depth) => {
    const items = Array.from({ length: Math.floor(next() * 5) }, () =>
      `${space()}${string()}${space()}:${space()}${value(depth)}${space()}`);
    return `{${items.join(',')}${items.length ? '' : space()}}`;
  };
  return { object, array };
}

test('members and elements split documents exactly as JSON.parse reads them', () => {
  for (let seed = 1; seed <= 2000; seed++) {
    const { object, array } = generator(seed);
    const text = object(0);
    const parsed = JSON.parse(text);
    const found = members(text);
    // JSON.parse keeps the last of repeated names; compare by name.
    const byName = new Map(found.map((m) => [m.name, m]));
    assert.deepEqual([...byName.keys()].sort(), Object.keys(parsed).sort(), text);
    for (const m of found) {
      // `member` is the whole member: read as an object, it holds the value.
      assert.deepEqual(JSON.parse(m.value), JSON.parse(`{${m.member}}`)[m.name], text);
    }
    for (const [name, m] of byName) {
      assert.deepEqual(JSON.parse(m.value), parsed[name], text);
    }
    const list = array(0);
    const items = elements(list);
    assert.deepEqual(items.map((item) => JSON.parse(item)), JSON.parse(list), list);
    assert.equal(kind(list), 'array');
  }
});

test('values keep the text they were written with', () => {
  const text = '{"a": 0.0, "b": 18446744073709551617, "42": 1, "c": "\\u00e9"}';
  assert.deepEqual(members(text).map((m) => m.value), ['0.0', '18446744073709551617', '1', '"\\u00e9"']);
  assert.deepEqual(members(text).map((m) => m.name), ['a', 'b', '42', 'c']);
});
