/*
 * End to end: two supervisor daemons run one topology over three workers (the spout's on one host, the sink's on
 * the other) with a recording TCP proxy (testlib_proxy.h) on every connection between the two daemons' workers.
 * With --tls on both, every word arrives and no word of the input is on the wire; without, the wire holds them
 * (the test checks itself). A daemon whose certificate is of another CA gets no tuple across: its peers refuse it
 * and say why, and go on.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "certs.h"
#include "test_daemon.h"
#include "testlib_proxy.h"

TestSuite(worker_tls, .timeout = 180);

typedef struct split_run {
    char *shared, *certs, *wire;
    char *ctl_a, *ctl_b; /* the certificates gale ctl speaks TLS to each daemon with (NULL: in clear) */
    tl_daemon_t a, b;
    tl_proxy_t proxy[3];
    long counts[10];
    char *out;
} split_run_t;

static const char SECRET[] = "the shared cluster secret";

/* Certificates: sup-a and sup-b of the cluster's CA, stranger of another. */
static void make_certs(split_run_t *s)
{
    gale_diag_t d = {{0}};
    s->certs = tl_path("%s/certs", s->shared);
    char *other = tl_path("%s/other-ca", s->shared);
    cr_assert_eq(gale_certs_init(s->certs, 30, &d), 0, "%s", d.msg);
    cr_assert_eq(gale_certs_issue(s->certs, "sup-a", NULL, 0, 0, 30, &d), 0, "%s", d.msg);
    cr_assert_eq(gale_certs_issue(s->certs, "sup-b", NULL, 0, 0, 30, &d), 0, "%s", d.msg);
    cr_assert_eq(gale_certs_init(other, 30, &d), 0, "%s", d.msg);
    cr_assert_eq(gale_certs_issue(other, "stranger", NULL, 0, 0, 30, &d), 0, "%s", d.msg);
    /* the stranger's files next to the cluster's CA certificate: it trusts the cluster, the cluster not it; and
       for gale ctl to reach the stranger, a folder that trusts the stranger's CA with a certificate of ours */
    char *cmd = tl_path("cp %s/stranger.crt %s/stranger.key %s/ && mkdir %s/to-stranger && cp %s/ca.crt "
                        "%s/to-stranger/ && cp %s/sup-b.crt %s/sup-b.key %s/to-stranger/",
                        other, other, s->certs, s->shared, other, s->shared, s->certs, s->certs, s->shared);
    cr_assert_eq(system(cmd), 0);
    free(cmd), free(other);
}

/* Starts a (slot 0: the spout) and b (slots 1 and 2: the sinks), a told that b's workers are at the proxies. */
static void start(split_run_t *s, const char *tls_a, const char *tls_b)
{
    memset(s, 0, sizeof *s);
    s->shared = tl_tmpdir();
    make_certs(s);
    s->wire = tl_path("%s/wire", s->shared);
    char *pa = tl_path("%s/%s", s->certs, tls_a ? tls_a : ""), *pb = tl_path("%s/%s", s->certs, tls_b ? tls_b : "");
    tl_daemon_start_with(&s->a, SECRET, 2, s->shared, tls_a ? (const char *const[]){"--tls", pa, NULL} : NULL);
    tl_daemon_start_with(&s->b, SECRET, 2, s->shared, tls_b ? (const char *const[]){"--tls", pb, NULL} : NULL);
    free(pa), free(pb);
    /* Their control ports speak TLS too: gale ctl comes with a certificate each trusts, and trusts each. */
    bool stranger = tls_a && !strcmp(tls_a, "stranger");
    s->ctl_a = tls_a ? stranger ? tl_path("%s/to-stranger/sup-b", s->shared) : tl_path("%s/sup-b", s->certs) : NULL;
    s->ctl_b = tls_b ? tl_path("%s/sup-a", s->certs) : NULL;
    s->a.ctl_tls = s->ctl_a, s->b.ctl_tls = s->ctl_b;
    char *in = tl_path("%s/in.txt", s->shared);
    s->out = tl_path("%s/out.txt", s->shared);
    tl_make_lines(in, s->counts);
    char *set_in = tl_path("set=lines.path=%s", in), *set_out = tl_path("set=sink.path=%s", s->out);
    const char *secret = "secret=00112233445566778899aabbccddeeff";
    tl_ctl_ok(&s->a, TL_CTL(&s->a, "assign", "split", "tests/topologies/e2e/lines_sink.cfg", "workers=3", "slots=0",
                            secret, set_in, set_out, "set=slow.delay_ms=0"));
    tl_ctl_ok(&s->b, TL_CTL(&s->b, "assign", "split", "tests/topologies/e2e/lines_sink.cfg", "workers=3", "slots=1,2",
                            secret, set_in, set_out, "set=slow.delay_ms=0"));
    char addr[3][32] = {{0}};
    for (int i = 0; i < 500 && !(addr[0][0] && addr[1][0] && addr[2][0]); i++) {
        tl_daemon_addresses(&s->a, "split", addr, 3);
        tl_daemon_addresses(&s->b, "split", addr, 3);
        tl_sleep_ms(10);
    }
    cr_assert(addr[0][0] && addr[1][0] && addr[2][0], "the workers did not report their addresses");
    char via[3][32];
    snprintf(via[0], sizeof via[0], "%s", addr[0]);
    for (int k = 1; k < 3; k++) { /* slot 0 dials the higher slots: through a proxy each */
        tl_proxy_start(&s->proxy[k], atoi(strrchr(addr[k], ':') + 1), s->wire);
        snprintf(via[k], sizeof via[k], "127.0.0.1:%d", s->proxy[k].port);
    }
    tl_ctl_ok(&s->a, TL_CTL(&s->a, "peers", "split", via[0], via[1], via[2]));
    tl_ctl_ok(&s->b, TL_CTL(&s->b, "peers", "split", addr[0], addr[1], addr[2]));
    free(in), free(set_in), free(set_out);
}

