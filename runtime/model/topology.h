/*
 * topology.h: the topology model (topology.c), read from a libconfig file (topology_read.c) or made by calls
 * (topology_build.h), then resolved against its plugins (validate.c), and shipped as bytes (topology_codec.h). The
 * model is built once and is read-only from then on; everything that runs (local mode, workers, replay) works
 * from a resolved gale_topology_t.
 *
 * Ownership: a gale_topology_t owns every string, array and plugin handle it points to; gale_topology_free()
 * releases all of it (and unloads the plugins, so free it only after every task is closed).
 */
#ifndef GALE_TOPOLOGY_H
#define GALE_TOPOLOGY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "diag.h"
#include "gale.h"

typedef enum gale_grouping {
    GALE_GROUPING_SHUFFLE = 0,
    GALE_GROUPING_FIELDS,
    GALE_GROUPING_PARTIAL_KEY,
    GALE_GROUPING_ALL,
    GALE_GROUPING_GLOBAL,
    GALE_GROUPING_NONE,
    GALE_GROUPING_DIRECT,
    GALE_GROUPING_LOCAL_OR_SHUFFLE,
} gale_grouping_t;

/* "shuffle" -> GALE_GROUPING_SHUFFLE; returns GALE_ENOENT for an unknown name. */
int gale_grouping_parse(const char *name, gale_grouping_t *out);
const char *gale_grouping_name(gale_grouping_t g);

/* One entry of a component's `settings` group. `value` is an owned tree: strings are NUL-terminated copies,
   containers have `c.items` set (n items, or 2n for a group: key as GALE_STR, then value). */
typedef struct gale_setting {
    char *key;
    gale_value_t value;
    int line;
    char *override; /* the `--set` assignment that gave the value (owned), for errors; NULL: the file did */
} gale_setting_t;

/* A declared output stream, filled by validation from the plugin's descriptor or its `declare`. */
typedef struct gale_stream {
    char *name;
    char **fields;
    size_t n_fields;
    bool direct; /* emitted with emit_direct only, subscribed to with the direct grouping only (Storm's) */
} gale_stream_t;

/* Frees `n` streams and the array (NULL is a no-op). */
void gale_streams_free(gale_stream_t *streams, size_t n);

/* One subscription of a bolt: `inputs = ( { from = ...; stream = ...; grouping = ...; fields = [...]; } )`. */
typedef struct gale_input {
    char *from;         /* component name */
    char *stream;       /* "default" when not given */
    gale_grouping_t grouping;
    char **fields;      /* fields / partial_key groupings */
    size_t n_fields;
    int line;
    /* Resolved by validation: */
    int from_index;     /* index into topology->components */
    int stream_index;   /* index into that component's streams */
    int *field_index;   /* n_fields indexes into the stream's fields */
} gale_input_t;

/* A bolt's window (its block's `window = { ... }`), Storm's BaseWindowedBolt as part of the topology. Lengths and
   slides are in milliseconds for a window of time, in tuples for a window of count. */
typedef enum gale_window_type {
    GALE_WINDOW_NONE = 0,
    GALE_WINDOW_TUMBLING,
    GALE_WINDOW_SLIDING,
    GALE_WINDOW_SESSION,
} gale_window_type_t;

typedef struct gale_window_spec {
    gale_window_type_t type;
    bool by_count;         /* length_count / slide_count: a window of tuples; else of time */
    uint64_t length;       /* ms or tuples */
    uint64_t slide;        /* ms or tuples; a tumbling window's is its length */
    uint64_t gap_ms;       /* session: the silence that closes a session */
    char *timestamp_field; /* event time: the field of each input holding its time (ms); NULL: processing time */
    uint64_t lag_ms;       /* event time: how late a tuple may come (the watermark trails the latest time seen) */
    char *late_stream;     /* event time: the stream too-late tuples are emitted on; NULL: dropped and counted */
    uint64_t watermark_ms; /* event time: how often the tasks feeding the window send their watermark */
    uint64_t max_mb;       /* the most a task's window may hold (GALE_WINDOW_TUPLE_COST per tuple and its data) */
    int line;              /* of the `window` group */
} gale_window_spec_t;

