// A preview-1 program that uses a memfs mount at /tmp the way programs use
// scratch space, and checks every answer: `qyv run` tests it (see
// crates/qyv/tests/e2e/memfs.rs). Usage: fs check | fill | readonly | seed
// | bench DIR N (bench/fs.sh: N small files created, read, removed in DIR)
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static int failures = 0;

#define CHECK(cond)                                                        \
    do {                                                                   \
        if (!(cond)) {                                                     \
            printf("FAIL line %d: %s (errno %d: %s)\n", __LINE__, #cond,   \
                   errno, strerror(errno));                                \
            failures++;                                                    \
        }                                                                  \
    } while (0)

static void put(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (f) {
        CHECK(fputs(text, f) >= 0);
        CHECK(fclose(f) == 0);
    }
}

static void get(const char *path, char *buf, size_t len) {
    buf[0] = 0;
    int fd = open(path, O_RDONLY);
    CHECK(fd >= 0);
    if (fd < 0) return;
    ssize_t n = read(fd, buf, len - 1);
    CHECK(n >= 0);
    buf[n < 0 ? 0 : n] = 0;
    close(fd);
}

static int check(void) {
    char buf[256];
    // Folders, files, nested paths.
    CHECK(mkdir("/tmp/a", 0755) == 0);
    CHECK(mkdir("/tmp/a/b", 0755) == 0);
    CHECK(mkdir("/tmp/a", 0755) == -1 && errno == EEXIST);
    put("/tmp/a/b/one.txt", "one");
    get("/tmp/a/b/one.txt", buf, sizeof buf);
    CHECK(strcmp(buf, "one") == 0);
    // Seek and overwrite in the middle; a gap past the end reads as zeros.
    int fd = open("/tmp/a/b/one.txt", O_RDWR);
    CHECK(fd >= 0);
    CHECK(lseek(fd, 1, SEEK_SET) == 1);
    CHECK(write(fd, "N", 1) == 1);
    CHECK(lseek(fd, 0, SEEK_END) == 3);
    CHECK(lseek(fd, 5, SEEK_SET) == 5);
    CHECK(write(fd, "!", 1) == 1);
    CHECK(lseek(fd, 0, SEEK_SET) == 0);
    memset(buf, 'x', sizeof buf);
    CHECK(read(fd, buf, sizeof buf) == 6);
    CHECK(memcmp(buf, "oNe\0\0!", 6) == 0);
    // Truncate, shorter and longer.
    CHECK(ftruncate(fd, 2) == 0);
    struct stat st;
    CHECK(fstat(fd, &st) == 0 && st.st_size == 2);
    CHECK(ftruncate(fd, 10) == 0);
    CHECK(fstat(fd, &st) == 0 && st.st_size == 10);
    close(fd);
    // Append goes to the end whatever the position.
    put("/tmp/log", "1");
    fd = open("/tmp/log", O_WRONLY | O_APPEND);
    CHECK(fd >= 0);
    CHECK(lseek(fd, 0, SEEK_SET) == 0);
    CHECK(write(fd, "2", 1) == 1);
    close(fd);
    FILE *f = fopen("/tmp/log", "a");
    CHECK(f && fputs("3", f) >= 0 && fclose(f) == 0);
    get("/tmp/log", buf, sizeof buf);
    CHECK(strcmp(buf, "123") == 0);
    // Rename: replaces the target at once.
    put("/tmp/new", "new");
    CHECK(rename("/tmp/new", "/tmp/log") == 0);
    get("/tmp/log", buf, sizeof buf);
    CHECK(strcmp(buf, "new") == 0);
    CHECK(access("/tmp/new", F_OK) == -1 && errno == ENOENT);
    CHECK(rename("/tmp/a", "/tmp/a/b/c") == -1 && errno == EINVAL);
    CHECK(rename("/tmp/a/b", "/tmp/b") == 0);
    CHECK(access("/tmp/b/one.txt", F_OK) == 0);
    // Unlink of an open file: it stays readable until closed.
    put("/tmp/open", "still here");
    fd = open("/tmp/open", O_RDONLY);
    CHECK(fd >= 0);
    CHECK(unlink("/tmp/open") == 0);
    CHECK(access("/tmp/open", F_OK) == -1 && errno == ENOENT);
    memset(buf, 0, sizeof buf);
    CHECK(read(fd, buf, sizeof buf) == 10 && strcmp(buf, "still here") == 0);
    close(fd);
    // Folders must be empty to go.
    CHECK(rmdir("/tmp/b") == -1 && errno == ENOTEMPTY);
    CHECK(unlink("/tmp/b/one.txt") == 0);
    CHECK(rmdir("/tmp/b") == 0);
    // Timestamps: set and read back.
    struct timespec times[2] = {{1000, 5}, {2000, 7}};
    CHECK(utimensat(AT_FDCWD, "/tmp/log", times, 0) == 0);
    CHECK(stat("/tmp/log", &st) == 0);
    CHECK(st.st_mtim.tv_sec == 2000 && st.st_mtim.tv_nsec == 7);
    CHECK(st.st_atim.tv_sec == 1000);
    // Listing order is stable: names in byte order.
    put("/tmp/zeta", "");
    put("/tmp/alpha", "");
    put("/tmp/Mid", "");
    DIR *d = opendir("/tmp");
    CHECK(d != NULL);
    char names[512] = "";
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        strcat(names, e->d_name);
        strcat(names, " ");
    }
    if (d) closedir(d);
    CHECK(strcmp(names, "Mid a alpha log zeta ") == 0);
    // `..` cannot leave the mount.
    CHECK(open("/tmp/../etc/passwd", O_RDONLY) == -1);
    CHECK(open("/tmp/a/../../x", O_RDONLY) == -1);
    printf("names: %s\n", names);
    printf("%s\n", failures ? "memfs check: FAILED" : "memfs check: ok");
    return failures ? 1 : 0;
}

