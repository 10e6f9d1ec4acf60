/*
 * A small JSON scanner and writer, just enough for a mapping plugin.
 *
 * The mapping never builds a tree: it walks an object's members and copies each
 * value's text through unchanged (as the Rust plugin does with serde_json's
 * RawValue). So the reader hands out spans of the input, checks them against the
 * JSON grammar as strictly as serde_json does, and decodes only the strings whose
 * meaning matters (member names). The writer appends to a growable buffer.
 */
#ifndef JSON_H
#define JSON_H

#include <stdbool.h>
#include <stddef.h>

/* A piece of text: not NUL-terminated, and may contain NUL bytes. */
typedef struct {
    const char *ptr;
    size_t len;
} json_span;

/* Reads JSON text from left to right. */
typedef struct {
    const char *start; /* the whole text, for byte offsets in messages */
    const char *pos;
    const char *end;
    bool first;        /* no member or element of the container being read yet */
    const char *error; /* the first error (a static string), or NULL */
    size_t error_at;   /* its byte offset */
} json_reader;

/* A growable byte buffer; the writer functions append to it. */
typedef struct {
    char *data;
    size_t len;
    size_t cap;
} json_buf;

void json_reader_init(json_reader *r, json_span text);

/*
 * Enters the object or array at the reader's position: true, or an error. A
 * reader walks one container; what is nested in its values comes back whole, as
 * text (start another reader on it to walk it).
 */
bool json_object_begin(json_reader *r);
bool json_array_begin(json_reader *r);

/*
 * Moves to the next member of the object being read: 1 with `name` set to the
 * member's name token (quotes included, escapes not decoded) and `value` to its
 * value's text; 0 after the closing brace; -1 on an error.
 */
int json_object_next(json_reader *r, json_span *name, json_span *value);

/* The same for an array's elements: 1 with `value` set, 0 at the end, -1 on an error. */
int json_array_next(json_reader *r, json_span *value);

/* True when only whitespace is left; else sets an error. */
bool json_end(json_reader *r);

/*
 * Decodes a string token into its bytes (UTF-8). Without escapes the result
 * points into the token; otherwise it is written to `scratch`, which is reused.
 * Fails (false) on a surrogate escape without its pair, which serde_json refuses
 * in names.
 */
bool json_decode_string(json_span token, json_buf *scratch, json_span *out);

/* True when `token` is a string token (the reader has checked it). */
bool json_is_string(json_span value);

/* True when `value` is the literal `null`. */
bool json_is_null(json_span value);

/* Writer: append bytes, a span, `s` as a JSON string escaped like serde_json, or a number. */
void json_buf_put(json_buf *b, const char *bytes, size_t len);
void json_buf_put_span(json_buf *b, json_span s);
void json_buf_put_string(json_buf *b, json_span s);
void json_buf_put_uint(json_buf *b, size_t n);
void json_buf_free(json_buf *b);

/* Writer for one object: `{`, then `"name":` before each value, then `}`. */
void json_object_open(json_buf *b);
void json_object_key(json_buf *b, json_span name);
void json_object_close(json_buf *b);

/* A span over a NUL-terminated string. */
json_span json_cstr(const char *s);

#endif
