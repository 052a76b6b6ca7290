/*
 * The worker transport over TLS (transport.h, tls.h) on 127.0.0.1, through a test-side TCP proxy (testlib_proxy.h)
 * that records every byte between the two endpoints: with TLS on, no word of the frames is on the wire; with TLS off it is (the test
 * checks itself). Peers with a certificate of another CA, an expired one, or none are refused with TLS's reason,
 * and a good peer still gets in after them. Big frames, many frames and a pause cross a TLS connection whole.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "buf.h"
#include "certs.h"
#include "testlib.h"
#include "testlib_proxy.h"
#include "tls.h"
#include "testlib_uv.h"
#include "transport.h"

/* ---- endpoints ---------------------------------------------------------------------------------------------- */

typedef struct box {
    int up[8];
    int frames[8];
    size_t bytes[8];
    gale_buf_t got;
} box_t;

static void on_frame(void *arg, uint32_t peer, const gale_frame_t *f)
{
    box_t *b = arg;
    b->frames[peer]++;
    b->bytes[peer] += f->len;
    if (b->got.len < (1u << 20)) gale_buf_put(&b->got, f->payload, f->len < 256 ? f->len : 256);
}

static void on_peer(void *arg, uint32_t peer, bool up) { ((box_t *)arg)->up[peer] = up; }

static const gale_transport_cb_t CB = {on_frame, on_peer};

static char *dir, *other;

static void setup(void)
{
    dir = tl_tmpdir(), other = tl_tmpdir();
    gale_diag_t d = {{0}};
    cr_assert_eq(gale_certs_init(dir, 30, &d), 0, "%s", d.msg);
    const char *names[] = {"node-a", "node-b", "node-c"};
    for (int i = 0; i < 3; i++) cr_assert_eq(gale_certs_issue(dir, names[i], NULL, 0, 0, 30, &d), 0, "%s", d.msg);
    cr_assert_eq(gale_certs_issue(dir, "expired", NULL, 0, -2 * 86400, 1, &d), 0, "%s", d.msg);
    cr_assert_eq(gale_certs_init(other, 30, &d), 0, "%s", d.msg);
    cr_assert_eq(gale_certs_issue(other, "stranger", NULL, 0, 0, 30, &d), 0, "%s", d.msg);
}

static void teardown(void)
{
    tl_rmtree(dir), tl_rmtree(other);
    free(dir), free(other);
}

TestSuite(transport_tls, .init = setup, .fini = teardown, .timeout = 60);

/* A context with `folder`/`name`'s certificate, trusting our CA. */
static gale_tls_ctx_t *ctx(const char *folder, const char *name)
{
    char *ca = tl_path("%s/ca.crt", dir), *crt = tl_path("%s/%s.crt", folder, name),
         *key = tl_path("%s/%s.key", folder, name);
    gale_tls_ctx_t *c;
    gale_diag_t d = {{0}};
    cr_assert_eq(gale_tls_ctx_new(&(gale_tls_files_t){.ca = ca, .cert = crt, .key = key}, &c, &d), 0, "%s", d.msg);
    free(ca), free(crt), free(key);
    return c;
}

static void send_text(gale_transport_t *t, uint32_t peer, const char *text, size_t len)
{
    gale_buf_t b = {0};
    size_t start = gale_frame_begin(&b, GALE_FRAME_TUPLES);
    gale_buf_put(&b, text, len);
    gale_frame_end(&b, start);
    cr_assert_eq(gale_transport_send(t, peer, b.p, b.len), 0);
    gale_buf_free(&b);
}

static const char WORDS[] = "zebra quokka narwhal axolotl pangolin 4111111111111111 alice@example.com";

