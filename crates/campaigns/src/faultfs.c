/* A fault-injection shim for the disk-fault campaign (crate `campaigns`, module `disk`).
 *
 * Loaded with LD_PRELOAD into `hookledger serve`. While a mode file exists in the folder
 * $FAULT_CONTROL, every write-side call on a file whose path starts with $FAULT_PREFIX fails:
 *   enospc     write/pwrite/writev/ftruncate/fallocate fail with ENOSPC (a full disk)
 *   eio-fsync  fsync/fdatasync fail with EIO (a failing disk that accepted the write)
 *   erofs      every write and sync fails with EROFS (the file system went read-only)
 * Sockets, pipes and other files are never touched. Each injected fault appends one byte to
 * $FAULT_CONTROL/injected, so the campaign can count them.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

static int mode_on(const char *name) {
    const char *control = getenv("FAULT_CONTROL");
    char path[4096];
    if (control == NULL || *control == 0) return 0;
    snprintf(path, sizeof path, "%s/%s", control, name);
    return access(path, F_OK) == 0;
}

static int under_prefix(int fd) {
    const char *prefix = getenv("FAULT_PREFIX");
    char link[64], target[4096];
    ssize_t n;
    if (prefix == NULL || *prefix == 0) return 0;
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    n = readlink(link, target, sizeof target - 1);
    if (n <= 0) return 0;
    target[n] = 0;
    return strncmp(target, prefix, strlen(prefix)) == 0;
}

static void count_fault(void) {
    static ssize_t (*real_write)(int, const void *, size_t);
    const char *control = getenv("FAULT_CONTROL");
    char path[4096];
    int fd;
    if (real_write == NULL) real_write = dlsym(RTLD_NEXT, "write");
    snprintf(path, sizeof path, "%s/injected", control);
    fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0600);
    if (fd >= 0) {
        real_write(fd, "x", 1);
        close(fd);
    }
}

/* Whether a write-side call on fd fails now; sets errno when it does. */
static int write_fails(int fd) {
    int enospc = mode_on("enospc"), erofs = mode_on("erofs");
    if (!enospc && !erofs) return 0;
    if (!under_prefix(fd)) return 0;
    count_fault();
    errno = enospc ? ENOSPC : EROFS;
    return 1;
}

static int sync_fails(int fd) {
    int eio = mode_on("eio-fsync"), erofs = mode_on("erofs");
    if (!eio && !erofs) return 0;
    if (!under_prefix(fd)) return 0;
    count_fault();
    errno = eio ? EIO : EROFS;
    return 1;
}

#define REAL(name, ret, args) \
    static ret (*real_##name) args; \
    if (real_##name == NULL) real_##name = (ret (*) args)dlsym(RTLD_NEXT, #name)

ssize_t write(int fd, const void *buf, size_t n) {
    REAL(write, ssize_t, (int, const void *, size_t));
    if (write_fails(fd)) return -1;
    return real_write(fd, buf, n);
}

ssize_t pwrite(int fd, const void *buf, size_t n, off_t at) {
    REAL(pwrite, ssize_t, (int, const void *, size_t, off_t));
    if (write_fails(fd)) return -1;
    return real_pwrite(fd, buf, n, at);
}

ssize_t pwrite64(int fd, const void *buf, size_t n, off_t at) {
    REAL(pwrite64, ssize_t, (int, const void *, size_t, off_t));
    if (write_fails(fd)) return -1;
    return real_pwrite64(fd, buf, n, at);
}

ssize_t writev(int fd, const struct iovec *iov, int n) {
    REAL(writev, ssize_t, (int, const struct iovec *, int));
    if (write_fails(fd)) return -1;
    return real_writev(fd, iov, n);
}

int ftruncate(int fd, off_t length) {
    REAL(ftruncate, int, (int, off_t));
    if (write_fails(fd)) return -1;
    return real_ftruncate(fd, length);
}

int ftruncate64(int fd, off_t length) {
    REAL(ftruncate64, int, (int, off_t));
    if (write_fails(fd)) return -1;
    return real_ftruncate64(fd, length);
}

int fallocate(int fd, int mode, off_t offset, off_t len) {
    REAL(fallocate, int, (int, int, off_t, off_t));
    if (write_fails(fd)) return -1;
    return real_fallocate(fd, mode, offset, len);
}

int posix_fallocate(int fd, off_t offset, off_t len) {
    REAL(posix_fallocate, int, (int, off_t, off_t));
    if (write_fails(fd)) return errno;
    return real_posix_fallocate(fd, offset, len);
}

int fsync(int fd) {
    REAL(fsync, int, (int));
    if (sync_fails(fd)) return -1;
    return real_fsync(fd);
}

int fdatasync(int fd) {
    REAL(fdatasync, int, (int));
    if (sync_fails(fd)) return -1;
    return real_fdatasync(fd);
}
