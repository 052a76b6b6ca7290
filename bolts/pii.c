/*
 * pii: finds personal data in string fields and protects it before it goes further: e-mail addresses, phone
 * numbers, payment card numbers (Luhn-checked), IBANs (mod-97-checked), IPv4 and IPv6 addresses, and patterns of
 * the user's own (PCRE2). Each input is emitted with the same fields, what was found replaced as its kind's action
 * says.
 *
 *   fields    (list)     the fields to look in (default: every string field of the input)
 *   detect    (list)     the built-in kinds to look for (default: all): email, phone, card, iban, ipv4, ipv6
 *   patterns  (group)    kinds of the user's own: name = "PCRE2 pattern" (a name is 1 to 24 of a-z, 0-9, _)
 *   actions   (group)    per kind (or `default`, for the rest) what to do with a match:
 *                          "mask"   keep the last `mask_keep` letters and digits (never more than half of
 *                                   them), the others become '*', the separators stay: "************1111",
 *                                   "****-****-****-1111"
 *                          "redact" "[EMAIL]", "[CARD]", ... (the default)
 *                          "hash"   KIND_ and 24 hex digits of HMAC-SHA256(key, KIND:the match normalised):
 *                                   a pseudonym that is the same on every worker and every run with the same key,
 *                                   so that joins and fields groupings still work (card and phone numbers are
 *                                   normalised to their digits, e-mail addresses to lower case, IBANs to upper
 *                                   case without spaces)
 *                          "drop"   the whole field becomes nil
 *   mask_keep (int, 4)   see mask
 *   key_file  (string)   the HMAC key (at least 16 bytes), required by "hash": a regular file readable by its
 *                        owner only (a key file others can read is refused); the key is wiped from memory at the end
 *   key_create (false)   make key_file when it is missing: 32 bytes from the system's random source, mode 600 (on
 *                        one host: workers on others would each make their own, and their pseudonyms would differ)
 *   audit     (bool)     also emit, on stream "pii_audit", one tuple per change: id (the `audit_id` field's value,
 *                        or nil), field, kind, start, length (bytes, in the text as it came), action. Never a value
 *   audit_id  (string)   the input field that identifies a tuple in the audit stream
 *
 * Metrics: pii_KIND, the matches of each kind. A basic bolt: its emits are anchored to the input, which is acked
 * when execute returns. No allocation per tuple once warm: the changed texts go into a buffer of the task's.
 */
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fields.h"
#include "gale.h"
#include "base/keyfile.h"
#include "pii_detect.h"

#define MAX_KINDS 16 /* built-ins and patterns; each has a metric, and a task has at most 16 (GALE_METRICS_MAX) */
#define MAX_SPANS 256
#define KEY_MIN 16
#define KEY_MAX 4096

typedef enum action { ACT_REDACT, ACT_MASK, ACT_HASH, ACT_DROP } action_t;
static const char *const ACTION_NAMES[] = {"redact", "mask", "hash", "drop"};

typedef struct kind {
    char name[32];
    int builtin; /* pii_builtin_t, or -1 for a pattern of the user's */
    pcre2_code *re;
    action_t action;
    gale_metric_t *found;
} kind_t;

typedef struct state {
    kind_t kinds[MAX_KINDS];
    size_t n_kinds;
    pcre2_match_data *md;
    char **fields; /* NULL: every string field */
    size_t n_fields;
    int64_t mask_keep;
    bool audit;
    const char *audit_id;
    unsigned char key[KEY_MAX];
    size_t key_len;
    EVP_MAC *mac;
    EVP_MAC_CTX *mac_ctx;
    /* per tuple, reused */
    gale_value_t *values;
    size_t cap_values;
    char *buf;
    size_t cap_buf;
    size_t *offs; /* where each changed field's text starts in buf, and its length */
    size_t *lens;
    pii_span_t spans[MAX_SPANS];
    fields_seen_t seen; /* the input stream whose field indexes are in `pick` */
    bool *pick;
    size_t cap_pick;
    size_t audit_at;
} state_t;

static void free_state(state_t *s)
{
    if (!s) return;
    for (size_t i = 0; i < s->n_kinds; i++) pcre2_code_free(s->kinds[i].re);
    pcre2_match_data_free(s->md);
    for (size_t i = 0; i < s->n_fields; i++) free(s->fields[i]);
    free(s->fields);
    EVP_MAC_CTX_free(s->mac_ctx);
    EVP_MAC_free(s->mac);
    OPENSSL_cleanse(s->key, sizeof s->key);
    free(s->values), free(s->buf), free(s->offs), free(s->lens), free(s->pick);
    free(s);
}

