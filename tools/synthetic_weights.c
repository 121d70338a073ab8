/* synthetic_weights.c - `synthetic-weights`: writes a Keras-layout .h5 file with
 * seeded synthetic weights for a model JSON (for demos, benchmarks and tests; real
 * trained weights cannot be downloaded everywhere). Options reproduce the variants
 * real files come in: naming schemes of other Keras versions, full-model files,
 * variable-length strings, split layer_names attributes, float64 datasets. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/model_internal.h"
#include "cli/cli_common.h"
#include "cnnrt.h"
#include "io/keras_h5_write.h"

#define PROGRAM "synthetic-weights"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: synthetic-weights --model MODEL.json --out FILE.h5 [options]\n"
            "Writes seeded synthetic (random, calibrated) weights in Keras HDF5 layout.\n"
            "The file is marked as synthetic; predict/detect say so when they load it.\n"
            "\n"
            "  --seed N        random seed (default 1)\n"
            "  --classes N     class count parameter of the model\n"
            "  --size N        input size parameter of the model\n"
            "  --scheme NAME   layer names: keras2 (the JSON's), tf-keras, imageai, keras-apps-v1\n"
            "  --full-model    Keras model.save layout (model_config, /model_weights)\n"
            "  --vlen-strings  variable-length string attributes\n"
            "  --split N       split layer_names into attributes of N entries\n"
            "  --float64       store weights as float64\n");
}

int main(int argc, char **argv)
{
    const char *model = NULL, *out = NULL;
    long seed = 1, classes = -1, size = -1, split = 0;
    struct h5_write_options wo = {NULL, false, false, 0, false};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(a, "--model") == 0) {
            if (!(model = cli_option_value(PROGRAM, argc, argv, &i))) return EXIT_USAGE;
        } else if (strcmp(a, "--out") == 0) {
            if (!(out = cli_option_value(PROGRAM, argc, argv, &i))) return EXIT_USAGE;
        } else if (strcmp(a, "--scheme") == 0) {
            if (!(wo.scheme = cli_option_value(PROGRAM, argc, argv, &i))) return EXIT_USAGE;
        } else if (strcmp(a, "--seed") == 0 || strcmp(a, "--classes") == 0 ||
                   strcmp(a, "--size") == 0 || strcmp(a, "--split") == 0) {
            if (!(v = cli_option_value(PROGRAM, argc, argv, &i))) return EXIT_USAGE;
            long *dst = strcmp(a, "--seed") == 0    ? &seed
                        : strcmp(a, "--size") == 0  ? &size
                        : strcmp(a, "--split") == 0 ? &split
                                                    : &classes;
            if (!cli_parse_int(v, 0, 1L << 40, dst)) {
                cli_error(PROGRAM, "%s takes a non-negative integer, not \"%s\"", a, v);
                return EXIT_USAGE;
            }
        } else if (strcmp(a, "--full-model") == 0) {
            wo.full_model = true;
        } else if (strcmp(a, "--vlen-strings") == 0) {
            wo.vlen_strings = true;
        } else if (strcmp(a, "--float64") == 0) {
            wo.float64 = true;
        } else {
            cli_error(PROGRAM, "unknown argument %s (see --help)", a);
            return EXIT_USAGE;
        }
    }
    if (!model || !out) {
        cli_error(PROGRAM, "--model and --out are required (see --help)");
        return EXIT_USAGE;
    }
    wo.split_attrs = (int)split;
    cnnrt_model *m = cnnrt_model_new();
    if (!m) return EXIT_INTERNAL;
    cnnrt_status st = CNNRT_OK;
    if (classes >= 0) st = cnnrt_model_set_param(m, "classes", classes);
    if (!st && size >= 0) st = cnnrt_model_set_param(m, "size", size);
    if (!st) st = cnnrt_model_load_graph(m, model);
    if (!st) st = cnnrt_model_synthetic_weights(m, (uint64_t)seed);
    if (!st) st = keras_h5_write(&m->graph, out, &wo, &m->err);
    if (st) cli_error(PROGRAM, "%s", cnnrt_model_error(m));
    else fprintf(stderr, "%s: wrote synthetic weights for %s (seed %ld) to %s\n", PROGRAM, model, seed, out);
    cnnrt_model_free(m);
    return cnnrt_status_exit_code(st);
}
