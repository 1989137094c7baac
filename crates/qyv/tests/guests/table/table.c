/*
 * table -- a guest that grows a WebAssembly table, for the tests of the
 * memory limit: a table lives in host memory, outside the guest's linear
 * memory, so qyv counts it against limits.memory (--memory).
 *
 * Usage: table TOTAL STEP
 *   Grows a table of externref by STEP elements at a time until it holds
 *   TOTAL, then prints "table has N elements" and exits 0. When a growth is
 *   refused (table.grow returns -1) it prints "table.grow failed at N
 *   elements" and exits 1. Wrong arguments: a usage line on stderr, exit 2.
 *
 * Built by examples/build.sh with clang for wasm32-wasi, with reference
 * types (tables of references are a WebAssembly 2.0 feature).
 */
#include <stdio.h>
#include <stdlib.h>

static __externref_t table[0];

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: table TOTAL STEP\n");
        return 2;
    }
    long total = atol(argv[1]);
    long step = atol(argv[2]);
    if (total < 0 || step <= 0) {
        fprintf(stderr, "usage: table TOTAL STEP\n");
        return 2;
    }
    long size = 0;
    while (size < total) {
        if (__builtin_wasm_table_grow(table, __builtin_wasm_ref_null_extern(), (int)step) < 0) {
            printf("table.grow failed at %ld elements\n", size);
            return 1;
        }
        size += step;
    }
    printf("table has %lu elements\n", (unsigned long)__builtin_wasm_table_size(table));
    return 0;
}