/* The defaults of window.watermark_ms (Flink's auto-watermark interval) and window.max_mb. */
#define GALE_WINDOW_WATERMARK_MS 200
#define GALE_WINDOW_MAX_MB 1024
/* What a window holds for each tuple besides the tuple's own block: the entry of its order and its time. */
#define GALE_WINDOW_ENTRY_BYTES 16
/* The least a window's tuple costs, block (the smallest pool class) and entry: validation's bound of a window of
   count against window.max_mb. */
#define GALE_WINDOW_TUPLE_MIN_BYTES 272

/* Frees the spec's strings and zeroes it. */
void gale_window_spec_free(gale_window_spec_t *w);
/* "tumbling", "sliding", "session" (gale_window_type_t -> name); NULL for none. */
const char *gale_window_type_name(gale_window_type_t t);
/* How long a tuple may stay in the window before it leaves it, in ms (length + slide, + lag for event time; a
   session's gap + lag); 0 for a window of count, which no time bounds. */
uint64_t gale_window_hold_ms(const gale_window_spec_t *w);

typedef struct gale_plugin_handle gale_plugin_handle_t; /* plugin.h */

typedef struct gale_component {
    char *name;
    gale_kind_t kind;
    char *plugin_name; /* as written in the file */
    int parallelism;
    bool replay;       /* spouts: runtime-managed replay (`replay = true;`) */
    int line;          /* line of the component's block */
    int plugin_line;
    gale_setting_t *settings;
    size_t n_settings;
    gale_input_t *inputs;
    size_t n_inputs;
    /* Bolts: the interval of tick tuples in seconds, 0 for none: the block's own `tick_s`, else config.tick_s
       (Storm's topology.tick.tuple.freq.secs). Spouts: 0. Negative only while a model is made: not given. */
    double tick_s;
    char *plugin_path; /* a model read back (topology_codec.h): the file to load, until its plugin is attached */
    gale_window_spec_t window; /* bolts: its window; type GALE_WINDOW_NONE: none */
    /* Resolved by validation: */
    gale_plugin_handle_t *plugin;
    gale_stream_t *streams;
    size_t n_streams;
    uint32_t first_task; /* task ids first_task .. first_task + parallelism - 1 */
} gale_component_t;

/* Topology-wide settings (`config = { ... }`). Their defaults and ranges are in topology.c's table of keys
   (gale_config_defaults); the comments say what they mean. */
typedef struct gale_config {
    int ackers;               /* acker tasks; 0: no tracking */
    int message_timeout_s;    /* a tree not completed in this time fails */
    int max_spout_pending;    /* open trees per spout task; 0: unbounded */
    int workers;              /* worker processes */
    int threads;              /* executor threads per process; 0: one per core (shared out among workers) */
    int max_retries;          /* replays of a failed tree (spouts with replay) */
    int retry_backoff_ms;     /* the first replay's wait, doubling */
    int retry_backoff_max_ms; /* up to this */
    int worker_timeout_s;     /* a worker silent this long is killed and restarted */
    int drain_timeout_s;      /* how long a stop waits for the tuples in flight before the finishes */
    int metrics_interval_s;   /* worker mode: how often a worker reports its figures to its supervisor */
    char *journal;            /* NULL: no failed-tuple journal */
    bool journal_fsync;       /* fsync after each record */
    char *journal_key;        /* NULL: records in clear; else the key file that seals each record */
    char *users;              /* cluster mode: "NAME,NAME", users (certificate names) who may change it as its
                                 owner may; NULL: its owner and the admins only */
    double tick_s;            /* bolts' tick tuple interval unless their block gives one; 0: none */
    int checkpoint_interval_ms; /* how often a checkpoint starts; 0: none */
    int checkpoint_timeout_s;   /* a checkpoint not complete by then is abandoned */
    char *state_backend;        /* where checkpoints go: NULL or "file" (the file backend), "redis" */
    char *state_path;           /* the file backend's folder; NULL: GALE_STATE_PATH_DEFAULT */
    bool state_fsync;           /* the file backend fsyncs each file and folder */
    int state_key_groups;       /* key groups of keyed state: the most tasks a stateful component may have */
    char *state_redis;          /* the Redis backend's server, HOST:PORT; NULL: 127.0.0.1:6379 */
} gale_config_t;