static bool name_ok(const char *p, size_t n)
{
    if (!n || n > 24 || !(p[0] >= 'a' && p[0] <= 'z')) return false;
    for (size_t i = 0; i < n; i++)
        if (!((p[i] >= 'a' && p[i] <= 'z') || (p[i] >= '0' && p[i] <= '9') || p[i] == '_')) return false;
    return true;
}

static int add_kind(gale_ctx_t *ctx, state_t *s, const char *name, size_t len, int builtin, const char *pattern)
{
    if (s->n_kinds == MAX_KINDS) {
        gale_error(ctx, "settings.patterns: at most %d kinds with the built-ins", MAX_KINDS);
        return GALE_EINVAL;
    }
    for (size_t i = 0; i < s->n_kinds; i++)
        if (strlen(s->kinds[i].name) == len && !memcmp(s->kinds[i].name, name, len)) {
            gale_error(ctx, "settings: the kind '%.*s' is named twice", (int)len, name);
            return GALE_EINVAL;
        }
    kind_t *k = &s->kinds[s->n_kinds];
    snprintf(k->name, sizeof k->name, "%.*s", (int)len, name);
    k->builtin = builtin;
    char why[200];
    if (!(k->re = pii_compile(pattern, why, sizeof why))) {
        gale_error(ctx, "settings.patterns.%s: not a PCRE2 pattern %s", k->name, why);
        return GALE_EINVAL;
    }
    s->n_kinds++;
    return 0;
}

/* key_create: a new key of 32 random bytes at `path` when there is none (keyfile.h). */
static int create_key(gale_ctx_t *ctx, const char *path)
{
    char why[4200];
    bool made;
    int rc = gale_keyfile_create(path, 32, &made, why, sizeof why);
    if (rc) gale_error(ctx, "settings.key_file: %s", why);
    else if (made) gale_info(ctx, "%s: a new key (pseudonyms stay the same as long as it does)", path);
    return rc;
}

/* The key file: keyfile.h's rule, of KEY_MIN to KEY_MAX - 1 bytes. */
static int read_key(gale_ctx_t *ctx, state_t *s, const char *path)
{
    char why[4200];
    int rc = gale_keyfile_read(path, s->key, sizeof s->key, KEY_MIN, KEY_MAX - 1, &s->key_len, why, sizeof why);
    if (rc) gale_error(ctx, "settings.key_file: %s", why);
    return rc;
}

/* Every setting, checked, each error naming it; *out is the caller's (free_state). `declaring`: a missing key file
   that key_create will make is not read (prepare makes it). */
