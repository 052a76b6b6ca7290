#include "topo_record.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gale.h"

static const char *const STATUS[] = {"active", "inactive", "killing", "rebalancing"};
#define N_STATUS 4
static const char *const STATE[] = {"starting", "running", "refused", "ended"};

const char *gale_topo_status_name(gale_topo_status_t s) { return (unsigned)s < N_STATUS ? STATUS[s] : "?"; }
const char *gale_topo_state_name(gale_topo_state_t s) { return (unsigned)s < 4 ? STATE[s] : "?"; }

bool gale_topo_name_ok(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n >= GALE_TOPO_NAME_MAX) return false;
    for (size_t i = 0; i < n; i++)
        if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-", name[i])) return false;
    return true;
}

void gale_topo_record_free(gale_topo_record_t *r)
{
    for (size_t i = 0; i < r->n_plugins; i++) free(r->plugins[i].component);
    for (size_t i = 0; i < r->n_resources; i++) free(r->resources[i].component);
    for (int i = 0; r->slots && i < r->workers; i++) free(r->slots[i]);
    free(r->plugins), free(r->resources), free(r->slots);
    memset(r, 0, sizeof *r);
}

int gale_topo_record_add_file(gale_topo_file_t **files, size_t *n, const char *component, const char *sha)
{
    gale_topo_file_t *more = realloc(*files, (*n + 1) * sizeof *more);
    if (!more) return GALE_ENOMEM;
    *files = more;
    gale_topo_file_t *f = &more[*n];
    if (!(f->component = strdup(component))) return GALE_ENOMEM;
    snprintf(f->sha, sizeof f->sha, "%s", sha);
    (*n)++;
    return 0;
}

static int parse_int(const char *v, int64_t min, int64_t max, int64_t *out)
{
    char *end;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (errno || end == v || *end || x < min || x > max) return GALE_EINVAL;
    *out = x;
    return 0;
}

/* "COMPONENT:SHA" into a file entry. */
static int parse_file(const char *v, gale_topo_file_t **files, size_t *n)
{
    const char *colon = strrchr(v, ':');
    if (!colon || colon == v || !gale_blob_digest_ok(colon + 1)) return GALE_EINVAL;
    char component[256];
    if ((size_t)(colon - v) >= sizeof component) return GALE_EINVAL;
    snprintf(component, sizeof component, "%.*s", (int)(colon - v), v);
    return gale_topo_record_add_file(files, n, component, colon + 1);
}

