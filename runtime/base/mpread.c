#include "mpread.h"

#include <string.h>

static uint64_t be(const unsigned char *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++) v = (v << 8) | p[i];
    return v;
}

int gale_mp_read_container(const char *p, size_t len, gale_type_t *type, uint32_t *n, size_t *hdr)
{
    if (len < 1) return GALE_ECORRUPT;
    const unsigned char *u = (const unsigned char *)p;
    unsigned char b = u[0];
    if ((b & 0xf0) == 0x90 || (b & 0xf0) == 0x80) {
        *type = (b & 0xf0) == 0x90 ? GALE_ARRAY : GALE_MAP;
        *n = b & 0x0f;
        *hdr = 1;
        return 0;
    }
    int w = (b == 0xdc || b == 0xde) ? 2 : (b == 0xdd || b == 0xdf) ? 4 : 0;
    if (!w) return GALE_ETYPE;
    if (len < (size_t)1 + w) return GALE_ECORRUPT;
    *type = (b == 0xdc || b == 0xdd) ? GALE_ARRAY : GALE_MAP;
    *n = (uint32_t)be(u + 1, w);
    *hdr = 1 + (size_t)w;
    return 0;
}

static int read_value(const char *p, size_t len, gale_value_t *out, size_t *used, int depth);

/* Validates `count` values after a container header and returns their total size. Each value takes at least one
   byte, so a count larger than the bytes left is refused before any work is done. */
static int skip_items(const char *p, size_t len, uint64_t count, size_t *used, int depth)
{
    if (count > len) return GALE_ECORRUPT;
    size_t off = 0;
    for (uint64_t i = 0; i < count; i++) {
        gale_value_t v;
        size_t u;
        int rc = read_value(p + off, len - off, &v, &u, depth);
        if (rc) return rc;
        off += u;
    }
    *used = off;
    return 0;
}

static int read_bytes(const unsigned char *u, size_t len, int w, gale_type_t t, gale_value_t *out, size_t *used)
{
    if (len < (size_t)1 + w) return GALE_ECORRUPT;
    uint64_t n = be(u + 1, w);
    if (n > len - 1 - (size_t)w) return GALE_ECORRUPT;
    out->type = t;
    out->s.ptr = (const char *)u + 1 + w;
    out->s.len = (size_t)n;
    *used = 1 + (size_t)w + (size_t)n;
    return 0;
}

static int read_scalar(const unsigned char *u, size_t len, int w, gale_value_t *out, size_t *used)
{
    if (len < (size_t)1 + w) return GALE_ECORRUPT;
    *used = 1 + (size_t)w;
    uint64_t raw = be(u + 1, w);
    switch (u[0]) {
    case 0xcc: case 0xcd: case 0xce: out->type = GALE_INT; out->i = (int64_t)raw; break;
    case 0xcf:
        if (raw > (uint64_t)INT64_MAX) { out->type = GALE_UINT; out->u = raw; }
        else { out->type = GALE_INT; out->i = (int64_t)raw; }
        break;
    case 0xd0: out->type = GALE_INT; out->i = (int8_t)raw; break;
    case 0xd1: out->type = GALE_INT; out->i = (int16_t)raw; break;
    case 0xd2: out->type = GALE_INT; out->i = (int32_t)raw; break;
    case 0xd3: out->type = GALE_INT; out->i = (int64_t)raw; break;
    case 0xca: { uint32_t b32 = (uint32_t)raw; float f; memcpy(&f, &b32, 4); out->type = GALE_DOUBLE; out->d = f; break; }
    case 0xcb: { double d; memcpy(&d, &raw, 8); out->type = GALE_DOUBLE; out->d = d; break; }
    default: return GALE_ECORRUPT;
    }
    return 0;
}