/* 1 dials 2 through the proxy, with TLS or not, and sends 200 frames of WORDS; what the wire carried. */
static gale_buf_t through_proxy(bool tls)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    box_t ba = {0}, bb = {0};
    gale_transport_t *a, *b;
    gale_tls_ctx_t *ca = tls ? ctx(dir, "node-a") : NULL, *cb = tls ? ctx(dir, "node-b") : NULL;
    cr_assert_eq(gale_transport_new(&loop, 1, "secret", 6, 0, &CB, &ba, &a), 0);
    cr_assert_eq(gale_transport_new(&loop, 2, "secret", 6, 0, &CB, &bb, &b), 0);
    if (tls) gale_transport_set_tls(a, ca), gale_transport_set_tls(b, cb);
    int port;
    cr_assert_eq(gale_transport_listen(b, "127.0.0.1", 0, &port), 0);
    tl_proxy_t p;
    char *tmp = tl_tmpdir(), *record = tl_path("%s/wire", tmp);
    tl_proxy_start(&p, port, record);
    cr_assert_eq(gale_transport_connect(a, 2, "127.0.0.1", p.port), 0);
    cr_assert(RUN_UNTIL(&loop, ba.up[2] && bb.up[1], 5000), "no handshake through the proxy");
    for (int i = 0; i < 200; i++) send_text(a, 2, WORDS, sizeof WORDS - 1);
    for (int i = 0; i < 20; i++) send_text(b, 1, WORDS, sizeof WORDS - 1);
    cr_assert(RUN_UNTIL(&loop, bb.frames[1] == 200 && ba.frames[2] == 20, 10000), "%d and %d frames", bb.frames[1],
              ba.frames[2]);
    cr_assert_not_null(memmem(bb.got.p, bb.got.len, "pangolin", 8), "the frames arrived whole");
    gale_transport_close(a), gale_transport_close(b);
    uv_run(&loop, UV_RUN_DEFAULT);
    cr_assert_eq(uv_loop_close(&loop), 0, "a handle was left open");
    tl_proxy_stop(&p);
    gale_tls_ctx_free(ca), gale_tls_ctx_free(cb);
    gale_buf_free(&ba.got), gale_buf_free(&bb.got);
    gale_buf_t wire = {0};
    size_t len;
    char *data = tl_read_file(record, &len);
    gale_buf_put(&wire, data, len);
    free(data), free(record);
    tl_rmtree(tmp);
    free(tmp);
    return wire;
}

Test(transport_tls, no_word_of_the_frames_is_on_the_wire_with_tls_and_every_word_is_without)
{
    static const char *words[] = {"zebra",    "quokka",           "narwhal",          "axolotl",
                                  "pangolin", "4111111111111111", "alice@example.com"};
    gale_buf_t clear = through_proxy(false);
    for (size_t i = 0; i < sizeof words / sizeof *words; i++)
        cr_assert_not_null(memmem(clear.p, clear.len, words[i], strlen(words[i])), "'%s' not seen in clear", words[i]);
    gale_buf_t sealed = through_proxy(true);
    cr_assert_gt(sealed.len, 200 * (sizeof WORDS - 1), "the frames went through the proxy");
    for (size_t i = 0; i < sizeof words / sizeof *words; i++)
        cr_assert_null(memmem(sealed.p, sealed.len, words[i], strlen(words[i])), "'%s' on the wire with TLS", words[i]);
    gale_buf_free(&clear), gale_buf_free(&sealed);
}

/* B (TLS, node-b) is dialled by a peer with `bad` (NULL: TLS off, so no certificate at all): it is refused with
   `why`, and node-c still gets in after it. */
