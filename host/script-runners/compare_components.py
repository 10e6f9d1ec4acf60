#!/usr/bin/env python3
"""Compares two builds of a component section by section: compare_components.py COMMITTED REBUILT

Prints what differs: the files' sizes and hashes, then for each top-level
section of the component (and each section inside its core modules and nested
components) whether its bytes are identical, and for data sections which
segments and byte ranges differ. Exits 0 when the builds are the same but for
what a pre-initialization snapshot may change: the contents of core modules'
data, global, memory and data-count sections (heap contents, allocator and
stack pointers, the memory's initial size). Every other section, among them
every import, export, type, function and code section, must be byte-identical,
and both builds must have the same sections in the same order. Exits 1 otherwise.
"""

import hashlib
import sys

COMPONENT_SECTIONS = {
    0: "custom", 1: "core module", 2: "core instance", 3: "core type", 4: "component", 5: "instance",
    6: "alias", 7: "type", 8: "canon", 9: "start", 10: "import", 11: "export", 12: "value",
}
CORE_SECTIONS = {
    0: "custom", 1: "type", 2: "import", 3: "function", 4: "table", 5: "memory", 6: "global", 7: "export",
    8: "start", 9: "element", 10: "code", 11: "data", 12: "data count", 13: "tag",
}
# What a snapshot (wizer) writes: the heap, the globals' values, the memory's size.
SNAPSHOT_SECTIONS = {5, 6, 11, 12}


def leb(data, i):
    result = shift = 0
    while True:
        byte = data[i]
        i += 1
        result |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return result, i


def sections(data):
    """The sections of a module or component binary: (id, name of a custom section, payload)."""
    if data[:4] != b"\0asm":
        raise ValueError("not a WebAssembly binary")
    i = 8
    out = []
    while i < len(data):
        section_id = data[i]
        size, i = leb(data, i + 1)
        payload = data[i:i + size]
        name = None
        if section_id == 0:
            length, j = leb(payload, 0)
            name = payload[j:j + length].decode("utf-8", "replace")
        out.append((section_id, name, payload))
        i += size
    return out


def digest(data):
    return hashlib.sha256(data).hexdigest()[:16]


def data_segments(payload):
    """A data section's segments as (offset expression and payload start, bytes)."""
    count, i = leb(payload, 0)
    segments = []
    for _ in range(count):
        start = i
        kind, i = leb(payload, i)
        if kind == 1:  # passive
            pass
        else:
            if kind == 2:
                _, i = leb(payload, i)  # memory index
            while payload[i] != 0x0B:  # the offset expression, to its `end`
                i += 1
            i += 1
        size, i = leb(payload, i)
        segments.append((payload[start:i], payload[i:i + size]))
        i += size
    return segments


def differing_ranges(a, b):
    """Byte ranges where a and b (of equal length) differ, merged when within 16 bytes."""
    ranges = []
    for index, (x, y) in enumerate(zip(a, b)):
        if x != y:
            if ranges and index - ranges[-1][1] <= 16:
                ranges[-1][1] = index
            else:
                ranges.append([index, index])
    return ranges


class Report:
    def __init__(self):
        self.lines = []
        self.ok = True

    def say(self, depth, text):
        self.lines.append("  " * depth + text)

    def fail(self, depth, text):
        self.ok = False
        self.say(depth, "NOT ALLOWED: " + text)


def describe_data(report, depth, a, b):
    sa, sb = data_segments(a), data_segments(b)
    total_a, total_b = sum(len(s[1]) for s in sa), sum(len(s[1]) for s in sb)
    report.say(depth, f"{len(sa)} segments of {total_a} bytes, rebuilt {len(sb)} segments of {total_b} bytes")
    moved, changed = [], []
    for index, ((head_a, body_a), (head_b, body_b)) in enumerate(zip(sa, sb)):
        if head_a == head_b and body_a == body_b:
            continue
        if head_a != head_b or len(body_a) != len(body_b):
            moved.append(index)
        else:
            changed.append((index, body_a, body_b))
    if moved:
        report.say(depth, f"{len(moved)} segments differ in placement or size (segments {ranges_text(moved)})")
    for index, body_a, body_b in changed[:12]:
        ranges = differing_ranges(body_a, body_b)
        count = sum(1 for x, y in zip(body_a, body_b) if x != y)
        shown = ", ".join(f"{lo}..{hi + 1}" for lo, hi in ranges[:6]) + (" ..." if len(ranges) > 6 else "")
        report.say(depth, f"segment {index} ({len(body_a)} bytes): {count} bytes differ: {shown}")
    if len(changed) > 12:
        report.say(depth, f"... and {len(changed) - 12} more segments with the same size and other bytes")


def ranges_text(indexes):
    """`3..7, 9, 12..40` for sorted indexes."""
    runs = []
    for index in indexes:
        if runs and index == runs[-1][1] + 1:
            runs[-1][1] = index
        else:
            runs.append([index, index])
    text = ", ".join(f"{lo}" if lo == hi else f"{lo}..{hi}" for lo, hi in runs[:10])
    return text + (f", ... ({len(runs)} runs)" if len(runs) > 10 else "")


def code_bodies(payload):
    count, i = leb(payload, 0)
    bodies = []
    for _ in range(count):
        size, i = leb(payload, i)
        bodies.append(payload[i:i + size])
        i += size
    return bodies


