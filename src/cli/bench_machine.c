/* bench_machine.c - machine facts for the benchmark report.
 *
 * fp32 peak per core = flops_per_cycle * nominal clock:
 *   - flops_per_cycle is 32 for AVX-512 and for AVX2+FMA: two 256-bit FMA pipes x 8 lanes
 *     x 2 flops (Zen 2/3 and Intel client cores; Zen 4 double-pumps 512-bit operations
 *     through the same two pipes, so AVX-512 gives it no more). Intel server cores with
 *     two 512-bit FMA units reach 64: pass --peak-gflops there. AVX without FMA: 16
 *     (a multiply and an add pipe), SSE: 8.
 *   - the nominal clock comes from the "@ x.xxGHz" of the CPU's model name, else from
 *     cpufreq's base_frequency, else from the "cpu MHz" line of /proc/cpuinfo (under KVM
 *     the host's nominal rate; on bare metal the current clock).
 *   - when no clock can be read: 117 GFLOP/s per core, the FMA peak measured on the
 *     project's reference machine (shared/PERFORMANCE.md).
 * Turbo clocks above the nominal one make the real peak higher: --measure-peak runs
 * FMA chains and reports what the cores actually deliver.
 */
#include "cli/bench_machine.h"

#include <omp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define BENCH_X86 1
#endif

#define FALLBACK_GFLOPS_PER_CORE 117.0

static double wall_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Value of the first "key : value" line of /proc/cpuinfo whose key is `key`. */
static bool cpuinfo_field(const char *key, char *out, size_t len)
{
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) return false;
    char line[4096];
    bool found = false;
    size_t klen = strlen(key);
    while (!found && fgets(line, sizeof line, f)) {
        if (strncmp(line, key, klen) != 0) continue;
        const char *p = line + klen;
        while (*p == ' ' || *p == '\t') p++;
        if (*p != ':') continue;
        p++;
        while (*p == ' ') p++;
        snprintf(out, len, "%s", p);
        out[strcspn(out, "\n")] = '\0';
        found = true;
    }
    fclose(f);
    return found;
}

/* GHz from "... @ 2.45GHz" in a model name; 0 if absent. */
static double ghz_from_model_name(const char *name)
{
    const char *at = strrchr(name, '@');
    if (!at) return 0;
    double v = strtod(at + 1, NULL);
    return strstr(at, "GHz") && v > 0.1 && v < 10 ? v : 0;
}

static double read_khz_file(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    double khz = 0;
    if (fscanf(f, "%lf", &khz) != 1) khz = 0;
    fclose(f);
    return khz;
}

void machine_detect(struct machine_info *mi)
{
    memset(mi, 0, sizeof *mi);
    if (!cpuinfo_field("model name", mi->cpu, sizeof mi->cpu)) snprintf(mi->cpu, sizeof mi->cpu, "unknown");
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    mi->cores = n > 0 ? (int)n : 1;

    mi->isa = "sse";
    mi->flops_per_cycle = 8;
#ifdef BENCH_X86
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f")) {
        mi->isa = "avx512f";
        mi->flops_per_cycle = 32;
    } else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
        mi->isa = "avx2+fma";
        mi->flops_per_cycle = 32;
    } else if (__builtin_cpu_supports("avx")) {
        mi->isa = "avx";
        mi->flops_per_cycle = 16;
    }
#else
    mi->isa = "unknown";
#endif

    char mhz[64];
    double khz;
    if ((mi->ghz = ghz_from_model_name(mi->cpu)) > 0) {
        mi->clock_source = "CPU model name";
    } else if ((khz = read_khz_file("/sys/devices/system/cpu/cpu0/cpufreq/base_frequency")) > 0) {
        mi->ghz = khz / 1e6;
        mi->clock_source = "cpufreq base_frequency";
    } else if (cpuinfo_field("cpu MHz", mhz, sizeof mhz) && atof(mhz) > 100) {
        mi->ghz = atof(mhz) / 1000.0;
        mi->clock_source = "cpu MHz of /proc/cpuinfo";
    } else {
        mi->clock_source = "unknown";
    }
}

