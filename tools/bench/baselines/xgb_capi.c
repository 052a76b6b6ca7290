/*
 * xgb_capi: the hand-written baseline of tools/bench/xgboost_vs_capi.sh: reads a CSV of rows (id,f0,...,fK-1),
 * then scores them with XGBoost's C API in batches, as a program that calls it in a loop by hand would, and prints
 * the rows per second of the scoring alone and of reading plus scoring.
 *
 *   xgb_capi MODEL ROWS.csv BATCH
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <xgboost/c_api.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: xgb_capi MODEL ROWS.csv BATCH\n");
        return 2;
    }
    size_t batch = (size_t)atol(argv[3]), cap = 1 << 16, n = 0, k = 0;
    double t0 = now_s();
    FILE *f = fopen(argv[2], "r");
    if (!f || !batch) return 1;
    float *rows = malloc(cap * 16 * sizeof *rows);
    char line[4096];
    while (fgets(line, sizeof line, f)) {
        char *p = strchr(line, ',');
        size_t j = 0;
        if (n == cap) rows = realloc(rows, (cap *= 2) * 16 * sizeof *rows);
        while (p && j < 16) {
            char *end;
            rows[n * 16 + j++] = strtof(p + 1, &end);
            p = strchr(end, ',');
        }
        if (!k) k = j;
        n++;
    }
    fclose(f);
    for (size_t i = 0; i < n; i++) memmove(rows + i * k, rows + i * 16, k * sizeof *rows); /* packed rows */
    BoosterHandle b;
    if (XGBoosterCreate(NULL, 0, &b) || XGBoosterLoadModel(b, argv[1]) || XGBoosterSetParam(b, "nthread", "1")) {
        fprintf(stderr, "%s\n", XGBGetLastError());
        return 1;
    }
    const char *config = "{\"type\": 0, \"training\": false, \"iteration_begin\": 0, \"iteration_end\": 0, "
                         "\"strict_shape\": false, \"cache_id\": 0, \"missing\": NaN}";
    double t1 = now_s(), sum = 0;
    for (size_t at = 0; at < n; at += batch) {
        size_t m = n - at < batch ? n - at : batch;
        char iface[200];
        snprintf(iface, sizeof iface, "{\"data\": [%llu, true], \"shape\": [%zu, %zu], \"typestr\": \"<f4\", \"version\": 3}",
                 (unsigned long long)(uintptr_t)(rows + at * k), m, k);
        const bst_ulong *shape;
        bst_ulong dim;
        const float *out;
        if (XGBoosterPredictFromDense(b, iface, config, NULL, &shape, &dim, &out)) {
            fprintf(stderr, "%s\n", XGBGetLastError());
            return 1;
        }
        for (size_t i = 0; i < m; i++) sum += out[i];
    }
    double t2 = now_s();
    printf("%.0f %.0f %g\n", n / (t2 - t1), n / (t2 - t0), sum);
    XGBoosterFree(b);
    free(rows);
    return 0;
}
