/*
 * The supervisor <-> worker control protocol (control.h): every message formatted and parsed back, another
 * version refused, truncated and malformed lines refused with a reason, the worker's command line both ways, and
 * the secret read from a pipe without taking what follows it.
 */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <string.h>
#include <unistd.h>

#include "control.h"
#include "gale.h"

/* The protocol's version as the lines below spell it. */
#define STR_(x) #x
#define STR(x) STR_(x)
#define V STR(GALE_CONTROL_VERSION)

/* Formats `m`, checks the '\n', parses the line back. */
static gale_control_msg_t round_trip(const gale_control_msg_t *m, char *line, size_t cap)
{
    int n = gale_control_format(line, cap, m);
    cr_assert_gt(n, 0, "format: %d", n);
    cr_assert_eq(line[n - 1], '\n');
    cr_assert_eq(strlen(line), (size_t)n);
    line[n - 1] = '\0';
    gale_control_msg_t back;
    char why[160] = "";
    cr_assert_eq(gale_control_parse(line, &back, why, sizeof why), 0, "%s", why);
    cr_assert_eq(back.kind, m->kind);
    return back;
}

Test(control, every_message_round_trips)
{
    char line[4096];
    gale_control_msg_t b = round_trip(&(gale_control_msg_t){.kind = GALE_CTL_SECRET, .text = "00ff11ee22dd33cc"}, line,
                                      sizeof line);
    cr_assert_str_eq(b.text, "00ff11ee22dd33cc");
    cr_assert_eq(b.version, GALE_CONTROL_VERSION);
    b = round_trip(&(gale_control_msg_t){.kind = GALE_CTL_PORT, .number = 40123}, line, sizeof line);
    cr_assert_eq(b.number, 40123);
    b = round_trip(&(gale_control_msg_t){.kind = GALE_CTL_FINISH, .number = 7}, line, sizeof line);
    cr_assert_eq(b.number, 7);
    for (int active = 0; active <= 1; active++) {
        b = round_trip(&(gale_control_msg_t){.kind = GALE_CTL_ACTIVE, .number = active}, line, sizeof line);
        cr_assert_eq(b.number, active);
    }
    b = round_trip(&(gale_control_msg_t){.kind = GALE_CTL_LEASE, .until_ns = 18446744073709551615ull}, line,
                   sizeof line);
    cr_assert_eq(b.until_ns, 18446744073709551615ull);
    b = round_trip(&(gale_control_msg_t){.kind = GALE_CTL_SWAP, .text = "split /a folder/split upper.so"}, line,
                   sizeof line);
    cr_assert_str_eq(b.text, "split /a folder/split upper.so", "the path is the rest of the line, spaces and all");
    b = round_trip(&(gale_control_msg_t){.kind = GALE_CTL_SWAPPED, .number = 1, .text = "split"}, line, sizeof line);
    cr_assert(b.number == 1 && !strcmp(b.text, "split"));
    b = round_trip(&(gale_control_msg_t){.kind = GALE_CTL_SWAPPED, .text = "split plugin x.so declares ..."}, line,
                   sizeof line);
    cr_assert(b.number == 0 && !strcmp(b.text, "split plugin x.so declares ..."));
    gale_control_kind_t ids[] = {GALE_CTL_CHECKPOINT, GALE_CTL_COMMIT, GALE_CTL_ABORT};
    for (size_t i = 0; i < sizeof ids / sizeof *ids; i++) {
        b = round_trip(&(gale_control_msg_t){.kind = ids[i], .id = 18446744073709551615ull}, line, sizeof line);
        cr_assert_eq(b.id, 18446744073709551615ull);
    }
    b = round_trip(&(gale_control_msg_t){.kind = GALE_CTL_CHECKPOINTED, .id = 12, .number = 1, .bytes = 5000}, line,
                   sizeof line);
    cr_assert(b.id == 12 && b.number == 1 && b.bytes == 5000);
    b = round_trip(&(gale_control_msg_t){.kind = GALE_CTL_CHECKPOINTED, .id = 13, .text = "task count#2 failed: x"},
                   line, sizeof line);
    cr_assert(b.id == 13 && b.number == 0 && !strcmp(b.text, "task count#2 failed: x"), "the reason is the rest");
    gale_control_kind_t bare[] = {GALE_CTL_START, GALE_CTL_DEACTIVATE, GALE_CTL_STOP};
    for (size_t i = 0; i < 3; i++) round_trip(&(gale_control_msg_t){.kind = bare[i]}, line, sizeof line);
    b = round_trip(&(gale_control_msg_t){.kind = GALE_CTL_STATS, .text = "{\"topology\": \"wc\", \"a\": [1, 2]}"},
                   line, sizeof line);
    cr_assert_str_eq(b.text, "{\"topology\": \"wc\", \"a\": [1, 2]}");
}