static int read_settings(gale_ctx_t *ctx, state_t **out, bool declaring)
{
    state_t *s = calloc(1, sizeof *s);
    if (!s) return GALE_ENOMEM;
    int rc = 0;
    gale_value_t v;
    /* User patterns first: they win where they overlap a built-in. */
    if (gale_setting(ctx, "patterns", &v) == 0) {
        if (v.type != GALE_MAP) {
            gale_error(ctx, "settings.patterns: a group, such as patterns = { employee = \"E-[0-9]{6}\"; };");
            rc = GALE_EINVAL;
        }
        for (uint32_t i = 0; !rc && i < v.n; i++) {
            gale_value_t k, p;
            gale_item(ctx, &v, 2 * i, &k);
            gale_item(ctx, &v, 2 * i + 1, &p);
            char pattern[1024];
            if (!name_ok(k.s.ptr, k.s.len)) {
                gale_error(ctx, "settings.patterns: '%.*s' is not 1 to 24 of a-z, 0-9, _ (a letter first)",
                           (int)k.s.len, k.s.ptr);
                rc = GALE_EINVAL;
            } else if (p.type != GALE_STR || !p.s.len || p.s.len >= sizeof pattern) {
                gale_error(ctx, "settings.patterns.%.*s: a pattern of 1 to 1023 bytes", (int)k.s.len, k.s.ptr);
                rc = GALE_EINVAL;
            } else {
                memcpy(pattern, p.s.ptr, p.s.len);
                pattern[p.s.len] = '\0';
                rc = add_kind(ctx, s, k.s.ptr, k.s.len, -1, pattern);
            }
        }
    }
    bool want[PII_N_BUILTIN];
    bool listed = !rc && gale_setting(ctx, "detect", &v) == 0;
    for (int b = 0; b < PII_N_BUILTIN; b++) want[b] = !listed;
    if (listed && v.type != GALE_ARRAY) {
        gale_error(ctx, "settings.detect: a list, such as [ \"email\", \"card\" ]");
        rc = GALE_EINVAL;
    }
    for (uint32_t i = 0; listed && !rc && i < v.n; i++) {
        gale_value_t item;
        gale_item(ctx, &v, i, &item);
        int b = 0;
        while (b < PII_N_BUILTIN && !(item.type == GALE_STR && strlen(PII_BUILTINS[b].name) == item.s.len &&
                                      !memcmp(PII_BUILTINS[b].name, item.s.ptr, item.s.len)))
            b++;
        if (b == PII_N_BUILTIN) {
            gale_error(ctx, "settings.detect: '%.*s' is not email, phone, card, iban, ipv4 or ipv6",
                       item.type == GALE_STR ? (int)item.s.len : 1, item.type == GALE_STR ? item.s.ptr : "?");
            rc = GALE_EINVAL;
        } else want[b] = true;
    }
    for (int b = 0; !rc && b < PII_N_BUILTIN; b++)
        if (want[b])
            rc = add_kind(ctx, s, PII_BUILTINS[b].name, strlen(PII_BUILTINS[b].name), b, PII_BUILTINS[b].pattern);
    /* actions: a kind's own, else `default`, else redact. */
    action_t dflt = ACT_REDACT;
    bool any_hash = false;
    if (!rc && gale_setting(ctx, "actions", &v) == 0) {
        if (v.type != GALE_MAP) {
            gale_error(ctx, "settings.actions: a group, such as actions = { card = \"mask\"; default = \"hash\"; };");
            rc = GALE_EINVAL;
        }
        for (int pass = 0; pass < 2 && !rc; pass++) /* `default` first, then each kind's own over it */
            for (uint32_t i = 0; !rc && i < v.n; i++) {
                gale_value_t k, a;
                gale_item(ctx, &v, 2 * i, &k);
                gale_item(ctx, &v, 2 * i + 1, &a);
                bool is_default = k.s.len == 7 && !memcmp(k.s.ptr, "default", 7);
                if (is_default != (pass == 0)) continue;
                int act = 0;
                while (act < 4 && !(a.type == GALE_STR && strlen(ACTION_NAMES[act]) == a.s.len &&
                                    !memcmp(ACTION_NAMES[act], a.s.ptr, a.s.len)))
                    act++;
                if (act == 4) {
                    gale_error(ctx, "settings.actions.%.*s: mask, redact, hash or drop", (int)k.s.len, k.s.ptr);
                    rc = GALE_EINVAL;
                    break;
                }
                if (is_default) {
                    dflt = (action_t)act;
                    for (size_t n = 0; n < s->n_kinds; n++) s->kinds[n].action = dflt;
                    continue;
                }
                size_t n = 0;
                while (n < s->n_kinds &&
                       !(strlen(s->kinds[n].name) == k.s.len && !memcmp(s->kinds[n].name, k.s.ptr, k.s.len)))
                    n++;
                if (n == s->n_kinds) {
                    gale_error(ctx, "settings.actions: '%.*s' is not a kind this bolt looks for", (int)k.s.len,
                               k.s.ptr);
                    rc = GALE_EINVAL;
                } else s->kinds[n].action = (action_t)act;
            }
    }
    for (size_t n = 0; n < s->n_kinds; n++) any_hash |= s->kinds[n].action == ACT_HASH;
    s->mask_keep = gale_setting_int(ctx, "mask_keep", 4);
    if (!rc && (s->mask_keep < 0 || s->mask_keep > 64)) {
        gale_error(ctx, "settings.mask_keep: 0 to 64");
        rc = GALE_EINVAL;
    }
    const char *key_file = gale_setting_str(ctx, "key_file", NULL);
    if (!rc && any_hash && !key_file) {
        gale_error(ctx,
                   "settings.key_file: required by the \"hash\" action (a file of at least %d random bytes, "
                   "mode 600)",
                   KEY_MIN);
        rc = GALE_EINVAL;
    }
    bool create = gale_setting_bool(ctx, "key_create", false);
    if (!rc && key_file && create && !declaring) rc = create_key(ctx, key_file);
    if (!rc && key_file && !(create && declaring && access(key_file, F_OK) != 0)) rc = read_key(ctx, s, key_file);
    if (!rc && gale_setting(ctx, "fields", &v) == 0) {
        if (v.type != GALE_ARRAY || !v.n) {
            gale_error(ctx, "settings.fields: a list of field names");
            rc = GALE_EINVAL;
        } else if (!(s->fields = calloc(v.n, sizeof *s->fields))) rc = GALE_ENOMEM;
        for (uint32_t i = 0; !rc && i < v.n; i++) {
            gale_value_t item;
            gale_item(ctx, &v, i, &item);
            if (item.type != GALE_STR || !(s->fields[s->n_fields++] = strndup(item.s.ptr, item.s.len)))
                rc = GALE_EINVAL;
        }
    }
    s->audit = gale_setting_bool(ctx, "audit", false);
    s->audit_id = gale_setting_str(ctx, "audit_id", NULL);
    if (rc) {
        free_state(s);
        return rc;
    }
    *out = s;
    return 0;
}

