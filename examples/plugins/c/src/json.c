/*
 * The JSON scanner and writer declared in json.h.
 *
 * Strictness follows serde_json, which the Rust plugin uses, so both plugins accept
 * and refuse the same records: the RFC 8259 grammar, no trailing commas, no
 * comments, control characters only as escapes, and any depth of nesting.
 */
#include "json.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static bool fail(json_reader *r, const char *message) {
    if (!r->error) {
        r->error = message;
        r->error_at = (size_t)(r->pos - r->start);
    }
    return false;
}

/* The same, for the functions that answer -1 on an error. */
static int fail_step(json_reader *r, const char *message) {
    fail(r, message);
    return -1;
}

static void skip_whitespace(json_reader *r) {
    while (r->pos < r->end && (*r->pos == ' ' || *r->pos == '\n' || *r->pos == '\r' || *r->pos == '\t')) {
        r->pos++;
    }
}

/* Consumes `c` after optional whitespace, if it is there. */
static bool eat(json_reader *r, char c) {
    skip_whitespace(r);
    if (r->pos < r->end && *r->pos == c) {
        r->pos++;
        return true;
    }
    return false;
}

static bool is_digit(char c) {
    return c >= '0' && c <= '9';
}

static int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* The four hex digits at `p` (the reader checked they are there). */
static uint32_t hex4(const char *p) {
    return (uint32_t)(hex_value(p[0]) << 12 | hex_value(p[1]) << 8 | hex_value(p[2]) << 4 | hex_value(p[3]));
}

/* A string token; the input is a WIT string, so its bytes are valid UTF-8 already. */
static bool scan_string(json_reader *r) {
    r->pos++; /* the opening quote */
    while (r->pos < r->end) {
        unsigned char c = (unsigned char)*r->pos;
        if (c == '"') {
            r->pos++;
            return true;
        }
        if (c < 0x20) return fail(r, "control character in a string (write it as an escape)");
        if (c != '\\') {
            r->pos++;
            continue;
        }
        r->pos++;
        if (r->pos == r->end) break;
        switch (*r->pos) {
        case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r': case 't':
            r->pos++;
            break;
        case 'u':
            /* Surrogate pairing is not checked here: serde_json checks it only in
             * strings it decodes (names), not in values it copies. */
            for (int i = 1; i <= 4; i++) {
                if (r->pos + i >= r->end || hex_value(r->pos[i]) < 0) return fail(r, "invalid \\u escape");
            }
            r->pos += 5;
            break;
        default:
            return fail(r, "invalid escape in a string");
        }
    }
    return fail(r, "unterminated string");
}

/* -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? : the text is kept, so its size doesn't matter. */
static bool scan_number(json_reader *r) {
    if (*r->pos == '-') r->pos++;
    if (r->pos < r->end && *r->pos == '0') {
        r->pos++;
    } else if (r->pos < r->end && is_digit(*r->pos)) {
        while (r->pos < r->end && is_digit(*r->pos)) r->pos++;
    } else {
        return fail(r, "invalid number");
    }
    if (r->pos < r->end && *r->pos == '.') {
        r->pos++;
        if (r->pos == r->end || !is_digit(*r->pos)) return fail(r, "invalid number");
        while (r->pos < r->end && is_digit(*r->pos)) r->pos++;
    }
    if (r->pos < r->end && (*r->pos == 'e' || *r->pos == 'E')) {
        r->pos++;
        if (r->pos < r->end && (*r->pos == '+' || *r->pos == '-')) r->pos++;
        if (r->pos == r->end || !is_digit(*r->pos)) return fail(r, "invalid number");
        while (r->pos < r->end && is_digit(*r->pos)) r->pos++;
    }
    return true;
}

static bool scan_literal(json_reader *r, const char *word) {
    size_t n = strlen(word);
    if ((size_t)(r->end - r->pos) < n || memcmp(r->pos, word, n) != 0) return fail(r, "expected a value");
    r->pos += n;
    return true;
}

/* A string, number, true, false or null. */
static bool scan_scalar(json_reader *r) {
    if (r->pos == r->end) return fail(r, "unexpected end of the text");
    switch (*r->pos) {
    case '"':
        return scan_string(r);
    case 't':
        return scan_literal(r, "true");
    case 'f':
        return scan_literal(r, "false");
    case 'n':
        return scan_literal(r, "null");
    default:
        if (*r->pos == '-' || is_digit(*r->pos)) return scan_number(r);
        return fail(r, "expected a value");
    }
}