Test(control, a_status_round_trips_field_by_field)
{
    gale_worker_status_t s = {.idle = true,
                              .failed = false,
                              .finish_acked = true,
                              .epochs = 1ull << 40,
                              .pushed = 123456789012ull,
                              .popped = 123456789011ull,
                              .open_trees = 5,
                              .retrying = 2,
                              .kept = 1,
                              .replayable = 4,
                              .sent = 99,
                              .recv = 98,
                              .spouts_done = 3,
                              .spout_tasks = 4,
                              .finish_seq = 2};
    char line[1024];
    gale_control_msg_t b = round_trip(&(gale_control_msg_t){.kind = GALE_CTL_STATUS, .status = s}, line, sizeof line);
    const gale_worker_status_t *t = &b.status;
    cr_assert(t->idle == s.idle && t->failed == s.failed && t->finish_acked == s.finish_acked);
    cr_assert(t->epochs == s.epochs && t->pushed == s.pushed && t->popped == s.popped);
    cr_assert(t->open_trees == s.open_trees && t->retrying == s.retrying && t->kept == s.kept);
    cr_assert(t->replayable == s.replayable);
    cr_assert(t->sent == s.sent && t->recv == s.recv);
    cr_assert(t->spouts_done == s.spouts_done && t->spout_tasks == s.spout_tasks && t->finish_seq == s.finish_seq);
    s.failed = true, s.idle = false;
    b = round_trip(&(gale_control_msg_t){.kind = GALE_CTL_STATUS, .status = s}, line, sizeof line);
    cr_assert(b.status.failed);
    cr_assert_not(b.status.idle);
}

Test(control, peers_round_trip_with_unknown_addresses)
{
    const char *peers[] = {"127.0.0.1:4000", "", "[::1]:4002", "host-a.example:65535@7"};
    char line[512];
    gale_control_msg_t b = round_trip(&(gale_control_msg_t){.kind = GALE_CTL_PEERS, .peers = peers, .n_peers = 4},
                                      line, sizeof line);
    size_t pos = 0;
    char host[64];
    int port;
    uint64_t placement;
    const char *want_host[] = {"127.0.0.1", "", "[::1]", "host-a.example"};
    const int want_port[] = {4000, 0, 4002, 65535};
    const uint64_t want_placement[] = {0, 0, 0, 7};
    for (int i = 0; i < 4; i++) {
        cr_assert_eq(gale_control_next_peer(b.text, &pos, host, sizeof host, &port, &placement), 1, "peer %d", i);
        cr_assert_str_eq(host, want_host[i]);
        cr_assert_eq(port, want_port[i]);
        cr_assert_eq(placement, want_placement[i], "peer %d", i);
    }
    cr_assert_eq(gale_control_next_peer(b.text, &pos, host, sizeof host, &port, &placement), 0);
    const char *bad[] = {"nocolon", ":4000", "h:", "h:0", "h:70000", "h:12x", "h:1@", "h:1@x", "h@3", "h:1@-2"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        pos = 0;
        cr_assert_eq(gale_control_next_peer(bad[i], &pos, host, sizeof host, &port, &placement), GALE_ESYNTAX, "%s",
                     bad[i]);
    }
    const char *spaced[] = {"a b:1"};
    cr_assert_eq(gale_control_format(line, sizeof line, &(gale_control_msg_t){.kind = GALE_CTL_PEERS, .peers = spaced,
                                                                               .n_peers = 1}),
                 GALE_EINVAL);
}

