/* topology_codec.c: a resolved model as MessagePack and back (topology_codec.h). */
#include "topology_codec.h"

#include <errno.h>
#include <msgpack.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "mpread.h"
#include "mpwrite.h"
#include "plugin.h"

/* Items of each record, so that a reader knows at once whether a record is whole. */
#define TOPOLOGY_ITEMS 8  /* version, name, file, dir, config, components, order, n_tasks */
#define COMPONENT_ITEMS \
    14 /* name, kind, plugin, path, parallelism, replay, line, plugin_line, settings, inputs,
                              streams, first_task, tick_s, window */
#define WINDOW_ITEMS \
    11                     /* type, by_count, length, slide, gap_ms, timestamp_field, lag_ms, late_stream,
                              watermark_ms, max_mb, line; the whole window nil for none */
#define SETTING_ITEMS 4    /* key, value, line, override */
#define INPUT_ITEMS 8      /* from, stream, grouping, fields, line, from_index, stream_index, field_index */
#define STREAM_ITEMS 3     /* name, fields, direct */
#define MAX_COMPONENTS 65536
#define MAX_PARALLELISM 65535

/* ---- writing ------------------------------------------------------------------------------------------------- */

/* msgpack-c's packer passes on a failed write but its pack calls are not checked one by one here: the writer
   remembers that one failed. */
typedef struct wr {
    msgpack_sbuffer sb;
    bool failed;
} wr_t;

static int wr_write(void *data, const char *buf, size_t len)
{
    wr_t *w = data;
    if (!w->failed && msgpack_sbuffer_write(&w->sb, buf, len)) w->failed = true;
    return w->failed ? -1 : 0;
}

static void pack_strs(msgpack_packer *pk, char *const *v, size_t n)
{
    msgpack_pack_array(pk, n);
    for (size_t i = 0; i < n; i++) gale_mp_pack_cstr(pk, v[i]);
}

static void pack_value(msgpack_packer *pk, const gale_value_t *v)
{
    switch (v->type) {
    case GALE_BOOL: v->b ? msgpack_pack_true(pk) : msgpack_pack_false(pk); return;
    case GALE_INT: msgpack_pack_int64(pk, v->i); return;
    case GALE_UINT: msgpack_pack_uint64(pk, v->u); return;
    case GALE_DOUBLE: msgpack_pack_double(pk, v->d); return;
    case GALE_STR:
        msgpack_pack_str(pk, v->s.len);
        msgpack_pack_str_body(pk, v->s.ptr, v->s.len);
        return;
    case GALE_BYTES:
        msgpack_pack_bin(pk, v->s.len);
        msgpack_pack_bin_body(pk, v->s.ptr, v->s.len);
        return;
    case GALE_ARRAY:
    case GALE_MAP:
        if (!v->c.items) { /* a view of encoded bytes: they are MessagePack already */
            wr_write(pk->data, v->c.raw, v->c.raw_len);
            return;
        }
        if (v->type == GALE_MAP) msgpack_pack_map(pk, v->n);
        else msgpack_pack_array(pk, v->n);
        for (size_t i = 0; i < (v->type == GALE_MAP ? 2 * (size_t)v->n : v->n); i++) pack_value(pk, &v->c.items[i]);
        return;
    default: msgpack_pack_nil(pk); return;
    }
}

static void pack_config(msgpack_packer *pk, const gale_config_t *cfg)
{
    size_t n = 0;
    while (gale__config_key_at(n)) n++;
    msgpack_pack_map(pk, n);
    for (size_t i = 0; i < n; i++) {
        const gale__config_key_t *k = gale__config_key_at(i);
        const char *field = (const char *)cfg + k->offset;
        gale_mp_pack_cstr(pk, k->name);
        if (k->type == GALE__KEY_INT) {
            int v;
            memcpy(&v, field, sizeof v);
            msgpack_pack_int64(pk, v);
        } else if (k->type == GALE__KEY_BOOL) {
            bool v;
            memcpy(&v, field, sizeof v);
            v ? msgpack_pack_true(pk) : msgpack_pack_false(pk);
        } else if (k->type == GALE__KEY_DOUBLE) {
            double v;
            memcpy(&v, field, sizeof v);
            msgpack_pack_double(pk, v);
        } else {
            const char *v;
            memcpy(&v, field, sizeof v);
            gale_mp_pack_cstr(pk, v);
        }
    }
}

