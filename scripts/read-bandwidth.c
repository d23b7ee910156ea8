// Memory read bandwidth of this machine, the ceiling of a decode step that reads every weight once:
// T threads each sum their own part of a buffer much larger than the caches (every byte read, no
// writes), the best of R passes. scripts/bench-quant compiles and runs it beside the engines.
//   cc -O2 -march=native -pthread scripts/read-bandwidth.c -o read-bandwidth
//   ./read-bandwidth THREADS [MiB=1024] [PASSES=5]      prints GB/s (10^9 bytes per second)
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef float v16 __attribute__((vector_size(64)));
static const char *buffer;
static size_t part;
static pthread_barrier_t start;
static volatile float sink[64];   // read by no one, but the sums must be made

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
    for (; p + 4 <= end; p += 4) { a += p[0]; b += p[1]; c += p[2]; d += p[3]; }
    v16 s = a + b + c + d;
    sink[k] = s[0] + s[15];
    return NULL;
}

int main(int argc, char **argv) {
    int threads = argc > 1 ? atoi(argv[1]) : 1;
    size_t mib = argc > 2 ? (size_t)atol(argv[2]) : 1024;
    int passes = argc > 3 ? atoi(argv[3]) : 5;
    if (threads < 1 || threads > 64 || mib < 1 || passes < 1) {
        fprintf(stderr, "usage: read-bandwidth THREADS(1-64) [MiB] [PASSES]\n");
        return 2;
    }
    size_t bytes = mib << 20;
    part = bytes / threads / 256 * 256;
    char *buf = aligned_alloc(64, bytes);
    if (!buf) { fprintf(stderr, "read-bandwidth: cannot allocate %zu MiB\n", mib); return 1; }
    memset(buf, 1, bytes);   // touch every page before timing
    buffer = buf;
    double best = 0;
    for (int r = 0; r < passes; r++) {
        pthread_t t[64];
        pthread_barrier_init(&start, NULL, threads + 1);
        for (long k = 0; k < threads; k++) pthread_create(&t[k], NULL, reader, (void *)k);
        pthread_barrier_wait(&start);
        double t0 = now();
        for (int k = 0; k < threads; k++) pthread_join(t[k], NULL);
        double gbs = (double)part * threads / (now() - t0) / 1e9;
        if (gbs > best) best = gbs;
        pthread_barrier_destroy(&start);
    }
    printf("%.2f\n", best);
    free(buf);
    return 0;
}
