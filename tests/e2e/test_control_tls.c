/*
 * End to end: a supervisor daemon's control port over TLS (gale supervisor --tls, gale ctl --tls), with a recording
 * TCP proxy (testlib_proxy.h) between gale ctl and the daemon. Commands and their answers cross encrypted (in clear
 * without TLS: the test checks itself), the audit log names the user by its certificate, a client without TLS or
 * with another CA's certificate is refused and the daemon goes on.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "certs.h"
#include "test_daemon.h"
#include "testlib_proxy.h"

TestSuite(control_tls, .timeout = 120);

static const char SECRET[] = "the cluster secret, 16 bytes";

typedef struct ctl_run {
    char *dir, *certs, *audit, *wire;
    tl_daemon_t d;
    tl_proxy_t proxy;
} ctl_run_t;

static void start(ctl_run_t *s, bool tls)
{
    memset(s, 0, sizeof *s);
    s->dir = tl_tmpdir();
    s->certs = tl_path("%s/certs", s->dir);
    s->audit = tl_path("%s/audit.log", s->dir);
    s->wire = tl_path("%s/wire", s->dir);
    char *other = tl_path("%s/other", s->dir);
    gale_diag_t diag = {{0}};
    cr_assert_eq(gale_certs_init(s->certs, 30, &diag), 0, "%s", diag.msg);
    cr_assert_eq(gale_certs_issue(s->certs, "host1", NULL, 0, 0, 30, &diag), 0, "%s", diag.msg);
    cr_assert_eq(gale_certs_issue(s->certs, "alice", NULL, 0, 0, 30, &diag), 0, "%s", diag.msg);
    cr_assert_eq(gale_certs_issue_as(s->certs, "vera", "viewer", NULL, 0, 0, 30, &diag), 0, "%s", diag.msg);
    cr_assert_eq(gale_certs_init(other, 30, &diag), 0, "%s", diag.msg);
    cr_assert_eq(gale_certs_issue(other, "mallory", NULL, 0, 0, 30, &diag), 0, "%s", diag.msg);
    char *cmd = tl_path("cp %s/mallory.crt %s/mallory.key %s/", other, other, s->certs);
    cr_assert_eq(system(cmd), 0);
    free(cmd), free(other);
    char *host = tl_path("%s/host1", s->certs);
    const char *const with[] = {"--tls", host, "--audit-log", s->audit, NULL};
    const char *const without[] = {"--audit-log", s->audit, NULL};
    tl_daemon_start_with(&s->d, SECRET, 2, NULL, tls ? with : without);
    free(host);
    tl_proxy_start(&s->proxy, s->d.port, s->wire);
}

static void stop(ctl_run_t *s)
{
    tl_proxy_stop(&s->proxy);
    cr_assert_eq(tl_daemon_stop(&s->d), 0);
    tl_daemon_free(&s->d);
    tl_rmtree(s->dir);
    free(s->dir), free(s->certs), free(s->audit), free(s->wire);
}

/* gale ctl [--tls certs/USER] through the proxy (`direct`: to the daemon itself). */
static tl_result_t ctl(const ctl_run_t *s, const char *user, bool direct, const char *const *args)
{
    char addr[32], *tls = user ? tl_path("%s/%s", s->certs, user) : NULL;
    snprintf(addr, sizeof addr, "127.0.0.1:%d", direct ? s->d.port : s->proxy.port);
    const char *argv[32] = {tl_gale(), "ctl", "--secret-file", s->d.secret, "--timeout", "3"};
    int n = 6;
    if (tls) argv[n++] = "--tls", argv[n++] = tls;
    argv[n++] = addr;
    while (*args && n < 31) argv[n++] = *args++;
    argv[n] = NULL;
    tl_result_t r;
    cr_assert_eq(tl_run(argv, NULL, 30, &r), 0);
    free(tls);
    return r;
}

/* An assign that names things no one should read on the wire, then its kill. */
static void assign_and_kill(const ctl_run_t *s, const char *user)
{
    tl_result_t r = ctl(s, user, false,
                        (const char *const[]){"assign", "payroll_secret_topology", "topologies/wordcount.cfg",
                                              "workers=1", "secret=00112233445566778899aabbccddeeff", NULL});
    cr_assert_eq(r.status, 0, "%s", r.err);
    tl_result_free(&r);
    r = ctl(s, user, false, (const char *const[]){"kill", "payroll_secret_topology", "wait=1", NULL});
    cr_assert_eq(r.status, 0, "%s", r.err);
    tl_result_free(&r);
}