/* A member's name, returned in `name` when it is not NULL, and its colon. */
static bool scan_name(json_reader *r, json_span *name) {
    skip_whitespace(r);
    if (r->pos == r->end || *r->pos != '"') return fail(r, "expected a member name (a string)");
    const char *start = r->pos;
    if (!scan_string(r)) return false;
    if (name) {
        name->ptr = start;
        name->len = (size_t)(r->pos - start);
    }
    return eat(r, ':') || fail(r, "expected `:`");
}

/*
 * One value of any kind, nested ones included, leaving `pos` just after it.
 *
 * Without recursion: serde_json skips a value it keeps raw with no depth limit,
 * so a record may nest as deep as it likes and still map. The closing brackets
 * of the open containers are kept on the heap rather than on the small wasm stack.
 */
static bool scan_value(json_reader *r) {
    json_buf closers = {0};
    bool ok = true, value_next = true;
    while (ok) {
        if (value_next) {
            skip_whitespace(r);
            if (r->pos < r->end && (*r->pos == '{' || *r->pos == '[')) {
                char close = *r->pos == '{' ? '}' : ']';
                r->pos++;
                json_buf_put(&closers, &close, 1);
                skip_whitespace(r);
                if (r->pos < r->end && *r->pos == close) {
                    value_next = false; /* empty: closed below */
                } else if (close == '}') {
                    ok = scan_name(r, NULL);
                }
                continue;
            }
            ok = scan_scalar(r);
            value_next = false;
            continue;
        }
        /* After a value: the end, a closing bracket, or a comma and the next member or element. */
        if (closers.len == 0) break;
        char close = closers.data[closers.len - 1];
        if (eat(r, close)) {
            closers.len--;
        } else if (eat(r, ',')) {
            value_next = true;
            ok = close == ']' || scan_name(r, NULL);
        } else {
            ok = fail(r, close == '}' ? "expected `,` or `}`" : "expected `,` or `]`");
        }
    }
    json_buf_free(&closers);
    return ok;
}

void json_reader_init(json_reader *r, json_span text) {
    r->start = text.ptr;
    r->pos = text.ptr;
    r->end = text.ptr + text.len;
    r->first = false;
    r->error = NULL;
    r->error_at = 0;
}

/*
 * The object or array being read member by member (the record, the
 * userDefinedFields list, a pair): what is inside its values is scanned whole by
 * scan_value. `first` says whether no member was read yet, so a comma is due.
 */
static bool container_begin(json_reader *r, char open) {
    if (!eat(r, open)) return fail(r, open == '{' ? "expected an object" : "expected an array");
    r->first = true;
    return true;
}

/* 0 after the closing bracket, 1 when a member or element follows, -1 on an error. */
static int container_step(json_reader *r, char close) {
    bool first = r->first;
    r->first = false;
    if (eat(r, close)) return 0;
    if (!first && !eat(r, ',')) return fail_step(r, close == '}' ? "expected `,` or `}`" : "expected `,` or `]`");
    skip_whitespace(r);
    return 1;
}

bool json_object_begin(json_reader *r) {
    return container_begin(r, '{');
}

bool json_array_begin(json_reader *r) {
    return container_begin(r, '[');
}

int json_object_next(json_reader *r, json_span *name, json_span *value) {
    int step = container_step(r, '}');
    if (step <= 0) return step;
    if (!scan_name(r, name)) return -1;
    skip_whitespace(r);
    value->ptr = r->pos;
    if (!scan_value(r)) return -1;
    value->len = (size_t)(r->pos - value->ptr);
    return 1;
}

int json_array_next(json_reader *r, json_span *value) {
    int step = container_step(r, ']');
    if (step <= 0) return step;
    value->ptr = r->pos;
    if (!scan_value(r)) return -1;
    value->len = (size_t)(r->pos - value->ptr);
    return 1;
}

bool json_end(json_reader *r) {
    skip_whitespace(r);
    return r->pos == r->end || fail(r, "trailing characters after the value");
}

bool json_is_string(json_span value) {
    return value.len >= 2 && value.ptr[0] == '"';
}

bool json_is_null(json_span value) {
    return value.len == 4 && memcmp(value.ptr, "null", 4) == 0;
}

