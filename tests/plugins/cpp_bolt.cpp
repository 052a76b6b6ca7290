/*
 * cpp_bolt: a word count written in C++, to keep C++ plugins working: gale.h must compile as C++20 and
 * GALE_PLUGIN() must export the descriptor with C linkage. It counts its input's first value in a
 * std::unordered_map and emits (word, count) for each word in finish, sorted. No exception leaves a callback:
 * the runtime is C, so an allocation failure becomes GALE_ENOMEM.
 */
#include <algorithm>
#include <new>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "gale.h"

namespace {

struct counts {
    std::unordered_map<std::string, int64_t> words;
};

int prepare(gale_ctx_t *ctx)
{
    try {
        ctx->state = new counts();
    } catch (const std::bad_alloc &) {
        return GALE_ENOMEM;
    }
    return 0;
}

int execute(gale_ctx_t *ctx, const gale_tuple_t *in)
{
    gale_value_t v;
    if (gale_get(ctx, in, 0, &v) || v.type != GALE_STR) return GALE_ETYPE;
    try {
        static_cast<counts *>(ctx->state)->words[std::string(v.s.ptr, v.s.len)]++;
    } catch (const std::bad_alloc &) {
        return GALE_ENOMEM;
    }
    return 0;
}

int finish(gale_ctx_t *ctx)
{
    try {
        const auto &words = static_cast<counts *>(ctx->state)->words;
        std::vector<std::pair<std::string, int64_t>> sorted(words.begin(), words.end());
        std::sort(sorted.begin(), sorted.end());
        for (const auto &w : sorted) {
            gale_value_t out[2] = {gale_strn(w.first.data(), w.first.size()), gale_int(w.second)};
            int rc = gale_emit(ctx, out, 2);
            if (rc) return rc;
        }
    } catch (const std::bad_alloc &) {
        return GALE_ENOMEM;
    }
    return 0;
}

void cleanup(gale_ctx_t *ctx) { delete static_cast<counts *>(ctx->state); }

const char *const fields[] = {"word", "count", nullptr};
const gale_stream_decl_t streams[] = {{"default", fields}, {}};

} // namespace

GALE_PLUGIN(.kind = GALE_BOLT, .name = "cpp_bolt", .description = "word count in C++ (a test of the C++ ABI)",
            .flags = GALE_BOLT_BASIC, .streams = streams,
            .bolt = {.prepare = prepare, .execute = execute, .finish = finish, .cleanup = cleanup});
