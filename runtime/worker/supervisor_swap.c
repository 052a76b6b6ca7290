/*
 * supervisor_swap.c: a hot swap over the local workers, one at a time (gale_sup_swap). Each worker loads the new
 * plugin, checks it and reopens the component's tasks (worker_swap.h), and answers; the next is asked only then, so
 * that a plugin that breaks breaks one worker's share, and the rest still run the old one. A refusal, a worker that
 * dies or does not answer in time, sends the workers already swapped back to the plugin they had, one at a time,
 * and the swap answers why. Once every worker took it, the component's plugin is noted: a worker started later (a
 * restart) is told before its start.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "supervisor_state.h"
#include "worker_swap.h"

/* A worker answers within the executors' time for it and a little more. */
#define ANSWER_MS (GALE_SWAP_TIMEOUT_MS + 5000)

static const char *committed(const gale_sup_t *s, const char *component)
{
    for (size_t i = 0; i < s->n_swapped; i++)
        if (!strcmp(s->swapped[i].component, component)) return s->swapped[i].path;
    return "-";
}

static void tell_swap(sworker_t *w, const char *component, const char *path)
{
    char text[4352];
    snprintf(text, sizeof text, "%s %s", component, path);
    gale__sup_say(w, &(gale_control_msg_t){.kind = GALE_CTL_SWAP, .text = text});
}

static void finish(gale_sup_t *s, const char *why)
{
    sup_swap_t *sw = &s->swap;
    void (*done)(void *, const char *) = sw->done;
    void *arg = sw->arg;
    if (!why) { /* noted for the workers that start later */
        size_t i = 0;
        while (i < s->n_swapped && strcmp(s->swapped[i].component, sw->component)) i++;
        sup_swapped_t *grown = i < s->n_swapped ? s->swapped : realloc(s->swapped, (i + 1) * sizeof *grown);
        if (grown) {
            s->swapped = grown;
            if (i == s->n_swapped) s->swapped[s->n_swapped++] = (sup_swapped_t){strdup(sw->component), NULL};
            free(s->swapped[i].path);
            s->swapped[i].path = strdup(sw->path);
        }
        gale_logf(GALE_LOG_INFO, "supervisor", "%s: %s runs %s on every local worker", s->id, sw->component, sw->path);
    }
    free(sw->path), free(sw->prev);
    memset(sw, 0, sizeof *sw);
    sw->at = -1;
    if (done) done(arg, why);
}

/* Asks the next worker from `from` on, forward or back; finishes when there is none. */
static void ask_from(gale_sup_t *s, int from)
{
    sup_swap_t *sw = &s->swap;
    if (!sw->back) {
        for (int i = from; i < s->n_local; i++) {
            sworker_t *w = &s->w[i];
            if (!w->running || !w->started) continue; /* it hears it before its start, once noted */
            sw->at = i, sw->asked_ms = uv_now(s->loop);
            return tell_swap(w, sw->component, sw->path);
        }
        /* Workers that started while the swap went on were told the old plugin: tell them the new one too. */
        for (int i = 0; i < s->n_local; i++)
            if (s->w[i].running && s->w[i].started && !s->w[i].swap_done) tell_swap(&s->w[i], sw->component, sw->path);
        return finish(s, NULL);
    }
    for (int i = from; i >= 0; i--) {
        sworker_t *w = &s->w[i];
        if (!w->swap_done || !w->running) continue;
        sw->at = i, sw->asked_ms = uv_now(s->loop);
        return tell_swap(w, sw->component, sw->prev);
    }
    char why[sizeof sw->why];
    snprintf(why, sizeof why, "%s", sw->why);
    finish(s, why);
}

int gale_sup_swap(gale_sup_t *s, const char *component, const char *path, void (*done)(void *arg, const char *why),
                  void *arg)
{
    sup_swap_t *sw = &s->swap;
    if (sw->active || s->state != S_ACTIVE) return GALE_EAGAIN;
    if (!component || !*component || strlen(component) >= sizeof sw->component || strpbrk(component, " \n") || !path ||
        !*path || strchr(path, '\n') || strlen(path) > 4096)
        return GALE_EINVAL;
    sw->path = strdup(path), sw->prev = strdup(committed(s, component));
    if (!sw->path || !sw->prev) {
        free(sw->path), free(sw->prev);
        sw->path = sw->prev = NULL;
        return GALE_ENOMEM;
    }
    sw->active = true, sw->back = false;
    snprintf(sw->component, sizeof sw->component, "%s", component);
    sw->done = done, sw->arg = arg;
    for (int i = 0; i < s->n_local; i++) s->w[i].swap_done = false;
    gale_logf(GALE_LOG_INFO, "supervisor", "%s: swapping %s to %s, one worker at a time", s->id, component, path);
    ask_from(s, 0);
    return 0;
}

void gale__sup_swap_answer(gale_sup_t *s, sworker_t *w, bool done, const char *why)
{
    sup_swap_t *sw = &s->swap;
    int i = (int)(w - s->w);
    if (!sw->active || i != sw->at) return; /* a late answer, or one for a worker told at its start */
    sw->at = -1;
    if (sw->back) {
        if (!done)
            gale_logf(GALE_LOG_ERROR, "supervisor", "%s: worker %d did not go back to %s's plugin: %s", s->id, w->index,
                      sw->component, why);
        w->swap_done = false;
        return ask_from(s, i - 1);
    }
    if (done) {
        w->swap_done = true;
        return ask_from(s, i + 1);
    }
    snprintf(sw->why, sizeof sw->why, "worker %d: %s", w->index, why);
    gale_logf(GALE_LOG_WARN, "supervisor", "%s: swap of %s refused by %s: going back", s->id, sw->component, sw->why);
    sw->back = true;
    ask_from(s, i - 1);
}

void gale__sup_swap_tick(gale_sup_t *s)
{
    sup_swap_t *sw = &s->swap;
    if (!sw->active || sw->at < 0 || uv_now(s->loop) - sw->asked_ms < ANSWER_MS) return;
    char why[64];
    snprintf(why, sizeof why, "no answer in %d s", ANSWER_MS / 1000);
    gale__sup_swap_answer(s, &s->w[sw->at], false, why);
}

void gale__sup_swap_replay(gale_sup_t *s, sworker_t *w)
{
    for (size_t i = 0; i < s->n_swapped; i++) tell_swap(w, s->swapped[i].component, s->swapped[i].path);
}

void gale__sup_swap_abort(gale_sup_t *s, const char *why)
{
    if (s->swap.active) finish(s, why);
}

void gale__sup_swap_free(gale_sup_t *s)
{
    free(s->swap.path), free(s->swap.prev);
    for (size_t i = 0; i < s->n_swapped; i++) free(s->swapped[i].component), free(s->swapped[i].path);
    free(s->swapped);
    s->swapped = NULL, s->n_swapped = 0;
}