static const char *const AUDIT_FIELDS[] = {"id", "field", "kind", "start", "length", "action"};

/* Its input's fields, unchanged in name; and the audit stream when asked. Each named field must be in every input. */
static int declare(gale_ctx_t *ctx)
{
    state_t *s;
    int rc = read_settings(ctx, &s, true);
    if (rc) return rc;
    const char *const *fields = NULL;
    size_t n = 0;
    if (gale_input_count(ctx) < 1 || gale_input_fields(ctx, 0, &fields, &n)) rc = GALE_EINVAL;
    for (size_t k = 0; !rc && k < s->n_fields; k++) rc = inputs_have_field(ctx, s->fields[k], "fields");
    if (!rc && s->audit_id) rc = inputs_have_field(ctx, s->audit_id, "audit_id");
    if (!rc) rc = gale_declare_stream(ctx, "default", fields, n);
    if (!rc && s->audit) rc = gale_declare_stream(ctx, "pii_audit", AUDIT_FIELDS, 6);
    free_state(s);
    return rc;
}

static int prepare(gale_ctx_t *ctx)
{
    state_t *s;
    int rc = read_settings(ctx, &s, false);
    if (rc) return rc;
    s->md = pcre2_match_data_create(4, NULL);
    if (!s->md) rc = GALE_ENOMEM;
    for (size_t i = 0; !rc && i < s->n_kinds; i++) {
        char metric[40];
        snprintf(metric, sizeof metric, "pii_%s", s->kinds[i].name);
        s->kinds[i].found = gale_counter(ctx, metric);
    }
    if (!rc && s->key_len) {
        OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0),
                               OSSL_PARAM_construct_end()};
        s->mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
        s->mac_ctx = s->mac ? EVP_MAC_CTX_new(s->mac) : NULL;
        if (!s->mac_ctx || !EVP_MAC_init(s->mac_ctx, s->key, s->key_len, params)) {
            gale_error(ctx, "OpenSSL's HMAC-SHA256 is not available");
            rc = GALE_EINVAL;
        }
    }
    if (rc) {
        free_state(s);
        return rc;
    }
    ctx->state = s;
    return 0;
}

/* The spans of every kind in text[0..n), in order, none overlapping (an earlier kind wins); how many. */
static size_t find(state_t *s, const char *text, size_t n)
{
    size_t count = 0;
    for (size_t k = 0; k < s->n_kinds; k++) {
        kind_t *kd = &s->kinds[k];
        PCRE2_SIZE at = 0;
        while (at < n && count < MAX_SPANS) {
            int m = pcre2_match(kd->re, (PCRE2_SPTR)text, n, at, 0, s->md, NULL);
            if (m < 0) break;
            PCRE2_SIZE *ov = pcre2_get_ovector_pointer(s->md);
            size_t start = ov[0], len = ov[1] - ov[0];
            at = ov[1] > ov[0] ? ov[1] : ov[0] + 1;
            if (!len || (kd->builtin >= 0 && !pii_builtin_ok((pii_builtin_t)kd->builtin, text + start, &len))) continue;
            bool overlaps = false;
            for (size_t i = 0; i < count && !overlaps; i++)
                overlaps = start < s->spans[i].start + s->spans[i].len && s->spans[i].start < start + len;
            if (overlaps) continue;
            s->spans[count++] = (pii_span_t){start, len, (int)k};
        }
    }
    for (size_t i = 1; i < count; i++) /* insertion sort by start: few spans */
        for (size_t j = i; j > 0 && s->spans[j - 1].start > s->spans[j].start; j--) {
            pii_span_t t = s->spans[j];
            s->spans[j] = s->spans[j - 1];
            s->spans[j - 1] = t;
        }
    return count;
}

