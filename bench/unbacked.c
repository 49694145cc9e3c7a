/*
 * unbacked.c - bench/scale.sh's probe of the console's "not yet backed up" view (build: make
 * build/bench-unbacked): the time of its first page through the backend API the Objects
 * screen uses (unbacked_page), without a terminal.
 *
 *   bench-unbacked CONFIG ROWS        prints "<ms> <rows returned> <first name or ->"
 *   bench-unbacked CONFIG ROWS names  the names of the first page, one a line (tests)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "catalog.h"
#include "config.h"
#include "store.h"
#include "unbacked.h"
#include "util.h"

int main(int argc, char **argv)
{
    if (argc != 3 && !(argc == 4 && strcmp(argv[3], "names") == 0)) {
        fprintf(stderr, "usage: bench-unbacked CONFIG ROWS [names]\n");
        return 2;
    }
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    struct dv_config cfg;
    if (dv_config_load(argv[1], &cfg) != 0) {
        fprintf(stderr, "bench-unbacked: %s\n", dv_err());
        return 1;
    }
    size_t max = (size_t)strtoul(argv[2], NULL, 10);
    struct dv_store *st = store_open(&cfg);
    struct catalog *cat = st ? catalog_open_existing(cfg.catalog, NULL) : NULL;
    struct store_object *o = calloc(max ? max : 1, sizeof *o);
    size_t n = 0;
    if (!st || !cat || unbacked_page(st, cat, NULL, false, o, max, &n) != 0) {
        fprintf(stderr, "bench-unbacked: %s\n", dv_err());
        return 1;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    for (size_t i = 0; argc == 4 && i < n; i++)
        printf("%s\n", o[i].name);
    if (argc == 3)
        printf("%.3f %zu %s\n", (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6, n,
           n ? o[0].name : "-");
    free(o);
    catalog_close(cat);
    store_free(st);
    dv_config_done(&cfg);
    return 0;
}
