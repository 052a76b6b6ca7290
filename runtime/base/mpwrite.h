/*
 * mpwrite.h: small helpers for writing MessagePack with msgpack-c's packer, shared by the writers of records that
 * gale reads back with mpread.h (the journal, the serialised model).
 */
#ifndef GALE_MPWRITE_H
#define GALE_MPWRITE_H

#include <msgpack.h>
#include <string.h>

/* A NUL-terminated string as a MessagePack str, or nil for NULL. */
static inline void gale_mp_pack_cstr(msgpack_packer *pk, const char *s)
{
    if (!s) {
        msgpack_pack_nil(pk);
        return;
    }
    size_t n = strlen(s);
    msgpack_pack_str(pk, n);
    msgpack_pack_str_body(pk, s, n);
}

#endif
