/*
 * json_parse.c: JSON text to MessagePack in two passes over the same grammar code.
 *
 * MessagePack writes the item count of an array or map, and the byte length of a string, before the contents.
 * The first pass (pk == NULL) checks the whole text and records those sizes, in the order their opening bracket
 * or quote appears, into `sizes`; the second pass walks the text the same way and packs, taking the sizes back in
 * that same order. Both passes are O(n), so the whole parse is, and the second pass meets no syntax errors.
 */
#include "json_parse.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct parser {
    const char *start, *p, *end;
    msgpack_packer *pk; /* NULL in the first pass */
    uint32_t *sizes;    /* item counts and string lengths, in document order */
    size_t n_sizes, cap, next;
    const char *err_pos, *why;
    uint32_t small[64]; /* `sizes` for typical documents, so that they need no allocation */
} parser_t;

/* Packer calls fail only when the packer's write callback does, which for an sbuffer means out of memory. */
#define PACK(call)                                                                                             \
    do {                                                                                                       \
        if ((call) != 0) return fail(s, s->p, GALE_ENOMEM, "out of memory");                                    \
    } while (0)

static int fail(parser_t *s, const char *at, int rc, const char *why)
{
    s->err_pos = at;
    /* Every check that runs into the end of the text reports it the same way, whatever it was looking for. */
    s->why = at == s->end && rc == GALE_ESYNTAX ? "unexpected end of input" : why;
    return rc;
}

static int syntax(parser_t *s, const char *at, const char *why) { return fail(s, at, GALE_ESYNTAX, why); }

static void skip_ws(parser_t *s)
{
    while (s->p < s->end && (*s->p == ' ' || *s->p == '\n' || *s->p == '\r' || *s->p == '\t')) s->p++;
}

static int is_digit(const char *p, const char *end) { return p < end && *p >= '0' && *p <= '9'; }

/* First pass: reserves the next slot of `sizes` (*slot gets its index). Second pass: *size gets the slot's value. */
static int size_slot(parser_t *s, size_t *slot, uint32_t *size)
{
    if (s->pk) {
        *size = s->sizes[s->next++];
        return 0;
    }
    if (s->n_sizes == s->cap) {
        size_t cap = s->cap * 2;
        uint32_t *p = s->sizes == s->small ? malloc(cap * sizeof *p) : realloc(s->sizes, cap * sizeof *p);
        if (!p) return fail(s, s->p, GALE_ENOMEM, "out of memory");
        if (s->sizes == s->small) memcpy(p, s->small, sizeof s->small);
        s->sizes = p;
        s->cap = cap;
    }
    *slot = s->n_sizes++;
    return 0;
}

/* Reads 4 hex digits at p (the caller has checked that they are there); -1 if one is not a hex digit. */
static long hex4(const char *p)
{
    long v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        int d;
        if (c >= '0' && c <= '9') d = c - '0';
        else if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F') d = c - 'A' + 10;
        else return -1;
        v = v << 4 | d;
    }
    return v;
}

/* Decodes the escape after the backslash at `esc` (s->p is past the backslash) into out; *n gets its length. */
static int escape(parser_t *s, const char *open, const char *esc, char out[4], size_t *n)
{
    static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
    if (s->p == s->end) return syntax(s, open, "unterminated string");
    const char *simple = memchr(from, *s->p, sizeof from - 1);
    if (simple) {
        out[0] = to[simple - from];
        *n = 1;
        s->p++;
        return 0;
    }
    if (*s->p != 'u') return syntax(s, esc, "invalid escape");
    if (s->end - s->p < 5) return syntax(s, open, "unterminated string");
    long cp = hex4(s->p + 1);
    if (cp < 0) return syntax(s, esc, "invalid \\u escape");
    s->p += 5;
    if (cp >= 0xdc00 && cp <= 0xdfff) return syntax(s, esc, "lone surrogate in \\u escape");
    if (cp >= 0xd800 && cp <= 0xdbff) {
        /* A high surrogate must be followed at once by a \u escape of a low one; together they are one code point. */
        long lo = s->end - s->p >= 6 && s->p[0] == '\\' && s->p[1] == 'u' ? hex4(s->p + 2) : -1;
        if (lo < 0xdc00 || lo > 0xdfff) return syntax(s, esc, "lone surrogate in \\u escape");
        cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
        s->p += 6;
    }
    if (cp < 0x80) {
        out[0] = (char)cp;
        *n = 1;
    } else if (cp < 0x800) {
        out[0] = (char)(0xc0 | cp >> 6);
        out[1] = (char)(0x80 | (cp & 0x3f));
        *n = 2;
    } else if (cp < 0x10000) {
        out[0] = (char)(0xe0 | cp >> 12);
        out[1] = (char)(0x80 | (cp >> 6 & 0x3f));
        out[2] = (char)(0x80 | (cp & 0x3f));
        *n = 3;
    } else {
        out[0] = (char)(0xf0 | cp >> 18);
        out[1] = (char)(0x80 | (cp >> 12 & 0x3f));
        out[2] = (char)(0x80 | (cp >> 6 & 0x3f));
        out[3] = (char)(0x80 | (cp & 0x3f));
        *n = 4;
    }
    return 0;
}

