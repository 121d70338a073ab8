/* predict.c - `predict`: classify images with a Keras / ImageAI ResNet50 (or any
 * classifier described by a model JSON). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli_common.h"
#include "cnnrt.h"

#define PROGRAM "predict"
#define DEFAULT_MODEL "models/resnet50.json"
#define DEFAULT_WEIGHTS "models/resnet50_imagenet_tf.2.0.h5"
#define DEFAULT_CLASSES "models/imagenet_classes.json"
#define RESNET50_URL \
    "https://github.com/OlafenwaMoses/ImageAI/releases/download/essentials-v5/resnet50_imagenet_tf.2.0.h5"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: predict [options] IMAGE...\n"
            "Classifies JPEG/PNG/BMP images with a Keras/ImageAI classifier (default ResNet50).\n"
            "\n"
            "  --model FILE       model JSON (default " DEFAULT_MODEL ")\n"
            "  --weights FILE     Keras .h5 weights (default " DEFAULT_WEIGHTS ")\n"
            "  --classes FILE     class names: ImageAI model_class.json or one name per line\n"
            "                     (default " DEFAULT_CLASSES "); its size sets the class count\n"
            "  --top N            classes to show per image (default 5)\n"
            "  --preprocess MODE  caffe (Keras ResNet50, default), raw (ImageAI 2.1.6), tf, torch\n"
            "  --threads N        worker threads (default: all cores)\n"
            "  --json             one JSON object per image per line\n"
            "  --dump-output DIR  write each model output as DIR/<image name>.out<i>.npy\n"
            "  -h, --help         this help\n"
            "\n"
            "Exit codes: 0 ok, 2 usage, 3 input file problem, 4 weights do not fit the model,\n"
            "5 internal error.\n");
}

struct options {
    const char *model, *weights, *classes, *preprocess, *dump_dir;
    long top, threads;
    bool json;
    char **images;
    int n_images;
};

static int parse_args(int argc, char **argv, struct options *o)
{
    *o = (struct options){DEFAULT_MODEL, DEFAULT_WEIGHTS, DEFAULT_CLASSES, NULL, NULL, 5, 0, false,
                          NULL, 0};
    o->images = calloc((size_t)argc, sizeof *o->images);
    if (!o->images) return EXIT_INTERNAL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v;
#define OPT(name) (strcmp(a, name) == 0 || strncmp(a, name "=", sizeof(name)) == 0)
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            exit(EXIT_OK);
        } else if (OPT("--model")) {
            if (!(o->model = cli_option_value(PROGRAM, argc, argv, &i))) return EXIT_USAGE;
        } else if (OPT("--weights")) {
            if (!(o->weights = cli_option_value(PROGRAM, argc, argv, &i))) return EXIT_USAGE;
        } else if (OPT("--classes")) {
            if (!(o->classes = cli_option_value(PROGRAM, argc, argv, &i))) return EXIT_USAGE;
        } else if (OPT("--preprocess")) {
            if (!(o->preprocess = cli_option_value(PROGRAM, argc, argv, &i))) return EXIT_USAGE;
        } else if (OPT("--dump-output")) {
            if (!(o->dump_dir = cli_option_value(PROGRAM, argc, argv, &i))) return EXIT_USAGE;
        } else if (OPT("--top")) {
            if (!(v = cli_option_value(PROGRAM, argc, argv, &i))) return EXIT_USAGE;
            if (!cli_parse_int(v, 1, 100000, &o->top)) {
                cli_error(PROGRAM, "--top takes a positive integer, not \"%s\"", v);
                return EXIT_USAGE;
            }
        } else if (OPT("--threads")) {
            if (!(v = cli_option_value(PROGRAM, argc, argv, &i))) return EXIT_USAGE;
            if (!cli_parse_int(v, 0, 1024, &o->threads)) {
                cli_error(PROGRAM, "--threads takes an integer 0..1024, not \"%s\"", v);
                return EXIT_USAGE;
            }
        } else if (strcmp(a, "--json") == 0) {
            o->json = true;
        } else if (a[0] == '-' && a[1] != '\0') {
            cli_error(PROGRAM, "unknown option %s (see predict --help)", a);
            return EXIT_USAGE;
        } else {
            o->images[o->n_images++] = argv[i];
        }
#undef OPT
    }
    if (o->n_images == 0) {
        cli_error(PROGRAM, "no image given (see predict --help)");
        return EXIT_USAGE;
    }
    for (int i = 0; o->dump_dir && i < o->n_images; i++) /* dumps are named by file name */
        for (int j = 0; j < i; j++)
            if (strcmp(o->images[i], o->images[j]) != 0 &&
                strcmp(cli_basename(o->images[i]), cli_basename(o->images[j])) == 0) {
                cli_error(PROGRAM,
                          "%s and %s have the same file name: --dump-output would write both "
                          "to %s/%s.out0.npy",
                          o->images[j], o->images[i], o->dump_dir, cli_basename(o->images[i]));
                return EXIT_USAGE;
            }
    return EXIT_OK;
}