#define GALE_STATE_PATH_DEFAULT "gale-state"

typedef struct gale_topology {
    char *file; /* the path as given */
    char *dir;  /* its folder, for relative plugin paths and files */
    char *name;
    gale_config_t config;
    gale_component_t *components; /* spouts first, then bolts, each in file order */
    size_t n_components;
    /* Resolved by validation: */
    int *order;       /* component indexes in topological order (spouts first) */
    uint32_t n_tasks; /* task ids run from 1 to n_tasks */
} gale_topology_t;

void gale_topology_free(gale_topology_t *topo); /* NULL is a no-op */
/* Numbers the tasks: each component's first_task, in file order from 1, and n_tasks (Storm's task ids). Loading
   does it, so that a topology whose plugins are not loaded here (a daemon's) knows its tasks too. */
void gale_topology_number_tasks(gale_topology_t *topo);

/* Every topology-wide setting at its default (journal: none), from the one table of config keys. */
void gale_config_defaults(gale_config_t *c);
/* The i-th config key: its name, type ("int", "bool", "string", "double") and default; false past the last. */
bool gale_config_key_info(size_t i, const char **name, const char **type, long *def);

/* Lookups; -1 / NULL when absent. */
int gale_topology_find(const gale_topology_t *topo, const char *component);
/* The component that runs task `task` (a topology task id, not an acker's). */
const gale_component_t *gale_topology_task_component(const gale_topology_t *topo, uint32_t task);
const gale_setting_t *gale_component_setting(const gale_component_t *c, const char *key);
int gale_component_stream(const gale_component_t *c, const char *stream);

/* ---- for the code that makes models (the reader, the builder, the codec), not for their users ---------------- */

typedef enum gale__key_type { GALE__KEY_INT, GALE__KEY_BOOL, GALE__KEY_STRING, GALE__KEY_DOUBLE } gale__key_type_t;

/* One row of the table of config keys: the field of gale_config_t it sets, its range (numbers) and default, and
   the name Storm gives the same setting, when it means the same. */
typedef struct gale__config_key {
    const char *name;
    gale__key_type_t type;
    size_t offset; /* into gale_config_t */
    long min, max;
    long def;          /* numbers and bools; a string's default is none */
    const char *storm; /* "topology.workers", or NULL */
    const char *const *choices; /* a string key's allowed words, NULL-terminated; NULL: any string */
} gale__config_key_t;

/* The row named `name`, or NULL. */
const gale__config_key_t *gale__config_key(const char *name);
/* The row whose Storm name is `storm` ("topology.max.spout.pending"), or NULL. */
const gale__config_key_t *gale__config_storm_key(const char *storm);
/* The i-th row, or NULL past the last. */
const gale__config_key_t *gale__config_key_at(size_t i);

/* Sets the field of row `k` from `v` after checking its type and range. 0; or GALE_EINVAL (GALE_ENOMEM) with the
   reason in `why`, worded to follow "config.KEY " ("must be an integer (got a string)"), and the field unchanged.
   `got` names what was given for that message (NULL: named from v's type). Strings are copied; "" is none. */
int gale__config_set(gale_config_t *cfg, const gale__config_key_t *k, const gale_value_t *v, const char *got,
                     char *why, size_t cap);

/* Sets each component's tick interval from its own (a negative one: not given) and config.tick_s; spouts get 0. */
void gale__topology_inherit_ticks(gale_topology_t *topo);

/* Whether `name` may name a component: [A-Za-z0-9_.-]+, not starting with "__" (the runtime's own). */
bool gale__name_ok(const char *name);

/* Frees an owned value tree (see gale_setting_t) and zeroes it. */
void gale__value_free(gale_value_t *v);
/* Deep-copies `src` into *out as an owned tree (strings NUL-terminated). GALE_EINVAL for bytes or a map key that
   is not a string, GALE_ENOMEM; on failure *out is nil and nothing is held. */
int gale__value_copy(const gale_value_t *src, gale_value_t *out);

#endif
