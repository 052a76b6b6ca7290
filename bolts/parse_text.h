/*
 * parse_text.h: the text side of the parse bolt (parse.c), header-only as a plugin's helpers are: a CSV line split
 * into columns (RFC 4180 within one line), and a column's text read as the type asked for. Nothing here allocates
 * or calls the host; each function says where its views point.
 */
#ifndef GALE_PARSE_TEXT_H
#define GALE_PARSE_TEXT_H

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gale.h"

/* What a field is read as. */
typedef enum parse_type {
    PT_AUTO = 0, /* CSV: an integer, else a decimal number, else the text; empty: nil. JSON: the value as it is */
    PT_STRING,
    PT_INT,
    PT_DOUBLE,
    PT_BOOL,
    PT_JSON, /* JSON only: the value as it is, objects and arrays too (PT_AUTO refuses those) */
} parse_type_t;

static inline int parse_type_named(const char *name)
{
    static const char *const names[] = {"auto", "string", "int", "double", "bool", "json"};
    for (int i = 0; i < 6; i++)
        if (!strcmp(name, names[i])) return i;
    return -1;
}

static inline const char *parse_type_name(parse_type_t t)
{
    static const char *const names[] = {"auto", "string", "int", "double", "bool", "json"};
    return names[t];
}

/* A column of a CSV line: a view into the line, or into `scratch` when it was quoted (its "" undone). */
typedef struct csv_col {
    const char *p;
    size_t len;
} csv_col_t;

/*
 * Splits line[0..len) at `delim` into at most `max` columns in cols[], *n their count. A column in double quotes
 * may hold the delimiter, and "" for a quote; it is copied, unquoted, into scratch (which must have room for `len`
 * bytes: what is copied is never longer than the line). A trailing \r is not part of the last column. Returns 0;
 * or -1 with `why` set: an unterminated quote, something after a closing quote, more than `max` columns.
 */
static inline int csv_split(const char *line, size_t len, char delim, char *scratch, csv_col_t *cols, size_t max,
                            size_t *n, char *why, size_t why_cap)
{
    if (len && line[len - 1] == '\r') len--;
    size_t at = 0, k = 0, used = 0;
    for (;;) {
        if (k == max) {
            snprintf(why, why_cap, "more than %zu columns (one per field)", max);
            return -1;
        }
        if (at < len && line[at] == '"') {
            size_t start = at++;
            char *out = scratch + used;
            size_t olen = 0;
            for (;;) {
                if (at >= len) {
                    snprintf(why, why_cap, "column %zu: the quote at byte %zu is never closed", k + 1, start + 1);
                    return -1;
                }
                if (line[at] == '"') {
                    if (at + 1 < len && line[at + 1] == '"') {
                        out[olen++] = '"';
                        at += 2;
                        continue;
                    }
                    at++;
                    break;
                }
                out[olen++] = line[at++];
            }
            used += olen;
            cols[k++] = (csv_col_t){out, olen};
            if (at < len && line[at] != delim) {
                snprintf(why, why_cap, "column %zu: '%c' after its closing quote, at byte %zu", k, line[at], at + 1);
                return -1;
            }
        } else {
            const char *d = at < len ? memchr(line + at, delim, len - at) : NULL;
            size_t end = d ? (size_t)(d - line) : len;
            cols[k++] = (csv_col_t){line + at, end - at};
            at = end;
        }
        if (at >= len) break;
        at++; /* the delimiter: another column follows, empty when the line ends here */
    }
    *n = k;
    return 0;
}

/* text[0..len) as a whole int64 (decimal, an optional sign, nothing around it): true with *out. */
static inline bool text_int(const char *text, size_t len, int64_t *out)
{
    char buf[32];
    if (!len || len >= sizeof buf) return false;
    memcpy(buf, text, len);
    buf[len] = '\0';
    if (!(buf[0] == '-' || buf[0] == '+' || (buf[0] >= '0' && buf[0] <= '9'))) return false;
    char *end;
    errno = 0;
    long long v = strtoll(buf, &end, 10);
    if (*end || errno) return false;
    *out = v;
    return true;
}

