/*
 * qyvol_process.h: start other apps from a WebAssembly program run by
 * Qyvol with `permissions.exec` (preview-1 modules, wasi-libc).
 * Header only: include it and build for wasm32-wasi.
 *
 *     int child;
 *     const char *args[] = {"--verbose", NULL};
 *     if (qyvol_spawn("/bin/tool.wasm", args, NULL, &child) != 0) {
 *         fprintf(stderr, "cannot start tool: %s\n", qyvol_error());
 *         return 1;
 *     }
 *     int status;
 *     qyvol_wait(child, &status);
 *
 * Paths are as this app sees them (inside its mounts). A child holds at
 * most what its parent holds; docs/process.md tells the whole interface.
 * Every function returns 0 or one of the QYVOL_E* codes; qyvol_error()
 * then says why.
 */
#ifndef QYVOL_PROCESS_H
#define QYVOL_PROCESS_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define QYVOL_EDENIED 1   /* not allowed: permissions.exec, or more than this app holds */
#define QYVOL_ENOTFOUND 2 /* no such program in this app's mounts */
#define QYVOL_ELIMIT 3    /* limits.processes children are running already */
#define QYVOL_EINVALID 4  /* a bad request, handle or file */
#define QYVOL_EFAILED 5   /* the program could not be loaded */
#define QYVOL_ECLOSED 6   /* the child reads its input no more */

/* How a child's standard stream is connected. */
#define QYVOL_INHERIT 0 /* this app's own stream */
#define QYVOL_PIPE 1    /* a pipe: qyvol_write to its stdin, qyvol_read from its output */
#define QYVOL_NULL 2    /* empty input, output dropped */

/* The two output streams for qyvol_read. */
#define QYVOL_STDOUT 1
#define QYVOL_STDERR 2

#define QYVOL_IMPORT(name) \
    __attribute__((import_module("qyvol_process"), import_name(name)))

QYVOL_IMPORT("spawn") int32_t __qyvol_spawn(const char *req, int32_t len, int32_t *handle);
QYVOL_IMPORT("write") int32_t __qyvol_write(int32_t h, const void *buf, int32_t len, uint32_t *written);
QYVOL_IMPORT("close_stdin") int32_t __qyvol_close_stdin(int32_t h);
QYVOL_IMPORT("read") int32_t __qyvol_read(int32_t h, int32_t stream, void *buf, int32_t len, uint32_t *got);
QYVOL_IMPORT("wait") int32_t __qyvol_wait(int32_t h, uint32_t *status);
QYVOL_IMPORT("kill") int32_t __qyvol_kill(int32_t h);
QYVOL_IMPORT("release") int32_t __qyvol_release(int32_t h);
QYVOL_IMPORT("last_error") int32_t __qyvol_last_error(char *buf, int32_t len);

/* Everything but the program and its arguments; NULL means the defaults:
 * no variables, every stream inherited, all of this app's mounts, network
 * and exec passed on. */
typedef struct qyvol_options {
    const char *const *env;    /* "NAME=VALUE", NULL-terminated */
    const char *cwd;           /* working folder, as this app sees it ($PWD) */
    int in, out, err;          /* QYVOL_INHERIT, QYVOL_PIPE or QYVOL_NULL */
    const char *const *mounts; /* "/data:read", "/out:write"; NULL-terminated; NULL: all */
    int no_net;                /* 1: the child gets no network */
    int no_exec;               /* 1: the child may not start others */
} qyvol_options;

static inline size_t __qyvol_add(char *req, size_t at, const char *key, const char *value) {
    size_t k = strlen(key), v = strlen(value);
    if (req) {
        memcpy(req + at, key, k);
        req[at + k] = '=';
        memcpy(req + at + k + 1, value, v);
        req[at + k + 1 + v] = '\0';
    }
    return at + k + v + 2;
}

static inline size_t __qyvol_request(char *req, const char *path, const char *const *args,
                                     const qyvol_options *o) {
    static const char *const modes[] = {"inherit", "pipe", "null"};
    size_t at = __qyvol_add(req, 0, "path", path);
    for (const char *const *a = args; a && *a; a++) at = __qyvol_add(req, at, "arg", *a);
    if (!o) return at;
    for (const char *const *e = o->env; e && *e; e++) at = __qyvol_add(req, at, "env", *e);
    if (o->cwd) at = __qyvol_add(req, at, "cwd", o->cwd);
    at = __qyvol_add(req, at, "stdin", modes[o->in % 3]);
    at = __qyvol_add(req, at, "stdout", modes[o->out % 3]);
    at = __qyvol_add(req, at, "stderr", modes[o->err % 3]);
    for (const char *const *m = o->mounts; m && *m; m++) at = __qyvol_add(req, at, "mount", *m);
    if (o->no_net) at = __qyvol_add(req, at, "net", "none");
    if (o->no_exec) at = __qyvol_add(req, at, "exec", "none");
    return at;
}

/* Starts the program at `path` (.wasm or .qyv) with `args` (after its
 * name; NULL-terminated, or NULL) and sets *child to its handle. */
static inline int qyvol_spawn(const char *path, const char *const *args,
                              const qyvol_options *opts, int *child) {
    size_t len = __qyvol_request(NULL, path, args, opts);
    char *req = malloc(len);
    if (!req) return QYVOL_EFAILED;
    __qyvol_request(req, path, args, opts);
    int32_t h = 0;
    int rc = __qyvol_spawn(req, (int32_t)len, &h);
    free(req);
    if (rc == 0) *child = h;
    return rc;
}

/* Writes to the child's input (a pipe), waiting for room. */
static inline int qyvol_write(int child, const void *buf, size_t len, size_t *written) {
    uint32_t n = 0;
    int rc = __qyvol_write(child, buf, (int32_t)len, &n);
    if (written) *written = n;
    return rc;
}

/* Ends the child's input: it reads the end of its stream. */
static inline int qyvol_close_stdin(int child) { return __qyvol_close_stdin(child); }

/* Reads from the child's QYVOL_STDOUT or QYVOL_STDERR (a pipe), waiting
 * for bytes; *got is 0 at the end. */
static inline int qyvol_read(int child, int stream, void *buf, size_t len, size_t *got) {
    uint32_t n = 0;
    int rc = __qyvol_read(child, stream, buf, (int32_t)len, &n);
    *got = n;
    return rc;
}

/* Waits for the child's end: its exit code, or Qyvol's status for how it
 * ended (124 time limit, 134 trap, 137 memory, 143 killed). */
static inline int qyvol_wait(int child, int *status) {
    uint32_t s = 0;
    int rc = __qyvol_wait(child, &s);
    *status = (int)s;
    return rc;
}

/* Ends the child now (its status is then 143). */
static inline int qyvol_kill(int child) { return __qyvol_kill(child); }

/* Forgets the child (killing it if it still runs). */
static inline int qyvol_release(int child) { return __qyvol_release(child); }

/* Why the last call failed. */
static inline const char *qyvol_error(void) {
    static char message[1024];
    int32_t n = __qyvol_last_error(message, sizeof message - 1);
    message[n < (int32_t)sizeof message - 1 ? n : (int32_t)sizeof message - 1] = '\0';
    return message;
}

#endif
