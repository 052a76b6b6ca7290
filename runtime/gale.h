/*
 * gale.h: the one header a gale plugin includes.
 *
 * A plugin is a shared object that exports one constant descriptor, `gale_plugin`, made with GALE_PLUGIN().
 * It links nothing of the runtime: every call into gale goes through the table of host functions reached from
 * the context each callback receives (`ctx->host`), so the same .so runs in local mode, in worker processes and
 * in `gale replay` unchanged. The inline helpers at the end of this file are the friendly way to call it.
 *
 * Contracts, in one place:
 *  - Threads. All callbacks of one task are called on one executor thread, never concurrently. Different tasks
 *    of the same plugin may run on different threads at once: keep state in `ctx->state`, not in globals.
 *  - Borrowed input. The tuple passed to `execute` and every string or container view read from it stay valid
 *    until `execute` returns. A bolt that wants to ack or fail an input later calls gale_keep() in `execute`;
 *    a kept tuple stays valid until it is acked or failed.
 *  - Copied output. Emit copies (encodes) the values it is given; the caller keeps ownership of its buffers.
 *  - Exactly once. Every input of a bolt is acked or failed once (a GALE_BOLT_BASIC bolt has it done for it).
 *    `close`/`cleanup` are called once after a successful `open`/`prepare`, never after a failed one.
 *  - Errors. Functions return 0 or a negative GALE_E* code; gale_strerror() says it, gale_err_name() names it.
 *  - Phases. Which host calls a callback may make (the runtime enforces it and returns what the last column says):
 *
 *      callback                         emit  done  ack fail  keep  reset_timeout  declare_stream,
 *                                                                                    declare_direct_stream
 *      declare                           -     -     -    -     -       -              yes
 *      spout open, bolt prepare          -     -     -    -     -       -              -
 *      spout activate, next_tuple,      yes   yes    -    -     -       -              -
 *        ack, fail, deactivate
 *      bolt execute                     yes    -    yes  yes   yes     yes             -
 *      bolt finish                      yes    -    yes  yes    -      yes             -
 *      spout close, bolt cleanup         -     -     -    -     -       -              -
 *      a call marked "-"               ESTATE ignored ESTATE   NULL  ESTATE          ESTATE
 *
 *    In a bolt, ack, fail, reset_timeout and anchors take the input being executed or a kept one (gale_keep(),
 *    only in execute); in finish, only kept ones. Every other host function may be called from any callback:
 *    settings, input_count and input_fields (the model, read-only), task_info (in declare, a task id of 0), log,
 *    strerror, err_name, to_json, item, and the tuple readers on a tuple that is still valid. From a thread of
 *    the plugin's own, only gale_wake() may be called; `service`, which it asks for, may do what next_tuple
 *    (spouts) or finish (bolts) may. gale_replayable() may be called only from a spout's open (ESTATE elsewhere),
 *    gale_reject() only where a spout may emit, gale_from_json() from any callback but declare.
 *  - Replayable sources. A spout whose source can rewind (a file, a Kafka partition) calls gale_replayable() in
 *    open and emits with message ids that are positions in the source. When its process dies (worker mode), the
 *    task is started again from the oldest position whose tree had not completed, so that nothing emitted is
 *    lost; without it, the trees a dead spout had open are counted as lost and the run ends non-zero.
 *  - Process hooks (process_init, process_exit in the descriptor) get no context and call no host function.
 *
 * ABI: the major version changes when anything here changes incompatibly and the runtime refuses a plugin of
 * another major. Within a major, the host table only grows at its end; `host->size` tells a plugin built for a
 * newer minor whether a function exists (GALE_HOST_HAS()). The structs that cross the boundary carry their size
 * and grow at their end too, so a plugin built for an older minor runs unchanged (see "Structs that cross").
 */
#ifndef GALE_H
#define GALE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define GALE_ABI_MAJOR 2
#define GALE_ABI_MINOR 6

/* Error codes: 0 is success, every failure is negative. Those that mirror errno keep errno's (Linux) value. */
#define GALE_ERRNO_MAP(X)                                               \
    X(EPERM, -1, "not permitted")                                       \
    X(ENOENT, -2, "not found")                                          \
    X(EIO, -5, "input/output error")                                    \
    X(EAGAIN, -11, "resource temporarily unavailable")                  \
    X(ENOMEM, -12, "out of memory")                                     \
    X(EEXIST, -17, "already exists")                                    \
    X(EINVAL, -22, "invalid argument")                                  \
    X(ERANGE, -34, "out of range")                                      \
    X(ETIMEDOUT, -110, "timed out")                                     \
    X(ENOTSUP, -95, "not supported")                                    \
    X(ETYPE, -1001, "value of the wrong type")                          \
    X(EABI, -1002, "plugin ABI mismatch")                               \
    X(ESYNTAX, -1003, "syntax error")                                   \
    X(EFIELDS, -1004, "value count does not match the declared fields") \
    X(ESTREAM, -1005, "stream not declared")                            \
    X(ESTATE, -1006, "call not allowed now")                            \
    X(ECORRUPT, -1007, "corrupt data")                                  \
    X(ELIMIT, -1008, "limit exceeded")                                  \
    X(EPLUGIN, -1009, "plugin failed")                                  \
    X(ETOPOLOGY, -1010, "invalid topology")                             \
    X(EINCOMPLETE, -1011, "stopped with work not done")

typedef enum {
    GALE_OK = 0,
#define GALE__ERR_ENUM(name, value, text) GALE_##name = (value),
    GALE_ERRNO_MAP(GALE__ERR_ENUM)
#undef GALE__ERR_ENUM
} gale_error_t;

/* ---- values ---------------------------------------------------------------------------------------------- */

typedef enum gale_type {
    GALE_NIL = 0,
    GALE_BOOL,
    GALE_INT,    /* int64_t  */
    GALE_UINT,   /* uint64_t: only for values above INT64_MAX when read back from a tuple */
    GALE_DOUBLE,
    GALE_STR,    /* UTF-8 text, `s.ptr`/`s.len`, not NUL-terminated when read from a tuple */
    GALE_BYTES,  /* raw bytes, `s.ptr`/`s.len` */
    GALE_ARRAY,  /* `n` items */
    GALE_MAP,    /* `n` key/value pairs */
} gale_type_t;