double machine_peak_gflops_per_core(const struct machine_info *mi, const char **how)
{
    if (mi->ghz > 0 && strcmp(mi->isa, "unknown") != 0) {
        *how = "flops/cycle x nominal clock";
        return mi->flops_per_cycle * mi->ghz;
    }
    *how = "fallback: reference machine's measured 117 GFLOP/s per core";
    return FALLBACK_GFLOPS_PER_CORE;
}

#ifdef BENCH_X86
#define CHAINS 12 /* independent accumulators: > FMA latency (4-5) x pipes (2) */

/* Runs `reps` rounds of CHAINS independent 8-lane FMAs; returns a value that depends
 * on every result so the compiler keeps the work. */
__attribute__((target("avx2,fma"))) static float fma_chains_avx2(long reps)
{
    __m256 acc[CHAINS];
    const __m256 a = _mm256_set1_ps(0.999999f), b = _mm256_set1_ps(1e-7f);
    for (int k = 0; k < CHAINS; k++) acc[k] = _mm256_set1_ps((float)k);
    for (long r = 0; r < reps; r++)
        for (int k = 0; k < CHAINS; k++) acc[k] = _mm256_fmadd_ps(acc[k], a, b);
    __m256 s = acc[0];
    for (int k = 1; k < CHAINS; k++) s = _mm256_add_ps(s, acc[k]);
    float out[8];
    _mm256_storeu_ps(out, s);
    return out[0];
}

__attribute__((target("avx512f"))) static float fma_chains_avx512(long reps)
{
    __m512 acc[CHAINS];
    const __m512 a = _mm512_set1_ps(0.999999f), b = _mm512_set1_ps(1e-7f);
    for (int k = 0; k < CHAINS; k++) acc[k] = _mm512_set1_ps((float)k);
    for (long r = 0; r < reps; r++)
        for (int k = 0; k < CHAINS; k++) acc[k] = _mm512_fmadd_ps(acc[k], a, b);
    __m512 s = acc[0];
    for (int k = 1; k < CHAINS; k++) s = _mm512_add_ps(s, acc[k]);
    return _mm512_reduce_add_ps(s);
}

double machine_measure_peak_gflops(int threads, double seconds)
{
    __builtin_cpu_init();
    const bool wide = __builtin_cpu_supports("avx512f");
    if (!wide && !(__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))) return 0;
    const int lanes = wide ? 16 : 8;
    /* calibrate one thread's repetition count on a short run */
    long reps = 1 << 16;
    volatile float sink = 0;
    for (;;) {
        double t0 = wall_seconds();
        sink += wide ? fma_chains_avx512(reps) : fma_chains_avx2(reps);
        double dt = wall_seconds() - t0;
        if (dt > 0.02 || reps > (1L << 40)) {
            reps = (long)((double)reps * seconds / (dt > 1e-6 ? dt : 1e-6));
            break;
        }
        reps *= 4;
    }
    if (reps < 1) reps = 1;
    /* best of several trials: a machine shared with other work leaves some cores busy
     * now and then */
    double best = 0;
    for (int trial = 0; trial < 5; trial++) {
        double t0 = wall_seconds();
#pragma omp parallel num_threads(threads)
        {
            float v = wide ? fma_chains_avx512(reps) : fma_chains_avx2(reps);
#pragma omp atomic
            sink += v;
        }
        double dt = wall_seconds() - t0;
        double gflops = (double)threads * (double)reps * CHAINS * lanes * 2.0 / dt / 1e9;
        if (gflops > best) best = gflops;
    }
    (void)sink;
    return best;
}
#else
double machine_measure_peak_gflops(int threads, double seconds)
{
    (void)threads;
    (void)seconds;
    return 0;
}
#endif

double machine_peak_rss_mb(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    if (f) {
        char line[256];
        double kb = 0;
        while (fgets(line, sizeof line, f))
            if (strncmp(line, "VmHWM:", 6) == 0) kb = atof(line + 6);
        fclose(f);
        if (kb > 0) return kb / 1024.0;
    }
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) == 0) return (double)ru.ru_maxrss / 1024.0;
    return 0;
}
