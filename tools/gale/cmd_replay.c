/* `gale replay JOURNAL --topology FILE`: journaled tuples back through a topology, or through one bolt alone. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "replay.h"
#include "runtime.h"
#include "topology_read.h"
#include "trace.h"

typedef struct replay_args {
    const char *journal, *topology, *component;
    bool trace, quiet;
    int threads;
    gale_journal_filter_t filter;
    gale_override_t *overrides;
    size_t n_overrides;
} replay_args_t;

/* 0, GALE_EXIT_HELP after --help, or GALE_EXIT_USAGE after printing the problem. */
static int parse(int argc, char **argv, replay_args_t *a)
{
    if (gale_cli_wants_help(argc, argv, 0)) return gale_cli_help("replay");
    for (int i = 1; i < argc; i++) {
        int rc = gale_cli_filter_option(argc, argv, &i, &a->filter, "replay");
        if (rc == GALE_EXIT_USAGE) return rc;
        if (rc) continue;
        const char *o = argv[i];
        bool has_value = i + 1 < argc;
        bool takes_value = !strcmp(o, "--topology") || !strcmp(o, "--component") || !strcmp(o, "--threads") ||
                           !strcmp(o, "--set");
        if (takes_value && !has_value) return gale_cli_usage_error("replay", "%s needs a value", o);
        if (!strcmp(o, "--trace")) a->trace = true;
        else if (!strcmp(o, "--quiet")) a->quiet = true;
        else if (!strcmp(o, "--topology")) a->topology = argv[++i];
        else if (!strcmp(o, "--component")) a->component = argv[++i];
        else if (!strcmp(o, "--threads")) a->threads = atoi(argv[++i]);
        else if (!strcmp(o, "--set")) {
            gale_override_t *ov = realloc(a->overrides, (a->n_overrides + 1) * sizeof *ov);
            if (!ov) return gale_cli_usage_error("replay", "out of memory");
            a->overrides = ov;
            a->overrides[a->n_overrides++].assignment = argv[++i];
        } else if (o[0] == '-' && o[1]) return gale_cli_unknown_option("replay", o);
        else if (a->journal) return gale_cli_usage_error("replay", "one journal only (got %s too)", o);
        else a->journal = o;
    }
    if (!a->journal) return gale_cli_usage_error("replay", "no journal given");
    if (!a->topology) return gale_cli_usage_error("replay", "--topology FILE is required");
    if (a->trace && !a->component) return gale_cli_usage_error("replay", "--trace goes with --component BOLT");
    if (a->threads < 0 || a->threads > 4096) return gale_cli_usage_error("replay", "--threads takes 1 to 4096");
    return 0;
}

/* Reads the journal's matching records into the set; *foreign: how many did not fit the topology, *refused: how
   many could not be read (sealed without the key, or not authenticated: never replayed). */
static int load_set(const replay_args_t *a, const gale_topology_t *topo, gale_replay_set_t *set, size_t *foreign,
                    size_t *refused)
{
    gale_journal_reader_t r;
    gale_journal_key_t key;
    gale_diag_t d;
    if (gale_cli_journal_open(&a->filter, a->journal, &r, &key)) return -1;
    gale_journal_record_t rec;
    *foreign = 0;
    while (gale_journal_reader_next(&r, &rec, gale_cli_journal_report, (void *)a->journal) == 1) {
        if (!gale_journal_filter_match(&a->filter, &rec)) continue;
        if (gale_replay_add(set, topo, &rec, &d)) {
            if (!*foreign) fprintf(stderr, "gale: %s: %s: skipped\n", a->journal, d.msg);
            (*foreign)++;
        }
    }
    if (r.refused)
        fprintf(stderr, "gale: %s: %zu record%s not replayed (sealed, or not authenticated)\n", a->journal, r.refused,
                r.refused == 1 ? "" : "s");
    *refused = r.refused;
    gale_journal_reader_free(&r);
    gale_journal_key_wipe(&key);
    return 0;
}

