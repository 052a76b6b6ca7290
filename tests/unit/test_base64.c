/*
 * base64 (base64.h): RFC 4648's test vectors both ways, every byte value and many lengths through a round trip, and
 * the text that is not base64 refused: a length that is not a multiple of 4, a character outside the alphabet,
 * padding anywhere but at the end.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "base64.h"
#include "gale.h"

/* RFC 4648, section 10. */
static const char *const PLAIN[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
static const char *const CODED[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};

static long decode(const char *text, unsigned char *out) { return gale_base64_decode(text, strlen(text), out); }

Test(base64, the_rfc_4648_vectors_encode_as_published)
{
    for (size_t i = 0; i < sizeof PLAIN / sizeof *PLAIN; i++) {
        char out[16];
        memset(out, 'x', sizeof out);
        gale_base64_encode(PLAIN[i], strlen(PLAIN[i]), out);
        cr_assert_str_eq(out, CODED[i], "\"%s\"", PLAIN[i]);
        cr_assert_eq(gale_base64_len(strlen(PLAIN[i])), strlen(CODED[i]), "\"%s\"", PLAIN[i]);
    }
}

Test(base64, the_rfc_4648_vectors_decode_to_their_bytes)
{
    for (size_t i = 0; i < sizeof PLAIN / sizeof *PLAIN; i++) {
        unsigned char out[16];
        long n = decode(CODED[i], out);
        cr_assert_eq(n, (long)strlen(PLAIN[i]), "\"%s\": %ld bytes", CODED[i], n);
        cr_assert_arr_eq(out, PLAIN[i], (size_t)n, "\"%s\"", CODED[i]);
    }
}

Test(base64, all_256_byte_values_come_back_as_they_went)
{
    unsigned char bytes[256], back[256];
    for (int i = 0; i < 256; i++) bytes[i] = (unsigned char)i;
    char text[gale_base64_len(256) + 1];
    gale_base64_encode(bytes, sizeof bytes, text);
    cr_assert_eq(strlen(text), gale_base64_len(256));
    cr_assert_eq(strspn(text, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/="), strlen(text));
    cr_assert_eq(gale_base64_decode(text, strlen(text), back), 256);
    cr_assert_arr_eq(back, bytes, sizeof bytes);
}

Test(base64, random_bytes_of_every_length_up_to_100_come_back_as_they_went)
{
    srand(4648);
    for (int round = 0; round < 20; round++)
        for (size_t n = 0; n <= 100; n++) {
            unsigned char bytes[100], back[100 + 3];
            for (size_t i = 0; i < n; i++) bytes[i] = (unsigned char)rand();
            char text[gale_base64_len(100) + 1];
            gale_base64_encode(bytes, n, text);
            cr_assert_eq(strlen(text), gale_base64_len(n), "%zu bytes", n);
            cr_assert_eq(gale_base64_decode(text, strlen(text), back), (long)n, "%zu bytes", n);
            cr_assert_arr_eq(back, bytes, n, "%zu bytes", n);
        }
}

Test(base64, only_the_given_length_of_the_text_is_read)
{
    unsigned char out[8];
    cr_assert_eq(gale_base64_decode("Zm9vYmFy", 4, out), 3);
    cr_assert_arr_eq(out, "foo", 3);
    cr_assert_eq(gale_base64_decode("Zm9v!!!!", 4, out), 3, "what follows the length is not looked at");
}

Test(base64, a_length_that_is_not_a_multiple_of_4_is_refused)
{
    unsigned char out[16];
    const char *bad[] = {"Z", "Zg", "Zg=", "Zm9vY", "Zm9vYg=", "Zm9vYmFy="};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        cr_assert_eq(decode(bad[i], out), GALE_EINVAL, "\"%s\"", bad[i]);
}

Test(base64, a_character_outside_the_alphabet_is_refused)
{
    unsigned char out[16];
    const char *bad[] = {"Zm9!", "Zm 9", "Zm9v\nmFy", "Zm-_", "Zm9vYm\xc3\xa9", "Zm9\x00"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        cr_assert_eq(gale_base64_decode(bad[i], i == 5 ? 4 : strlen(bad[i]), out), GALE_EINVAL, "case %zu", i);
}

Test(base64, padding_anywhere_but_at_the_end_is_refused)
{
    unsigned char out[16];
    const char *bad[] = {
        "Zg==Zg==", /* a padded quad, then more */
        "Zm8=Zm9v", /* one '=' in a quad that is not the last */
        "Zg=g",     /* '=' then a letter */
        "=Zm9",     /* '=' first */
        "Z=m9",     /* '=' second */
        "Z===",     /* three of them: the second character is padding */
        "====",     /* all padding */
        "==Zg",     /* two of them first */
        "Zm9vZ===", /* the last quad's second character */
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        cr_assert_eq(decode(bad[i], out), GALE_EINVAL, "\"%s\"", bad[i]);
}