// Writes 4 KiB blocks until the mount is full.
static int fill(void) {
    static char block[4096];
    memset(block, 'x', sizeof block);
    FILE *f = fopen("/tmp/big", "w");
    if (!f) {
        printf("open: %s\n", strerror(errno));
        return 1;
    }
    setvbuf(f, NULL, _IONBF, 0);
    long total = 0;
    for (;;) {
        size_t n = fwrite(block, 1, sizeof block, f);
        total += (long)n;
        if (n < sizeof block) break;
    }
    int err = errno;
    printf("wrote %ld bytes, then: %s\n", total, strerror(err));
    fclose(f);
    // Space comes back when the file goes.
    unlink("/tmp/big");
    f = fopen("/tmp/again", "w");
    int ok = f && fwrite(block, 1, sizeof block, f) == sizeof block && fclose(f) == 0;
    printf("after unlink: %s\n", ok ? "room again" : strerror(errno));
    return err == ENOSPC && ok ? 0 : 1;
}

static int readonly(void) {
    char buf[64];
    get("/tmp/hello.txt", buf, sizeof buf);
    printf("read: %s", buf);
    FILE *f = fopen("/tmp/new.txt", "w");
    printf("create: %s\n", f ? "allowed" : strerror(errno));
    int r = mkdir("/tmp/dir", 0755);
    printf("mkdir: %s\n", r == 0 ? "allowed" : strerror(errno));
    return f == NULL && r != 0 ? 0 : 1;
}

static int seed(void) {
    char buf[64];
    get("/tmp/hello.txt", buf, sizeof buf);
    printf("hello.txt: %s", buf);
    DIR *d = opendir("/tmp/docs");
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (e->d_name[0] != '.') printf("docs/%s\n", e->d_name);
    }
    if (d) closedir(d);
    // A change stays in memory: the host's folder keeps its file.
    put("/tmp/hello.txt", "changed\n");
    get("/tmp/hello.txt", buf, sizeof buf);
    printf("now: %s", buf);
    return 0;
}

static double ms_since(struct timespec *t0) {
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (t1.tv_sec - t0->tv_sec) * 1e3 + (t1.tv_nsec - t0->tv_nsec) / 1e6;
}

// Creates N files of 100 bytes in DIR, reads each back, removes them, and
// prints the time each phase took (measured inside the program, so start-up
// is not in it).
static int bench(const char *dir, int n) {
    char path[256], buf[128];
    static const char data[100] = "0123456789";
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < n; i++) {
        snprintf(path, sizeof path, "%s/f%05d", dir, i);
        int fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0644);
        if (fd < 0 || write(fd, data, sizeof data) != sizeof data) return 1;
        close(fd);
    }
    double create = ms_since(&t0);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < n; i++) {
        snprintf(path, sizeof path, "%s/f%05d", dir, i);
        int fd = open(path, O_RDONLY);
        if (fd < 0 || read(fd, buf, sizeof buf) != sizeof data) return 1;
        close(fd);
    }
    double readback = ms_since(&t0);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < n; i++) {
        snprintf(path, sizeof path, "%s/f%05d", dir, i);
        if (unlink(path) != 0) return 1;
    }
    double remove = ms_since(&t0);
    printf("%d files: create+write %.1f ms, read %.1f ms, remove %.1f ms\n", n, create,
           readback, remove);
    return 0;
}

int main(int argc, char **argv) {
    const char *what = argc > 1 ? argv[1] : "check";
    if (strcmp(what, "check") == 0) return check();
    if (strcmp(what, "fill") == 0) return fill();
    if (strcmp(what, "readonly") == 0) return readonly();
    if (strcmp(what, "seed") == 0) return seed();
    if (strcmp(what, "bench") == 0 && argc > 3) return bench(argv[2], atoi(argv[3]));
    printf("usage: fs check | fill | readonly | seed\n");
    return 2;
}
