/* bench_machine.h - what the benchmark reports about the machine: CPU model, cores,
 * SIMD level, the fp32 peak it compares against, and the process's peak memory. */
#ifndef CNNRT_CLI_BENCH_MACHINE_H
#define CNNRT_CLI_BENCH_MACHINE_H

struct machine_info {
    char cpu[160];           /* "model name" of /proc/cpuinfo, "unknown" if absent */
    int cores;               /* processors online */
    const char *isa;         /* widest fp32 FMA path: "avx512f", "avx2+fma", "avx", "sse" */
    int flops_per_cycle;     /* fp32 flops per cycle per core for that path (see .c) */
    double ghz;              /* nominal clock in GHz, 0 when it could not be read */
    const char *clock_source;/* where ghz came from ("model name", "cpufreq base", ...) */
};

/* Fills mi from /proc/cpuinfo, /sys and the CPU's feature flags. Never fails: what
 * cannot be read is reported as unknown. */
void machine_detect(struct machine_info *mi);

/* fp32 peak of one core in GFLOP/s: flops_per_cycle * ghz, or the documented fallback
 * (PERFORMANCE.md's measured ~117 GFLOP/s per core) when the clock is unknown.
 * *how (not NULL) receives a static description of the computation. */
double machine_peak_gflops_per_core(const struct machine_info *mi, const char **how);

/* Measures the fp32 FMA throughput of `threads` cores by running independent FMA chains
 * for about `seconds`, best of 5 trials; GFLOP/s for all threads together, 0 when no FMA path exists. */
double machine_measure_peak_gflops(int threads, double seconds);

/* Peak resident memory of this process in MiB (VmHWM, else getrusage), 0 if unknown. */
double machine_peak_rss_mb(void);

#endif
