/* Hello in C, built by clang-19 for WASI preview 1 (wasm32-wasi). */
#include <stdio.h>

int main(void) {
    puts("Hello from C!");
    return 0;
}