static void refused_then_served(gale_tls_ctx_t *bad, const char *why)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    box_t bb = {0}, bx = {0}, bc = {0};
    gale_transport_t *b, *x, *c;
    gale_tls_ctx_t *cb = ctx(dir, "node-b"), *cc = ctx(dir, "node-c");
    cr_assert_eq(gale_transport_new(&loop, 2, "secret", 6, 0, &CB, &bb, &b), 0);
    cr_assert_eq(gale_transport_new(&loop, 3, "secret", 6, 0, &CB, &bx, &x), 0);
    cr_assert_eq(gale_transport_new(&loop, 4, "secret", 6, 0, &CB, &bc, &c), 0);
    gale_transport_set_tls(b, cb);
    if (bad) gale_transport_set_tls(x, bad);
    gale_transport_set_tls(c, cc);
    int port;
    cr_assert_eq(gale_transport_listen(b, "127.0.0.1", 0, &port), 0);
    cr_assert_eq(gale_transport_connect(x, 2, "127.0.0.1", port), 0);
    gale_transport_stats_t st;
    cr_assert(RUN_UNTIL(&loop, (gale_transport_stats(b, &st), st.rejected > 0), 5000), "the bad peer was not refused");
    cr_assert_not(bb.up[3], "the bad peer got in");
    cr_assert_not_null(strstr(st.last_rejected, why), "refused for '%s', not '%s'", st.last_rejected, why);
    cr_assert_eq(gale_transport_connect(c, 2, "127.0.0.1", port), 0);
    cr_assert(RUN_UNTIL(&loop, bc.up[2] && bb.up[4], 5000), "a good peer was not served after a bad one");
    send_text(c, 2, WORDS, sizeof WORDS - 1);
    cr_assert(RUN_UNTIL(&loop, bb.frames[4] == 1, 5000));
    cr_assert_not(bb.up[3], "the bad peer got in on a retry");
    gale_transport_close(b), gale_transport_close(x), gale_transport_close(c);
    uv_run(&loop, UV_RUN_DEFAULT);
    cr_assert_eq(uv_loop_close(&loop), 0, "a handle was left open");
    gale_tls_ctx_free(cb), gale_tls_ctx_free(cc), gale_tls_ctx_free(bad);
    gale_buf_free(&bb.got), gale_buf_free(&bx.got), gale_buf_free(&bc.got);
}

Test(transport_tls, a_peer_of_another_ca_is_refused_and_a_good_one_still_gets_in)
{
    refused_then_served(ctx(other, "stranger"), "TLS: TLS handshake: certificate verify failed: unable to get local "
                                                "issuer certificate");
}

Test(transport_tls, an_expired_peer_is_refused_and_a_good_one_still_gets_in)
{
    refused_then_served(ctx(dir, "expired"), "certificate verify failed: certificate has expired");
}

Test(transport_tls, a_peer_without_tls_is_refused_and_a_good_one_still_gets_in)
{
    refused_then_served(NULL, "TLS: TLS handshake: the peer does not speak TLS (is TLS off there?)");
}

Test(transport_tls, a_big_frame_many_frames_and_a_pause_cross_whole)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    box_t ba = {0}, bb = {0};
    gale_transport_t *a, *b;
    gale_tls_ctx_t *ca = ctx(dir, "node-a"), *cb = ctx(dir, "node-b");
    cr_assert_eq(gale_transport_new(&loop, 1, "secret", 6, 0, &CB, &ba, &a), 0);
    cr_assert_eq(gale_transport_new(&loop, 2, "secret", 6, 0, &CB, &bb, &b), 0);
    gale_transport_set_tls(a, ca), gale_transport_set_tls(b, cb);
    int port;
    cr_assert_eq(gale_transport_listen(b, "127.0.0.1", 0, &port), 0);
    cr_assert_eq(gale_transport_connect(a, 2, "127.0.0.1", port), 0);
    cr_assert(RUN_UNTIL(&loop, ba.up[2] && bb.up[1], 5000), "no handshake");
    size_t big = 3u << 20;
    char *payload = malloc(big);
    for (size_t i = 0; i < big; i++) payload[i] = (char)(i * 31 + 7);
    send_text(a, 2, payload, big);
    cr_assert(RUN_UNTIL(&loop, bb.frames[1] == 1, 10000), "a 3 MiB frame did not cross");
    cr_assert_eq(bb.bytes[1], big);
    gale_transport_pause(b, true);
    for (int i = 0; i < 5000; i++) send_text(a, 2, payload, 1000);
    RUN_UNTIL(&loop, false, 300);
    int held = bb.frames[1];
    cr_assert_lt(held, 5001, "a paused endpoint took every frame");
    gale_transport_pause(b, false);
    cr_assert(RUN_UNTIL(&loop, bb.frames[1] == 5001, 10000), "%d of 5001 frames after the pause", bb.frames[1]);
    cr_assert_eq(bb.bytes[1], big + 5000 * 1000);
    free(payload);
    gale_transport_close(a), gale_transport_close(b);
    uv_run(&loop, UV_RUN_DEFAULT);
    cr_assert_eq(uv_loop_close(&loop), 0, "a handle was left open");
    gale_tls_ctx_free(ca), gale_tls_ctx_free(cb);
    gale_buf_free(&ba.got), gale_buf_free(&bb.got);
}