/* A string at s->p (on its opening quote). Runs of plain bytes are packed as they are, without copying. */
static int string(parser_t *s)
{
    const char *open = s->p++;
    size_t slot = 0, total = 0;
    uint32_t size = 0;
    int rc = size_slot(s, &slot, &size);
    if (rc) return rc;
    if (s->pk) PACK(msgpack_pack_str(s->pk, size));
    for (;;) {
        const char *run = s->p;
        while (s->p < s->end && (unsigned char)*s->p >= 0x20 && *s->p != '"' && *s->p != '\\') s->p++;
        if (s->pk && s->p > run) PACK(msgpack_pack_str_body(s->pk, run, (size_t)(s->p - run)));
        total += (size_t)(s->p - run);
        if (s->p == s->end) return syntax(s, open, "unterminated string");
        if (*s->p == '"') break;
        if (*s->p != '\\') return syntax(s, s->p, "control character in string");
        const char *esc = s->p++;
        char out[4];
        size_t n = 0;
        if ((rc = escape(s, open, esc, out, &n))) return rc;
        if (s->pk) PACK(msgpack_pack_str_body(s->pk, out, n));
        total += n;
    }
    s->p++;
    if (!s->pk && total > UINT32_MAX) return fail(s, open, GALE_ELIMIT, "string too long for MessagePack");
    if (!s->pk) s->sizes[slot] = (uint32_t)total;
    return 0;
}

/* Packs the number in [p, p + n) as a double. strtod needs a terminated string, so it gets a bounded copy. */
static int pack_double(parser_t *s, const char *p, size_t n)
{
    char small[64], *copy = n < sizeof small ? small : malloc(n + 1);
    if (!copy) return fail(s, p, GALE_ENOMEM, "out of memory");
    memcpy(copy, p, n);
    copy[n] = '\0';
    double d = strtod(copy, NULL);
    if (copy != small) free(copy);
    PACK(msgpack_pack_double(s->pk, d));
    return 0;
}

/* A number at s->p. The first pass only checks its form; the second packs an integer exactly when it can (integers
   are ids and counts that a double would round), and everything else as a double. */
static int number(parser_t *s)
{
    const char *start = s->p, *p = s->p, *end = s->end;
    int neg = 0, is_int = 1, overflow = 0;
    uint64_t mag = 0;
    if (*p == '-') {
        neg = 1;
        p++;
    }
    if (!is_digit(p, end)) return syntax(s, p, "expected a digit");
    if (*p == '0') {
        if (is_digit(++p, end)) return syntax(s, p, "leading zero in number");
    } else {
        for (; is_digit(p, end); p++) {
            unsigned d = (unsigned)(*p - '0');
            if (mag > (UINT64_MAX - d) / 10) overflow = 1;
            mag = mag * 10 + d;
        }
    }
    if (p < end && *p == '.') {
        is_int = 0;
        if (!is_digit(++p, end)) return syntax(s, p, "expected a digit after '.'");
        while (is_digit(p, end)) p++;
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        is_int = 0;
        if (++p < end && (*p == '+' || *p == '-')) p++;
        if (!is_digit(p, end)) return syntax(s, p, "expected a digit in the exponent");
        while (is_digit(p, end)) p++;
    }
    s->p = p;
    if (!s->pk) return 0;
    if (is_int && !overflow) {
        if (!neg && mag <= INT64_MAX) PACK(msgpack_pack_int64(s->pk, (int64_t)mag));
        else if (!neg) PACK(msgpack_pack_uint64(s->pk, mag));
        else if (mag <= INT64_MAX) PACK(msgpack_pack_int64(s->pk, -(int64_t)mag));
        else if (mag == (uint64_t)INT64_MAX + 1) PACK(msgpack_pack_int64(s->pk, INT64_MIN));
        else return pack_double(s, start, (size_t)(p - start));
        return 0;
    }
    return pack_double(s, start, (size_t)(p - start));
}

