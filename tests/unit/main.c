/* main.c - runs the registered unit tests. */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "test.h"

#define MAX_TESTS 512

static struct test_case tests[MAX_TESTS];
static int n_tests;
static int current_failures;

void test_register(const char *name, void (*fn)(void))
{
    if (n_tests < MAX_TESTS) tests[n_tests++] = (struct test_case){name, fn};
}

void test_fail(const char *file, int line, const char *fmt, ...)
{
    current_failures++;
    fprintf(stderr, "    %s:%d: ", file, line);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

const char *test_source_dir(void)
{
    const char *d = getenv("CNNRT_SOURCE_DIR");
    return d ? d : CNNRT_SOURCE_DIR;
}

const char *test_tmp_dir(void)
{
    static char dir[512];
    if (!dir[0]) {
        const char *base = getenv("TMPDIR");
        snprintf(dir, sizeof dir, "%s/cnnrt-unit-%ld", base ? base : "/tmp", (long)getpid());
        mkdir(dir, 0777);
    }
    return dir;
}

double test_tolerance_ratio(const float *a, const float *b, size_t n, double atol, double rtol)
{
    double worst = 0;
    for (size_t i = 0; i < n; i++) {
        if (isnan(a[i]) || isnan(b[i]) || isinf(a[i]) || isinf(b[i])) return INFINITY;
        double r = fabs((double)a[i] - b[i]) / (atol + rtol * fabs((double)b[i]));
        if (r > worst) worst = r;
    }
    return worst;
}

void test_fill_random(float *x, size_t n, unsigned seed, float lo, float hi)
{
    unsigned long long s = seed * 6364136223846793005ull + 1442695040888963407ull;
    for (size_t i = 0; i < n; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        x[i] = lo + (hi - lo) * (float)((s >> 40) & 0xffffff) / 16777216.0f;
    }
}

static int cmp_tests(const void *a, const void *b)
{
    return strcmp(((const struct test_case *)a)->name, ((const struct test_case *)b)->name);
}

int main(int argc, char **argv)
{
    const char *filter = argc > 1 ? argv[1] : NULL;
    qsort(tests, (size_t)n_tests, sizeof tests[0], cmp_tests);
    int passed = 0, failed = 0;
    for (int i = 0; i < n_tests; i++) {
        if (filter && !strstr(tests[i].name, filter)) continue;
        current_failures = 0;
        tests[i].fn();
        if (current_failures) {
            printf("FAIL %s\n", tests[i].name);
            failed++;
        } else {
            printf("ok   %s\n", tests[i].name);
            passed++;
        }
        fflush(stdout);
    }
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", test_tmp_dir());
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", test_tmp_dir());
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