static void pack_component(msgpack_packer *pk, const gale_component_t *c)
{
    msgpack_pack_array(pk, COMPONENT_ITEMS);
    gale_mp_pack_cstr(pk, c->name);
    msgpack_pack_int(pk, c->kind);
    gale_mp_pack_cstr(pk, c->plugin_name);
    gale_mp_pack_cstr(pk, c->plugin ? c->plugin->path : c->plugin_path);
    msgpack_pack_int(pk, c->parallelism);
    c->replay ? msgpack_pack_true(pk) : msgpack_pack_false(pk);
    msgpack_pack_int(pk, c->line);
    msgpack_pack_int(pk, c->plugin_line);
    msgpack_pack_array(pk, c->n_settings);
    for (size_t i = 0; i < c->n_settings; i++) {
        const gale_setting_t *s = &c->settings[i];
        msgpack_pack_array(pk, SETTING_ITEMS);
        gale_mp_pack_cstr(pk, s->key);
        pack_value(pk, &s->value);
        msgpack_pack_int(pk, s->line);
        gale_mp_pack_cstr(pk, s->override);
    }
    msgpack_pack_array(pk, c->n_inputs);
    for (size_t i = 0; i < c->n_inputs; i++) {
        const gale_input_t *in = &c->inputs[i];
        msgpack_pack_array(pk, INPUT_ITEMS);
        gale_mp_pack_cstr(pk, in->from);
        gale_mp_pack_cstr(pk, in->stream);
        msgpack_pack_int(pk, in->grouping);
        pack_strs(pk, in->fields, in->n_fields);
        msgpack_pack_int(pk, in->line);
        msgpack_pack_int(pk, in->from_index);
        msgpack_pack_int(pk, in->stream_index);
        msgpack_pack_array(pk, in->n_fields);
        for (size_t f = 0; f < in->n_fields; f++) msgpack_pack_int(pk, in->field_index[f]);
    }
    msgpack_pack_array(pk, c->n_streams);
    for (size_t i = 0; i < c->n_streams; i++) {
        msgpack_pack_array(pk, STREAM_ITEMS);
        gale_mp_pack_cstr(pk, c->streams[i].name);
        pack_strs(pk, c->streams[i].fields, c->streams[i].n_fields);
        c->streams[i].direct ? msgpack_pack_true(pk) : msgpack_pack_false(pk);
    }
    msgpack_pack_uint32(pk, c->first_task);
    msgpack_pack_double(pk, c->tick_s);
    const gale_window_spec_t *w = &c->window;
    if (w->type == GALE_WINDOW_NONE) {
        msgpack_pack_nil(pk);
        return;
    }
    msgpack_pack_array(pk, WINDOW_ITEMS);
    msgpack_pack_int(pk, w->type);
    w->by_count ? msgpack_pack_true(pk) : msgpack_pack_false(pk);
    msgpack_pack_uint64(pk, w->length);
    msgpack_pack_uint64(pk, w->slide);
    msgpack_pack_uint64(pk, w->gap_ms);
    gale_mp_pack_cstr(pk, w->timestamp_field);
    msgpack_pack_uint64(pk, w->lag_ms);
    gale_mp_pack_cstr(pk, w->late_stream);
    msgpack_pack_uint64(pk, w->watermark_ms);
    msgpack_pack_uint64(pk, w->max_mb);
    msgpack_pack_int(pk, w->line);
}

int gale_topology_write(const gale_topology_t *t, char **out, size_t *len)
{
    if (!t->order) return GALE_ESTATE;
    wr_t w = {.failed = false};
    msgpack_sbuffer_init(&w.sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &w, wr_write);
    msgpack_pack_array(&pk, TOPOLOGY_ITEMS);
    msgpack_pack_uint32(&pk, GALE_TOPOLOGY_FORMAT);
    gale_mp_pack_cstr(&pk, t->name);
    gale_mp_pack_cstr(&pk, t->file);
    gale_mp_pack_cstr(&pk, t->dir);
    pack_config(&pk, &t->config);
    msgpack_pack_array(&pk, t->n_components);
    for (size_t i = 0; i < t->n_components; i++) pack_component(&pk, &t->components[i]);
    msgpack_pack_array(&pk, t->n_components);
    for (size_t i = 0; i < t->n_components; i++) msgpack_pack_int(&pk, t->order[i]);
    msgpack_pack_uint32(&pk, t->n_tasks);
    if (w.failed || !w.sb.data) {
        msgpack_sbuffer_destroy(&w.sb);
        return GALE_ENOMEM;
    }
    *out = w.sb.data; /* malloc'd by msgpack_sbuffer: the caller frees it */
    *len = w.sb.size;
    return 0;
}

/* ---- reading ------------------------------------------------------------------------------------------------- */