static bool grow(char **buf, size_t *cap, size_t need)
{
    if (need <= *cap && *buf) return true; /* allocated even for 0 bytes: memcpy wants a real pointer */
    size_t c = *cap ? *cap : 1024;
    while (c < need) c *= 2;
    char *p = realloc(*buf, c);
    if (!p) return false;
    *buf = p, *cap = c;
    return true;
}

/* The text a match becomes, appended at s->buf + *used (room made first). */
static int replace(state_t *s, const kind_t *k, const char *p, size_t n, size_t *used)
{
    if (!grow(&s->buf, &s->cap_buf, *used + n + 64)) return GALE_ENOMEM;
    char *out = s->buf + *used;
    if (k->action == ACT_REDACT) {
        size_t w = 0;
        out[w++] = '[';
        for (const char *c = k->name; *c; c++) out[w++] = (char)toupper((unsigned char)*c);
        out[w++] = ']';
        *used += w;
        return 0;
    }
    if (k->action == ACT_MASK) {
        /* The last mask_keep letters and digits stay, but never more than half of them. */
        size_t alnum = 0, idx = 0;
        for (size_t i = 0; i < n; i++) alnum += isalnum((unsigned char)p[i]) != 0;
        size_t keep = (size_t)s->mask_keep < alnum / 2 ? (size_t)s->mask_keep : alnum / 2;
        for (size_t i = 0; i < n; i++) out[i] = isalnum((unsigned char)p[i]) && idx++ < alnum - keep ? '*' : p[i];
        *used += n;
        return 0;
    }
    /* hash: HMAC over "KIND:" and the normalised match */
    char norm[600];
    size_t m = (size_t)snprintf(norm, sizeof norm, "%s:", k->name);
    for (size_t i = 0; i < n && m < sizeof norm; i++) {
        char c = p[i];
        if (k->builtin == PII_CARD || k->builtin == PII_PHONE) {
            if ((c >= '0' && c <= '9') || c == '+') norm[m++] = c;
        } else if (k->builtin == PII_EMAIL || k->builtin == PII_IPV6) norm[m++] = (char)tolower((unsigned char)c);
        else if (k->builtin == PII_IBAN) {
            if (c != ' ') norm[m++] = (char)toupper((unsigned char)c);
        } else norm[m++] = c;
    }
    unsigned char mac[EVP_MAX_MD_SIZE];
    size_t mac_len = 0;
    EVP_MAC_CTX *c = EVP_MAC_CTX_dup(s->mac_ctx); /* keyed once in prepare; a copy per value */
    if (!c || !EVP_MAC_update(c, (const unsigned char *)norm, m) || !EVP_MAC_final(c, mac, &mac_len, sizeof mac)) {
        EVP_MAC_CTX_free(c);
        return GALE_EIO;
    }
    EVP_MAC_CTX_free(c);
    size_t w = (size_t)snprintf(out, 32, "%s_", k->name);
    for (size_t i = 0; i < 12; i++) w += (size_t)snprintf(out + w, 3, "%02x", mac[i]);
    *used += w;
    return 0;
}

/* Which of the input's fields to look in (by its stream's names, looked up again only when the stream changes). */
static int pick_fields(gale_ctx_t *ctx, state_t *s, const gale_tuple_t *in, size_t n)
{
    const char *const *names;
    size_t m;
    if (!fields_changed(ctx, &s->seen, in, &names, &m) && n <= s->cap_pick) return 0;
    if (n > s->cap_pick) {
        bool *p = realloc(s->pick, n * sizeof *p);
        if (!p) return GALE_ENOMEM;
        s->pick = p, s->cap_pick = n;
    }
    for (size_t i = 0; i < n; i++) s->pick[i] = !s->fields;
    for (size_t k = 0; s->fields && k < s->n_fields; k++) {
        size_t i = field_index(names, m, s->fields[k]);
        if (i < n) s->pick[i] = true;
    }
    s->audit_at = s->audit_id && field_index(names, m, s->audit_id) < m ? field_index(names, m, s->audit_id) : SIZE_MAX;
    return 0;
}

static int audit(gale_ctx_t *ctx, state_t *s, const gale_tuple_t *in, const char *field, const pii_span_t *sp)
{
    gale_value_t id = gale_nil();
    if (s->audit_at != SIZE_MAX) gale_get(ctx, in, s->audit_at, &id);
    const kind_t *k = &s->kinds[sp->kind];
    gale_value_t v[6] = {id,
                         gale_str(field),
                         gale_str(k->name),
                         gale_int((int64_t)sp->start),
                         gale_int((int64_t)sp->len),
                         gale_str(ACTION_NAMES[k->action])};
    return gale_emit_stream(ctx, "pii_audit", v, 6);
}

