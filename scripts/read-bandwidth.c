// Memory read bandwidth of this machine, the ceiling of a decode step that reads every weight once:
// T threads each sum their own part of a buffer much larger than the caches (every byte read, no
// writes), the best of R passes. scripts/bench-quant compiles and runs it beside the engines.
//   cc -O2 -march=native -pthread scripts/read-bandwidth.c -o read-bandwidth
//   ./read-bandwidth THREADS [MiB=1024] [PASSES=5] [PAGES=2m|4k]   prints GB/s (10^9 bytes per second)
// The buffer lies on 2 MiB pages as exprun's large weight buffers do (Tensor/Storage.swift: a 2 MiB
// aligned mapping offered to transparent huge pages with madvise, which THP mode "madvise" needs):
// on 4 KiB pages (`4k`, what aligned_alloc gives there) the same read measured 39.7-41.7 GB/s
// against 43.0-43.4 on 2 MiB pages, 1 thread, 2026-11-30. How much of the buffer the kernel really
// put on huge pages (AnonHugePages) goes to stderr.
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

typedef float v16 __attribute__((vector_size(64)));
static const char *buffer;
static size_t part;
static pthread_barrier_t start;
static volatile float sink[64];   // read by no one, but the sums must be made
// Each reader's own start and end: timed from the main thread, a pass on 2 vCPUs ran while the
// main thread (a third thread) waited for a core, and 2 threads "read" up to 335 GB/s
// (benchmarks/bench-quant-20261130T1436Z.log).
static double started[64], ended[64];

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

// Four independent sums, so the loop waits on loads, not on its own additions.
static void *reader(void *arg) {
    long k = (long)arg;
    const v16 *p = (const v16 *)(buffer + k * part), *end = (const v16 *)(buffer + (k + 1) * part);
    v16 a = {0}, b = {0}, c = {0}, d = {0};
    pthread_barrier_wait(&start);
    started[k] = now();
    for (; p + 4 <= end; p += 4) { a += p[0]; b += p[1]; c += p[2]; d += p[3]; }
    v16 s = a + b + c + d;
    sink[k] = s[0] + s[15];
    ended[k] = now();
    return NULL;
}

int main(int argc, char **argv) {
    int threads = argc > 1 ? atoi(argv[1]) : 1;
    size_t mib = argc > 2 ? (size_t)atol(argv[2]) : 1024;
    int passes = argc > 3 ? atoi(argv[3]) : 5;
    const char *pages = argc > 4 ? argv[4] : "2m";
    int huge = strcmp(pages, "2m") == 0;
    if (threads < 1 || threads > 64 || mib < 2 || passes < 1 || (!huge && strcmp(pages, "4k") != 0)) {
        fprintf(stderr, "usage: read-bandwidth THREADS(1-64) [MiB(>=2)] [PASSES] [PAGES=2m|4k]\n");
        return 2;
    }
    size_t bytes = mib << 20, align = (size_t)2 << 20;
    part = bytes / threads / 256 * 256;
    // One mapping 2 MiB larger than the buffer, so a 2 MiB boundary lies in it; advised before the
    // first touch, which is when the kernel picks the page size.
    char *map = mmap(NULL, bytes + align, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (map == MAP_FAILED) { fprintf(stderr, "read-bandwidth: cannot map %zu MiB\n", mib); return 1; }
    char *buf = (char *)(((uintptr_t)map + align - 1) & ~(uintptr_t)(align - 1));
    madvise(buf, bytes, huge ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
    memset(buf, 1, bytes);   // touch every page before timing
    FILE *smaps = fopen("/proc/self/smaps_rollup", "r");
    if (smaps) {
        char line[256];
        long kb;
        while (fgets(line, sizeof line, smaps))
            if (sscanf(line, "AnonHugePages: %ld kB", &kb) == 1)
                fprintf(stderr, "read-bandwidth: %ld of %zu MiB on huge pages (%s asked)\n", kb >> 10, mib, pages);
        fclose(smaps);
    }
    buffer = buf;
    double best = 0;
    for (int r = 0; r < passes; r++) {
        pthread_t t[64];
        pthread_barrier_init(&start, NULL, threads + 1);
        for (long k = 0; k < threads; k++) pthread_create(&t[k], NULL, reader, (void *)k);
        pthread_barrier_wait(&start);
        double first = 1e300, last = 0;
        for (int k = 0; k < threads; k++) {
            pthread_join(t[k], NULL);
            if (started[k] < first) first = started[k];
            if (ended[k] > last) last = ended[k];
        }
        double gbs = (double)part * threads / (last - first) / 1e9;
        if (gbs > best) best = gbs;
        pthread_barrier_destroy(&start);
    }
    printf("%.2f\n", best);
    munmap(map, bytes + align);
    return 0;
}