/*
 * One value. Strings and containers are views: a value never owns memory.
 * Containers come in two forms. A plugin that builds one for emit sets `c.items` (n items for an array, 2n for a
 * map: key, value, key, value ...; NULL when n is 0). A container read from a tuple has `c.items == NULL` and its
 * encoded form in `c.raw`/`c.raw_len`; read its items with gale_item(). Both forms can be emitted, and emitting a
 * container that was read copies its bytes without decoding them.
 */
typedef struct gale_value {
    gale_type_t type;
    uint32_t n; /* items of an array, pairs of a map */
    union {
        bool b;
        int64_t i;
        uint64_t u;
        double d;
        struct {
            const char *ptr;
            size_t len;
        } s;
        struct {
            const struct gale_value *items;
            const char *raw;
            size_t raw_len;
        } c;
    };
} gale_value_t;

/* ---- plugin-facing types --------------------------------------------------------------------------------- */

typedef struct gale_host gale_host_t;
/* A metric a plugin registered (ABI 2.2): opaque; see gale_host_t.metric. */
typedef struct gale_metric gale_metric_t;
typedef enum gale_metric_kind { GALE_METRIC_COUNTER = 1, GALE_METRIC_GAUGE, GALE_METRIC_HISTOGRAM } gale_metric_kind_t;
#define GALE_METRIC_NAME_MAX 48
#define GALE_METRICS_MAX 16             /* per task */
typedef struct gale_tuple gale_tuple_t; /* opaque: read it through the host functions */

/* The context of one task. Its first two fields are public and stable; the runtime keeps more behind them. */
typedef struct gale_ctx {
    const gale_host_t *host;
    void *state; /* the plugin's own per-task state; the runtime never touches it */
} gale_ctx_t;

typedef enum gale_kind { GALE_SPOUT = 1, GALE_BOLT = 2 } gale_kind_t;

typedef enum gale_log_level { GALE_LOG_DEBUG = 0, GALE_LOG_INFO, GALE_LOG_WARN, GALE_LOG_ERROR } gale_log_level_t;

/*
 * Structs that cross the boundary carry their size, so that a later minor can add fields at their end. The
 * plugin's size is set for it: GALE_PLUGIN() fills the descriptor's `size` and the element sizes of its stream
 * and setting tables, the gale_emit*() helpers and gale_task_info() fill theirs. The runtime reads a field only
 * when the size says it is there (GALE_STRUCT_HAS), and zero stands for a field a plugin's struct lacks.
 */
#define GALE_STRUCT_HAS(p, type, field) ((p)->size >= offsetof(type, field) + sizeof(((type *)0)->field))

/* A declared output stream: its name and its fields, both NULL-terminated where they are lists. The runtime steps
   through a table of them by the descriptor's `stream_decl_size`.
   `direct` (ABI 2.1; Storm's declareStream(id, direct, fields)): the stream is emitted with gale_emit_direct() only,
   and subscribed to with the `direct` grouping only; `gale validate` refuses any other mix. It reads as false in a
   table built for ABI 2.0. The usual `{"name", fields}` entries leave it false: inside GALE_PLUGIN() (C) and in
   C++ they compile without -Wmissing-field-initializers; a C table written outside GALE_PLUGIN() gets that warning
   from -Wextra unless it names its fields (`{.name = "n", .fields = f}`) or gives the bool. */
typedef struct gale_stream_decl {
    const char *name;
    const char *const *fields;
#if defined(__cplusplus) && __cplusplus >= 201402L
    bool direct = false; /* the same layout; positional `{"name", fields}` entries get no warning */
#else
    bool direct;
#endif
} gale_stream_decl_t;

/* Types a setting may be declared with. GALE_SETTING_DOUBLE also accepts an integer. */
typedef enum gale_setting_type {
    GALE_SETTING_INT = 1,
    GALE_SETTING_DOUBLE,
    GALE_SETTING_BOOL,
    GALE_SETTING_STRING,
    GALE_SETTING_LIST, /* a list or array of scalars */
    GALE_SETTING_GROUP,
    GALE_SETTING_ANY,
} gale_setting_type_t;

/* A setting the plugin accepts: `gale validate` checks the topology's settings against this table, stepping through
   it by the descriptor's `setting_decl_size`. */
typedef struct gale_setting_decl {
    const char *name;
    gale_setting_type_t type;
    const char *help;
} gale_setting_decl_t;

/* What gale_task_info() reports. Set `size` (the wrapper does): the runtime fills only the fields that fit. */
typedef struct {
    uint32_t size;         /* sizeof(gale_task_info_t) as the plugin was built */
    const char *topology;  /* topology name */
    const char *component; /* this component's name */
    uint32_t task_id;      /* topology-wide task id, from 1 */
    uint32_t task_index;   /* 0 .. parallelism-1 within the component */
    uint32_t parallelism;  /* tasks of this component */
    /* ABI 2.3: config.checkpoint_interval_ms, 0 when the topology takes no checkpoints (a plugin whose output
       commits on checkpoints needs them) */
    uint32_t checkpoint_interval_ms;
} gale_task_info_t;

/* Flags of a descriptor. */
enum {
    /* Bolt: like Storm's IBasicBolt. Emits in `execute` are anchored to the input, and the input is acked when
       `execute` returns 0, failed when it returns an error. */
    GALE_BOLT_BASIC = 1u << 0,
    /* Spout: the runtime keeps the values of each open tree and re-emits them on fail (see `replay`). */
    GALE_SPOUT_REPLAY = 1u << 1,
    /* Spout, ABI 2.5: its source itself gives the task's next life every record whose tree was not done (a Kafka
       consumer group's committed offsets, moved past acked records only). Its trees open in a worker process that
       dies are then not lost: the supervisor counts them as emitted again, as it does a replayable spout's
       (gale_replayable), instead of reporting the run incomplete. A gale older than 2.5 ignores the flag. */
    GALE_SPOUT_REWINDS = 1u << 2,
};

