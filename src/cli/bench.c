/* bench.c - `bench`: measures how fast cnnrt runs a model (latency distribution,
 * throughput, GFLOP/s against the machine's fp32 peak, memory) and, on request, where
 * the time goes layer by layer. Works without any weights file: by default the
 * weights are synthetic, generated in memory. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/model_internal.h"
#include "cli/bench_machine.h"
#include "core/util.h"
#include "cli/cli_common.h"
#include "cnnrt.h"

#define PROGRAM "bench"
#define DEFAULT_MODEL "models/resnet50.json"
/* Default run counts: a model above this many GFLOP per image gets fewer runs. */
#define BIG_MODEL_GFLOP 20.0

static void usage(FILE *out)
{
    fprintf(out,
            "usage: bench [options]\n"
            "Times cnnrt on one model: load time, first-run latency, min/median/p90 latency,\n"
            "images/s, GFLOP/s and %% of the fp32 peak, peak resident memory, arena size.\n"
            "\n"
            "  --model FILE         model JSON (default " DEFAULT_MODEL ")\n"
            "  --weights FILE       Keras .h5 weights (default: synthetic weights made in memory)\n"
            "  --seed N             seed of the synthetic weights (default 1)\n"
            "  --size N             input size parameter of the model (e.g. 224, 416, 608)\n"
            "  --classes N          class count parameter of the model\n"
            "  --threads N          worker threads (default: all cores)\n"
            "  --iters N            timed runs (default 30; 10 for models above %.0f GFLOP)\n"
            "  --warmup N           untimed runs after the first one (default 3; 2 above %.0f GFLOP)\n"
            "  --per-layer          also time each step of the plan: a table of ms, GFLOP/s, share\n"
            "  --json               one JSON object on stdout instead of the text report\n"
            "  --peak-gflops X      fp32 peak of ONE core in GFLOP/s (default: detected, see below)\n"
            "  --measure-peak       measure the cores' FMA throughput and use it as the peak\n"
            "  --input FILE.npy     run on this float32 input (NHWC, h*w*c values) instead of a\n"
            "                       seeded random image\n"
            "  --dump-output DIR    write each model output of the last run as DIR/out<i>.npy\n"
            "  --serve              stay loaded and answer commands on stdin, one JSON line each\n"
            "                       (after {\"ready\": true, \"load_ms\": ...}): \"run N\" ->\n"
            "                       {\"times_ms\": [...]}; \"quit\" -> {\"rss_mb\": ...} (bench/compare)\n"
            "  -h, --help           this help\n"
            "\n"
            "The peak is flops/cycle (32 for AVX2+FMA and for AVX-512 on Zen; 16 AVX; 8 SSE)\n"
            "times the nominal clock (CPU model name, cpufreq base frequency or the cpu MHz line\n"
            "of /proc/cpuinfo), or 117 GFLOP/s per core when no clock can be read; times the\n"
            "threads used. Latencies are wall-clock per forward pass (input copy included).\n"
            "\n"
            "Exit codes: 0 ok, 2 usage, 3 input file problem, 4 weights do not fit the model,\n"
            "5 internal error.\n",
            BIG_MODEL_GFLOP, BIG_MODEL_GFLOP);
}

struct options {
    const char *model, *weights, *input, *dump_dir;
    long seed, size, classes, threads, iters, warmup;
    double peak_gflops; /* per core; 0 = detect */
    bool per_layer, json, measure_peak, seed_given, serve;
};

static bool int_option(const char *a, const char *v, long min, long max, long *out)
{
    if (cli_parse_int(v, min, max, out)) return true;
    cli_error(PROGRAM, "%s takes an integer in %ld..%ld, not \"%s\"", a, min, max, v);
    return false;
}