Test(control, another_version_is_refused_with_both_versions)
{
    char line[] = "secret 1 00ff11ee22dd33cc", why[160];
    gale_control_msg_t m;
    cr_assert_eq(gale_control_parse(line, &m, why, sizeof why), GALE_EABI);
    cr_assert_eq(m.version, 1);
    cr_assert_not_null(strstr(why, "protocol 1, this gale speaks " V), "%s", why);
    char port[] = "port 1 4000";
    cr_assert_eq(gale_control_parse(port, &m, why, sizeof why), GALE_EABI);
    /* The line of the protocol before the version word: "secret HEX". */
    char old[] = "secret 00ff11ee22dd33cc";
    cr_assert_eq(gale_control_parse(old, &m, why, sizeof why), GALE_ESYNTAX);
}

typedef struct bad_line {
    char text[192];
    int rc;
    char reason[48];
} bad_line_t;

ParameterizedTestParameters(control, malformed_lines_are_refused)
{
    static bad_line_t lines[] = {
        {"status idle=1 epochs=3", GALE_ESYNTAX, "no pushed"},
        {"status idle=1 epochs=x pushed=1", GALE_ESYNTAX, "bad epochs"},
        {"status idle", GALE_ESYNTAX, "not KEY=VALUE"},
        {"status", GALE_ESYNTAX, "no idle"},
        {"port 1", GALE_ESYNTAX, "expected 'port VERSION"},
        {"port " V " 0", GALE_ESYNTAX, "bad port"},
        {"port " V " 99999", GALE_ESYNTAX, "bad port"},
        {"secret", GALE_ESYNTAX, "expected 'secret VERSION"},
        {"secret " V " ab cd", GALE_ESYNTAX, "one hex word"},
        {"finish", GALE_ESYNTAX, "bad component"},
        {"finish -1", GALE_ESYNTAX, "bad component"},
        {"start now", GALE_ESYNTAX, "takes no argument"},
        {"active", GALE_ESYNTAX, "expected 0 or 1"},
        {"active 2", GALE_ESYNTAX, "expected 0 or 1"},
        {"active yes", GALE_ESYNTAX, "expected 0 or 1"},
        {"swap", GALE_ESYNTAX, "expected COMPONENT PATH"},
        {"swap split", GALE_ESYNTAX, "expected COMPONENT PATH"},
        {"swap  x.so", GALE_ESYNTAX, "expected COMPONENT PATH"},
        {"swapped", GALE_ESYNTAX, "expected 0|1 COMPONENT"},
        {"swapped 2 split", GALE_ESYNTAX, "expected 0|1 COMPONENT"},
        {"swapped 1", GALE_ESYNTAX, "expected 0|1 COMPONENT"},
        {"lease", GALE_ESYNTAX, "expected nanoseconds"},
        {"lease 0", GALE_ESYNTAX, "expected nanoseconds"},
        {"lease -5", GALE_ESYNTAX, "expected nanoseconds"},
        {"lease 99999999999999999999", GALE_ESYNTAX, "expected nanoseconds"},
        {"stats", GALE_ESYNTAX, "no metrics"},
        {"checkpoint", GALE_ESYNTAX, "expected a checkpoint id"},
        {"checkpoint 0", GALE_ESYNTAX, "expected a checkpoint id"},
        {"commit x", GALE_ESYNTAX, "expected a checkpoint id"},
        {"abort -1", GALE_ESYNTAX, "expected a checkpoint id"},
        {"checkpointed", GALE_ESYNTAX, "expected ID 1 BYTES"},
        {"checkpointed 3", GALE_ESYNTAX, "expected ID 1 BYTES"},
        {"checkpointed 3 2 x", GALE_ESYNTAX, "expected ID 1 BYTES"},
        {"checkpointed 0 1 5", GALE_ESYNTAX, "expected ID 1 BYTES"},
        {"checkpointed 3 1 many", GALE_ESYNTAX, "bad byte count"},
        {"checkpointed 3 0 ", GALE_ESYNTAX, "expected ID 1 BYTES"},
        {"status idle=0 epochs=1 pushed=2 popped=2 open=0 retrying=0 kept=0 spouts_done=1 spout_tasks=1 sent=0 "
         "recv=0 failed=0 finish_seq=0 finish_acked=1",
         GALE_ESYNTAX, "no replayable"},
        {"positions 7", GALE_ESYNTAX, "expected TASK:POSITION"},
        {"positions 7:", GALE_ESYNTAX, "expected TASK:POSITION"},
        {"positions :7", GALE_ESYNTAX, "expected TASK:POSITION"},
        {"positions 0:7", GALE_ESYNTAX, "expected TASK:POSITION"},
        {"positions 4294967296:1", GALE_ESYNTAX, "expected TASK:POSITION"},
        {"positions 1:2:3", GALE_ESYNTAX, "expected TASK:POSITION"},
        {"resume 3:18446744073709551616", GALE_ESYNTAX, "expected TASK:POSITION"},
        {"resume 3:-1", GALE_ESYNTAX, "expected TASK:POSITION"},
        {"launch 3", GALE_ENOTSUP, "unknown control command"},
        {"", GALE_ENOTSUP, "unknown control command"},
    };
    return cr_make_param_array(bad_line_t, lines, sizeof lines / sizeof *lines);
}