/* Loads the model; returns an exit code. */
static int load_model(const struct options *o, cnnrt_model *m, const cnnrt_labels *labels,
                      const char *classes_path)
{
    char source[1200], path_buf[1024];
    snprintf(source, sizeof source, "the class list %s (%d names)", classes_path, labels->count);
    cnnrt_status st = cnnrt_model_set_param_from(m, "classes", labels->count, source);
    const char *model_path = cli_resolve_data_path(o->model, path_buf, sizeof path_buf);
    if (!st) st = cnnrt_model_load_graph(m, model_path);
    if (st) {
        cli_error(PROGRAM, "%s", cnnrt_model_error(m));
        return cnnrt_status_exit_code(st);
    }
    char wbuf[1024];
    const char *weights = strcmp(o->weights, DEFAULT_WEIGHTS) == 0
                              ? cli_resolve_data_path(o->weights, wbuf, sizeof wbuf)
                              : o->weights;
    st = cnnrt_model_load_weights(m, weights, &cli_weights_deferred);
    if (st) {
        cli_error(PROGRAM, "%s", cnnrt_model_error(m));
        if (st == CNNRT_E_IO && strcmp(o->weights, DEFAULT_WEIGHTS) == 0)
            fprintf(stderr,
                    "  The default weights file is ImageAI's ResNet50, expected at %s.\n"
                    "  Download it from " RESNET50_URL "\n"
                    "  and put it there, or pass --weights FILE. To try cnnrt without downloading,\n"
                    "  make synthetic weights: build/synthetic-weights --model " DEFAULT_MODEL
                    " --out " DEFAULT_WEIGHTS "\n",
                    DEFAULT_WEIGHTS);
        return cnnrt_status_exit_code(st);
    }
    cli_print_notes(PROGRAM, cnnrt_model_notes(m));
    cnnrt_prepare_options po = {(int)o->threads, 0};
    if ((st = cnnrt_model_prepare(m, &po))) {
        cli_error(PROGRAM, "%s", cnnrt_model_error(m));
        return cnnrt_status_exit_code(st);
    }
    return EXIT_OK;
}

static void print_result(const struct options *o, const char *image, const cnnrt_labels *labels,
                         const cnnrt_class_score *top, int n)
{
    if (o->json) {
        printf("{\"image\": ");
        cli_print_json_string(image);
        printf(", \"predictions\": [");
        for (int k = 0; k < n; k++) {
            printf(k ? ", {\"class\": " : "{\"class\": ");
            cli_print_json_string(labels->names[top[k].index]);
            printf(", \"index\": %d, \"percentage_probability\": %.6g}", top[k].index,
                   100.0 * top[k].probability);
        }
        printf("]}\n");
    } else {
        printf("%s:\n", image);
        for (int k = 0; k < n; k++)
            printf("  %d. %-32s %8.4f%%\n", k + 1, labels->names[top[k].index],
                   100.0 * top[k].probability);
    }
    fflush(stdout);
}