static int read_container(const char *p, size_t len, gale_value_t *out, size_t *used, int depth)
{
    if (depth >= GALE_MP_MAX_DEPTH) return GALE_ECORRUPT;
    gale_type_t t;
    uint32_t n;
    size_t hdr, body;
    int rc = gale_mp_read_container(p, len, &t, &n, &hdr);
    if (rc) return rc == GALE_ETYPE ? GALE_ECORRUPT : rc;
    uint64_t count = t == GALE_MAP ? 2ull * n : n;
    rc = skip_items(p + hdr, len - hdr, count, &body, depth + 1);
    if (rc) return rc;
    out->type = t;
    out->n = n;
    out->c.items = NULL;
    out->c.raw = p;
    out->c.raw_len = hdr + body;
    *used = hdr + body;
    return 0;
}

static int read_value(const char *p, size_t len, gale_value_t *out, size_t *used, int depth)
{
    if (len < 1) return GALE_ECORRUPT;
    const unsigned char *u = (const unsigned char *)p;
    unsigned char b = u[0];
    out->n = 0;
    if (b <= 0x7f) { out->type = GALE_INT; out->i = b; *used = 1; return 0; }
    if (b >= 0xe0) { out->type = GALE_INT; out->i = (int8_t)b; *used = 1; return 0; }
    if ((b & 0xe0) == 0xa0) {
        size_t n = b & 0x1f;
        if (n > len - 1) return GALE_ECORRUPT;
        out->type = GALE_STR; out->s.ptr = p + 1; out->s.len = n; *used = 1 + n;
        return 0;
    }
    if ((b & 0xe0) == 0x80 || b == 0xdc || b == 0xdd || b == 0xde || b == 0xdf)
        return read_container(p, len, out, used, depth);
    switch (b) {
    case 0xc0: out->type = GALE_NIL; *used = 1; return 0;
    case 0xc2: case 0xc3: out->type = GALE_BOOL; out->b = b == 0xc3; *used = 1; return 0;
    case 0xd9: return read_bytes(u, len, 1, GALE_STR, out, used);
    case 0xda: return read_bytes(u, len, 2, GALE_STR, out, used);
    case 0xdb: return read_bytes(u, len, 4, GALE_STR, out, used);
    case 0xc4: return read_bytes(u, len, 1, GALE_BYTES, out, used);
    case 0xc5: return read_bytes(u, len, 2, GALE_BYTES, out, used);
    case 0xc6: return read_bytes(u, len, 4, GALE_BYTES, out, used);
    case 0xcc: case 0xd0: return read_scalar(u, len, 1, out, used);
    case 0xcd: case 0xd1: return read_scalar(u, len, 2, out, used);
    case 0xce: case 0xd2: case 0xca: return read_scalar(u, len, 4, out, used);
    case 0xcf: case 0xd3: case 0xcb: return read_scalar(u, len, 8, out, used);
    case 0xc1: return GALE_ECORRUPT; /* never used */
    default: return GALE_ENOTSUP; /* ext types */
    }
}

int gale_mp_read(const char *p, size_t len, gale_value_t *out, size_t *used)
{
    return read_value(p, len, out, used, 0);
}

int gale_mp_item(const gale_value_t *c, size_t index, gale_value_t *out)
{
    if (c->type != GALE_ARRAY && c->type != GALE_MAP) return GALE_ETYPE;
    size_t count = c->type == GALE_MAP ? 2 * (size_t)c->n : c->n;
    if (index >= count) return GALE_ERANGE;
    if (c->c.items) {
        *out = c->c.items[index];
        return 0;
    }
    gale_type_t t;
    uint32_t n;
    size_t off;
    int rc = gale_mp_read_container(c->c.raw, c->c.raw_len, &t, &n, &off);
    if (rc) return rc;
    /* The container was validated when it was read, so walking it again cannot fail. */
    for (size_t i = 0;; i++) {
        size_t used;
        rc = gale_mp_read(c->c.raw + off, c->c.raw_len - off, out, &used);
        if (rc || i == index) return rc;
        off += used;
    }
}