ParameterizedTest(bad_line_t *b, control, malformed_lines_are_refused)
{
    gale_control_msg_t m;
    char why[160] = "";
    cr_assert_eq(gale_control_parse(b->text, &m, why, sizeof why), b->rc, "%s", why);
    cr_assert_not_null(strstr(why, b->reason), "'%s' for '%s'", why, b->reason);
}

/* What a worker says of its replayable spouts, and what the supervisor gives its next life: the same pairs. */
Test(control, positions_and_resume_round_trip_pair_by_pair)
{
    const uint32_t tasks[] = {1, 7, 4294967295u};
    const uint64_t positions[] = {1, 299, 18446744073709551615ull};
    gale_control_kind_t kinds[] = {GALE_CTL_POSITIONS, GALE_CTL_RESUME};
    for (size_t k = 0; k < 2; k++) {
        char line[256];
        gale_control_msg_t b = round_trip(
            &(gale_control_msg_t){.kind = kinds[k], .tasks = tasks, .positions = positions, .n_positions = 3}, line,
            sizeof line);
        cr_assert_eq(b.n_positions, 3);
        size_t pos = 0;
        uint32_t task;
        uint64_t position;
        for (int i = 0; i < 3; i++) {
            cr_assert_eq(gale_control_next_position(b.text, &pos, &task, &position), 1);
            cr_assert_eq(task, tasks[i]);
            cr_assert_eq(position, positions[i]);
        }
        cr_assert_eq(gale_control_next_position(b.text, &pos, &task, &position), 0);
    }
    /* None: a worker whose replayable spouts all lost their positions says so with an empty line. */
    char line[64];
    gale_control_msg_t b = round_trip(&(gale_control_msg_t){.kind = GALE_CTL_POSITIONS}, line, sizeof line);
    cr_assert_eq(b.n_positions, 0);
}

Test(control, a_status_with_keys_of_a_newer_worker_still_parses)
{
    char line[] = "status idle=0 epochs=1 pushed=2 popped=2 open=0 retrying=0 kept=0 spouts_done=1 spout_tasks=1 "
                  "sent=0 recv=0 failed=0 finish_seq=0 finish_acked=1 replayable=0 watermark=77";
    gale_control_msg_t m;
    cr_assert_eq(gale_control_parse(line, &m, NULL, 0), 0);
    cr_assert_eq(m.status.pushed, 2);
}

Test(control, a_line_that_does_not_fit_is_an_error)
{
    char small[16];
    cr_assert_eq(gale_control_format(small, sizeof small,
                                     &(gale_control_msg_t){.kind = GALE_CTL_STATS, .text = "{\"long\": \"metrics\"}"}),
                 GALE_ERANGE);
    gale_worker_status_t s = {0};
    cr_assert_eq(gale_control_format(small, sizeof small, &(gale_control_msg_t){.kind = GALE_CTL_STATUS, .status = s}),
                 GALE_ERANGE);
}