static int parse_args(int argc, char **argv, struct options *o)
{
    *o = (struct options){.model = DEFAULT_MODEL, .seed = 1, .size = -1, .classes = -1,
                          .threads = 0, .iters = -1, .warmup = -1};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v;
#define OPT(name) (strcmp(a, name) == 0 || strncmp(a, name "=", sizeof(name)) == 0)
#define VALUE() \
    if (!(v = cli_option_value(PROGRAM, argc, argv, &i))) return EXIT_USAGE
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            exit(EXIT_OK);
        } else if (OPT("--model")) {
            VALUE();
            o->model = v;
        } else if (OPT("--weights")) {
            VALUE();
            o->weights = v;
        } else if (OPT("--input")) {
            VALUE();
            o->input = v;
        } else if (OPT("--dump-output")) {
            VALUE();
            o->dump_dir = v;
        } else if (OPT("--seed")) {
            VALUE();
            if (!int_option("--seed", v, 0, 1L << 40, &o->seed)) return EXIT_USAGE;
            o->seed_given = true;
        } else if (OPT("--size")) {
            VALUE();
            if (!int_option("--size", v, 1, 16384, &o->size)) return EXIT_USAGE;
        } else if (OPT("--classes")) {
            VALUE();
            if (!int_option("--classes", v, 1, 1000000, &o->classes)) return EXIT_USAGE;
        } else if (OPT("--threads")) {
            VALUE();
            if (!int_option("--threads", v, 0, 1024, &o->threads)) return EXIT_USAGE;
        } else if (OPT("--iters")) {
            VALUE();
            if (!int_option("--iters", v, 1, 1000000, &o->iters)) return EXIT_USAGE;
        } else if (OPT("--warmup")) {
            VALUE();
            if (!int_option("--warmup", v, 0, 1000000, &o->warmup)) return EXIT_USAGE;
        } else if (OPT("--peak-gflops")) {
            VALUE();
            if (!cli_parse_double(v, 0.001, 1e7, &o->peak_gflops)) {
                cli_error(PROGRAM, "--peak-gflops takes a positive number (GFLOP/s of one core), not \"%s\"", v);
                return EXIT_USAGE;
            }
        } else if (strcmp(a, "--per-layer") == 0) {
            o->per_layer = true;
        } else if (strcmp(a, "--serve") == 0) {
            o->serve = true;
        } else if (strcmp(a, "--json") == 0) {
            o->json = true;
        } else if (strcmp(a, "--measure-peak") == 0) {
            o->measure_peak = true;
        } else {
            cli_error(PROGRAM, "unknown argument %s (see bench --help)", a);
            return EXIT_USAGE;
        }
#undef VALUE
#undef OPT
    }
    if (o->weights && o->seed_given) {
        cli_error(PROGRAM, "--seed applies to synthetic weights only; drop it or --weights");
        return EXIT_USAGE;
    }
    return EXIT_OK;
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

/* ------------------------------------------------------------------ input -- */

/* Reads a float32 little-endian C-order .npy file holding exactly n values into x.
 * Returns an exit code (message printed). */
static int input_load_npy(const char *path, float *x, size_t n)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        cli_error(PROGRAM, "cannot open the input %s", path);
        return EXIT_INPUT;
    }
    unsigned char head[10];
    char header[4096];
    int rc = EXIT_INPUT;
    size_t hlen = 0;
    if (fread(head, 1, 10, f) != 10 || memcmp(head, "\x93NUMPY", 6) != 0 || head[6] != 1) {
        cli_error(PROGRAM, "%s is not a version-1 .npy file", path);
        goto done;
    }
    hlen = (size_t)head[8] | (size_t)head[9] << 8;
    if (hlen >= sizeof header || fread(header, 1, hlen, f) != hlen) {
        cli_error(PROGRAM, "%s: truncated or oversized .npy header", path);
        goto done;
    }
    header[hlen] = '\0';
    if (!strstr(header, "'<f4'") || !strstr(header, "'fortran_order': False")) {
        cli_error(PROGRAM, "%s must hold little-endian float32 ('<f4') in C order; header: %s",
                  path, header);
        goto done;
    }
    const char *shape = strstr(header, "'shape': (");
    size_t count = 1;
    for (const char *p = shape ? shape + 10 : ""; *p && *p != ')'; p++) {
        if (*p < '0' || *p > '9') continue;
        char *end;
        count *= strtoul(p, &end, 10);
        p = end - 1;
    }
    if (!shape || count != n) {
        cli_error(PROGRAM, "%s holds %zu values; the model's input takes %zu (h*w*c)", path,
                  shape ? count : 0, n);
        goto done;
    }
    if (fread(x, sizeof *x, n, f) != n) {
        cli_error(PROGRAM, "%s: fewer values than its header says", path);
        goto done;
    }
    rc = EXIT_OK;
done:
    fclose(f);
    return rc;
}

/* A seeded random image in the value range of the model's preprocessing (detection:
 * 0..1; caffe: 0..255 minus the mean; tf: -1..1; torch: standardised; raw: 0..255).
 * x: h*w*c floats. */