/* text[0..len) as a whole finite decimal number ("1.5", "-2e3", not "inf", "nan" or hex): true with *out. */
static inline bool text_double(const char *text, size_t len, double *out)
{
    char buf[64];
    if (!len || len >= sizeof buf) return false;
    for (size_t i = 0; i < len; i++) {
        char c = text[i];
        if (!((c >= '0' && c <= '9') || c == '.' || c == '-' || c == '+' || c == 'e' || c == 'E')) return false;
    }
    memcpy(buf, text, len);
    buf[len] = '\0';
    char *end;
    double v = strtod(buf, &end);
    if (*end || !isfinite(v)) return false;
    *out = v;
    return true;
}

static inline bool text_is(const char *text, size_t len, const char *word)
{
    size_t n = strlen(word);
    if (len != n) return false;
    for (size_t i = 0; i < n; i++)
        if ((text[i] | 0x20) != word[i]) return false;
    return true;
}

/*
 * A CSV column as type `t`: 0 with *out (a view into the column's text for strings), or -1 with `why` saying what
 * it is not. An empty column is nil, but for PT_STRING, where it is "".
 */
static inline int csv_value(const csv_col_t *c, parse_type_t t, gale_value_t *out, char *why, size_t why_cap)
{
    int64_t i;
    double d;
    if (!c->len && t != PT_STRING) {
        *out = gale_nil();
        return 0;
    }
    switch (t) {
    case PT_AUTO:
        if (text_int(c->p, c->len, &i)) *out = gale_int(i);
        else if (text_double(c->p, c->len, &d)) *out = gale_double(d);
        else *out = gale_strn(c->p, c->len);
        return 0;
    case PT_STRING: *out = gale_strn(c->p, c->len); return 0;
    case PT_INT:
        if (!text_int(c->p, c->len, &i)) break;
        *out = gale_int(i);
        return 0;
    case PT_DOUBLE:
        if (!text_double(c->p, c->len, &d)) break;
        *out = gale_double(d);
        return 0;
    case PT_BOOL:
        if (text_is(c->p, c->len, "true") || (c->len == 1 && c->p[0] == '1')) *out = gale_bool(true);
        else if (text_is(c->p, c->len, "false") || (c->len == 1 && c->p[0] == '0')) *out = gale_bool(false);
        else break;
        return 0;
    case PT_JSON: break;
    }
    snprintf(why, why_cap, "'%.*s' is not %s", c->len > 40 ? 40 : (int)c->len, c->p,
             t == PT_INT      ? "an integer"
             : t == PT_DOUBLE ? "a number"
             : t == PT_BOOL   ? "true or false"
                              : "JSON");
    return -1;
}

/* A JSON value as type `t`: 0 with *out (an int given for a double becomes one), or -1 with `why`. */
static inline int json_value(const gale_value_t *v, parse_type_t t, gale_value_t *out, char *why, size_t why_cap)
{
    static const char *const kinds[] = {"null",     "a boolean", "an integer", "an integer", "a number",
                                        "a string", "bytes",     "an array",   "an object"};
    bool ok = false;
    *out = *v;
    switch (t) {
    case PT_JSON: ok = true; break;
    case PT_AUTO: ok = v->type != GALE_ARRAY && v->type != GALE_MAP; break;
    case PT_STRING: ok = v->type == GALE_STR || v->type == GALE_NIL; break;
    case PT_INT: ok = v->type == GALE_INT || v->type == GALE_NIL; break;
    case PT_DOUBLE:
        ok = v->type == GALE_DOUBLE || v->type == GALE_INT || v->type == GALE_UINT || v->type == GALE_NIL;
        if (v->type == GALE_INT) *out = gale_double((double)v->i);
        if (v->type == GALE_UINT) *out = gale_double((double)v->u);
        break;
    case PT_BOOL: ok = v->type == GALE_BOOL || v->type == GALE_NIL; break;
    }
    if (ok) return 0;
    const char *kind = (size_t)v->type < sizeof kinds / sizeof *kinds ? kinds[v->type] : "a value";
    if (t == PT_AUTO) snprintf(why, why_cap, "is %s (give it type \"json\" to keep it whole)", kind);
    else snprintf(why, why_cap, "is %s, not of type %s", kind, parse_type_name(t));
    return -1;
}

#endif