Test(control, the_worker_command_line_both_ways)
{
    const char *sets[] = {"split.x=1", "config.ackers=0"};
    gale_worker_args_t a = {.index = 2, .workers = 3, .listen = "10.0.0.5", .threads = 4, .placement = 9};
    char numbers[4][24];
    const char *argv[32];
    int n = gale_control_worker_argv("/bin/gale", &a, sets, 2, "t.cfg", numbers, argv, 32);
    cr_assert_eq(n, 17);
    cr_assert_str_eq(argv[1], "worker");
    cr_assert_str_eq(argv[n - 1], "t.cfg");
    cr_assert_null(argv[n]);
    char *rest[32];
    int n_rest = 0;
    gale_worker_args_t back;
    char why[160];
    cr_assert_eq(gale_control_worker_args_parse(n - 1, (char **)argv + 1, &back, rest, &n_rest, why, sizeof why), 0,
                 "%s", why);
    cr_assert_eq(back.index, 2);
    cr_assert_eq(back.workers, 3);
    cr_assert_str_eq(back.listen, "10.0.0.5");
    cr_assert_eq(back.placement, 9);
    /* What is not the worker's own goes on to the common options: --threads, --set, the file. */
    cr_assert_eq(n_rest, 8);
    cr_assert_str_eq(rest[1], "--threads");
    cr_assert_str_eq(rest[n_rest - 1], "t.cfg");
    cr_assert_eq(gale_control_worker_argv("/bin/gale", &a, sets, 2, "t.cfg", numbers, argv, 8), GALE_ERANGE);
}

Test(control, bad_worker_command_lines)
{
    struct {
        const char *args[8];
        const char *reason;
    } cases[] = {
        {{"worker", "--index", "0", "f", NULL}, "--workers must be at least 1"},
        {{"worker", "--index", "3", "--workers", "3", "f", NULL}, "--index must be below"},
        {{"worker", "--index", "x", "--workers", "3", NULL}, "bad number"},
        {{"worker", "--index", "0", "--index", "1", "--workers", "3", NULL}, "given twice"},
        {{"worker", "--workers", NULL}, "needs a value"},
        {{"worker", "--index", "0", "--workers", "1", "--placement", "0", NULL}, "--placement: bad version"},
        {{"worker", "--index", "0", "--workers", "1", "--placement", "x", NULL}, "--placement: bad version"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        int argc = 0;
        while (cases[i].args[argc]) argc++;
        char *rest[16];
        int n_rest;
        gale_worker_args_t a;
        char why[160] = "";
        cr_assert_eq(gale_control_worker_args_parse(argc, (char **)cases[i].args, &a, rest, &n_rest, why, sizeof why),
                     GALE_EINVAL, "case %zu", i);
        cr_assert_not_null(strstr(why, cases[i].reason), "case %zu: %s", i, why);
    }
}

Test(control, the_secret_is_read_without_what_follows)
{
    int fds[2];
    cr_assert_eq(pipe(fds), 0);
    const char text[] = "secret " V " abcdef0123456789\npeers 127.0.0.1:1\n";
    cr_assert_eq(write(fds[1], text, sizeof text - 1), (ssize_t)(sizeof text - 1));
    char secret[64], why[160];
    cr_assert_eq(gale_control_read_secret(fds[0], secret, sizeof secret, why, sizeof why), 0, "%s", why);
    cr_assert_str_eq(secret, "abcdef0123456789");
    char next[32] = {0};
    cr_assert_eq(read(fds[0], next, sizeof next - 1), 18);
    cr_assert_str_eq(next, "peers 127.0.0.1:1\n");
    /* Another version, and a pipe that ends first. */
    const char other[] = "secret 9 abcdef0123456789\n";
    cr_assert_eq(write(fds[1], other, sizeof other - 1), (ssize_t)(sizeof other - 1));
    cr_assert_eq(gale_control_read_secret(fds[0], secret, sizeof secret, why, sizeof why), GALE_EABI);
    close(fds[1]);
    cr_assert_eq(gale_control_read_secret(fds[0], secret, sizeof secret, why, sizeof why), GALE_EIO);
    close(fds[0]);
}
