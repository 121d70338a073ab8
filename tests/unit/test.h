/* test.h - a minimal unit-test harness: TEST() registers a function, CHECK()
 * records a failure and continues, REQUIRE() records and returns. main() (main.c)
 * runs every test, or those whose names contain argv[1], and prints
 * "N passed, N failed". */
#ifndef CNNRT_TEST_H
#define CNNRT_TEST_H

#include <math.h>
#include <stdbool.h>
#include <stdio.h>

struct test_case {
    const char *name;
    void (*fn)(void);
};

void test_register(const char *name, void (*fn)(void));
void test_fail(const char *file, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Directory of the source tree (for models/ and tests/data/) and a scratch dir. */
const char *test_source_dir(void);
const char *test_tmp_dir(void);

#define TEST(name)                                                                     \
    static void name(void);                                                            \
    __attribute__((constructor)) static void register_##name(void) { test_register(#name, name); } \
    static void name(void)

#define CHECK(cond)                                                  \
    do {                                                             \
        if (!(cond)) test_fail(__FILE__, __LINE__, "%s", #cond);     \
    } while (0)

#define CHECK_MSG(cond, ...)                                         \
    do {                                                             \
        if (!(cond)) test_fail(__FILE__, __LINE__, __VA_ARGS__);     \
    } while (0)

#define REQUIRE(cond)                                                \
    do {                                                             \
        if (!(cond)) {                                               \
            test_fail(__FILE__, __LINE__, "%s", #cond);              \
            return;                                                  \
        }                                                            \
    } while (0)

/* max |a-b| / (atol + rtol*|b|) over n values; > 1 means out of tolerance. NaN in
 * either array gives INFINITY. */
double test_tolerance_ratio(const float *a, const float *b, size_t n, double atol, double rtol);

/* Deterministic pseudo-random floats in [lo, hi). */
void test_fill_random(float *x, size_t n, unsigned seed, float lo, float hi);

#endif