/* true, false or null at s->p: `word` is the one its first character promised. */
static int literal(parser_t *s, const char *word, size_t n)
{
    if ((size_t)(s->end - s->p) < n || memcmp(s->p, word, n) != 0) return syntax(s, s->p, "invalid literal");
    s->p += n;
    if (!s->pk) return 0;
    if (word[0] == 'n') PACK(msgpack_pack_nil(s->pk));
    else if (word[0] == 't') PACK(msgpack_pack_true(s->pk));
    else PACK(msgpack_pack_false(s->pk));
    return 0;
}

static int value(parser_t *s, int depth);

/* An array or object at s->p (on its opening bracket), at nesting level `depth` (1 for the outermost). */
static int container(parser_t *s, int depth)
{
    const char *open = s->p;
    int is_map = *open == '{';
    char close = is_map ? '}' : ']';
    if (depth > GALE_JSON_MAX_DEPTH) return fail(s, open, GALE_ELIMIT, "nesting too deep");
    size_t slot = 0, n = 0;
    uint32_t size = 0;
    int rc = size_slot(s, &slot, &size);
    if (rc) return rc;
    if (s->pk) PACK(is_map ? msgpack_pack_map(s->pk, size) : msgpack_pack_array(s->pk, size));
    s->p++;
    skip_ws(s);
    if (s->p < s->end && *s->p == close) {
        s->p++;
    } else {
        for (;;) {
            if (is_map) {
                if (s->p == s->end || *s->p != '"') return syntax(s, s->p, "expected a string key");
                if ((rc = string(s))) return rc;
                skip_ws(s);
                if (s->p == s->end || *s->p != ':') return syntax(s, s->p, "expected ':'");
                s->p++;
                skip_ws(s);
            }
            if ((rc = value(s, depth))) return rc;
            n++;
            skip_ws(s);
            if (s->p < s->end && *s->p == close) {
                s->p++;
                break;
            }
            if (s->p == s->end || *s->p != ',')
                return syntax(s, s->p, is_map ? "expected ',' or '}'" : "expected ',' or ']'");
            s->p++;
            skip_ws(s);
            if (s->p < s->end && *s->p == close) return syntax(s, s->p, "trailing comma");
        }
    }
    if (!s->pk && n > UINT32_MAX) return fail(s, open, GALE_ELIMIT, "container too long for MessagePack");
    if (!s->pk) s->sizes[slot] = (uint32_t)n;
    return 0;
}

/* One value at s->p (whitespace already skipped), inside `depth` containers. */
static int value(parser_t *s, int depth)
{
    if (s->p == s->end) return syntax(s, s->p, "expected a value");
    switch (*s->p) {
    case '{':
    case '[': return container(s, depth + 1);
    case '"': return string(s);
    case 't': return literal(s, "true", 4);
    case 'f': return literal(s, "false", 5);
    case 'n': return literal(s, "null", 4);
    case '-': return number(s);
    default:
        if (*s->p >= '0' && *s->p <= '9') return number(s);
        return syntax(s, s->p, "expected a value");
    }
}

/* One pass over the whole text: a value with optional whitespace around it and nothing else. */
static int pass(parser_t *s)
{
    s->p = s->start;
    skip_ws(s);
    int rc = value(s, 0);
    if (rc) return rc;
    skip_ws(s);
    if (s->p != s->end) return syntax(s, s->p, "trailing characters after the document");
    return 0;
}

int gale_json_parse(const char *text, size_t len, msgpack_packer *pk, size_t *err_at, const char **why)
{
    if (!text) text = ""; /* so that len 0 with NULL needs no arithmetic on a null pointer */
    parser_t s = {.start = text, .end = text + len};
    s.sizes = s.small;
    s.cap = sizeof s.small / sizeof s.small[0];
    int rc = pass(&s);
    if (rc == 0) {
        s.pk = pk;
        rc = pass(&s);
    }
    if (s.sizes != s.small) free(s.sizes);
    if (rc) {
        if (err_at) *err_at = (size_t)(s.err_pos - s.start);
        if (why) *why = s.why;
    }
    return rc;
}