static int parse_line(gale_topo_record_t *r, const char *key, const char *v, int *slot)
{
    int64_t x;
    if (!strcmp(key, "name")) {
        if (!gale_topo_name_ok(v)) return GALE_EINVAL;
        snprintf(r->name, sizeof r->name, "%s", v);
    } else if (!strcmp(key, "status") || !strcmp(key, "after")) {
        int k = 0;
        while (k < N_STATUS && strcmp(v, STATUS[k])) k++;
        if (k == N_STATUS || (key[0] == 'a' && k > GALE_TOPO_INACTIVE)) return GALE_EINVAL;
        *(key[0] == 'a' ? &r->after : &r->status) = (gale_topo_status_t)k;
    } else if (!strcmp(key, "next_workers")) {
        if (parse_int(v, 1, 4096, &x)) return GALE_EINVAL;
        r->next_workers = (int)x;
    } else if (!strcmp(key, "next_tasks")) {
        if (parse_int(v, 1, UINT32_MAX, &x)) return GALE_EINVAL;
        r->next_tasks = (uint32_t)x;
    } else if (!strcmp(key, "next_model")) {
        if (!gale_blob_digest_ok(v)) return GALE_EINVAL;
        snprintf(r->next_model, sizeof r->next_model, "%s", v);
    } else if (!strcmp(key, "version")) {
        if (parse_int(v, 1, INT64_MAX, &r->version)) return GALE_EINVAL;
    } else if (!strcmp(key, "workers")) {
        if (r->slots || parse_int(v, 1, 4096, &x)) return GALE_EINVAL;
        r->workers = (int)x;
        if (!(r->slots = calloc((size_t)r->workers, sizeof *r->slots))) return GALE_ENOMEM;
    } else if (!strcmp(key, "tasks")) {
        if (parse_int(v, 1, UINT32_MAX, &x)) return GALE_EINVAL;
        r->tasks = (uint32_t)x;
    } else if (!strcmp(key, "model") || !strcmp(key, "secret")) {
        if (!gale_blob_digest_ok(v)) return GALE_EINVAL; /* the secret is 32 random bytes in hex, too */
        snprintf(key[0] == 'm' ? r->model : r->secret, sizeof r->model, "%s", v);
    } else if (!strcmp(key, "owner") || !strcmp(key, "users")) {
        char *dst = key[0] == 'o' ? r->owner : r->users;
        size_t cap = key[0] == 'o' ? sizeof r->owner : sizeof r->users;
        if (strlen(v) >= cap) return GALE_EINVAL;
        snprintf(dst, cap, "%s", v);
    } else if (!strcmp(key, "submitted_ms")) {
        if (parse_int(v, 0, INT64_MAX, &x)) return GALE_EINVAL;
        r->submitted_ms = (uint64_t)x;
    } else if (!strcmp(key, "kill_wait_s")) {
        char *end;
        r->kill_wait_s = strtod(v, &end);
        if (end == v || *end || !(r->kill_wait_s >= 0 && r->kill_wait_s <= 86400)) return GALE_EINVAL;
    } else if (!strcmp(key, "swap")) {
        const char *colon = strrchr(v, ':');
        if (!colon || colon == v || (size_t)(colon - v) >= sizeof r->swap_component ||
            (strcmp(colon + 1, "-") && !gale_blob_digest_ok(colon + 1)))
            return GALE_EINVAL;
        snprintf(r->swap_component, sizeof r->swap_component, "%.*s", (int)(colon - v), v);
        snprintf(r->swap_sha, sizeof r->swap_sha, "%s", colon + 1);
    } else if (!strcmp(key, "swap_on")) {
        if (!*v || strlen(v) >= sizeof r->swap_on) return GALE_EINVAL;
        snprintf(r->swap_on, sizeof r->swap_on, "%s", v);
    } else if (!strcmp(key, "plugin")) {
        return parse_file(v, &r->plugins, &r->n_plugins);
    } else if (!strcmp(key, "resource")) {
        return parse_file(v, &r->resources, &r->n_resources);
    } else if (!strcmp(key, "slot")) {
        if (!r->slots || *slot >= r->workers || !*v) return GALE_EINVAL;
        if (!(r->slots[(*slot)++] = strdup(v))) return GALE_ENOMEM;
    }
    /* Other keys are a later gale's: ignored, so that a cluster can be upgraded one process at a time. */
    return 0;
}

int gale_topo_record_parse(const char *text, gale_topo_record_t *out, char *why, size_t cap)
{
    memset(out, 0, sizeof *out);
    int slot = 0, rc = 0, line_no = 0;
    const char *p = text;
    while (*p && !rc) {
        size_t len = strcspn(p, "\n");
        char line[1024];
        line_no++;
        if (len >= sizeof line) rc = GALE_EINVAL;
        snprintf(line, sizeof line, "%.*s", (int)len, p);
        p += len + (p[len] == '\n');
        char *eq = strchr(line, '=');
        if (!rc && !*line) continue;
        if (!rc && !eq) rc = GALE_EINVAL;
        if (!rc) {
            *eq = '\0';
            rc = parse_line(out, line, eq + 1, &slot);
        }
        if (rc) snprintf(why, cap, "line %d: %s%s%.80s", line_no, line, eq ? "=" : "", eq ? eq + 1 : "");
    }
    if (!rc && (!out->name[0] || !out->version || !out->workers || !out->model[0] || !out->secret[0] ||
                slot != out->workers)) {
        snprintf(why, cap, "a key is missing (name, version, workers, model, secret, one slot per worker)");
        rc = GALE_EINVAL;
    }
    if (!rc && out->status == GALE_TOPO_REBALANCING &&
        (!out->next_workers || !out->next_tasks || !out->next_model[0])) {
        snprintf(why, cap, "rebalancing, but next_workers, next_tasks or next_model is missing");
        rc = GALE_EINVAL;
    }
    return rc ? GALE_ECORRUPT : 0;
}