static void input_make(const struct graph *g, float *x, size_t n)
{
    const char *pre = g->preprocess ? g->preprocess : "caffe";
    bool unit = (g->task && strcmp(g->task, "detection") == 0) || strcmp(pre, "yolo") == 0;
    uint64_t s = 0x853c49e6748fea9bull;
    for (size_t i = 0; i < n; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        double v = (double)(s >> 40) / (double)(1ull << 24); /* [0, 1) */
        x[i] = (float)(unit                         ? v
                       : strcmp(pre, "tf") == 0     ? v * 2 - 1
                       : strcmp(pre, "torch") == 0  ? (v - 0.45) / 0.226
                       : strcmp(pre, "raw") == 0    ? v * 255
                                                    : v * 255 - 117);
    }
}

/* ------------------------------------------------------------------ model -- */

struct load_times {
    double graph_ms, weights_ms, prepare_ms;
    bool synthetic;
};

/* What loading costs a user: generating synthetic weights is not part of it. */
static double load_total_ms(const struct load_times *t)
{
    return t->graph_ms + (t->synthetic ? 0 : t->weights_ms) + t->prepare_ms;
}

static int fail(cnnrt_model *m, cnnrt_status st)
{
    cli_error(PROGRAM, "%s", cnnrt_model_error(m));
    return cnnrt_status_exit_code(st);
}

static int model_load(const struct options *o, cnnrt_model *m, struct load_times *t)
{
    char path_buf[1024];
    cnnrt_status st = CNNRT_OK;
    double t0 = now_ms();
    if (o->size > 0) st = cnnrt_model_set_param(m, "size", o->size);
    if (!st && o->classes > 0) st = cnnrt_model_set_param(m, "classes", o->classes);
    if (!st) st = cnnrt_model_load_graph(m, cli_resolve_data_path(o->model, path_buf, sizeof path_buf));
    if (st) return fail(m, st);
    double t1 = now_ms();
    if (o->threads > 0) cnnrt_model_set_threads(m, (int)o->threads);
    if (o->weights) {
        st = cnnrt_model_load_weights(m, o->weights, &cli_weights_deferred);
    } else {
        st = cnnrt_model_synthetic_weights(m, (uint64_t)o->seed);
        t->synthetic = true;
    }
    if (st) return fail(m, st);
    double t2 = now_ms();
    cnnrt_prepare_options po = {(int)o->threads, 0};
    if ((st = cnnrt_model_prepare(m, &po))) return fail(m, st);
    double t3 = now_ms();
    t->graph_ms = t1 - t0;
    t->weights_ms = t2 - t1;
    t->prepare_ms = t3 - t2;
    return EXIT_OK;
}

static int dump_outputs(const char *dir, cnnrt_model *m)
{
    for (int i = 0; i < cnnrt_model_output_count(m); i++) {
        cnnrt_shape s;
        const float *y = cnnrt_model_output(m, i, &s);
        int shape[4] = {1, s.h, s.w, s.c}, rank = 4;
        if (s.h == 1 && s.w == 1) {
            shape[1] = s.c;
            rank = 2;
        }
        char path[4096];
        snprintf(path, sizeof path, "%s/out%d.npy", dir, i);
        cnnrt_error err;
        if (cnnrt_npy_save(path, shape, rank, y, &err)) {
            cli_error(PROGRAM, "%s", err.message);
            return cnnrt_status_exit_code(err.status);
        }
    }
    return EXIT_OK;
}

/* ------------------------------------------------------------- statistics -- */

struct stats {
    double min, median, p90, mean, max;
};

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Statistics of n > 0 samples (sorts them). p90 is the nearest-rank percentile. */
static struct stats stats_of(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    struct stats s = {v[0], 0, 0, 0, v[n - 1]};
    s.median = n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
    int r = (int)ceil(0.9 * n);
    s.p90 = v[(r < 1 ? 1 : r) - 1];
    for (int i = 0; i < n; i++) s.mean += v[i] / n;
    return s;
}

/* ---------------------------------------------------------------- report -- */

struct report {
    const struct options *o;
    struct machine_info mi;
    struct load_times lt;
    int threads;
    double first_ms;
    struct stats st;
    const double *times;    /* the timed runs in run order, ms */
    double gflop;           /* per image */
    double peak_per_core;   /* GFLOP/s */
    const char *peak_how;
    double rss_mb;
    cnnrt_shape in;
    const struct plan *plan;
    double layer_total_s;   /* sum of the steps' mean seconds (--per-layer) */
};

