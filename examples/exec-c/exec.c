/*
 * exec-c: an app that starts other apps (permissions.exec), through the
 * guest header guest/c/qyvol_process.h. It is its own child too:
 *
 *   run PROG [ARG...]                 start PROG, wait, exit with its status
 *                                     (over 125: say it, exit 125)
 *   pipe PROG1 [ARG...] -- PROG2 [ARG...]
 *                                     PROG1's output into PROG2's input
 *   kill PROG [ARG...]                start PROG, kill it, print its status
 *   leave PROG [ARG...]               start PROG and end without waiting
 *   bomb SELF                         start SELF bomb SELF, without end
 *   many N PROG [ARG...]              start PROG N times, one after another,
 *                                     its output dropped (bench/exec.sh)
 *   big N      write N bytes          count      count the input's bytes
 *   cat FILE   print a file           loop       never end
 *   exit N     exit with N            pwd        print $PWD
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../guest/c/qyvol_process.h"

static int start(const char *path, const char *const *args, const qyvol_options *o) {
    int child;
    int rc = qyvol_spawn(path, args, o, &child);
    if (rc != 0) {
        fprintf(stderr, "exec: cannot start %s: %s (error %d)\n", path, qyvol_error(), rc);
        exit(1);
    }
    return child;
}

static int finish(int child) {
    int status;
    if (qyvol_wait(child, &status) != 0) {
        fprintf(stderr, "exec: wait: %s\n", qyvol_error());
        exit(1);
    }
    return status;
}

static int pipe_two(char **argv, int argc) {
    int sep = 0;
    for (int i = 0; i < argc; i++)
        if (strcmp(argv[i], "--") == 0) sep = i;
    if (sep < 1 || sep + 1 >= argc) {
        fprintf(stderr, "usage: pipe PROG1 [ARG...] -- PROG2 [ARG...]\n");
        return 2;
    }
    argv[sep] = NULL;
    qyvol_options first = {.out = QYVOL_PIPE};
    qyvol_options second = {.in = QYVOL_PIPE};
    int a = start(argv[0], (const char *const *)argv + 1, &first);
    int b = start(argv[sep + 1], (const char *const *)argv + sep + 2, &second);
    static char buf[65536];
    for (;;) {
        size_t got, put;
        if (qyvol_read(a, QYVOL_STDOUT, buf, sizeof buf, &got) != 0) {
            fprintf(stderr, "exec: read: %s\n", qyvol_error());
            return 1;
        }
        if (got == 0) break;
        if (qyvol_write(b, buf, got, &put) != 0) break; /* b stopped reading */
    }
    qyvol_close_stdin(b);
    int sa = finish(a), sb = finish(b);
    return sa != 0 ? sa : sb;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: exec run|pipe|kill|leave|many|bomb|big|count|cat|loop|exit|pwd ...\n");
        return 2;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "run") == 0 && argc >= 3) {
        int status = finish(start(argv[2], (const char *const *)argv + 3, NULL));
        /* WASI exit codes stop at 125: say a higher status (a limit, a
         * kill) instead of passing it on. */
        if (status > 125) {
            fprintf(stderr, "exec: %s ended with status %d\n", argv[2], status);
            return 125;
        }
        return status;
    }
    if (strcmp(cmd, "pipe") == 0) {
        return pipe_two(argv + 2, argc - 2);
    }
    if (strcmp(cmd, "kill") == 0 && argc >= 3) {
        qyvol_options quiet = {.in = QYVOL_PIPE};
        int child = start(argv[2], (const char *const *)argv + 3, &quiet);
        qyvol_kill(child);
        printf("killed: status %d\n", finish(child));
        return 0;
    }
    if (strcmp(cmd, "leave") == 0 && argc >= 3) {
        start(argv[2], (const char *const *)argv + 3, NULL);
        printf("left it running\n");
        return 0;
    }
    if (strcmp(cmd, "many") == 0 && argc >= 4) {
        long n = atol(argv[2]);
        qyvol_options quiet = {.out = QYVOL_NULL};
        for (long i = 0; i < n; i++) {
            int child = start(argv[3], (const char *const *)argv + 4, &quiet);
            int status = finish(child);
            qyvol_release(child);
            if (status != 0) {
                fprintf(stderr, "exec: child %ld ended with status %d\n", i, status);
                return 1;
            }
        }
        printf("started %ld\n", n);
        return 0;
    }
    if (strcmp(cmd, "bomb") == 0 && argc >= 3) {
        const char *args[] = {"bomb", argv[2], NULL};
        return finish(start(argv[2], args, NULL));
    }
    if (strcmp(cmd, "big") == 0 && argc >= 3) {
        long n = atol(argv[2]);
        static char line[4096];
        memset(line, 'x', sizeof line);
        line[sizeof line - 1] = '\n';
        while (n > 0) {
            size_t k = n < (long)sizeof line ? (size_t)n : sizeof line;
            fwrite(line, 1, k, stdout);
            n -= (long)k;
        }
        return 0;
    }
    if (strcmp(cmd, "count") == 0) {
        static char buf[65536];
        long total = 0;
        size_t got;
        while ((got = fread(buf, 1, sizeof buf, stdin)) > 0) total += (long)got;
        printf("%ld bytes\n", total);
        return 0;
    }
    if (strcmp(cmd, "cat") == 0 && argc >= 3) {
        FILE *f = fopen(argv[2], "r");
        if (!f) {
            fprintf(stderr, "cannot open %s: %s\n", argv[2], strerror(errno));
            return 1;
        }
        int c;
        while ((c = fgetc(f)) != EOF) putchar(c);
        fclose(f);
        return 0;
    }
    if (strcmp(cmd, "loop") == 0) {
        volatile unsigned long spins = 0;
        for (;;) spins++;
    }
    if (strcmp(cmd, "exit") == 0 && argc >= 3) {
        return atoi(argv[2]);
    }
    if (strcmp(cmd, "pwd") == 0) {
        const char *pwd = getenv("PWD");
        printf("PWD=%s\n", pwd ? pwd : "(not set)");
        return 0;
    }
    fprintf(stderr, "exec: unknown command %s\n", cmd);
    return 2;
}