static void stop(split_run_t *s)
{
    tl_result_t r = tl_ctl_with(&s->a, s->a.secret, (const char *const[]){"kill", "split", "wait=1", NULL});
    tl_result_free(&r);
    r = tl_ctl_with(&s->b, s->b.secret, (const char *const[]){"kill", "split", "wait=1", NULL});
    tl_result_free(&r);
    cr_assert_eq(tl_daemon_stop(&s->a), 0);
    cr_assert_eq(tl_daemon_stop(&s->b), 0);
    for (int k = 1; k < 3; k++) tl_proxy_stop(&s->proxy[k]);
    tl_daemon_free(&s->a), tl_daemon_free(&s->b);
    tl_rmtree(s->shared);
    free(s->shared), free(s->certs), free(s->wire), free(s->out), free(s->ctl_a), free(s->ctl_b);
}

/* Every word reached the sink; what the proxies saw, malloc'd, its length in *len. */
static char *words_arrive_and_wire(split_run_t *s, size_t *len)
{
    long seen = 0;
    int short_word = tl_words_arrive(s->out, s->counts, 60, &seen);
    cr_assert_eq(short_word, -1, "'%s' reached the sink %ld times only\n%s", TL_VOCAB[short_word < 0 ? 0 : short_word],
                 seen, tl_daemon_log(&s->b));
    char *wire = tl_read_file(s->wire, len);
    cr_assert_not_null(wire, "nothing went through the proxies");
    return wire;
}

/* Words of 5 letters or more: a shorter one turns up in that much ciphertext by chance. */
static const char *const LONG_WORDS[] = {"green", "magenta", "yellow", "black", "white"};

Test(worker_tls, without_tls_the_words_are_on_the_wire_between_the_hosts)
{
    split_run_t s;
    start(&s, NULL, NULL);
    size_t len;
    char *wire = words_arrive_and_wire(&s, &len);
    for (int i = 0; i < 10; i++)
        cr_assert_not_null(memmem(wire, len, TL_VOCAB[i], strlen(TL_VOCAB[i])), "'%s' not seen in clear", TL_VOCAB[i]);
    free(wire);
    stop(&s);
}

Test(worker_tls, with_tls_every_word_arrives_and_none_is_on_the_wire)
{
    split_run_t s;
    start(&s, "sup-a", "sup-b");
    size_t len;
    char *wire = words_arrive_and_wire(&s, &len);
    cr_assert_gt(len, 3000 * 20, "the tuples went through the proxies (%zu bytes)", len);
    for (size_t i = 0; i < sizeof LONG_WORDS / sizeof *LONG_WORDS; i++)
        cr_assert_null(memmem(wire, len, LONG_WORDS[i], strlen(LONG_WORDS[i])), "'%s' on the wire with TLS",
                       LONG_WORDS[i]);
    free(wire);
    char *log = tl_daemon_log(&s.a);
    cr_assert_not_null(strstr(log, "workers over TLS as "), "%s", log);
    free(log);
    stop(&s);
}

Test(worker_tls, a_worker_with_a_certificate_of_another_ca_is_refused_and_says_why)
{
    split_run_t s;
    start(&s, "stranger", "sup-b");
    /* b's workers refuse a's: no word reaches the sink, and b's log says why; b goes on serving its own. */
    char *log = tl_daemon_log_with(&s.b, "unable to get local issuer certificate", 20);
    cr_assert_not_null(strstr(log, "TLS: TLS handshake: certificate verify failed: unable to get local issuer "
                                   "certificate"),
                       "%s", log);
    free(log);
    size_t len = 0;
    char *out = tl_read_file(s.out, &len);
    cr_assert(!out || !strstr(out, "\"word\""), "a word crossed from the stranger: %s", out);
    free(out);
    tl_result_t r = TL_CTL(&s.b, "status");
    cr_assert_not_null(strstr(r.out, "worker split 1 state=running"), "%s", r.out);
    tl_result_free(&r);
    stop(&s);
}