static double step_ms(const struct plan *p, const struct step *s)
{
    return p->runs > 0 ? 1e3 * s->seconds / p->runs : 0;
}

static void print_per_layer_text(const struct report *r)
{
    const struct plan *p = r->plan;
    double total_ms = 1e3 * r->layer_total_s;
    printf("\nPer layer (mean of %d profiled runs; shares of their sum, %.2f ms):\n", p->runs, total_ms);
    printf("%4s  %-15s %-47s %9s %9s %7s\n", "step", "kind", "layer", "ms", "GFLOP/s", "share");
    double by_kind_ms[STEP_COUNT] = {0}, by_kind_flops[STEP_COUNT] = {0};
    for (int i = 0; i < p->n_steps; i++) {
        const struct step *s = &p->steps[i];
        double ms = step_ms(p, s);
        by_kind_ms[s->kind] += ms;
        by_kind_flops[s->kind] += s->flops;
        char label[48];
        const char *full = s->label ? s->label : "";
        if (strlen(full) < sizeof label) snprintf(label, sizeof label, "%s", full);
        else snprintf(label, sizeof label, "%.44s...", full);
        printf("%4d  %-15s %-47s %9.3f %9.1f %6.2f%%\n", i, step_kind_name(s->kind), label, ms,
               ms > 0 ? s->flops / (ms * 1e6) : 0.0, total_ms > 0 ? 100.0 * ms / total_ms : 0.0);
    }
    printf("\nBy kind:\n");
    for (int k = 0; k < STEP_COUNT; k++) {
        if (by_kind_ms[k] <= 0 && by_kind_flops[k] <= 0) continue;
        double ms = by_kind_ms[k];
        printf("      %-15s %9.3f ms %9.1f GFLOP/s %6.2f%%\n", step_kind_name((enum step_kind)k), ms,
               ms > 0 ? by_kind_flops[k] / (ms * 1e6) : 0.0, total_ms > 0 ? 100.0 * ms / total_ms : 0.0);
    }
}

static void print_text(const struct report *r)
{
    const struct options *o = r->o;
    const struct plan *p = r->plan;
    double peak = r->peak_per_core * r->threads;
    double gflops = r->gflop / (r->st.median * 1e-3);
    printf("cnnrt bench: %s, input %dx%dx%d, batch 1, fp32\n", o->model, r->in.h, r->in.w, r->in.c);
    printf("machine:     %s, %d cores online, %d threads used, %s\n", r->mi.cpu, r->mi.cores,
           r->threads, r->mi.isa);
    printf("peak fp32:   %.1f GFLOP/s per core (%s", r->peak_per_core, r->peak_how);
    if (r->mi.ghz > 0 && !o->peak_gflops && !o->measure_peak)
        printf(": %d x %.3f GHz from %s", r->mi.flops_per_cycle, r->mi.ghz, r->mi.clock_source);
    printf("), %.1f for %d threads\n", peak, r->threads);
    printf("weights:     %s\n", r->lt.synthetic ? "synthetic (generated in memory)" : o->weights);
    printf("load:        %.1f ms (graph %.1f, %s %.1f, prepare %.1f)%s\n",
           load_total_ms(&r->lt),
           r->lt.graph_ms, r->lt.synthetic ? "synthetic weights" : "weights", r->lt.weights_ms,
           r->lt.prepare_ms, r->lt.synthetic ? "; total excludes the synthetic weights" : "");
    printf("first run:   %.2f ms\n", r->first_ms);
    printf("latency:     min %.2f  median %.2f  p90 %.2f  mean %.2f  max %.2f ms  (%ld timed runs after %ld warm-up)\n",
           r->st.min, r->st.median, r->st.p90, r->st.mean, r->st.max, o->iters, o->warmup);
    printf("throughput:  %.2f images/s, %.2f GFLOP per image, %.1f GFLOP/s = %.1f%% of peak\n",
           1e3 / r->st.median, r->gflop, gflops, 100.0 * gflops / peak);
    printf("memory:      peak RSS %.1f MiB, activation arena %.1f MiB, conv scratch %.1f MiB\n",
           r->rss_mb, (double)p->arena_floats * 4 / 1048576.0,
           (double)p->scratch_floats * 4 / 1048576.0);
    if (o->per_layer) print_per_layer_text(r);
}