static void put_utf8(json_buf *b, uint32_t cp) {
    char bytes[4];
    size_t n;
    if (cp < 0x80) {
        bytes[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        bytes[0] = (char)(0xC0 | cp >> 6);
        bytes[1] = (char)(0x80 | (cp & 0x3F));
        n = 2;
    } else if (cp < 0x10000) {
        bytes[0] = (char)(0xE0 | cp >> 12);
        bytes[1] = (char)(0x80 | (cp >> 6 & 0x3F));
        bytes[2] = (char)(0x80 | (cp & 0x3F));
        n = 3;
    } else {
        bytes[0] = (char)(0xF0 | cp >> 18);
        bytes[1] = (char)(0x80 | (cp >> 12 & 0x3F));
        bytes[2] = (char)(0x80 | (cp >> 6 & 0x3F));
        bytes[3] = (char)(0x80 | (cp & 0x3F));
        n = 4;
    }
    json_buf_put(b, bytes, n);
}

bool json_decode_string(json_span token, json_buf *scratch, json_span *out) {
    const char *p = token.ptr + 1, *end = token.ptr + token.len - 1;
    if (!memchr(p, '\\', (size_t)(end - p))) {
        out->ptr = p;
        out->len = (size_t)(end - p);
        return true;
    }
    scratch->len = 0;
    while (p < end) {
        const char *run = p;
        while (p < end && *p != '\\') p++;
        json_buf_put(scratch, run, (size_t)(p - run));
        if (p == end) break;
        char escape = p[1];
        p += 2;
        switch (escape) {
        case 'b': json_buf_put(scratch, "\b", 1); break;
        case 'f': json_buf_put(scratch, "\f", 1); break;
        case 'n': json_buf_put(scratch, "\n", 1); break;
        case 'r': json_buf_put(scratch, "\r", 1); break;
        case 't': json_buf_put(scratch, "\t", 1); break;
        case 'u': {
            uint32_t cp = hex4(p);
            p += 4;
            if (cp >= 0xDC00 && cp <= 0xDFFF) return false;
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                /* A UTF-16 pair written as two escapes: one code point. */
                if (end - p < 6 || p[0] != '\\' || p[1] != 'u') return false;
                uint32_t low = hex4(p + 2);
                if (low < 0xDC00 || low > 0xDFFF) return false;
                cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
                p += 6;
            }
            put_utf8(scratch, cp);
            break;
        }
        default: /* '"', '\\' and '/' stand for themselves */
            json_buf_put(scratch, &escape, 1);
        }
    }
    out->ptr = scratch->data;
    out->len = scratch->len;
    return true;
}

/*
 * The writer. Running out of memory aborts, which traps the call: the host then
 * reports the batch as failed, as it does when the Rust plugin's allocator fails.
 */
void json_buf_put(json_buf *b, const char *bytes, size_t len) {
    if (len == 0) return;
    if (b->cap - b->len < len) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap - b->len < len) cap *= 2;
        char *data = realloc(b->data, cap);
        if (!data) abort();
        b->data = data;
        b->cap = cap;
    }
    memcpy(b->data + b->len, bytes, len);
    b->len += len;
}

void json_buf_put_span(json_buf *b, json_span s) {
    json_buf_put(b, s.ptr, s.len);
}

/* Escapes exactly what serde_json escapes, so names come out as the Rust plugin writes them. */
void json_buf_put_string(json_buf *b, json_span s) {
    static const char hex[] = "0123456789abcdef";
    json_buf_put(b, "\"", 1);
    const char *run = s.ptr, *p = s.ptr, *end = s.ptr + s.len;
    for (; p < end; p++) {
        unsigned char c = (unsigned char)*p;
        if (c >= 0x20 && c != '"' && c != '\\') continue;
        json_buf_put(b, run, (size_t)(p - run));
        run = p + 1;
        switch (c) {
        case '"': json_buf_put(b, "\\\"", 2); break;
        case '\\': json_buf_put(b, "\\\\", 2); break;
        case '\b': json_buf_put(b, "\\b", 2); break;
        case '\f': json_buf_put(b, "\\f", 2); break;
        case '\n': json_buf_put(b, "\\n", 2); break;
        case '\r': json_buf_put(b, "\\r", 2); break;
        case '\t': json_buf_put(b, "\\t", 2); break;
        default: {
            char u[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 0xF]};
            json_buf_put(b, u, sizeof u);
        }
        }
    }
    json_buf_put(b, run, (size_t)(p - run));
    json_buf_put(b, "\"", 1);
}

void json_buf_put_uint(json_buf *b, size_t n) {
    char digits[20];
    size_t i = sizeof digits;
    do {
        digits[--i] = (char)('0' + n % 10);
        n /= 10;
    } while (n > 0);
    json_buf_put(b, digits + i, sizeof digits - i);
}

void json_buf_free(json_buf *b) {
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

void json_object_open(json_buf *b) {
    json_buf_put(b, "{", 1);
}

/* A member follows its object's `{` directly, or another member's value and a comma. */
void json_object_key(json_buf *b, json_span name) {
    if (b->data[b->len - 1] != '{') json_buf_put(b, ",", 1);
    json_buf_put_string(b, name);
    json_buf_put(b, ":", 1);
}

void json_object_close(json_buf *b) {
    json_buf_put(b, "}", 1);
}

json_span json_cstr(const char *s) {
    json_span span = {s, strlen(s)};
    return span;
}