/*
 * What a plugin's process_init is told. Borrowed for the call; the strings live until process_exit returns.
 * `log` writes a log line attributed to the plugin (there is no task yet, hence no context).
 */
typedef struct gale_process_info {
    uint32_t size;         /* sizeof(gale_process_info_t) as the runtime was built: read later fields by it */
    const char *topology;  /* topology name */
    const char *plugin;    /* the descriptor's name */
    uint32_t worker_index; /* this process among the topology's workers: 0 .. worker_count-1 */
    uint32_t worker_count; /* 1 in local mode and in `gale replay` */
    void (*log)(const struct gale_process_info *info, gale_log_level_t level, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
} gale_process_info_t;

typedef struct gale_spout_ops {
    int (*open)(gale_ctx_t *ctx);          /* may set ctx->state; an error stops the topology */
    int (*next_tuple)(gale_ctx_t *ctx);    /* emit zero or more tuples; do not block */
    void (*ack)(gale_ctx_t *ctx, uint64_t msg_id);
    void (*fail)(gale_ctx_t *ctx, uint64_t msg_id);
    void (*activate)(gale_ctx_t *ctx);
    void (*deactivate)(gale_ctx_t *ctx);
    void (*close)(gale_ctx_t *ctx);
} gale_spout_ops_t;

/*
 * ABI 2.4: one window of a windowed bolt (its block's `window = { ... }`; Storm's TupleWindow), given to the
 * plugin's execute_window. Everything here is borrowed until execute_window returns. The tuples are in window
 * order: by timestamp for event time (ties in arrival order), by arrival otherwise. `added` and `expired` let a
 * plugin keep an aggregate of a long window without walking all of it (Storm's getNew and getExpired): the
 * aggregate of the previous window, plus `added`, minus `expired`, is this window's.
 * The runtime keeps a window's tuples and acks each when it has left its last window (fails it instead if an
 * execute_window over it returned an error); a plugin never acks or fails them itself. An emit in execute_window
 * with no anchors is anchored to every tuple of `tuples`, as Storm's windowed collector does; explicit anchors
 * may be any of `tuples` and `expired`.
 */
typedef struct gale_window {
    uint32_t size;                     /* sizeof(gale_window_t) as the runtime was built */
    const gale_tuple_t *const *tuples; /* the window's tuples, in window order */
    size_t n_tuples;
    const gale_tuple_t *const *added; /* the last n_added of `tuples`: those no earlier window had */
    size_t n_added;
    const gale_tuple_t *const *expired; /* tuples that left the windows since the last call (already acked) */
    size_t n_expired;
    /* The window's span, [start, end): milliseconds since the epoch for a window of time (event time: of the
       timestamp field; processing time: of the tuples' arrival), tuple numbers at this task (from 0, in arrival
       order) for a window of count. A session's end is its last tuple's time plus gap_ms. */
    int64_t start, end;
    /* The watermark that closed the window: event time's (the timestamps below it are late), the clock's, or the
       tuple count; INT64_MAX when the end of the input closed it. */
    int64_t watermark;
} gale_window_t;

typedef struct gale_bolt_ops {
    int (*prepare)(gale_ctx_t *ctx);
    /* `input` is borrowed until return (see gale_keep). A non-zero return is logged against the task and, for a
       GALE_BOLT_BASIC bolt, fails the input. */
    int (*execute)(gale_ctx_t *ctx, const gale_tuple_t *input);
    /* Optional: called once when every spout is exhausted (or the topology is stopped) and every tuple upstream
       of this bolt is processed, in topological order; may emit (final counts, say). */
    int (*finish)(gale_ctx_t *ctx);
    void (*cleanup)(gale_ctx_t *ctx);
} gale_bolt_ops_t;

/*
 * The descriptor. Constant data, read by the runtime and by `gale validate` before any plugin code runs.
 * Output streams come from `streams` or, when they depend on the settings or the inputs, from `declare`
 * (which may only call the settings, input-fields, declare_stream and declare_direct_stream host functions).
 */
typedef struct gale_plugin {
    uint32_t abi_major;
    uint32_t abi_minor;
    uint32_t size;              /* sizeof(gale_plugin_t) as the plugin was built */
    uint32_t stream_decl_size;  /* sizeof(gale_stream_decl_t) as built; 0 in a descriptor written out by hand:
                                   this header's */
    uint32_t setting_decl_size; /* sizeof(gale_setting_decl_t), likewise */
    gale_kind_t kind;
    const char *name;
    const char *description;
    uint32_t flags;
    const gale_stream_decl_t *streams;   /* terminated by {NULL}; NULL or empty: declares nothing */
    int (*declare)(gale_ctx_t *ctx);     /* optional */
    const gale_setting_decl_t *settings; /* terminated by {NULL}; NULL: any setting is accepted */
    gale_spout_ops_t spout;
    gale_bolt_ops_t bolt;

    /* Optional fields: a descriptor may end before any of them (its size says where), and they read as zero. */

    /* Process hooks, both optional: where a client, a connection pool or a loaded model shared by the plugin's
       tasks in a process lives. process_init is called once in each process that runs tasks of this plugin (the
       `gale run` process in local mode, each worker process, `gale replay`), before the first open/prepare of any
       of them, on the thread that runs the topology; an error stops the run, naming the plugin, as a failing open
       does, and its process_exit is then not called. process_exit is called once after the last close/cleanup of
       those tasks, unless a task is stuck in a call. A plugin used by several components is initialised once.
       Neither gets a context: no host function may be called from them. */
    int (*process_init)(const gale_process_info_t *info);
    void (*process_exit)(void);

    /* Optional: work that arrives from a thread of the plugin's own (a client library's callback, a socket it
       reads). That thread calls gale_wake(ctx); soon after, the task's executor calls `service` on its own thread,
       in the run phase, where it may call what next_tuple (a spout) or finish (a bolt: emits are unanchored)
       may. Several wakes before it runs make one call. It returns how much it did (0: nothing, which does not
       count as activity when the run drains; a negative code is logged against the task). */
    int (*service)(gale_ctx_t *ctx);

    /* ABI 2.3, optional: checkpoints (config.checkpoint_interval_ms), Storm's IStatefulComponent hooks, for a plugin
       that keeps state outside gale_state_* or has effects outside the topology (a sink's file). On the task's
       thread, in the run phase, where it may call what finish (bolts) or next_tuple (spouts) may.
       prepare_commit: checkpoint `checkpoint`'s barriers reached the task, and every input before them was
       executed: put into the state what it must hold (a spout: its position; a plugin with a structure of its
       own: that structure), or close a batch of output; its state is then snapshotted. An error fails the
       checkpoint (logged; the run goes on and the next one is tried).
       commit: the checkpoint is complete (every task of the topology stored it): make its output visible.
       rollback: the checkpoint will never complete (a task or the backend failed it): what prepare_commit set
       aside for it belongs to the next one. */
    int (*prepare_commit)(gale_ctx_t *ctx, uint64_t checkpoint);
    void (*commit)(gale_ctx_t *ctx, uint64_t checkpoint);
    void (*rollback)(gale_ctx_t *ctx, uint64_t checkpoint);

    /* ABI 2.4, bolts: a window of the bolt's input fired (gale_window_t). A bolt whose block in the topology has a
       `window` must have it; its inputs then never reach `execute` (which it may leave NULL). Called on the task's
       thread in the run phase, where it may call what execute may, except gale_keep, ack and fail. An error is
       logged against the task, and every tuple of the window is failed when it leaves the windows. */
    int (*execute_window)(gale_ctx_t *ctx, const gale_window_t *window);
} gale_plugin_t;

#define GALE_PLUGIN_SYMBOL "gale_plugin"

/*
 * Export the descriptor: `GALE_PLUGIN(.kind = GALE_BOLT, .name = "split", .bolt = {...})`.
 * From C++ (C++20, for designated initialisers) the descriptor gets C linkage and, since a namespace-scope const
 * has internal linkage there, an explicit `extern`; designators must then follow the order of gale_plugin_t's
 * fields, and the stream and setting tables are arrays of their own rather than compound literals.
 */
#define GALE__PLUGIN_SIZES                                                                                     \
    .abi_major = GALE_ABI_MAJOR, .abi_minor = GALE_ABI_MINOR, .size = sizeof(gale_plugin_t),                   \
    .stream_decl_size = sizeof(gale_stream_decl_t), .setting_decl_size = sizeof(gale_setting_decl_t)
#ifdef __cplusplus
#define GALE_PLUGIN(...)                                                                                       \
    extern "C" {                                                                                               \
    __attribute__((visibility("default"))) extern const gale_plugin_t gale_plugin;                             \
    }                                                                                                          \
    _Pragma("GCC diagnostic push") _Pragma("GCC diagnostic ignored \"-Wmissing-field-initializers\"")         \
    extern "C" __attribute__((visibility("default"))) const gale_plugin_t gale_plugin = {                      \
        GALE__PLUGIN_SIZES, __VA_ARGS__};                                                                      \
    _Pragma("GCC diagnostic pop")
#else
/* The warning is off for the descriptor alone, so that stream tables written in it as `{"name", fields}` (without
   ABI 2.1's `direct`) compile under -Wextra; the _Static_assert takes the `;` that follows GALE_PLUGIN(...). */
#define GALE_PLUGIN(...)                                                                                            \
    _Pragma("GCC diagnostic push") _Pragma("GCC diagnostic ignored \"-Wmissing-field-initializers\"")               \
        __attribute__((visibility("default"))) const gale_plugin_t gale_plugin = {GALE__PLUGIN_SIZES, __VA_ARGS__}; \
    _Pragma("GCC diagnostic pop") _Static_assert(1, "GALE_PLUGIN")
#endif

/* What to emit. Zero-initialise, set `size` to sizeof(gale_emit_t) and fill what applies (emit refuses a size
   below ABI 2.0's with GALE_EINVAL); gale_emit() and friends below do that for the usual cases. */
typedef struct {
    uint32_t size;
    const char *stream;           /* NULL: "default" */
    const gale_value_t *values;   /* copied */
    size_t n_values;              /* must equal the stream's declared field count */
    /* Bolts: the inputs this tuple is anchored to (its tree parents). Ignored by GALE_BOLT_BASIC bolts in
       `execute`, which anchor to the current input. */
    const gale_tuple_t *const *anchors;
    size_t n_anchors;
    /* Spouts: a message id starts a tracked tuple tree; ack/fail(msg_id) are called when it completes. */
    bool has_msg_id;
    uint64_t msg_id;
    /* emit_direct: the target task id. The stream must be declared direct (and so subscribed to with the `direct`
       grouping only); `direct` on a stream that is not, or a plain emit on one that is, is refused with
       GALE_ESTREAM and counted (and logged, rate-limited) as an error of the task. */
    bool direct;
    uint32_t direct_task;
    /* Optional: filled with the task ids the tuple was sent to (up to tasks_cap; *n_tasks gets the total). */
    uint32_t *tasks;
    size_t tasks_cap;
    size_t *n_tasks;
} gale_emit_t;

/* The host table. Append only; read `size` before calling a function added after GALE_ABI_MINOR 0. */
struct gale_host {
    uint32_t size;
    uint32_t abi_minor;

    /* Emitting and acking. */
    int (*emit)(gale_ctx_t *ctx, const gale_emit_t *e);
    int (*ack)(gale_ctx_t *ctx, const gale_tuple_t *input);
    int (*fail)(gale_ctx_t *ctx, const gale_tuple_t *input);
    /* Keep `input` valid after `execute` returns, until it is acked or failed. Returns the pointer to use from
       then on (NULL when out of memory). */
    const gale_tuple_t *(*keep)(gale_ctx_t *ctx, const gale_tuple_t *input);
    /* Spouts: no more tuples will come. The runtime stops calling next_tuple; when every spout is done and all
       tuples are processed, bolts are finished and the topology ends. */
    void (*done)(gale_ctx_t *ctx);

    /* Reading tuples. Views stay valid as long as the tuple does. */
    size_t (*tuple_size)(const gale_tuple_t *t);
    int (*tuple_get)(const gale_tuple_t *t, size_t index, gale_value_t *out);
    int (*tuple_field)(const gale_tuple_t *t, const char *field, gale_value_t *out);
    const char *(*tuple_stream)(const gale_tuple_t *t);
    const char *(*tuple_component)(const gale_tuple_t *t); /* the component that emitted it */
    uint32_t (*tuple_task)(const gale_tuple_t *t);         /* the task that emitted it */
    /* The declared field names of the tuple's stream; `*fields` lives as long as the topology. */
    void (*tuple_fields)(const gale_tuple_t *t, const char *const **fields, size_t *n_fields);
    /* Item `index` of a container read from a tuple or a setting (of a map: 2*i is a key, 2*i+1 its value). */
    int (*item)(const gale_value_t *container, size_t index, gale_value_t *out);

    /* Settings of this component (the `settings` group of its block in the topology file). Strings read from
       settings are NUL-terminated. Returns GALE_ENOENT when the key is absent. */
    int (*setting)(gale_ctx_t *ctx, const char *key, gale_value_t *out);

    /* Declaring (only from `declare`; elsewhere GALE_ESTATE). A stream name once: GALE_EEXIST for a second
       declaration; NULL is "default". A direct stream (ABI 2.1) is declared with declare_direct_stream, at the end
       of the table. */
    int (*declare_stream)(gale_ctx_t *ctx, const char *stream, const char *const *fields, size_t n_fields);
    size_t (*input_count)(gale_ctx_t *ctx);
    /* Fields of input `index` (the stream it subscribes to); `*fields` is borrowed until `declare` returns. */
    int (*input_fields)(gale_ctx_t *ctx, size_t index, const char *const **fields, size_t *n_fields);

    /* Task info and logging. Log lines carry the time, level, component and task. */
    void (*task_info)(gale_ctx_t *ctx, gale_task_info_t *out);
    void (*log)(gale_ctx_t *ctx, gale_log_level_t level, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
    const char *(*strerror)(int err);

    /* Restarts the timeout of every tuple tree `input` belongs to (Storm's resetTimeout), for a bolt that works on
       one input longer than message_timeout_s. */
    int (*reset_timeout)(gale_ctx_t *ctx, const gale_tuple_t *input);

    /* `v` as JSON text (strings escaped, bytes as base64, non-finite doubles as null). Writes at most `cap` bytes,
       NUL-terminated, and returns the length the whole text needs, as snprintf does. */
    size_t (*to_json)(const gale_value_t *v, char *buf, size_t cap);

    /* The name of a GALE_E* code ("GALE_ENOENT"; "GALE_E?" for a code that is not one), for logs and tests. */
    const char *(*err_name)(int err);

    /* The one host function that may be called from any thread: asks for the plugin's `service` to run on the
       task's executor soon. Allowed from the moment open/prepare is called until close/cleanup returns (a plugin
       stops its threads there); cheap when repeated, never blocks. GALE_ENOTSUP when the plugin has no `service`
       or the task does not run on an executor (`gale replay --component`), GALE_ESTATE from `declare`. */
    int (*wake)(gale_ctx_t *ctx);

    /* ABI 2.1. */

    /* As declare_stream, but the stream is direct (Storm's declareStream(id, true, fields)): it is emitted
       with gale_emit_direct() only and subscribed to with the `direct` grouping only. */
    int (*declare_direct_stream)(gale_ctx_t *ctx, const char *stream, const char *const *fields, size_t n_fields);

    /* Spouts, in `open` only (GALE_ESTATE elsewhere): this task's source can rewind, and its message ids are
       positions in it (a line number, an offset), under a promise: each first emit's message id is above the
       last one's and below 2^64-1, and the spout never emits a message id again by itself (the runtime's
       `replay` does, or the tree fails for good). The runtime then keeps the task's resume position: the
       smallest message id of its open trees and of those waiting for a replay, else the next one. When the
       worker process running the task dies and the task starts again, this returns 0 and that position in
       *resume_from: emit from the first message id >= it (tuples acked after it in the previous life come
       again: at least once, not exactly once). GALE_ENOENT on a first start, GALE_ENOTSUP with acking off (no
       trees, no positions): start from the beginning of the source. A task that breaks the promise gets an
       error in the log and is no longer replayable (its open trees count as lost if its worker dies). */
    int (*replayable)(gale_ctx_t *ctx, uint64_t *resume_from);

    /* ABI 2.2. */

    /* A metric of the plugin's own (Storm's metrics v2: registerCounter, registerGauge, registerHistogram),
       reported with the task's built-in figures wherever they go: the REST API, Prometheus's /metrics, the
       `--stats` JSON, merged over workers and hosts. `name` is 1 to GALE_METRIC_NAME_MAX characters of [a-z0-9_]
       starting with a letter, one kind across the topology (it names a Prometheus family). Registering the same
       name and kind again returns the same metric. From the task's thread (usually in open or prepare); NULL for
       a bad name, a name of another kind, more than GALE_METRICS_MAX metrics in the task (each logged), or a task
       that keeps no figures (`gale replay --component`). Then update it from the task's thread only: a plain
       store, no lock, cheap enough for every tuple. */
    gale_metric_t *(*metric)(gale_ctx_t *ctx, const char *name, gale_metric_kind_t kind);
    void (*counter_add)(gale_metric_t *m, uint64_t n);          /* counters: += n */
    void (*gauge_set)(gale_metric_t *m, double value);          /* gauges: the value now */
    void (*histogram_record)(gale_metric_t *m, uint64_t value); /* histograms: one observation (any unit) */

    /* ABI 2.3: the task's key-value state (Storm's KeyValueState, Flink's keyed state). Keys and values are gale
       values, copied in; a value read back is a view (a container in its raw form: read it with gale_item), valid
       until the next put or delete of this task's state. With config.checkpoint_interval_ms the state is part of
       every checkpoint and comes back after a crash as the last complete checkpoint had it, before open or
       prepare; without, it lives as long as the task. A key equal to the value a fields grouping on one field
       routes by stays with its task when the component's parallelism changes (key groups). From open/prepare to
       the end of the run phase (GALE_ESTATE in declare and in close/cleanup); the task's thread only.
       state_get: 0 and *out, or GALE_ENOENT. state_put: 0, GALE_EINVAL (a malformed value), GALE_ENOMEM.
       state_delete: 0 or GALE_ENOENT. state_next iterates: *cursor starts at 0; 0 with the next entry, GALE_ENOENT
       at the end (in no particular order; a put or delete during the walk may make it see an entry twice or miss
       one). state_restored: the checkpoint the state came from, 0 when it started empty. */
    int (*state_get)(gale_ctx_t *ctx, const gale_value_t *key, gale_value_t *out);
    int (*state_put)(gale_ctx_t *ctx, const gale_value_t *key, const gale_value_t *value);
    int (*state_delete)(gale_ctx_t *ctx, const gale_value_t *key);
    int (*state_next)(gale_ctx_t *ctx, uint64_t *cursor, gale_value_t *key, gale_value_t *value);
    size_t (*state_count)(gale_ctx_t *ctx);
    uint64_t (*state_restored)(gale_ctx_t *ctx);

    /* ABI 2.6. */

    /* JSON text (RFC 8259, strict) to a gale value: null, true/false, integers as int (above INT64_MAX as uint),
       other numbers as double, strings (escapes decoded), arrays, and objects as maps with string keys in their
       order. *out is a view into a buffer of the task's, valid until the task's next from_json: emit it (or copy
       what you keep) before. From the task's thread. 0; GALE_ESYNTAX (not JSON) or GALE_ELIMIT (nested deeper than
       64) with what is wrong and where in `why` ("byte 12: expected ':' after an object key"), NUL-terminated,
       at most why_cap bytes (why may be NULL); GALE_ENOMEM. */
    int (*from_json)(gale_ctx_t *ctx, const char *text, size_t len, gale_value_t *out, char *why, size_t why_cap);

    /* Spouts: a record of the source that will not be emitted (a value that does not parse, one over a size
       limit) ends as a tree that failed for good does, so that it is not lost: it is written to the failed-tuple
       journal (when the topology has one) with cause "rejected" and `error` (what was wrong with it), counted in
       the task's `failed` figure, and logged (rate-limited). `values` are the tuple the spout would have emitted on
       `stream` (NULL: "default"), with what it could not read given as it came (bytes) or nil, checked as an emit
       is; `msg_id` names the record (its offset). Nothing is tracked and neither ack nor fail is called for it:
       the spout treats the record as done. From the task's thread, in the run phase (GALE_ESTATE elsewhere, and
       from a bolt). 0, an emit's codes for the values, or GALE_EIO when the journal could not be written. */
    int (*reject)(gale_ctx_t *ctx, const char *stream, const gale_value_t *values, size_t n, uint64_t msg_id,
                  const char *error);

    /* As fail, with why: the text (up to 512 bytes) goes with the fail to the tree's spout, whose journal record of
       the tree, when it fails for good, has it as its `error` ("field 'amount': not a number"), and a
       rate-limited warning in the log says it. Where fail may be called. */
    int (*fail_with)(gale_ctx_t *ctx, const gale_tuple_t *input, const char *why);
};

#define GALE_HOST_HAS(host, fn) ((host)->size >= offsetof(gale_host_t, fn) + sizeof((host)->fn))

/* ---- convenience ------------------------------------------------------------------------------------------ */

/* Zero-initialises a struct of this header in C and in C++ alike. */
#ifdef __cplusplus
#define GALE__ZERO {}
#else
#define GALE__ZERO {0}
#endif

/* Every word of the value set, with no zeroing of the whole union first: the builders below run once per value
   emitted, and `= {0}` of the union cost a word count's split bolt some 9 instructions a word. */
static inline gale_value_t gale__value(gale_type_t type)
{
    gale_value_t v;
    v.type = type;
    v.n = 0;
    v.c.items = NULL;
    v.c.raw = NULL;
    v.c.raw_len = 0;
    return v;
}
static inline gale_value_t gale_nil(void) { return gale__value(GALE_NIL); }
static inline gale_value_t gale_bool(bool b)
{
    gale_value_t v = gale__value(GALE_BOOL);
    v.b = b;
    return v;
}
static inline gale_value_t gale_int(int64_t i)
{
    gale_value_t v = gale__value(GALE_INT);
    v.i = i;
    return v;
}
static inline gale_value_t gale_double(double d)
{
    gale_value_t v = gale__value(GALE_DOUBLE);
    v.d = d;
    return v;
}
static inline gale_value_t gale_strn(const char *p, size_t len)
{
    gale_value_t v = gale__value(GALE_STR);
    v.s.ptr = p;
    v.s.len = len;
    return v;
}
static inline gale_value_t gale_str(const char *p)
{
    size_t n = 0;
    while (p[n]) n++;
    return gale_strn(p, n);
}
static inline gale_value_t gale_bytes(const void *p, size_t len)
{
    gale_value_t v = gale__value(GALE_BYTES);
    v.s.ptr = (const char *)p;
    v.s.len = len;
    return v;
}
static inline gale_value_t gale_array(const gale_value_t *items, uint32_t n)
{
    gale_value_t v = gale__value(GALE_ARRAY);
    v.n = n;
    v.c.items = items;
    return v;
}
static inline gale_value_t gale_map(const gale_value_t *kv, uint32_t pairs)
{
    gale_value_t v = gale__value(GALE_MAP);
    v.n = pairs;
    v.c.items = kv;
    return v;
}

/* Emit on the default stream, unanchored (or, in a GALE_BOLT_BASIC bolt's execute, anchored to the input). */
static inline int gale_emit(gale_ctx_t *ctx, const gale_value_t *values, size_t n)
{
    gale_emit_t e = GALE__ZERO;
    e.size = sizeof e;
    e.values = values;
    e.n_values = n;
    return ctx->host->emit(ctx, &e);
}
static inline int gale_emit_stream(gale_ctx_t *ctx, const char *stream, const gale_value_t *values, size_t n)
{
    gale_emit_t e = GALE__ZERO;
    e.size = sizeof e;
    e.stream = stream;
    e.values = values;
    e.n_values = n;
    return ctx->host->emit(ctx, &e);
}
/* Bolt: emit anchored to one input. */
static inline int gale_emit_anchored(gale_ctx_t *ctx, const gale_tuple_t *anchor, const gale_value_t *values,
                                     size_t n)
{
    gale_emit_t e = GALE__ZERO;
    e.size = sizeof e;
    e.values = values;
    e.n_values = n;
    e.anchors = &anchor;
    e.n_anchors = 1;
    return ctx->host->emit(ctx, &e);
}
/* Emit to one task of a component that subscribes to `stream` (NULL: default) with the direct grouping. The stream
   must be declared direct: GALE_ESTREAM otherwise (and for gale_emit() on a direct stream); GALE_EINVAL for a task
   that no direct subscription of the stream has. */
static inline int gale_emit_direct(gale_ctx_t *ctx, uint32_t task, const char *stream, const gale_value_t *values,
                                   size_t n)
{
    gale_emit_t e = GALE__ZERO;
    e.size = sizeof e;
    e.stream = stream;
    e.values = values;
    e.n_values = n;
    e.direct = true;
    e.direct_task = task;
    return ctx->host->emit(ctx, &e);
}
/* Spout: emit starting a tracked tree with `msg_id`. */
static inline int gale_emit_id(gale_ctx_t *ctx, uint64_t msg_id, const gale_value_t *values, size_t n)
{
    gale_emit_t e = GALE__ZERO;
    e.size = sizeof e;
    e.values = values;
    e.n_values = n;
    e.has_msg_id = true;
    e.msg_id = msg_id;
    return ctx->host->emit(ctx, &e);
}
static inline int gale_ack(gale_ctx_t *ctx, const gale_tuple_t *t) { return ctx->host->ack(ctx, t); }
static inline int gale_fail(gale_ctx_t *ctx, const gale_tuple_t *t) { return ctx->host->fail(ctx, t); }
static inline const gale_tuple_t *gale_keep(gale_ctx_t *ctx, const gale_tuple_t *t)
{
    return ctx->host->keep(ctx, t);
}
static inline void gale_done(gale_ctx_t *ctx) { ctx->host->done(ctx); }
static inline int gale_reset_timeout(gale_ctx_t *ctx, const gale_tuple_t *t)
{
    return ctx->host->reset_timeout(ctx, t);
}

static inline size_t gale_tuple_size(gale_ctx_t *ctx, const gale_tuple_t *t) { return ctx->host->tuple_size(t); }
static inline const char *gale_tuple_stream(gale_ctx_t *ctx, const gale_tuple_t *t)
{
    return ctx->host->tuple_stream(t);
}
static inline const char *gale_tuple_component(gale_ctx_t *ctx, const gale_tuple_t *t)
{
    return ctx->host->tuple_component(t);
}
static inline uint32_t gale_tuple_task(gale_ctx_t *ctx, const gale_tuple_t *t) { return ctx->host->tuple_task(t); }
static inline void gale_tuple_fields(gale_ctx_t *ctx, const gale_tuple_t *t, const char *const **fields,
                                     size_t *n_fields)
{
    ctx->host->tuple_fields(t, fields, n_fields);
}
static inline int gale_get(gale_ctx_t *ctx, const gale_tuple_t *t, size_t i, gale_value_t *out)
{
    return ctx->host->tuple_get(t, i, out);
}
static inline int gale_field(gale_ctx_t *ctx, const gale_tuple_t *t, const char *name, gale_value_t *out)
{
    return ctx->host->tuple_field(t, name, out);
}
static inline int gale_item(gale_ctx_t *ctx, const gale_value_t *container, size_t i, gale_value_t *out)
{
    return ctx->host->item(container, i, out);
}

/* Declaring (from `declare` only). */
static inline int gale_declare_stream(gale_ctx_t *ctx, const char *stream, const char *const *fields,
                                      size_t n_fields)
{
    return ctx->host->declare_stream(ctx, stream, fields, n_fields);
}
/* A stream for gale_emit_direct() and the `direct` grouping only. GALE_ENOTSUP on a gale older than ABI 2.1. */
static inline int gale_declare_direct_stream(gale_ctx_t *ctx, const char *stream, const char *const *fields,
                                             size_t n_fields)
{
    if (!GALE_HOST_HAS(ctx->host, declare_direct_stream)) return GALE_ENOTSUP;
    return ctx->host->declare_direct_stream(ctx, stream, fields, n_fields);
}
static inline size_t gale_input_count(gale_ctx_t *ctx) { return ctx->host->input_count(ctx); }
static inline int gale_input_fields(gale_ctx_t *ctx, size_t index, const char *const **fields, size_t *n_fields)
{
    return ctx->host->input_fields(ctx, index, fields, n_fields);
}

/* From any thread: run the plugin's `service` on this task's executor soon. */
static inline int gale_wake(gale_ctx_t *ctx) { return ctx->host->wake(ctx); }

/* In a spout's open: declare the task replayable and learn where to resume (gale_host_t.replayable). 0 and
   *resume_from when resuming; any other code (GALE_ENOENT, GALE_ENOTSUP, or an older runtime): start from the
   beginning. */
static inline int gale_replayable(gale_ctx_t *ctx, uint64_t *resume_from)
{
    return GALE_HOST_HAS(ctx->host, replayable) ? ctx->host->replayable(ctx, resume_from) : GALE_ENOTSUP;
}

/* A metric of the plugin's own (gale_host_t.metric); NULL on a gale older than ABI 2.2, and the updates below are
   no-ops on NULL, so that a plugin need not check. */
static inline gale_metric_t *gale_counter(gale_ctx_t *ctx, const char *name)
{
    return GALE_HOST_HAS(ctx->host, metric) ? ctx->host->metric(ctx, name, GALE_METRIC_COUNTER) : NULL;
}
static inline gale_metric_t *gale_gauge(gale_ctx_t *ctx, const char *name)
{
    return GALE_HOST_HAS(ctx->host, metric) ? ctx->host->metric(ctx, name, GALE_METRIC_GAUGE) : NULL;
}
static inline gale_metric_t *gale_histogram(gale_ctx_t *ctx, const char *name)
{
    return GALE_HOST_HAS(ctx->host, metric) ? ctx->host->metric(ctx, name, GALE_METRIC_HISTOGRAM) : NULL;
}
static inline void gale_counter_add(gale_ctx_t *ctx, gale_metric_t *m, uint64_t n)
{
    if (m) ctx->host->counter_add(m, n);
}
static inline void gale_gauge_set(gale_ctx_t *ctx, gale_metric_t *m, double value)
{
    if (m) ctx->host->gauge_set(m, value);
}
static inline void gale_histogram_record(gale_ctx_t *ctx, gale_metric_t *m, uint64_t value)
{
    if (m) ctx->host->histogram_record(m, value);
}

/* The task's key-value state (gale_host_t.state_get and on); GALE_ENOTSUP on a gale older than ABI 2.3. */
static inline int gale_state_get(gale_ctx_t *ctx, const gale_value_t *key, gale_value_t *out)
{
    return GALE_HOST_HAS(ctx->host, state_get) ? ctx->host->state_get(ctx, key, out) : GALE_ENOTSUP;
}
static inline int gale_state_put(gale_ctx_t *ctx, const gale_value_t *key, const gale_value_t *value)
{
    return GALE_HOST_HAS(ctx->host, state_put) ? ctx->host->state_put(ctx, key, value) : GALE_ENOTSUP;
}
static inline int gale_state_delete(gale_ctx_t *ctx, const gale_value_t *key)
{
    return GALE_HOST_HAS(ctx->host, state_delete) ? ctx->host->state_delete(ctx, key) : GALE_ENOTSUP;
}
static inline int gale_state_next(gale_ctx_t *ctx, uint64_t *cursor, gale_value_t *key, gale_value_t *value)
{
    return GALE_HOST_HAS(ctx->host, state_next) ? ctx->host->state_next(ctx, cursor, key, value) : GALE_ENOTSUP;
}
static inline size_t gale_state_count(gale_ctx_t *ctx)
{
    return GALE_HOST_HAS(ctx->host, state_count) ? ctx->host->state_count(ctx) : 0;
}
static inline uint64_t gale_state_restored(gale_ctx_t *ctx)
{
    return GALE_HOST_HAS(ctx->host, state_restored) ? ctx->host->state_restored(ctx) : 0;
}

static inline size_t gale_to_json(gale_ctx_t *ctx, const gale_value_t *v, char *buf, size_t cap)
{
    return ctx->host->to_json(v, buf, cap);
}

static inline int gale_from_json(gale_ctx_t *ctx, const char *text, size_t len, gale_value_t *out, char *why,
                                 size_t why_cap)
{
    if (!GALE_HOST_HAS(ctx->host, from_json)) return GALE_ENOTSUP;
    return ctx->host->from_json(ctx, text, len, out, why, why_cap);
}

/* Fails `input` saying why (see gale_host_t.fail_with); a plain fail on a gale older than ABI 2.6. */
static inline int gale_fail_with(gale_ctx_t *ctx, const gale_tuple_t *input, const char *why)
{
    if (!GALE_HOST_HAS(ctx->host, fail_with)) return ctx->host->fail(ctx, input);
    return ctx->host->fail_with(ctx, input, why);
}

/* Spouts: journal a record that will not be emitted, with what was wrong (see gale_host_t.reject). */
static inline int gale_reject(gale_ctx_t *ctx, const char *stream, const gale_value_t *values, size_t n,
                              uint64_t msg_id, const char *error)
{
    if (!GALE_HOST_HAS(ctx->host, reject)) return GALE_ENOTSUP;
    return ctx->host->reject(ctx, stream, values, n, msg_id, error);
}

/* The runtime's own sources have gale_strerror(err) and gale_err_name(err) of their own (built with
   GALE_HOST_SIDE defined); a plugin reaches them through its context. */
#ifndef GALE_HOST_SIDE
static inline const char *gale_strerror(gale_ctx_t *ctx, int err) { return ctx->host->strerror(err); }
static inline const char *gale_err_name(gale_ctx_t *ctx, int err) { return ctx->host->err_name(err); }
#endif

/* Fills `out` with this task's identity (as much of it as this runtime knows). */
static inline void gale_task_info(gale_ctx_t *ctx, gale_task_info_t *out)
{
    out->size = sizeof *out;
    ctx->host->task_info(ctx, out);
}

/* A setting as it is (GALE_ENOENT when absent); the typed ones below are the usual way. */
static inline int gale_setting(gale_ctx_t *ctx, const char *key, gale_value_t *out)
{
    return ctx->host->setting(ctx, key, out);
}

/* Typed settings with defaults. A setting of another type than asked yields the default (and `gale validate`
   reports it when the plugin declares its settings). */
static inline int64_t gale_setting_int(gale_ctx_t *ctx, const char *key, int64_t def)
{
    gale_value_t v;
    if (ctx->host->setting(ctx, key, &v) == 0 && v.type == GALE_INT) return v.i;
    return def;
}
static inline double gale_setting_double(gale_ctx_t *ctx, const char *key, double def)
{
    gale_value_t v;
    if (ctx->host->setting(ctx, key, &v) == 0) {
        if (v.type == GALE_DOUBLE) return v.d;
        if (v.type == GALE_INT) return (double)v.i;
    }
    return def;
}
static inline bool gale_setting_bool(gale_ctx_t *ctx, const char *key, bool def)
{
    gale_value_t v;
    if (ctx->host->setting(ctx, key, &v) == 0 && v.type == GALE_BOOL) return v.b;
    return def;
}
/* The string is owned by the runtime and valid until the task is closed. */
static inline const char *gale_setting_str(gale_ctx_t *ctx, const char *key, const char *def)
{
    gale_value_t v;
    if (ctx->host->setting(ctx, key, &v) == 0 && v.type == GALE_STR) return v.s.ptr;
    return def;
}

#define gale_log(ctx, level, ...) (ctx)->host->log((ctx), (level), __VA_ARGS__)
#define gale_info(ctx, ...) gale_log((ctx), GALE_LOG_INFO, __VA_ARGS__)
#define gale_warn(ctx, ...) gale_log((ctx), GALE_LOG_WARN, __VA_ARGS__)
#define gale_error(ctx, ...) gale_log((ctx), GALE_LOG_ERROR, __VA_ARGS__)

#ifdef __cplusplus
}
#endif

#endif /* GALE_H */
