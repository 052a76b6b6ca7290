/* SHA-256 and HMAC-SHA256 against the published test vectors; the handshake's proofs. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "hmac.h"

static void hex(const unsigned char *d, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++) sprintf(out + 2 * i, "%02x", d[i]);
}

static void sha(const char *msg, size_t n, char *out)
{
    gale_sha256_t s;
    unsigned char d[32];
    gale_sha256_init(&s);
    gale_sha256_update(&s, msg, n);
    gale_sha256_final(&s, d);
    hex(d, 32, out);
}

Test(hmac, sha256_fips_vectors)
{
    char out[65];
    sha("abc", 3, out);
    cr_assert_str_eq(out, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    sha("", 0, out);
    cr_assert_str_eq(out, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    const char *two = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    sha(two, strlen(two), out);
    cr_assert_str_eq(out, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    static char million[1000000];
    memset(million, 'a', sizeof million);
    sha(million, sizeof million, out);
    cr_assert_str_eq(out, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

Test(hmac, rfc4231_vectors)
{
    unsigned char mac[32], key[131];
    char out[65];
    memset(key, 0x0b, 20);
    gale_hmac_sha256(key, 20, "Hi There", 8, mac);
    hex(mac, 32, out);
    cr_assert_str_eq(out, "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
    gale_hmac_sha256("Jefe", 4, "what do ya want for nothing?", 28, mac);
    hex(mac, 32, out);
    cr_assert_str_eq(out, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    memset(key, 0xaa, 131); /* a key longer than the block is hashed first */
    const char *m = "Test Using Larger Than Block-Size Key - Hash Key First";
    gale_hmac_sha256(key, 131, m, strlen(m), mac);
    hex(mac, 32, out);
    cr_assert_str_eq(out, "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
}

Test(hmac, proofs_bind_secret_nonce_role_and_peer)
{
    unsigned char nonce[GALE_NONCE_LEN], other[GALE_NONCE_LEN], proof[32];
    cr_assert_eq(gale_auth_nonce(nonce), 0);
    cr_assert_eq(gale_auth_nonce(other), 0);
    cr_assert_neq(memcmp(nonce, other, sizeof nonce), 0, "two nonces alike");
    gale_auth_proof("s3cret", 6, nonce, 'c', 7, proof);
    cr_assert(gale_auth_check("s3cret", 6, nonce, 'c', 7, proof));
    cr_assert_not(gale_auth_check("s3creT", 6, nonce, 'c', 7, proof), "wrong secret accepted");
    cr_assert_not(gale_auth_check("s3cret", 6, other, 'c', 7, proof), "replayed against another nonce");
    cr_assert_not(gale_auth_check("s3cret", 6, nonce, 's', 7, proof), "client proof taken as a server's");
    cr_assert_not(gale_auth_check("s3cret", 6, nonce, 'c', 8, proof), "proof of another peer");
}

/* SHA-1 (FIPS 180-4's vectors), for ZooKeeper's digest ACL ids, and the one-shot SHA-256 agreeing with the streamed. */
Test(hmac, sha1_and_one_shot_sha256)
{
    unsigned char d[32];
    char out[65];
    cr_assert_eq(gale_sha1("abc", 3, d), 0);
    hex(d, 20, out);
    cr_assert_str_eq(out, "a9993e364706816aba3e25717850c26c9cd0d89d");
    cr_assert_eq(gale_sha1("", 0, d), 0);
    hex(d, 20, out);
    cr_assert_str_eq(out, "da39a3ee5e6b4b0d3255bfef95601890afd80709");
    cr_assert_eq(gale_sha256("abc", 3, d), 0);
    hex(d, 32, out);
    cr_assert_str_eq(out, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    cr_assert(gale_equal_secret("same", "same", 4));
    cr_assert(!gale_equal_secret("same", "sane", 4));
}