Test(control_tls, without_tls_the_commands_are_on_the_wire)
{
    ctl_run_t s;
    start(&s, false);
    assign_and_kill(&s, NULL);
    size_t len;
    char *wire = tl_read_file(s.wire, &len);
    cr_assert_not_null(wire);
    cr_assert_not_null(memmem(wire, len, "payroll_secret_topology", 23), "the command is not seen in clear");
    cr_assert_not_null(memmem(wire, len, "00112233445566778899", 20), "the topology's secret is not seen in clear");
    free(wire);
    stop(&s);
}

Test(control_tls, with_tls_no_command_is_on_the_wire_and_the_audit_log_names_the_user)
{
    ctl_run_t s;
    start(&s, true);
    assign_and_kill(&s, "alice");
    size_t len;
    char *wire = tl_read_file(s.wire, &len);
    cr_assert_not_null(wire);
    cr_assert_gt(len, 1000, "the commands went through the proxy");
    static const char *const words[] = {"payroll_secret_topology", "00112233445566778899", "assign", "challenge",
                                        "wordcount"};
    for (size_t i = 0; i < sizeof words / sizeof *words; i++)
        cr_assert_null(memmem(wire, len, words[i], strlen(words[i])), "'%s' on the wire with TLS", words[i]);
    free(wire);
    char *audit = tl_read_file(s.audit, NULL);
    cr_assert_not_null(strstr(audit, "\"identity\": \"alice\", \"source\": \"127.0.0.1:"), "%s", audit);
    cr_assert_not_null(strstr(audit, "\"action\": \"assign\", \"target\": \"payroll_secret_topology\", \"result\": "
                                     "\"ok\""),
                       "%s", audit);
    free(audit);
    stop(&s);
}

Test(control_tls, a_client_without_tls_or_with_another_cas_certificate_is_refused_and_the_daemon_goes_on)
{
    ctl_run_t s;
    start(&s, true);
    tl_result_t r = ctl(&s, NULL, true, (const char *const[]){"slots", NULL});
    cr_assert_eq(r.status, 1, "a client in clear was served: %s", r.out);
    cr_assert_not_null(strstr(r.err, "if it was started with --tls, give --tls DIR/NAME here too"), "%s", r.err);
    tl_result_free(&r);
    r = ctl(&s, "mallory", true, (const char *const[]){"kill", "x", NULL});
    cr_assert_eq(r.status, 1, "another CA's client was served: %s", r.out);
    cr_assert_not_null(strstr(r.err, "TLS"), "%s", r.err);
    tl_result_free(&r);
    char *log = tl_daemon_log_with(&s.d, "unable to get local issuer certificate", 10);
    cr_assert_not_null(strstr(log, "refused before authenticating: TLS: TLS handshake: certificate verify failed: "
                                   "unable to get local issuer certificate"),
                       "%s", log);
    free(log);
    r = ctl(&s, "alice", true, (const char *const[]){"slots", NULL});
    cr_assert_eq(r.status, 0, "a good client after the bad ones: %s", r.err);
    cr_assert_str_eq(r.out, "slots=2 free=2\n");
    tl_result_free(&r);
    stop(&s);
}

Test(control_tls, a_viewer_may_look_at_a_supervisor_but_not_change_it)
{
    ctl_run_t s;
    start(&s, true);
    tl_result_t r = ctl(&s, "vera", true, (const char *const[]){"slots", NULL});
    cr_assert_eq(r.status, 0, "%s", r.err);
    tl_result_free(&r);
    r = ctl(&s, "vera", true, (const char *const[]){"assign", "t", "topologies/wordcount.cfg", "workers=1", NULL});
    cr_assert_eq(r.status, 1, "a viewer assigned a topology: %s", r.out);
    cr_assert_not_null(strstr(r.err, "refused: assign needs the admin or node role (vera has the role viewer)"), "%s",
                       r.err);
    tl_result_free(&r);
    char *audit = tl_read_file(s.audit, NULL);
    cr_assert_not_null(strstr(audit, "\"identity\": \"vera\", \"source\": \"127.0.0.1:"), "%s", audit);
    cr_assert_not_null(strstr(audit, "\"action\": \"assign\", \"target\": \"t\", \"result\": \"refused\""), "%s",
                       audit);
    free(audit);
    stop(&s);
}