static int replay_topology(const replay_args_t *a, gale_topology_t *topo, gale_replay_set_t *set)
{
    /* A replay must not add to a journal (perhaps the one it reads): its failures are counted instead. */
    free(topo->config.journal);
    topo->config.journal = NULL;
    signal(SIGPIPE, SIG_IGN);
    gale_runtime_opts_t opts = {.threads = a->threads, .handle_signals = true, .spout_override = &gale__replay_spout,
                                .spout_override_arg = set};
    gale_runtime_t *rt = NULL;
    gale_diag_t d = {{0}};
    int rc = gale_runtime_new(topo, &opts, &rt, &d);
    if (rc) {
        fprintf(stderr, "gale: %s\n", d.msg);
        return GALE_EXIT_ERROR;
    }
    rc = gale_runtime_run(rt);
    if (!a->quiet) gale_runtime_report(rt, stderr);
    gale_runtime_free(rt);
    unsigned long acked = atomic_load(&set->acked), failed = atomic_load(&set->failed),
                  rejected = atomic_load(&set->rejected);
    fprintf(stderr, "replayed %zu tuple%s through topology '%s': %lu acked, %lu failed, %lu rejected\n", set->n,
            set->n == 1 ? "" : "s", topo->name, acked, failed, rejected);
    return rc || failed || rejected ? GALE_EXIT_ERROR : GALE_EXIT_OK;
}

static int replay_bolt(const replay_args_t *a, gale_topology_t *topo, gale_replay_set_t *set)
{
    int c = gale_topology_find(topo, a->component);
    if (c < 0 || topo->components[c].kind != GALE_BOLT) {
        fprintf(stderr, "gale: %s: no bolt named '%s'\n", a->topology, a->component);
        return GALE_EXIT_ERROR;
    }
    if (topo->components[c].window.type != GALE_WINDOW_NONE) {
        fprintf(stderr,
                "gale: %s:%d: bolt '%s' is windowed: --component replays one tuple at a time through execute, "
                "which a windowed bolt does not have; replay through the whole topology (without --component)\n",
                a->topology, topo->components[c].window.line, a->component);
        return GALE_EXIT_ERROR;
    }
    int rc = gale_trace_bolt(topo, c, set, a->trace, stdout);
    fflush(stdout);
    fprintf(stderr, "replayed %zu tuple%s into bolt '%s': %lu acked, %lu not\n", set->n, set->n == 1 ? "" : "s",
            a->component, atomic_load(&set->acked), atomic_load(&set->failed));
    return rc ? GALE_EXIT_ERROR : GALE_EXIT_OK;
}

int gale_cmd_replay(int argc, char **argv)
{
    replay_args_t a = {0};
    int rc = parse(argc, argv, &a);
    if (rc) {
        free(a.overrides);
        return rc;
    }
    gale_topology_t *topo = NULL;
    gale_diag_t d = {{0}};
    if (gale_topology_open(a.topology, a.overrides, a.n_overrides, &topo, &d)) {
        fprintf(stderr, "gale: %s\n", d.msg);
        free(a.overrides);
        return GALE_EXIT_ERROR;
    }
    gale_replay_set_t set = {0};
    size_t foreign = 0, refused = 0;
    if (load_set(&a, topo, &set, &foreign, &refused)) rc = GALE_EXIT_ERROR;
    else rc = a.component ? replay_bolt(&a, topo, &set) : replay_topology(&a, topo, &set);
    if (refused) rc = GALE_EXIT_ERROR; /* the good records were replayed; the others are the user's to look into */
    if (foreign) fprintf(stderr, "gale: %zu record%s named a spout the topology does not have\n", foreign,
                         foreign == 1 ? "" : "s");
    gale_replay_free(&set);
    gale_topology_free(topo);
    free(a.overrides);
    return rc;
}
