/* darknet_worker.c - Darknet peer for bench/compare, linked against Debian's libdarknet.
 *
 * Build (bench/compare does it): cc -O2 darknet_worker.c -I/usr/lib/darknet/include
 *        -L/usr/lib/darknet -Wl,-rpath,/usr/lib/darknet -ldarknet -o darknet_worker
 * usage: darknet_worker CFG WEIGHTS INPUT.bin
 * INPUT.bin holds the network's input, float32 CHW. Commands on stdin, one JSON line
 * per reply on stdout (as ort_worker.js): run N, dump PREFIX, quit. dump writes the
 * inputs of the [yolo] layers (the linear output convs) as PREFIX<i>.bin, CHW.
 * Darknet prints its layer table on stderr while loading. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "darknet.h"

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: darknet_worker CFG WEIGHTS INPUT.bin\n");
        return 2;
    }
    double t0 = now_ms();
    network *net = load_network(argv[1], argv[2], 0);
    if (!net) return 3;
    set_batch_network(net, 1);
    double load_ms = now_ms() - t0;
    size_t n = (size_t)net->inputs;
    float *x = malloc(n * sizeof *x);
    FILE *f = fopen(argv[3], "rb");
    if (!x || !f || fread(x, sizeof *x, n, f) != n) {
        fprintf(stderr, "darknet_worker: %s must hold %zu floats\n", argv[3], n);
        return 3;
    }
    fclose(f);
    printf("{\"ready\": true, \"load_ms\": %.3f, \"version\": \"darknet (Debian libdarknet)\"}\n",
           load_ms);
    fflush(stdout);
    char line[4096], cmd[64], arg[4000];
    while (fgets(line, sizeof line, stdin)) {
        arg[0] = '\0';
        if (sscanf(line, "%63s %3999s", cmd, arg) < 1) continue;
        if (strcmp(cmd, "run") == 0) {
            int count = atoi(arg);
            printf("{\"times_ms\": [");
            for (int i = 0; i < count; i++) {
                double s = now_ms();
                network_predict(net, x);
                printf("%s%.3f", i ? ", " : "", now_ms() - s);
            }
            printf("]}\n");
        } else if (strcmp(cmd, "dump") == 0) {
            network_predict(net, x);
            printf("{\"outputs\": [");
            int k = 0;
            for (int i = 1; i < net->n; i++) {
                if (net->layers[i].type != YOLO) continue;
                layer *src = &net->layers[i - 1];
                char path[4100];
                snprintf(path, sizeof path, "%s%d.bin", arg, k);
                FILE *o = fopen(path, "wb");
                if (!o || fwrite(src->output, sizeof(float), (size_t)src->outputs, o) != (size_t)src->outputs) {
                    fprintf(stderr, "darknet_worker: cannot write %s\n", path);
                    return 3;
                }
                fclose(o);
                printf("%s[%d, %d, %d]", k ? ", " : "", src->out_c, src->out_h, src->out_w);
                k++;
            }
            printf("]}\n");
        } else if (strcmp(cmd, "quit") == 0) {
            struct rusage ru;
            getrusage(RUSAGE_SELF, &ru);
            printf("{\"rss_mb\": %.2f}\n", (double)ru.ru_maxrss / 1024.0);
            fflush(stdout);
            break;
        } else {
            printf("{\"error\": \"unknown command\"}\n");
        }
        fflush(stdout);
    }
    free(x);
    free_network(net);
    return 0;
}