int main(int argc, char **argv)
{
    struct options o;
    int rc = parse_args(argc, argv, &o);
    if (rc) {
        free(o.images);
        return rc;
    }
    cnnrt_preprocess mode = CNNRT_PREPROCESS_CAFFE;
    if (o.preprocess && cnnrt_preprocess_parse(o.preprocess, &mode)) {
        cli_error(PROGRAM, "--preprocess must be caffe, raw, tf or torch, not \"%s\"", o.preprocess);
        free(o.images);
        return EXIT_USAGE;
    }
    if (o.dump_dir && !cli_make_dirs(o.dump_dir)) {
        cli_error(PROGRAM, "cannot create the directory %s", o.dump_dir);
        free(o.images);
        return EXIT_INPUT;
    }
    cnnrt_labels labels;
    cnnrt_error err;
    char cbuf[1024];
    const char *classes_path = strcmp(o.classes, DEFAULT_CLASSES) == 0
                                   ? cli_resolve_data_path(o.classes, cbuf, sizeof cbuf)
                                   : o.classes;
    if (cnnrt_labels_load(classes_path, &labels, &err)) {
        cli_error(PROGRAM, "%s", err.message);
        free(o.images);
        return cnnrt_status_exit_code(err.status);
    }
    cnnrt_model *m = cnnrt_model_new();
    float *input = NULL;
    cnnrt_class_score *top = calloc((size_t)o.top, sizeof *top);
    if (!m || !top) {
        cli_error(PROGRAM, "out of memory");
        rc = EXIT_INTERNAL;
        goto done;
    }
    if ((rc = load_model(&o, m, &labels, classes_path))) goto done;
    cnnrt_shape in_shape;
    cnnrt_model_input_shape(m, &in_shape);
    if (in_shape.c != 3) {
        cli_error(PROGRAM, "the model takes %d input channels; predict feeds RGB images (3)",
                  in_shape.c);
        rc = EXIT_USAGE;
        goto done;
    }
    input = malloc((size_t)in_shape.h * in_shape.w * 3 * sizeof *input);
    if (!input) {
        cli_error(PROGRAM, "out of memory");
        rc = EXIT_INTERNAL;
        goto done;
    }
    for (int i = 0; i < o.n_images; i++) {
        cnnrt_image img;
        if (cnnrt_image_load(o.images[i], &img, &err)) {
            cli_error(PROGRAM, "%s", err.message);
            rc = rc ? rc : cnnrt_status_exit_code(err.status);
            continue;
        }
        cnnrt_classifier_input(&img, in_shape.w, in_shape.h, mode, input);
        cnnrt_image_free(&img);
        cnnrt_status st = cnnrt_model_run(m, input, (size_t)in_shape.h * in_shape.w * 3);
        if (st) {
            cli_error(PROGRAM, "%s", cnnrt_model_error(m));
            rc = cnnrt_status_exit_code(st);
            break;
        }
        cnnrt_shape os;
        const float *probs = cnnrt_model_output(m, 0, &os);
        int n_classes = os.h * os.w * os.c;
        if (n_classes != labels.count) {
            cli_error(PROGRAM, "the model's output has %d values but the class list %s has %d names",
                      n_classes, classes_path, labels.count);
            rc = EXIT_MISMATCH;
            break;
        }
        int n = cnnrt_top_k(probs, n_classes, (int)o.top, top);
        print_result(&o, o.images[i], &labels, top, n);
        if (o.dump_dir) {
            int drc = cli_dump_outputs(PROGRAM, o.dump_dir, o.images[i], m);
            if (drc) {
                rc = drc;
                break;
            }
        }
    }
done:
    free(input);
    free(top);
    cnnrt_model_free(m);
    cnnrt_labels_free(&labels);
    free(o.images);
    return rc;
}
