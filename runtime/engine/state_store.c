/*
 * state_store.c: what every backend of state_store.h shares: the checkpoint record as text, the record of a
 * topology's checkpoint, and the backend a topology's config names, opened.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diag.h"
#include "state_store.h"

/* ---- the record --------------------------------------------------------------------------------------------- */

void gale_checkpoint_record_free(gale_checkpoint_record_t *r)
{
    for (size_t i = 0; i < r->n; i++) free(r->comp[i].name);
    free(r->comp);
    r->comp = NULL;
    r->n = 0;
}

void gale_checkpoint_record_format(const gale_checkpoint_record_t *r, gale_buf_t *out)
{
    gale_buf_printf(out, "gale-checkpoint 1\nid %" PRIu64 "\n%s", r->id, r->final ? "final\n" : "");
    for (size_t i = 0; i < r->n; i++)
        gale_buf_printf(out, "component %s %u\n", r->comp[i].name, r->comp[i].parallelism);
}

int gale_checkpoint_record_parse(const char *p, size_t len, gale_checkpoint_record_t *r, char *why, size_t cap)
{
    const char *end = p + len;
    int line = 0;
    bool version = false, id = false;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl) {
            snprintf(why, cap, "line %d has no end (torn?)", line + 1);
            return GALE_ECORRUPT;
        }
        char text[256];
        size_t n = (size_t)(nl - p);
        line++;
        if (n >= sizeof text) goto bad;
        memcpy(text, p, n);
        text[n] = 0;
        p = nl + 1;
        char name[200];
        unsigned par;
        uint64_t v;
        int used = 0;
        if (line == 1) {
            if (strcmp(text, "gale-checkpoint 1")) {
                snprintf(why, cap, "not a gale checkpoint record (first line \"%.40s\")", text);
                return GALE_ECORRUPT;
            }
            version = true;
        } else if (sscanf(text, "id %" SCNu64 "%n", &v, &used) == 1 && used == (int)n && v > 0) {
            r->id = v;
            id = true;
        } else if (!strcmp(text, "final")) {
            r->final = true;
        } else if (sscanf(text, "component %199s %u%n", name, &par, &used) == 2 && used == (int)n && par > 0) {
            void *nc = realloc(r->comp, (r->n + 1) * sizeof *r->comp);
            if (!nc) return GALE_ENOMEM;
            r->comp = nc;
            if (!(r->comp[r->n].name = strdup(name))) return GALE_ENOMEM;
            r->comp[r->n++].parallelism = par;
        } else {
            goto bad;
        }
        continue;
    bad:
        snprintf(why, cap, "line %d is not \"id N\" or \"component NAME PARALLELISM\"", line);
        return GALE_ECORRUPT;
    }
    if (!version || !id) {
        snprintf(why, cap, "%s", version ? "no id line" : "empty");
        return GALE_ECORRUPT;
    }
    return 0;
}

uint32_t gale_checkpoint_record_parallelism(const gale_checkpoint_record_t *r, const char *name)
{
    for (size_t i = 0; i < r->n; i++)
        if (!strcmp(r->comp[i].name, name)) return r->comp[i].parallelism;
    return 0;
}

int gale_checkpoint_record_of(const gale_topology_t *topo, uint64_t id, bool final, gale_checkpoint_record_t *r)
{
    *r = (gale_checkpoint_record_t){.id = id, .final = final};
    r->comp = calloc(topo->n_components, sizeof *r->comp);
    if (!r->comp) return GALE_ENOMEM;
    for (size_t i = 0; i < topo->n_components; i++) {
        r->comp[i] = (struct gale_checkpoint_component){strdup(topo->components[i].name),
                                                        (uint32_t)topo->components[i].parallelism};
        r->n++;
        if (!r->comp[i].name) {
            gale_checkpoint_record_free(r);
            return GALE_ENOMEM;
        }
    }
    return 0;
}

/* ---- the backend a topology names ----------------------------------------------------------------------------- */

int gale_state_store_open(uv_loop_t *loop, const gale_topology_t *topo, gale_state_store_t **out, char *why, size_t cap)
{
    const gale_config_t *cfg = &topo->config;
    const char *backend = cfg->state_backend ? cfg->state_backend : "file";
    if (!strcmp(backend, "file"))
        return gale_state_file_open(loop, cfg->state_path ? cfg->state_path : GALE_STATE_PATH_DEFAULT, topo->name,
                                    cfg->state_fsync, out, why, cap);
    if (!strcmp(backend, "redis")) return gale_state_redis_open(loop, cfg->state_redis, topo->name, out, why, cap);
    snprintf(why, cap, "no backend is called %s", backend);
    return GALE_ENOTSUP;
}
