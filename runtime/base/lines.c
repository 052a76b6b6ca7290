#include "lines.h"

#include <string.h>

#include "gale.h"

int gale_lines_took(gale_lines_t *l, size_t n, void (*line)(void *arg, char *text), void *arg)
{
    l->len += n;
    char *nl;
    while ((nl = memchr(l->buf, '\n', l->len))) {
        *nl = '\0';
        line(arg, l->buf);
        size_t used = (size_t)(nl - l->buf) + 1;
        memmove(l->buf, nl + 1, l->len - used);
        l->len -= used;
    }
    if (l->len < l->cap - 1) return 0;
    l->len = 0;
    return GALE_ELIMIT;
}
