/* The contract app (examples/CONTRACT.md) in C, a WASI preview-1 module. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LANGUAGE "C"

int main(int argc, char **argv) {
    printf("Hello from %s!\n", LANGUAGE);

    printf("args:");
    for (int i = 1; i < argc; i++) printf(" [%s]", argv[i]);
    printf("\n");

    const char *greeting = getenv("GREETING");
    if (greeting) printf("GREETING=%s\n", greeting);
    else printf("GREETING is not set\n");

    FILE *in = fopen("/input/message.txt", "r");
    if (!in) { perror("error: /input/message.txt"); return 1; }
    char line[4096] = "";
    if (!fgets(line, sizeof line, in) && ferror(in)) { perror("error: /input/message.txt"); return 1; }
    fclose(in);
    line[strcspn(line, "\r\n")] = '\0';
    printf("input: %s\n", line);

    FILE *out = fopen("/output/result.txt", "w");
    if (!out) { perror("error: /output/result.txt"); return 1; }
    fprintf(out, "%s read: %s\n", LANGUAGE, line);
    if (fclose(out) != 0) { perror("error: /output/result.txt"); return 1; }
    printf("wrote /output/result.txt\n");

    return argc > 1 ? atoi(argv[1]) : 0;
}
