/* fail_reason.c: see fail_reason.h. */
#include "fail_reason.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "gale.h"

#define PROBE 8 /* slots an id may take, from its home on */

typedef struct slot {
    uint32_t id; /* 0: empty */
    char *text;
} slot_t;

struct gale_reasons {
    pthread_mutex_t mu;
    uint32_t prefix, next;
    slot_t slots[GALE_REASONS_MAX];
};

int gale_reasons_new(int worker_index, gale_reasons_t **out)
{
    gale_reasons_t *r = calloc(1, sizeof *r);
    if (!r) return GALE_ENOMEM;
    pthread_mutex_init(&r->mu, NULL);
    r->prefix = ((uint32_t)worker_index & 0xfffu) << 20;
    r->next = 1;
    *out = r;
    return 0;
}

void gale_reasons_free(gale_reasons_t *r)
{
    if (!r) return;
    for (size_t i = 0; i < GALE_REASONS_MAX; i++) free(r->slots[i].text);
    pthread_mutex_destroy(&r->mu);
    free(r);
}

static char *copy(const char *text, size_t len)
{
    if (len > GALE_REASON_MAX_LEN) len = GALE_REASON_MAX_LEN;
    char *c = malloc(len + 1);
    if (!c) return NULL;
    memcpy(c, text, len);
    c[len] = '\0';
    return c;
}

/* Where id's probe starts: a multiplicative hash, so that the ids of several workers (the same counters under
   other prefixes) spread over the table rather than meet in one slot. */
static size_t home(uint32_t id) { return (size_t)((id * 2654435761u) >> 20) % GALE_REASONS_MAX; }

/* Under the lock: `text` (owned) into an empty slot of id's probe window, else over its first slot. */
static void place(gale_reasons_t *r, uint32_t id, char *text)
{
    size_t h = home(id);
    slot_t *s = &r->slots[h];
    for (size_t k = 0; k < PROBE; k++) {
        slot_t *c = &r->slots[(h + k) % GALE_REASONS_MAX];
        if (!c->id || c->id == id) {
            s = c;
            break;
        }
    }
    free(s->text);
    s->id = id;
    s->text = text;
}

uint32_t gale_reasons_put(gale_reasons_t *r, const char *text, size_t len)
{
    char *c = copy(text, len);
    if (!c) return 0;
    pthread_mutex_lock(&r->mu);
    uint32_t id = r->prefix | r->next;
    r->next = r->next == 0xfffffu ? 1 : r->next + 1; /* never 0, which is "no reason" */
    place(r, id, c);
    pthread_mutex_unlock(&r->mu);
    return id;
}

void gale_reasons_put_id(gale_reasons_t *r, uint32_t id, const char *text, size_t len)
{
    char *c = id ? copy(text, len) : NULL;
    if (!c) return;
    pthread_mutex_lock(&r->mu);
    place(r, id, c);
    pthread_mutex_unlock(&r->mu);
}

char *gale_reasons_take(gale_reasons_t *r, uint32_t id)
{
    if (!id) return NULL;
    pthread_mutex_lock(&r->mu);
    char *text = NULL;
    size_t h = home(id);
    for (size_t k = 0; k < PROBE && !text; k++) {
        slot_t *s = &r->slots[(h + k) % GALE_REASONS_MAX];
        if (s->id != id) continue;
        text = s->text;
        s->id = 0;
        s->text = NULL;
    }
    pthread_mutex_unlock(&r->mu);
    return text;
}