static void print_json(const struct report *r)
{
    const struct options *o = r->o;
    const struct plan *p = r->plan;
    double peak = r->peak_per_core * r->threads;
    double gflops = r->gflop / (r->st.median * 1e-3);
    printf("{\"model\": ");
    cli_print_json_string(o->model);
    printf(", \"input\": [%d, %d, %d], \"threads\": %d, \"iters\": %ld, \"warmup\": %ld",
           r->in.h, r->in.w, r->in.c, r->threads, o->iters, o->warmup);
    printf(", \"weights\": ");
    cli_print_json_string(r->lt.synthetic ? "synthetic" : o->weights);
    printf(", \"cpu\": ");
    cli_print_json_string(r->mi.cpu);
    printf(", \"cores\": %d, \"isa\": \"%s\", \"ghz\": %.4f", r->mi.cores, r->mi.isa, r->mi.ghz);
    printf(", \"load_ms\": %.3f, \"graph_ms\": %.3f, \"weights_ms\": %.3f, \"prepare_ms\": %.3f",
           load_total_ms(&r->lt),
           r->lt.graph_ms, r->lt.weights_ms, r->lt.prepare_ms);
    printf(", \"first_run_ms\": %.3f, \"min_ms\": %.3f, \"median_ms\": %.3f, \"p90_ms\": %.3f"
           ", \"mean_ms\": %.3f, \"max_ms\": %.3f",
           r->first_ms, r->st.min, r->st.median, r->st.p90, r->st.mean, r->st.max);
    printf(", \"images_per_s\": %.3f, \"gflop_per_image\": %.4f, \"gflops\": %.2f"
           ", \"peak_gflops\": %.2f, \"peak_source\": \"%s\", \"pct_peak\": %.2f",
           1e3 / r->st.median, r->gflop, gflops, peak, r->peak_how, 100.0 * gflops / peak);
    printf(", \"peak_rss_mb\": %.2f, \"arena_mb\": %.3f, \"scratch_mb\": %.3f", r->rss_mb,
           (double)p->arena_floats * 4 / 1048576.0, (double)p->scratch_floats * 4 / 1048576.0);
    printf(", \"times_ms\": [");
    for (long i = 0; i < o->iters; i++) printf("%s%.3f", i ? ", " : "", r->times[i]);
    printf("]");
    if (o->per_layer) {
        printf(", \"profiled_runs\": %d, \"layers\": [", p->runs);
        for (int i = 0; i < p->n_steps; i++) {
            const struct step *s = &p->steps[i];
            double ms = step_ms(p, s);
            printf("%s{\"step\": %d, \"kind\": \"%s\", \"label\": ", i ? ", " : "", i,
                   step_kind_name(s->kind));
            cli_print_json_string(s->label ? s->label : "");
            printf(", \"ms\": %.4f, \"gflop\": %.5f, \"gflops\": %.2f, \"share\": %.4f}", ms,
                   s->flops * 1e-9, ms > 0 ? s->flops / (ms * 1e6) : 0.0,
                   r->layer_total_s > 0 ? 100.0 * ms / (1e3 * r->layer_total_s) : 0.0);
        }
        printf("]");
    }
    printf("}\n");
}

/* ------------------------------------------------------------------ main -- */

/* Timed runs: fills times[0..iters) in ms. Returns an exit code. */
static int time_runs(cnnrt_model *m, const float *x, size_t n, long count, double *times)
{
    for (long i = 0; i < count; i++) {
        double t0 = now_ms();
        cnnrt_status st = cnnrt_model_run(m, x, n);
        double t1 = now_ms();
        if (st) return fail(m, st);
        if (times) times[i] = t1 - t0;
    }
    return EXIT_OK;
}

/* --serve: the model stays loaded; timed runs on request (bench/compare's worker
 * protocol, the one its other runtimes speak too). Returns an exit code. */
static int serve(cnnrt_model *m, const float *x, size_t n, double load_ms)
{
    printf("{\"ready\": true, \"load_ms\": %.3f, \"version\": \"cnnrt\"}\n", load_ms);
    fflush(stdout);
    char line[256];
    while (fgets(line, sizeof line, stdin)) {
        long count;
        char extra;
        if (sscanf(line, "run %ld %c", &count, &extra) == 1 && count > 0 && count <= 100000) {
            double *times = malloc((size_t)count * sizeof *times);
            int rc = times ? time_runs(m, x, n, count, times) : EXIT_INTERNAL;
            if (rc) {
                printf("{\"error\": \"run failed (exit code %d, see stderr)\"}\n", rc);
                fflush(stdout);
                free(times);
                return rc;
            }
            printf("{\"times_ms\": [");
            for (long i = 0; i < count; i++) printf("%s%.3f", i ? ", " : "", times[i]);
            printf("]}\n");
            free(times);
        } else if (strncmp(line, "quit", 4) == 0) {
            printf("{\"rss_mb\": %.1f}\n", machine_peak_rss_mb());
            fflush(stdout);
            return EXIT_OK;
        } else {
            printf("{\"error\": \"unknown command; expected 'run N' or 'quit'\"}\n");
        }
        fflush(stdout);
    }
    return EXIT_OK;
}

