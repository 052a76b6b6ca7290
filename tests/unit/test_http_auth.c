/* http_auth.c: the tokens of the HTTP actions: good once, for one method and path, within 5 minutes of the
   server's clock, and only with the secret. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "gale.h"
#include "http_auth.h"

static const char SECRET[] = "0123456789abcdef0123456789abcdef";

static gale_http_auth_t auth; /* large: not on the stack */

static void fresh(void) { cr_assert_eq(gale_http_auth_init(&auth, SECRET, strlen(SECRET)), 0); }

static int check(const char *method, const char *path, const char *header, int64_t now)
{
    char why[160];
    return gale_http_auth_check(&auth, method, path, header, now, why, sizeof why);
}

Test(http_auth, a_token_is_good_once_for_its_method_and_path)
{
    fresh();
    char h[160];
    gale_http_auth_sign(SECRET, strlen(SECRET), "POST", "/api/v1/topology/t/kill", 1000000, h, sizeof h);
    cr_assert_eq(strncmp(h, "Gale-HMAC t=1000000, n=", 23), 0, "%s", h);
    cr_assert_eq(strlen(h), 23 + 16 + 6 + 64, "%s", h);
    char again[160];
    gale_http_auth_sign(SECRET, strlen(SECRET), "POST", "/api/v1/topology/t/kill", 1000000, again, sizeof again);
    cr_assert_str_neq(h, again, "two tokens of one second differ (their nonces)");
    cr_assert_eq(check("POST", "/api/v1/topology/t/deactivate", h, 1000000), GALE_EPERM, "another path");
    cr_assert_eq(check("GET", "/api/v1/topology/t/kill", h, 1000000), GALE_EPERM, "another method");
    cr_assert_eq(check("POST", "/api/v1/topology/t/kill", h, 1000010), 0);
    char why[160];
    cr_assert_eq(gale_http_auth_check(&auth, "POST", "/api/v1/topology/t/kill", h, 1000020, why, sizeof why),
                 GALE_EPERM);
    cr_assert_str_eq(why, "the token was used before");
}

Test(http_auth, another_secret_or_an_old_token_or_garbage_is_refused)
{
    fresh();
    char h[160];
    gale_http_auth_sign("another secret, as long as it", 29, "POST", "/x", 500, h, sizeof h);
    cr_assert_eq(check("POST", "/x", h, 500), GALE_EPERM);
    gale_http_auth_sign(SECRET, strlen(SECRET), "POST", "/x", 500, h, sizeof h);
    cr_assert_eq(check("POST", "/x", h, 500 + 301), GALE_EPERM, "older than 5 minutes");
    cr_assert_eq(check("POST", "/x", h, 500 - 301), GALE_EPERM, "from too far in the future");
    const char *bad[] = {
        NULL,
        "",
        "Basic dXNlcjpwYXNz",
        "Gale-HMAC",
        "Gale-HMAC t=, sig=00",
        "Gale-HMAC t=500, sig=zz",
        "Gale-HMAC t=500, n=00000000000000zz, sig=0000000000000000000000000000000000000000000000000000000000000000",
        "Gale-HMAC t=500 sig=0000000000000000000000000000000000000000000000000000000000000000",
        "Gale-HMAC t=500, sig=000000000000000000000000000000000000000000000000000000000000000000"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        cr_assert_eq(check("POST", "/x", bad[i], 500), GALE_EPERM, "%s", bad[i] ? bad[i] : "(none)");
    /* Flipping one hex digit of a good token spoils it. */
    h[strlen(h) - 1] = h[strlen(h) - 1] == '0' ? '1' : '0';
    cr_assert_eq(check("POST", "/x", h, 500), GALE_EPERM);
    cr_assert_eq(gale_http_auth_init(&auth, "", 0), GALE_EINVAL);
}

/* Used tokens are remembered until they are out of date anyway; more than the memory holds at once are refused,
   and room comes back as they age. */
Test(http_auth, the_memory_of_used_tokens_is_bounded_and_frees_as_they_age)
{
    fresh();
    char h[160], path[32];
    for (int i = 0; i < GALE_HTTP_AUTH_REMEMBERED; i++) {
        snprintf(path, sizeof path, "/p%d", i);
        gale_http_auth_sign(SECRET, strlen(SECRET), "POST", path, 10000, h, sizeof h);
        cr_assert_eq(check("POST", path, h, 10000), 0, "%d", i);
    }
    gale_http_auth_sign(SECRET, strlen(SECRET), "POST", "/one-more", 10000, h, sizeof h);
    cr_assert_eq(check("POST", "/one-more", h, 10000), GALE_EPERM);
    gale_http_auth_sign(SECRET, strlen(SECRET), "POST", "/later", 10400, h, sizeof h);
    cr_assert_eq(check("POST", "/later", h, 10400), 0, "the first ones are out of date by then");
}