char *gale_topo_record_format(const gale_topo_record_t *r)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f) return NULL;
    fprintf(f, "name=%s\nstatus=%s\nversion=%" PRId64 "\nworkers=%d\ntasks=%u\nmodel=%s\nsecret=%s\n", r->name,
            gale_topo_status_name(r->status), r->version, r->workers, r->tasks, r->model, r->secret);
    fprintf(f, "submitted_ms=%" PRIu64 "\nkill_wait_s=%g\n", r->submitted_ms, r->kill_wait_s);
    if (r->owner[0]) fprintf(f, "owner=%s\n", r->owner);
    if (r->users[0]) fprintf(f, "users=%s\n", r->users);
    for (size_t i = 0; i < r->n_plugins; i++) fprintf(f, "plugin=%s:%s\n", r->plugins[i].component, r->plugins[i].sha);
    for (size_t i = 0; i < r->n_resources; i++)
        fprintf(f, "resource=%s:%s\n", r->resources[i].component, r->resources[i].sha);
    for (int i = 0; i < r->workers; i++) fprintf(f, "slot=%s\n", r->slots[i] ? r->slots[i] : "");
    if (r->swap_component[0]) fprintf(f, "swap=%s:%s\n", r->swap_component, r->swap_sha);
    if (r->swap_component[0] && r->swap_on[0]) fprintf(f, "swap_on=%s\n", r->swap_on);
    if (r->status == GALE_TOPO_REBALANCING)
        fprintf(f, "next_workers=%d\nnext_tasks=%u\nnext_model=%s\nafter=%s\n", r->next_workers, r->next_tasks,
                r->next_model, gale_topo_status_name(r->after));
    if (fclose(f)) {
        free(text);
        return NULL;
    }
    return text;
}

int gale_topo_record_slots_of(const gale_topo_record_t *r, const char *sup, int *slots)
{
    int n = 0;
    for (int i = 0; i < r->workers; i++)
        if (r->slots[i] && !strcmp(r->slots[i], sup)) slots[n++] = i;
    return n;
}

void gale_topo_report_format(const gale_topo_report_t *r, char *buf, size_t cap)
{
    int n = snprintf(buf, cap, "version=%" PRId64 " state=%s", r->version, gale_topo_state_name(r->state));
    if (r->swap[0] && n >= 0 && (size_t)n < cap) n += snprintf(buf + n, cap - (size_t)n, " swap=%s", r->swap);
    if (r->error[0] && n >= 0 && (size_t)n < cap) snprintf(buf + n, cap - (size_t)n, " error=%s", r->error);
    for (char *p = buf; *p; p++)
        if (*p == '\n') *p = ' ';
}

int gale_topo_report_parse(const char *text, gale_topo_report_t *out)
{
    memset(out, 0, sizeof *out);
    char state[16];
    long long version;
    int used = 0;
    if (sscanf(text, "version=%lld state=%15s%n", &version, state, &used) != 2 || version < 1) return GALE_ECORRUPT;
    int k = 0;
    while (k < 4 && strcmp(state, STATE[k])) k++;
    if (k == 4) return GALE_ECORRUPT;
    out->version = version;
    out->state = (gale_topo_state_t)k;
    if (!strncmp(text + used, " swap=", 6)) {
        const char *v = text + used + 6;
        size_t len = strcspn(v, " ");
        if (len >= sizeof out->swap) return GALE_ECORRUPT;
        snprintf(out->swap, sizeof out->swap, "%.*s", (int)len, v);
        used += 6 + (int)len;
    }
    if (!strncmp(text + used, " error=", 7)) snprintf(out->error, sizeof out->error, "%s", text + used + 7);
    return 0;
}
