/* Whether bytes are well-formed UTF-8, judged by glibc's iconv: a judge independent of gale's own UTF-8 code. */
#include <errno.h>
#include <iconv.h>
#include <stdlib.h>

#include "testlib.h"

bool tl_utf8_valid(const char *s, size_t n)
{
    iconv_t cd = iconv_open("UTF-32LE", "UTF-8");
    if (cd == (iconv_t)-1) abort(); /* glibc always has it: a test cannot go on without its judge */
    char out[4096], *ip = (char *)s;
    size_t il = n;
    bool ok = true;
    while (il && ok) { /* in rounds of the output buffer, so that a text of any length can be judged */
        char *op = out;
        size_t ol = sizeof out;
        ok = iconv(cd, &ip, &il, &op, &ol) != (size_t)-1 || errno == E2BIG;
    }
    iconv_close(cd);
    return ok;
}