typedef struct rd {
    const char *p;
    size_t len, off;
    gale_diag_t *diag;
} rd_t;

static int bad(rd_t *r, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int bad(rd_t *r, int err, const char *fmt, ...)
{
    char msg[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (err == GALE_ENOMEM) return gale__diag(r->diag, err, "topology model: out of memory");
    return gale__diag(r->diag, err, "topology model: %s (at byte %zu of %zu)", msg, r->off, r->len);
}

/* One whole value at the cursor, as a view into the buffer (containers validated whole, see mpread.h). */
static int rd_value(rd_t *r, gale_value_t *v, const char *what)
{
    size_t used;
    int rc = gale_mp_read(r->p + r->off, r->len - r->off, v, &used);
    if (rc) return bad(r, GALE_ECORRUPT, "%s: %s", what, r->off >= r->len ? "truncated" : "not a MessagePack value");
    r->off += used;
    return 0;
}

/* An array header with exactly `want` items, or any count up to `max` when want < 0 (*n gets it). */
static int rd_array(rd_t *r, long want, size_t max, size_t *n, const char *what)
{
    gale_type_t type;
    uint32_t count;
    size_t hdr;
    int rc = gale_mp_read_container(r->p + r->off, r->len - r->off, &type, &count, &hdr);
    if (rc || type != GALE_ARRAY)
        return bad(r, GALE_ECORRUPT, "%s: %s", what, rc == GALE_ECORRUPT ? "truncated" : "not an array");
    if (want >= 0 && count != (uint32_t)want) return bad(r, GALE_ECORRUPT, "%s: %u items, not %ld", what, count, want);
    /* Each item takes a byte at least: a count beyond the bytes left is a lie, refused before any allocation. */
    if (count > max || count > r->len - r->off - hdr) return bad(r, GALE_ECORRUPT, "%s: %u items is too many", what, count);
    r->off += hdr;
    if (n) *n = count;
    return 0;
}

static int rd_int(rd_t *r, int64_t min, int64_t max, int64_t *out, const char *what)
{
    gale_value_t v;
    int rc = rd_value(r, &v, what);
    if (rc) return rc;
    if (v.type != GALE_INT) return bad(r, GALE_ECORRUPT, "%s: not an integer", what);
    if (v.i < min || v.i > max)
        return bad(r, GALE_ECORRUPT, "%s: %lld is out of range (%lld to %lld)", what, (long long)v.i, (long long)min,
                   (long long)max);
    *out = v.i;
    return 0;
}

static int rd_int32(rd_t *r, int64_t min, int64_t max, int *out, const char *what)
{
    int64_t v = 0;
    int rc = rd_int(r, min, max, &v, what);
    if (!rc) *out = (int)v;
    return rc;
}

static int rd_bool(rd_t *r, bool *out, const char *what)
{
    gale_value_t v;
    int rc = rd_value(r, &v, what);
    if (rc) return rc;
    if (v.type != GALE_BOOL) return bad(r, GALE_ECORRUPT, "%s: not true or false", what);
    *out = v.b;
    return 0;
}

/* An owned, NUL-terminated copy of a string (NULL for nil when `nil_ok`). A NUL inside is refused: it would cut
   names short. */
static int rd_str(rd_t *r, bool nil_ok, char **out, const char *what)
{
    gale_value_t v;
    int rc = rd_value(r, &v, what);
    if (rc) return rc;
    *out = NULL;
    if (v.type == GALE_NIL && nil_ok) return 0;
    if (v.type != GALE_STR) return bad(r, GALE_ECORRUPT, "%s: not a string", what);
    if (memchr(v.s.ptr, '\0', v.s.len)) return bad(r, GALE_ECORRUPT, "%s: a NUL byte inside", what);
    if (!(*out = strndup(v.s.ptr, v.s.len))) return bad(r, GALE_ENOMEM, "-");
    return 0;
}

/* An array of strings into a new vector with a NULL after the last (the shape declare gives streams). */
static int rd_strs(rd_t *r, char ***out, size_t *n_out, const char *what)
{
    size_t n;
    int rc = rd_array(r, -1, SIZE_MAX, &n, what);
    if (rc) return rc;
    char **v = calloc(n + 1, sizeof *v);
    if (!v) return bad(r, GALE_ENOMEM, "-");
    for (size_t i = 0; i < n && !rc; i++) rc = rd_str(r, false, &v[i], what);
    if (rc) {
        for (size_t i = 0; i < n; i++) free(v[i]);
        free(v);
        return rc;
    }
    *out = v;
    *n_out = n;
    return 0;
}

/* An owned tree of a value gale_mp_read validated (so that walking it cannot run past its bytes, and its depth is
   bounded). Map keys must be strings and bytes are refused, as in a setting from a file. */
static int own(const gale_value_t *v, gale_value_t *out)
{
    *out = (gale_value_t){0};
    if (v->type == GALE_BYTES) return GALE_ECORRUPT;
    if (v->type != GALE_ARRAY && v->type != GALE_MAP) {
        if (v->type == GALE_STR && memchr(v->s.ptr, '\0', v->s.len)) return GALE_ECORRUPT;
        return gale__value_copy(v, out);
    }
    size_t n = v->type == GALE_MAP ? 2 * (size_t)v->n : v->n;
    gale_value_t *items = calloc(n + 1, sizeof *items);
    if (!items) return GALE_ENOMEM;
    *out = (gale_value_t){.type = v->type, .n = v->n, .c = {items, NULL, 0}};
    gale_type_t type;
    uint32_t count;
    size_t off;
    int rc = gale_mp_read_container(v->c.raw, v->c.raw_len, &type, &count, &off);
    for (size_t i = 0; i < n && !rc; i++) {
        gale_value_t item;
        size_t used = 0;
        rc = gale_mp_read(v->c.raw + off, v->c.raw_len - off, &item, &used);
        if (!rc && v->type == GALE_MAP && i % 2 == 0 && item.type != GALE_STR) rc = GALE_ECORRUPT;
        if (!rc) rc = own(&item, &items[i]);
        off += used;
    }
    if (rc) gale__value_free(out);
    return rc;
}

static int rd_config(rd_t *r, gale_config_t *cfg)
{
    gale_type_t type;
    uint32_t n;
    size_t hdr;
    gale_config_defaults(cfg);
    int rc = gale_mp_read_container(r->p + r->off, r->len - r->off, &type, &n, &hdr);
    if (rc || type != GALE_MAP) return bad(r, GALE_ECORRUPT, "config: %s", rc == GALE_ECORRUPT ? "truncated" : "not a map");
    r->off += hdr;
    for (uint32_t i = 0; i < n; i++) {
        char *key;
        gale_value_t v, owned;
        if ((rc = rd_str(r, false, &key, "config key"))) return rc;
        const gale__config_key_t *k = gale__config_key(key);
        size_t at = r->off;
        rc = k ? rd_value(r, &v, "config value") : bad(r, GALE_ECORRUPT, "unknown config key '%.64s'", key);
        if (!rc && v.type == GALE_NIL && k->type == GALE__KEY_STRING) v = gale_strn("", 0); /* none */
        if (!rc && (rc = own(&v, &owned))) rc = bad(r, rc == GALE_ENOMEM ? rc : GALE_ECORRUPT, "config value");
        if (!rc) {
            char why[300];
            rc = gale__config_set(cfg, k, &owned, NULL, why, sizeof why);
            gale__value_free(&owned);
            if (rc) {
                r->off = at;
                rc = bad(r, rc == GALE_ENOMEM ? rc : GALE_ECORRUPT, "config.%s %s", key, why);
            }
        }
        free(key);
        if (rc) return rc;
    }
    return 0;
}

static int rd_settings(rd_t *r, gale_component_t *c)
{
    size_t n;
    int rc = rd_array(r, -1, SIZE_MAX, &n, "settings");
    if (rc) return rc;
    if (!(c->settings = calloc(n + 1, sizeof *c->settings))) return bad(r, GALE_ENOMEM, "-");
    for (size_t i = 0; i < n; i++) {
        gale_setting_t *s = &c->settings[i];
        c->n_settings = i + 1; /* zeroed until filled: freeing it is safe from here on */
        gale_value_t v;
        if ((rc = rd_array(r, SETTING_ITEMS, SETTING_ITEMS, NULL, "setting"))) return rc;
        if ((rc = rd_str(r, false, &s->key, "setting key"))) return rc;
        size_t at = r->off;
        if ((rc = rd_value(r, &v, "setting value"))) return rc;
        if ((rc = own(&v, &s->value))) {
            r->off = at;
            return bad(r, rc == GALE_ENOMEM ? rc : GALE_ECORRUPT, "setting '%.64s': bytes, or a group key that is not a string", s->key);
        }
        if ((rc = rd_int32(r, 0, INT32_MAX, &s->line, "setting line"))) return rc;
        if ((rc = rd_str(r, true, &s->override, "setting override"))) return rc;
    }
    return 0;
}

static int rd_inputs(rd_t *r, gale_component_t *c)
{
    size_t n;
    int rc = rd_array(r, -1, SIZE_MAX, &n, "inputs");
    if (rc) return rc;
    if (!(c->inputs = calloc(n + 1, sizeof *c->inputs))) return bad(r, GALE_ENOMEM, "-");
    for (size_t i = 0; i < n; i++) {
        gale_input_t *in = &c->inputs[i];
        c->n_inputs = i + 1;
        size_t nf;
        if ((rc = rd_array(r, INPUT_ITEMS, INPUT_ITEMS, NULL, "input"))) return rc;
        if ((rc = rd_str(r, false, &in->from, "input from"))) return rc;
        if ((rc = rd_str(r, false, &in->stream, "input stream"))) return rc;
        int g;
        if ((rc = rd_int32(r, 0, GALE_GROUPING_LOCAL_OR_SHUFFLE, &g, "grouping"))) return rc;
        in->grouping = (gale_grouping_t)g;
        if ((rc = rd_strs(r, &in->fields, &in->n_fields, "input fields"))) return rc;
        if ((rc = rd_int32(r, 0, INT32_MAX, &in->line, "input line"))) return rc;
        if ((rc = rd_int32(r, 0, MAX_COMPONENTS - 1, &in->from_index, "input source index"))) return rc;
        if ((rc = rd_int32(r, 0, INT32_MAX, &in->stream_index, "input stream index"))) return rc;
        if ((rc = rd_array(r, (long)in->n_fields, SIZE_MAX, &nf, "input field indexes"))) return rc;
        if (!(in->field_index = calloc(nf + 1, sizeof *in->field_index))) return bad(r, GALE_ENOMEM, "-");
        for (size_t f = 0; f < nf; f++)
            if ((rc = rd_int32(r, 0, INT32_MAX, &in->field_index[f], "input field index"))) return rc;
    }
    return 0;
}

static int rd_streams(rd_t *r, gale_component_t *c)
{
    size_t n;
    int rc = rd_array(r, -1, SIZE_MAX, &n, "streams");
    if (rc) return rc;
    if (!(c->streams = calloc(n + 1, sizeof *c->streams))) return bad(r, GALE_ENOMEM, "-");
    for (size_t i = 0; i < n; i++) {
        c->n_streams = i + 1;
        if ((rc = rd_array(r, STREAM_ITEMS, STREAM_ITEMS, NULL, "stream"))) return rc;
        if ((rc = rd_str(r, false, &c->streams[i].name, "stream name"))) return rc;
        if ((rc = rd_strs(r, &c->streams[i].fields, &c->streams[i].n_fields, "stream fields"))) return rc;
        if ((rc = rd_bool(r, &c->streams[i].direct, "stream direct"))) return rc;
    }
    return 0;
}

/* Ranges as topology_read.c's: what a file could give. */
#define WINDOW_MAX 1000000000000LL

/* A window's numbers, and that they make a window (topology_read.c's rules, the model's way). */
static int rd_window(rd_t *r, gale_component_t *c)
{
    gale_value_t v;
    int rc;
    if (r->off < r->len && (unsigned char)r->p[r->off] == 0xc0) return rd_value(r, &v, "window"); /* nil: none */
    if ((rc = rd_array(r, WINDOW_ITEMS, WINDOW_ITEMS, NULL, "window"))) return rc;
    gale_window_spec_t *w = &c->window;
    int type;
    int64_t len, slide, gap, lag, wm, mb;
    if ((rc = rd_int32(r, GALE_WINDOW_TUMBLING, GALE_WINDOW_SESSION, &type, "window type")) ||
        (rc = rd_bool(r, &w->by_count, "window by count")) || (rc = rd_int(r, 0, WINDOW_MAX, &len, "window length")) ||
        (rc = rd_int(r, 0, WINDOW_MAX, &slide, "window slide")) || (rc = rd_int(r, 0, WINDOW_MAX, &gap, "gap_ms")) ||
        (rc = rd_str(r, true, &w->timestamp_field, "timestamp_field")) ||
        (rc = rd_int(r, 0, WINDOW_MAX, &lag, "lag_ms")) || (rc = rd_str(r, true, &w->late_stream, "late_stream")) ||
        (rc = rd_int(r, 1, WINDOW_MAX, &wm, "watermark_ms")) || (rc = rd_int(r, 1, 1048576, &mb, "max_mb")) ||
        (rc = rd_int32(r, 0, INT32_MAX, &w->line, "window line")))
        return rc;
    w->type = (gale_window_type_t)type;
    w->length = (uint64_t)len, w->slide = (uint64_t)slide, w->gap_ms = (uint64_t)gap, w->lag_ms = (uint64_t)lag;
    w->watermark_ms = (uint64_t)wm, w->max_mb = (uint64_t)mb;
    bool session = w->type == GALE_WINDOW_SESSION;
    if (c->kind != GALE_BOLT ||
        (session ? (!gap || len || slide || w->by_count) : (gap || !len || !slide || slide > len)) ||
        (w->type == GALE_WINDOW_TUMBLING && slide != len) || (w->by_count && w->timestamp_field) ||
        (!w->timestamp_field && (lag || w->late_stream)))
        return bad(r, GALE_ECORRUPT, "component '%s': its window is not one a file could give", c->name);
    return 0;
}

static int rd_component(rd_t *r, gale_component_t *c)
{
    int rc, kind;
    int64_t first;
    if ((rc = rd_array(r, COMPONENT_ITEMS, COMPONENT_ITEMS, NULL, "component"))) return rc;
    if ((rc = rd_str(r, false, &c->name, "component name"))) return rc;
    if (!gale__name_ok(c->name)) return bad(r, GALE_ECORRUPT, "component name '%.64s' is not a name", c->name);
    if ((rc = rd_int32(r, GALE_SPOUT, GALE_BOLT, &kind, "component kind"))) return rc;
    c->kind = (gale_kind_t)kind;
    if ((rc = rd_str(r, false, &c->plugin_name, "plugin"))) return rc;
    if ((rc = rd_str(r, false, &c->plugin_path, "plugin path"))) return rc;
    if ((rc = rd_int32(r, 1, MAX_PARALLELISM, &c->parallelism, "parallelism"))) return rc;
    if ((rc = rd_bool(r, &c->replay, "replay"))) return rc;
    if ((rc = rd_int32(r, 0, INT32_MAX, &c->line, "component line"))) return rc;
    if ((rc = rd_int32(r, 0, INT32_MAX, &c->plugin_line, "plugin line"))) return rc;
    if ((rc = rd_settings(r, c)) || (rc = rd_inputs(r, c)) || (rc = rd_streams(r, c))) return rc;
    if ((rc = rd_int(r, 1, UINT32_MAX, &first, "first task"))) return rc;
    c->first_task = (uint32_t)first;
    gale_value_t tick;
    if ((rc = rd_value(r, &tick, "tick_s"))) return rc;
    const gale__config_key_t *range = gale__config_key("tick_s"); /* the topology-wide key's range */
    if (tick.type != GALE_DOUBLE || !(tick.d >= (double)range->min && tick.d <= (double)range->max) ||
        (c->kind == GALE_SPOUT && tick.d != 0))
        return bad(r, GALE_ECORRUPT, "component '%s': tick_s is not a number of seconds for it", c->name);
    c->tick_s = tick.d;
    return rd_window(r, c);
}

/* The whole against itself: what gale_topology_resolve gives, so that nothing that runs it can index out of range
   or meet a model no file could give. */
static int check_model(rd_t *r, const gale_topology_t *t)
{
    if (!t->n_components || t->components[0].kind != GALE_SPOUT) return bad(r, GALE_ECORRUPT, "no spouts");
    int *pos = calloc(t->n_components, sizeof *pos);
    if (!pos) return bad(r, GALE_ENOMEM, "-");
    for (size_t i = 0; i < t->n_components; i++) pos[i] = -1;
    int rc = 0;
    for (size_t k = 0; k < t->n_components && !rc; k++) {
        int i = t->order[k];
        if (i < 0 || (size_t)i >= t->n_components || pos[i] >= 0)
            rc = bad(r, GALE_ECORRUPT, "the order is not one of the components: %d at %zu", i, k);
        else pos[i] = (int)k;
    }
    uint64_t next = 1;
    for (size_t i = 0; i < t->n_components && !rc; i++) {
        const gale_component_t *c = &t->components[i];
        if (i && c->kind == GALE_SPOUT && t->components[i - 1].kind == GALE_BOLT)
            rc = bad(r, GALE_ECORRUPT, "spout '%s' after a bolt", c->name);
        else if ((c->kind == GALE_SPOUT) != (c->n_inputs == 0))
            rc = bad(r, GALE_ECORRUPT, "%s '%s' with %zu inputs", c->kind == GALE_SPOUT ? "spout" : "bolt", c->name, c->n_inputs);
        else if (gale_topology_find(t, c->name) != (int)i) rc = bad(r, GALE_ECORRUPT, "two components named '%s'", c->name);
        else if (c->first_task != next) rc = bad(r, GALE_ECORRUPT, "component '%s' starts at task %u, not %llu", c->name,
                                                c->first_task, (unsigned long long)next);
        next += (uint64_t)c->parallelism;
        if (!rc && c->window.late_stream && gale_component_stream(c, c->window.late_stream) < 0)
            rc = bad(r, GALE_ECORRUPT, "bolt '%s': its window's late stream '%s' is not declared", c->name,
                     c->window.late_stream);
        for (size_t s = 0; s < c->n_streams && !rc; s++)
            if (gale_component_stream(c, c->streams[s].name) != (int)s)
                rc = bad(r, GALE_ECORRUPT, "component '%s' declares stream '%s' twice", c->name, c->streams[s].name);
        for (size_t k = 0; k < c->n_inputs && !rc; k++) {
            const gale_input_t *in = &c->inputs[k];
            bool keyed = in->grouping == GALE_GROUPING_FIELDS || in->grouping == GALE_GROUPING_PARTIAL_KEY;
            const gale_component_t *src = (size_t)in->from_index < t->n_components ? &t->components[in->from_index] : NULL;
            if (!src || (size_t)in->from_index == i || strcmp(src->name, in->from))
                rc = bad(r, GALE_ECORRUPT, "bolt '%s': input %zu's source index %d is not '%s'", c->name, k, in->from_index, in->from);
            else if (pos[in->from_index] >= pos[i])
                rc = bad(r, GALE_ECORRUPT, "bolt '%s' comes before its source '%s' in the order", c->name, src->name);
            else if ((size_t)in->stream_index >= src->n_streams || strcmp(src->streams[in->stream_index].name, in->stream))
                rc = bad(r, GALE_ECORRUPT, "bolt '%s': input %zu's stream index %d is not '%s' of '%s'", c->name, k,
                         in->stream_index, in->stream, src->name);
            else if (keyed != (in->n_fields > 0))
                rc = bad(r, GALE_ECORRUPT, "bolt '%s': a %s grouping with %zu fields", c->name,
                         gale_grouping_name(in->grouping), in->n_fields);
            else if ((in->grouping == GALE_GROUPING_DIRECT) != src->streams[in->stream_index].direct)
                rc = bad(r, GALE_ECORRUPT, "bolt '%s': a %s grouping on stream '%s' of '%s', which is %sdirect",
                         c->name, gale_grouping_name(in->grouping), in->stream, src->name,
                         src->streams[in->stream_index].direct ? "" : "not ");
            const char *ts = c->window.timestamp_field;
            if (!rc && ts) {
                const gale_stream_t *st = &src->streams[in->stream_index];
                size_t f = 0;
                while (f < st->n_fields && strcmp(st->fields[f], ts)) f++;
                if (f == st->n_fields)
                    rc = bad(r, GALE_ECORRUPT, "bolt '%s': its window's timestamp field '%s' is not in stream '%s'",
                             c->name, ts, st->name);
            }
            for (size_t f = 0; f < in->n_fields && !rc; f++) {
                const gale_stream_t *st = &src->streams[in->stream_index];
                int fi = in->field_index[f];
                if ((size_t)fi >= st->n_fields || strcmp(st->fields[fi], in->fields[f]))
                    rc = bad(r, GALE_ECORRUPT, "bolt '%s': field index %d is not '%s' of stream '%s'", c->name, fi,
                             in->fields[f], st->name);
            }
        }
    }
    if (!rc && t->n_tasks != next - 1)
        rc = bad(r, GALE_ECORRUPT, "%u tasks, but the components have %llu", t->n_tasks, (unsigned long long)(next - 1));
    free(pos);
    return rc;
}

static int rd_topology(rd_t *r, gale_topology_t *t)
{
    int64_t version, n_tasks;
    size_t n;
    int rc = rd_array(r, -1, SIZE_MAX, &n, "the model");
    if (rc) return rc;
    if (!n) return bad(r, GALE_ECORRUPT, "the model: an empty array");
    gale_value_t v;
    if ((rc = rd_value(r, &v, "format version"))) return rc;
    if (v.type != GALE_INT) return bad(r, GALE_ECORRUPT, "the format version is not an integer");
    version = v.i;
    if (version != GALE_TOPOLOGY_FORMAT)
        return bad(r, GALE_ENOTSUP, "format version %lld, this gale reads version %d", (long long)version, GALE_TOPOLOGY_FORMAT);
    if (n != TOPOLOGY_ITEMS) return bad(r, GALE_ECORRUPT, "the model: %zu items, not %d", n, TOPOLOGY_ITEMS);
    if ((rc = rd_str(r, false, &t->name, "name"))) return rc;
    if ((rc = rd_str(r, false, &t->file, "file"))) return rc;
    if ((rc = rd_str(r, false, &t->dir, "folder"))) return rc;
    if ((rc = rd_config(r, &t->config))) return rc;
    if ((rc = rd_array(r, -1, MAX_COMPONENTS, &n, "components"))) return rc;
    if (!(t->components = calloc(n + 1, sizeof *t->components))) return bad(r, GALE_ENOMEM, "-");
    for (size_t i = 0; i < n; i++) {
        t->n_components = i + 1;
        if ((rc = rd_component(r, &t->components[i]))) return rc;
    }
    if ((rc = rd_array(r, (long)t->n_components, MAX_COMPONENTS, NULL, "order"))) return rc;
    if (!(t->order = calloc(t->n_components + 1, sizeof *t->order))) return bad(r, GALE_ENOMEM, "-");
    for (size_t i = 0; i < t->n_components; i++)
        if ((rc = rd_int32(r, 0, MAX_COMPONENTS - 1, &t->order[i], "order"))) return rc;
    if ((rc = rd_int(r, 1, UINT32_MAX, &n_tasks, "task count"))) return rc;
    t->n_tasks = (uint32_t)n_tasks;
    if (r->off != r->len) return bad(r, GALE_ECORRUPT, "%zu bytes after the model", r->len - r->off);
    return check_model(r, t);
}

int gale_topology_read(const char *buf, size_t len, gale_topology_t **out, gale_diag_t *diag)
{
    rd_t r = {.p = buf, .len = len, .diag = diag};
    gale_topology_t *t = calloc(1, sizeof *t);
    if (!t) return gale__diag(diag, GALE_ENOMEM, "topology model: out of memory");
    gale_config_defaults(&t->config);
    int rc = rd_topology(&r, t);
    if (rc) {
        gale_topology_free(t);
        return rc;
    }
    *out = t;
    return 0;
}

/* ---- plugins ------------------------------------------------------------------------------------------------- */

int gale_topology_attach(gale_topology_t *t, gale_diag_t *diag)
{
    for (size_t i = 0; i < t->n_components; i++) {
        gale_component_t *c = &t->components[i];
        const char *kind = c->kind == GALE_SPOUT ? "spout" : "bolt";
        if (c->plugin) continue;
        gale_diag_t inner = {{0}};
        int rc = gale_plugin_builtin(c->plugin_name, c->kind, &c->plugin);
        if (rc == GALE_ENOENT) rc = gale_plugin_load(c->plugin_path, &c->plugin, &inner);
        else if (rc) strcpy(inner.msg, "out of memory");
        if (rc) return gale__diag(diag, rc, "%s: %s '%s': %s", t->file, kind, c->name, inner.msg);
        if (c->plugin->desc->kind != c->kind)
            return gale__diag(diag, GALE_EPLUGIN, "%s: %s '%s': plugin %s is not a %s", t->file, kind, c->name,
                              c->plugin->path, kind);
    }
    return 0;
}

int gale_topology_load_model(const char *path, gale_topology_t **out, gale_diag_t *diag)
{
    FILE *f = fopen(path, "rbe");
    if (!f) return gale__diag(diag, -errno, "%s: cannot read: %s", path, strerror(errno));
    struct stat st;
    int rc = fstat(fileno(f), &st) ? GALE_EIO : st.st_size > GALE_TOPOLOGY_MODEL_MAX ? GALE_ELIMIT : 0;
    char *buf = rc ? NULL : malloc((size_t)st.st_size + 1);
    size_t len = buf ? fread(buf, 1, (size_t)st.st_size + 1, f) : 0;
    bool failed = ferror(f);
    fclose(f);
    if (!rc) rc = !buf ? GALE_ENOMEM : failed ? GALE_EIO : len > (size_t)st.st_size ? GALE_ELIMIT : 0;
    if (rc) {
        free(buf);
        return gale__diag(diag, rc, "%s: cannot read the model: %s", path, gale_strerror(rc));
    }
    rc = gale_topology_read(buf, len, out, diag);
    free(buf);
    return rc;
}

int gale_topology_open_model(const char *path, gale_topology_t **out, gale_diag_t *diag)
{
    gale_topology_t *t = NULL;
    int rc = gale_topology_load_model(path, &t, diag);
    if (rc) return rc;
    if ((rc = gale_topology_attach(t, diag))) {
        gale_topology_free(t);
        return rc;
    }
    *out = t;
    return 0;
}
