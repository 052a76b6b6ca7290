/*
 * kafka_common.h: what the Kafka spout (spouts/kafka.c) and sink (bolts/kafka_sink.c) do alike with librdkafka.
 * Each plugin is one shared object of its own, so these are static functions compiled into both.
 *
 * The plugin's state, given to librdkafka as its opaque, must start with its task's context (`gale_ctx_t *ctx`):
 * the log callback reads it there.
 */
#ifndef GALE_KAFKA_COMMON_H
#define GALE_KAFKA_COMMON_H

#include <dlfcn.h>
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <string.h>

#include "gale.h"

/* One librdkafka property: 0, or GALE_EINVAL with librdkafka's reason logged after `what` (the setting) and key. */
static int kafka_conf_set(gale_ctx_t *ctx, rd_kafka_conf_t *c, const char *key, const char *value, const char *what)
{
    char err[512];
    if (rd_kafka_conf_set(c, key, value, err, sizeof err) == RD_KAFKA_CONF_OK) return 0;
    gale_error(ctx, "%s%s: %s", what, key, err);
    return GALE_EINVAL;
}

/* The `properties` setting, a list of "name=value" strings (libconfig names cannot hold librdkafka's dots), set
   on `c` after what the plugin set, so that they override it. 0 when absent. */
static int kafka_conf_properties(gale_ctx_t *ctx, rd_kafka_conf_t *c)
{
    gale_value_t props, item;
    if (gale_setting(ctx, "properties", &props)) return 0;
    for (uint32_t i = 0; i < (props.type == GALE_ARRAY ? props.n : 1); i++) {
        const char *eq = NULL;
        if (props.type == GALE_ARRAY && !gale_item(ctx, &props, i, &item) && item.type == GALE_STR)
            eq = memchr(item.s.ptr, '=', item.s.len);
        if (!eq || eq == item.s.ptr) {
            gale_error(ctx, "settings.properties: want a list of \"name=value\" strings (librdkafka's)");
            return GALE_EINVAL;
        }
        char key[256], value[512];
        snprintf(key, sizeof key, "%.*s", (int)(eq - item.s.ptr), item.s.ptr);
        snprintf(value, sizeof value, "%.*s", (int)(item.s.len - (size_t)(eq + 1 - item.s.ptr)), eq + 1);
        int rc = kafka_conf_set(ctx, c, key, value, "settings.properties: ");
        if (rc) return rc;
    }
    return 0;
}

/* librdkafka's log, through the queue the task serves (log.queue), into gale's log. */
static void kafka_on_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    gale_ctx_t *ctx = *(gale_ctx_t *const *)rd_kafka_opaque(rk);
    gale_log(ctx,
             level <= 3   ? GALE_LOG_ERROR
             : level <= 5 ? GALE_LOG_WARN
                          : GALE_LOG_DEBUG,
             "librdkafka %s: %s", fac, buf);
}

/* From librdkafka's threads: something came to a queue that was empty. The task takes it on its own thread. */
static void kafka_on_queue(rd_kafka_t *rk, void *opaque)
{
    (void)rk;
    gale_wake(opaque);
}

/* process_init: librdkafka keeps process-wide state (its global init, allocations its globals point to) and is
   not made to be unloaded and loaded again. Pinned, it stays mapped when the plugin is unloaded at the end of a
   run or in a hot swap (a leak checker would otherwise see its globals' memory as lost). */
static int kafka_pin_library(const gale_process_info_t *info)
{
    if (!dlopen("librdkafka.so.1", RTLD_NOW | RTLD_NOLOAD | RTLD_NODELETE))
        info->log(info, GALE_LOG_WARN, "cannot pin librdkafka in memory: %s", dlerror());
    return 0;
}

#endif