int main(int argc, char **argv)
{
    struct options o;
    int rc = parse_args(argc, argv, &o);
    if (rc) return rc;
    if (o.dump_dir && !cli_make_dirs(o.dump_dir)) {
        cli_error(PROGRAM, "cannot create the directory %s", o.dump_dir);
        return EXIT_INPUT;
    }
    struct report r = {.o = &o};
    machine_detect(&r.mi);
    r.threads = o.threads > 0 ? (int)o.threads : cnnrt_default_threads();

    cnnrt_model *m = cnnrt_model_new();
    float *x = NULL;
    double *times = NULL, *sorted = NULL;
    if (!m) {
        cli_error(PROGRAM, "out of memory");
        return EXIT_INTERNAL;
    }
    if ((rc = model_load(&o, m, &r.lt))) goto done;
    cli_print_notes(PROGRAM, cnnrt_model_notes(m));
    r.plan = &m->plan;
    r.gflop = plan_flops(&m->plan) * 1e-9;
    if (o.iters < 0) o.iters = r.gflop > BIG_MODEL_GFLOP ? 10 : 30;
    if (o.warmup < 0) o.warmup = r.gflop > BIG_MODEL_GFLOP ? 2 : 3;

    cnnrt_model_input_shape(m, &r.in);
    size_t n = shape_elems(r.in.h, r.in.w, r.in.c);
    x = malloc(n * sizeof *x);
    times = malloc((size_t)o.iters * sizeof *times);
    sorted = malloc((size_t)o.iters * sizeof *sorted);
    if (!x || !times || !sorted) {
        cli_error(PROGRAM, "out of memory");
        rc = EXIT_INTERNAL;
        goto done;
    }
    if (o.input) {
        if ((rc = input_load_npy(o.input, x, n))) goto done;
    } else {
        input_make(&m->graph, x, n);
    }

    if (o.serve) {
        rc = serve(m, x, n, load_total_ms(&r.lt));
        goto done;
    }
    double t0 = now_ms();
    if ((rc = time_runs(m, x, n, 1, NULL))) goto done;
    r.first_ms = now_ms() - t0;
    if ((rc = time_runs(m, x, n, o.warmup, NULL))) goto done;
    if ((rc = time_runs(m, x, n, o.iters, times))) goto done;
    memcpy(sorted, times, (size_t)o.iters * sizeof *times);
    r.st = stats_of(sorted, (int)o.iters);
    r.times = times;

    if (o.per_layer) { /* separate profiled runs, so the headline numbers carry no timers */
        for (int i = 0; i < m->plan.n_steps; i++) m->plan.steps[i].seconds = 0;
        m->plan.runs = 0;
        m->plan.profile = true;
        rc = time_runs(m, x, n, o.iters, NULL);
        m->plan.profile = false;
        if (rc) goto done;
        for (int i = 0; i < m->plan.n_steps; i++) r.layer_total_s += m->plan.steps[i].seconds;
        r.layer_total_s /= m->plan.runs;
    }
    if (o.dump_dir && (rc = dump_outputs(o.dump_dir, m))) goto done;

    if (o.peak_gflops > 0) {
        r.peak_per_core = o.peak_gflops;
        r.peak_how = "given by --peak-gflops";
    } else if (o.measure_peak && (r.peak_per_core = machine_measure_peak_gflops(r.threads, 0.2) / r.threads) > 0) {
        r.peak_how = "measured FMA throughput";
    } else {
        r.peak_per_core = machine_peak_gflops_per_core(&r.mi, &r.peak_how);
    }
    r.rss_mb = machine_peak_rss_mb();
    if (o.json) print_json(&r);
    else print_text(&r);
done:
    free(x);
    free(times);
    free(sorted);
    cnnrt_model_free(m);
    return rc;
}