static int execute(gale_ctx_t *ctx, const gale_tuple_t *in)
{
    state_t *s = ctx->state;
    size_t n = gale_tuple_size(ctx, in);
    if (n > s->cap_values) {
        gale_value_t *v = realloc(s->values, n * sizeof *v);
        size_t *o = realloc(s->offs, n * sizeof *o), *l = o ? realloc(s->lens, n * sizeof *l) : NULL;
        if (v) s->values = v;
        if (o) s->offs = o;
        if (l) s->lens = l;
        if (!v || !o || !l) return GALE_ENOMEM;
        s->cap_values = n;
    }
    int rc = pick_fields(ctx, s, in, n);
    if (rc) return rc;
    const char *const *names;
    size_t n_names;
    gale_tuple_fields(ctx, in, &names, &n_names);
    size_t used = 0;
    for (size_t i = 0; i < n; i++) {
        gale_get(ctx, in, i, &s->values[i]);
        s->lens[i] = SIZE_MAX; /* unchanged */
        const gale_value_t *v = &s->values[i];
        if (!s->pick[i] || v->type != GALE_STR || !v->s.len) continue;
        size_t found = find(s, v->s.ptr, v->s.len);
        if (!found) continue;
        bool drop = false;
        size_t start = used, at = 0;
        for (size_t f = 0; f < found; f++) {
            const pii_span_t *sp = &s->spans[f];
            kind_t *k = &s->kinds[sp->kind];
            gale_counter_add(ctx, k->found, 1);
            if (s->audit && (rc = audit(ctx, s, in, i < n_names ? names[i] : "?", sp))) return rc;
            if (k->action == ACT_DROP) drop = true;
            if (drop) continue;
            if (!grow(&s->buf, &s->cap_buf, used + (sp->start - at))) return GALE_ENOMEM;
            memcpy(s->buf + used, v->s.ptr + at, sp->start - at);
            used += sp->start - at;
            if ((rc = replace(s, k, v->s.ptr + sp->start, sp->len, &used))) return rc;
            at = sp->start + sp->len;
        }
        if (drop) {
            s->values[i] = gale_nil();
            used = start;
            continue;
        }
        if (!grow(&s->buf, &s->cap_buf, used + (v->s.len - at))) return GALE_ENOMEM;
        memcpy(s->buf + used, v->s.ptr + at, v->s.len - at);
        used += v->s.len - at;
        s->offs[i] = start;
        s->lens[i] = used - start;
    }
    /* buf may have moved while it grew: the changed texts are pointed at only now. */
    for (size_t i = 0; i < n; i++)
        if (s->lens[i] != SIZE_MAX) s->values[i] = gale_strn(s->buf + s->offs[i], s->lens[i]);
    return gale_emit(ctx, s->values, n);
}

static void cleanup(gale_ctx_t *ctx) { free_state(ctx->state); }

static const gale_setting_decl_t settings[] = {
    {"fields", GALE_SETTING_LIST, "the fields to look in (default: every string field)"},
    {"detect", GALE_SETTING_LIST, "built-in kinds: email, phone, card, iban, ipv4, ipv6 (default: all)"},
    {"patterns", GALE_SETTING_GROUP, "kinds of your own: name = \"PCRE2 pattern\""},
    {"actions", GALE_SETTING_GROUP, "per kind or `default`: mask, redact (default), hash, drop"},
    {"mask_keep", GALE_SETTING_INT, "mask: the letters and digits kept at the end (4)"},
    {"key_file", GALE_SETTING_STRING, "hash: the HMAC key's file, mode 600, at least 16 bytes"},
    {"key_create", GALE_SETTING_BOOL, "make key_file (32 random bytes, mode 600) when it is missing (false)"},
    {"audit", GALE_SETTING_BOOL, "emit each change on stream pii_audit (false)"},
    {"audit_id", GALE_SETTING_STRING, "the input field that names a tuple in the audit stream"},
    {NULL, 0, NULL},
};

GALE_PLUGIN(.kind = GALE_BOLT, .name = "pii", .description = "finds and protects personal data in string fields",
            .flags = GALE_BOLT_BASIC, .settings = settings, .declare = declare,
            .bolt = {.prepare = prepare, .execute = execute, .cleanup = cleanup});