def i64_const_difference(x, y, ranges):
    """(a, b) when the only difference is the LEB immediate of one `i64.const` (0x42), found at
    the last 0x42 before the difference whose immediate covers it in both bodies; else None."""
    if len(ranges) != 1:
        return None
    lo, hi = ranges[0]
    for start in range(lo - 1, max(lo - 11, -1), -1):
        if x[start] == 0x42 and y[start] == 0x42 and x[:start] == y[:start]:
            try:
                a, end_a = leb(x, start + 1)
                b, end_b = leb(y, start + 1)
            except IndexError:
                return None
            if end_a == end_b and end_a > hi and x[end_a:] == y[end_b:]:
                return a, b
    return None


# At most this many function bodies may differ, each only in one i64.const.
MAX_CLOCK_CONSTANTS = 4


def describe_code(report, depth, a, b):
    """Reports the differing function bodies; True when every one differs only in the
    immediate of one i64.const (the build's clock, frozen into the snapshot: with clocks
    disabled, the runner's engine keeps the time it was pre-initialized at)."""
    ba, bb = code_bodies(a), code_bodies(b)
    if len(ba) != len(bb):
        report.say(depth, f"{len(ba)} function bodies, rebuilt {len(bb)}")
        return False
    differing = [i for i, (x, y) in enumerate(zip(ba, bb)) if x != y]
    report.say(depth, f"{len(differing)} of {len(ba)} function bodies differ (bodies {ranges_text(differing)})")
    clock_only = 0 < len(differing) <= MAX_CLOCK_CONSTANTS
    for index in differing[:6]:
        x, y = ba[index], bb[index]
        if len(x) != len(y):
            report.say(depth + 1, f"body {index}: {len(x)} vs {len(y)} bytes")
            clock_only = False
            continue
        ranges = differing_ranges(x, y)
        shown = ", ".join(f"{lo}..{hi + 1}" for lo, hi in ranges[:6]) + (" ..." if len(ranges) > 6 else "")
        constant = i64_const_difference(x, y, ranges)
        clock_only = clock_only and constant is not None
        what = ""
        if constant:
            seconds = abs(constant[1] - constant[0]) / 1e9
            what = (f": only the immediate of an i64.const differs, {constant[0]:#x} vs {constant[1]:#x} "
                    f"({seconds:.0f} s apart if nanoseconds: the build's clock)")
        report.say(depth + 1, f"body {index} ({len(x)} bytes): bytes {shown} differ{what}")
    return clock_only


def compare(report, depth, a, b, core):
    names = CORE_SECTIONS if core else COMPONENT_SECTIONS
    sa, sb = sections(a), sections(b)
    if [(s[0], s[1]) for s in sa] != [(s[0], s[1]) for s in sb]:
        report.fail(depth, f"the section lists differ ({len(sa)} vs {len(sb)} sections)")
        return
    identical = 0
    for index, ((section_id, name, pa), (_, _, pb)) in enumerate(zip(sa, sb)):
        label = f"section {index} {names.get(section_id, section_id)}" + (f" {name!r}" if name else "")
        if pa == pb:
            identical += 1
            continue
        sizes = f"{len(pa)} vs {len(pb)} bytes, sha256 {digest(pa)} vs {digest(pb)}"
        if not core and section_id in (1, 4):
            report.say(depth, f"{label}: differs ({sizes}); inside:")
            compare(report, depth + 1, pa, pb, core=section_id == 1)
        elif core and section_id in SNAPSHOT_SECTIONS:
            report.say(depth, f"{label}: differs ({sizes}) - snapshot data, allowed")
            if section_id == 11:
                describe_data(report, depth + 1, pa, pb)
        elif core and section_id == 10:
            lines = len(report.lines)
            if describe_code(report, depth + 1, pa, pb):
                report.lines.insert(lines, "  " * depth + f"{label}: differs ({sizes}) - only build-time clock constants, allowed")
            else:
                report.lines.insert(lines, "  " * depth + f"NOT ALLOWED: {label}: differs ({sizes})")
                report.ok = False
        else:
            report.fail(depth, f"{label}: differs ({sizes})")
    kinds = sorted({names.get(s[0], str(s[0])) for s, t in zip(sa, sb) if s[2] == t[2]})
    report.say(depth, f"{identical} of {len(sa)} sections identical ({', '.join(kinds)})")


def main(committed, rebuilt):
    a = open(committed, "rb").read()
    b = open(rebuilt, "rb").read()
    print(f"{committed}: {len(a)} bytes, sha256 {hashlib.sha256(a).hexdigest()}")
    print(f"{rebuilt}: {len(b)} bytes, sha256 {hashlib.sha256(b).hexdigest()}")
    if a == b:
        print("identical: the sha256 matches")
        return 0
    report = Report()
    compare(report, 0, a, b, core=False)
    print("\n".join(report.lines))
    if report.ok:
        print("the builds differ only in snapshot data (core modules' data, global, memory, data count sections) "
              "and build-time clock constants (listed above); every import, export and type section is identical")
        return 0
    print("the builds differ beyond snapshot data (see NOT ALLOWED above)")
    return 1


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1], sys.argv[2]))
