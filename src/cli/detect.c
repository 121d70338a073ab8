/* detect.c - `detect`: YOLOv3 object detection with Keras / ImageAI weights
 * (ImageAI's ObjectDetection and CustomObjectDetection, keras-yolo3, Darknet's
 * `detect`). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli/cli_common.h"
#include "cnnrt.h"

#define PROGRAM "detect"
#define DEFAULT_MODEL "models/yolov3.json"
#define DEFAULT_WEIGHTS "models/yolov3.h5"
#define DEFAULT_CONFIG "models/coco_detection_config.json"
#define YOLO_URL "https://github.com/OlafenwaMoses/ImageAI/releases/download/1.0/yolo.h5"
#define SIZE_MAX_PIXELS 2048

static void usage(FILE *out)
{
    fprintf(out,
            "usage: detect [options] IMAGE [OUT_IMAGE]\n"
            "Detects objects in a JPEG/PNG/BMP image with YOLOv3 (Keras/ImageAI weights).\n"
            "Prints one line per object, \"name: 97.12%% [x1 y1 x2 y2]\" in image pixels;\n"
            "OUT_IMAGE (.jpg or .png) receives the image with boxes and labels.\n"
            "\n"
            "  --model FILE          model JSON (default " DEFAULT_MODEL ")\n"
            "  --weights FILE        Keras .h5 weights (default " DEFAULT_WEIGHTS ")\n"
            "  --config FILE         ImageAI detection_config.json: labels and anchors\n"
            "                        (default " DEFAULT_CONFIG ")\n"
            "  --size N              network input size, a multiple of 32 (default: the model's, 416)\n"
            "  --min-prob PCT        minimum percentage probability (default 50)\n"
            "  --nms IOU             non-maximum suppression IoU threshold (default 0.45)\n"
            "  --no-letterbox        stretch the image to the input (ImageAI CustomObjectDetection)\n"
            "                        instead of letterboxing it on gray (ImageAI ObjectDetection)\n"
            "  --objects a,b         keep only these classes\n"
            "  --extract-objects DIR save each object as DIR/<name>-<n>.jpg\n"
            "  --threads N           worker threads (default: all cores)\n"
            "  --json                one JSON object per image: ImageAI's keys\n"
            "  --dump-output DIR     write the raw heads as DIR/<image name>.out<i>.npy\n"
            "  -h, --help            this help\n"
            "\n"
            "Exit codes: 0 ok, 2 usage, 3 input file problem, 4 weights do not fit the model,\n"
            "5 internal error.\n");
}

struct options {
    const char *model, *weights, *config, *objects, *extract_dir, *dump_dir;
    const char *image, *out_image;
    long size, threads;
    double min_prob, nms;
    bool letterbox, json;
};

static int parse_args(int argc, char **argv, struct options *o)
{
    *o = (struct options){.model = DEFAULT_MODEL,
                          .weights = DEFAULT_WEIGHTS,
                          .config = DEFAULT_CONFIG,
                          .size = 0,
                          .min_prob = 50,
                          .nms = 0.45,
                          .letterbox = true};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v;
#define OPT(name) (strcmp(a, name) == 0 || strncmp(a, name "=", sizeof(name)) == 0)
#define VALUE(dst) \
    if (!(dst = cli_option_value(PROGRAM, argc, argv, &i))) return EXIT_USAGE
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            exit(EXIT_OK);
        } else if (OPT("--model")) {
            VALUE(o->model);
        } else if (OPT("--weights")) {
            VALUE(o->weights);
        } else if (OPT("--config")) {
            VALUE(o->config);
        } else if (OPT("--objects")) {
            VALUE(o->objects);
        } else if (OPT("--extract-objects")) {
            VALUE(o->extract_dir);
        } else if (OPT("--dump-output")) {
            VALUE(o->dump_dir);
        } else if (OPT("--size")) {
            VALUE(v);
            if (!cli_parse_int(v, 32, SIZE_MAX_PIXELS, &o->size) || o->size % 32) {
                cli_error(PROGRAM, "--size takes a multiple of 32 from 32 to %d (e.g. 320, 416, 608), not \"%s\"",
                          SIZE_MAX_PIXELS, v);
                return EXIT_USAGE;
            }
        } else if (OPT("--min-prob")) {
            VALUE(v);
            if (!cli_parse_double(v, 0, 100, &o->min_prob) || !(o->min_prob > 0)) {
                cli_error(PROGRAM, "--min-prob takes a percentage above 0 and up to 100, not \"%s\"", v);
                return EXIT_USAGE;
            }
        } else if (OPT("--nms")) {
            VALUE(v);
            if (!cli_parse_double(v, 0, 1, &o->nms)) {
                cli_error(PROGRAM, "--nms takes an IoU threshold from 0 to 1, not \"%s\"", v);
                return EXIT_USAGE;
            }
        } else if (OPT("--threads")) {
            VALUE(v);
            if (!cli_parse_int(v, 0, 1024, &o->threads)) {
                cli_error(PROGRAM, "--threads takes an integer 0..1024, not \"%s\"", v);
                return EXIT_USAGE;
            }
        } else if (strcmp(a, "--no-letterbox") == 0) {
            o->letterbox = false;
        } else if (strcmp(a, "--json") == 0) {
            o->json = true;
        } else if (a[0] == '-' && a[1] != '\0') {
            cli_error(PROGRAM, "unknown option %s (see detect --help)", a);
            return EXIT_USAGE;
        } else if (!o->image) {
            o->image = a;
        } else if (!o->out_image) {
            o->out_image = a;
        } else {
            cli_error(PROGRAM, "too many arguments: %s (detect takes IMAGE [OUT_IMAGE])", a);
            return EXIT_USAGE;
        }
#undef VALUE
#undef OPT
    }
    if (!o->image) {
        cli_error(PROGRAM, "no image given (see detect --help)");
        return EXIT_USAGE;
    }
    if (o->out_image) {
        size_t n = strlen(o->out_image);
        bool ok = (n > 4 && (strcasecmp(o->out_image + n - 4, ".jpg") == 0 ||
                             strcasecmp(o->out_image + n - 4, ".png") == 0)) ||
                  (n > 5 && strcasecmp(o->out_image + n - 5, ".jpeg") == 0);
        if (!ok) {
            cli_error(PROGRAM, "OUT_IMAGE must end in .jpg, .jpeg or .png: %s", o->out_image);
            return EXIT_USAGE;
        }
        if (strcmp(o->out_image, o->image) == 0 || cli_same_file(o->out_image, o->image)) {
            cli_error(PROGRAM, "OUT_IMAGE %s is the input image; choose another name", o->out_image);
            return EXIT_USAGE;
        }
    }
    return EXIT_OK;
}

/* wanted[k] = keep class k; all kept without --objects. Prints errors. */
static int parse_objects(const char *list, const cnnrt_labels *labels, const char *config,
                         bool *wanted)
{
    for (int k = 0; k < labels->count; k++) wanted[k] = list == NULL;
    if (!list) return EXIT_OK;
    for (const char *p = list;;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        while (len && *p == ' ') p++, len--;
        while (len && p[len - 1] == ' ') len--;
        bool found = false;
        for (int k = 0; k < labels->count; k++)
            if (strlen(labels->names[k]) == len && strncmp(labels->names[k], p, len) == 0)
                found = wanted[k] = true;
        if (!found) {
            cli_error(PROGRAM, "--objects: \"%.*s\" is not a class of %s. Valid names:", (int)len,
                      p, config);
            for (int k = 0; k < labels->count; k++)
                fprintf(stderr, "%s%s", k ? ", " : "  ", labels->names[k]);
            fputc('\n', stderr);
            return EXIT_USAGE;
        }
        if (!end) break;
        p = end + 1;
    }
    return EXIT_OK;
}

static int fail_model(cnnrt_model *m, cnnrt_status st)
{
    cli_error(PROGRAM, "%s", cnnrt_model_error(m));
    return cnnrt_status_exit_code(st);
}

/* Loads graph and weights and prepares the model; returns an exit code. */
static int load_model(const struct options *o, cnnrt_model *m, const cnnrt_detection_config *cfg,
                      const char *config_path)
{
    char source[1200], mbuf[1024], wbuf[1024];
    snprintf(source, sizeof source, "the detection config %s (%d labels)", config_path,
             cfg->labels.count);
    cnnrt_status st = cnnrt_model_set_param_from(m, "classes", cfg->labels.count, source);
    if (!st && o->size) st = cnnrt_model_set_param_from(m, "size", o->size, "--size");
    if (!st) st = cnnrt_model_load_graph(m, cli_resolve_data_path(o->model, mbuf, sizeof mbuf));
    if (st) return fail_model(m, st);
    bool default_weights = strcmp(o->weights, DEFAULT_WEIGHTS) == 0;
    const char *weights =
        default_weights ? cli_resolve_data_path(o->weights, wbuf, sizeof wbuf) : o->weights;
    if ((st = cnnrt_model_load_weights(m, weights, &cli_weights_deferred))) {
        int rc = fail_model(m, st);
        if (st == CNNRT_E_IO && default_weights)
            fprintf(stderr,
                    "  The default weights file is YOLOv3 (COCO, 80 classes), expected at %s.\n"
                    "  Get ImageAI's yolo.h5 from " YOLO_URL "\n"
                    "  and save it there, or convert Darknet's yolov3.weights with keras-yolo3's\n"
                    "  convert.py (python convert.py yolov3.cfg yolov3.weights %s), or pass\n"
                    "  --weights FILE. To try cnnrt without downloading, make synthetic weights:\n"
                    "    build/synthetic-weights --model " DEFAULT_MODEL " --out " DEFAULT_WEIGHTS "\n",
                    DEFAULT_WEIGHTS, DEFAULT_WEIGHTS);
        return rc;
    }
    cli_print_notes(PROGRAM, cnnrt_model_notes(m));
    cnnrt_prepare_options po = {(int)o->threads, 0};
    if ((st = cnnrt_model_prepare(m, &po))) return fail_model(m, st);
    return EXIT_OK;
}

static void print_detections(const struct options *o, const cnnrt_detections *d,
                             const cnnrt_labels *labels)
{
    if (o->json) {
        printf("{\"image\": ");
        cli_print_json_string(o->image);
        printf(", \"detections\": [");
        for (int i = 0; i < d->count; i++) {
            const cnnrt_detection *b = &d->items[i];
            printf(i ? ", {\"name\": " : "{\"name\": ");
            cli_print_json_string(labels->names[b->class_index]);
            printf(", \"percentage_probability\": %.4f, \"box_points\": [%ld, %ld, %ld, %ld]}",
                   100.0 * b->score, lroundf(b->x1), lroundf(b->y1), lroundf(b->x2), lroundf(b->y2));
        }
        printf("]}\n");
    } else {
        for (int i = 0; i < d->count; i++) {
            const cnnrt_detection *b = &d->items[i];
            printf("%s: %.2f%% [%ld %ld %ld %ld]\n", labels->names[b->class_index], 100.0 * b->score,
                   lroundf(b->x1), lroundf(b->y1), lroundf(b->x2), lroundf(b->y2));
        }
    }
    fflush(stdout);
}

/* Saves each detection as DIR/<name>-<n>.jpg (n from 1, in output order; characters
 * that do not belong in a file name become '_'). */
static int extract_objects(const struct options *o, const cnnrt_image *img,
                           const cnnrt_detections *d, const cnnrt_labels *labels)
{
    for (int i = 0; i < d->count; i++) {
        char name[200], path[4400];
        snprintf(name, sizeof name, "%s", labels->names[d->items[i].class_index]);
        for (char *c = name; *c; c++) {
            unsigned char u = (unsigned char)*c;
            if (!(u >= '0' && u <= '9') && !(u >= 'a' && u <= 'z') && !(u >= 'A' && u <= 'Z') &&
                u != '-' && u != '_' && u != ' ' && u != '.')
                *c = '_';
        }
        if (name[0] == '.') name[0] = '_';
        snprintf(path, sizeof path, "%s/%s-%d.jpg", o->extract_dir, name, i + 1);
        if (cli_same_file(path, o->image)) {
            cli_error(PROGRAM, "%s would overwrite the input image", path);
            return EXIT_USAGE;
        }
        cnnrt_image crop;
        cnnrt_error err;
        cnnrt_status st = cnnrt_image_crop(img, &d->items[i], &crop, &err);
        if (!st) st = cnnrt_image_save(path, &crop, &err);
        cnnrt_image_free(&crop);
        if (st) {
            cli_error(PROGRAM, "%s", err.message);
            return cnnrt_status_exit_code(st);
        }
    }
    return EXIT_OK;
}

/* Keeps the detections of wanted classes, in order. */
static void filter_objects(cnnrt_detections *d, const bool *wanted)
{
    int kept = 0;
    for (int i = 0; i < d->count; i++)
        if (wanted[d->items[i].class_index]) d->items[kept++] = d->items[i];
    d->count = kept;
}

/* Runs the detector on one loaded image; returns an exit code. */
static int detect_image(const struct options *o, cnnrt_model *m, const cnnrt_detection_config *cfg,
                        const bool *wanted, cnnrt_image *img)
{
    cnnrt_shape in;
    cnnrt_model_input_shape(m, &in);
    if (in.c != 3) {
        cli_error(PROGRAM, "the model takes %d input channels; detect feeds RGB images (3)", in.c);
        return EXIT_USAGE;
    }
    const size_t n = (size_t)in.h * in.w * 3;
    float *input = malloc(n * sizeof *input);
    cnnrt_yolo_head heads[CNNRT_DETECTION_MAX_HEADS];
    cnnrt_detections d = {0};
    cnnrt_error err;
    cnnrt_letterbox lb;
    int rc = EXIT_OK;
    cnnrt_status st;
    if (!input) {
        cli_error(PROGRAM, "out of memory");
        return EXIT_INTERNAL;
    }
    if ((st = cnnrt_detector_input(img, in.w, in.h, o->letterbox, input, &lb))) {
        cli_error(PROGRAM, "%s: preparing the network input failed (%s)", o->image,
                  cnnrt_status_name(st));
        rc = cnnrt_status_exit_code(st);
        goto done;
    }
    if ((st = cnnrt_model_run(m, input, n))) {
        rc = fail_model(m, st);
        goto done;
    }
    if (o->dump_dir && (rc = cli_dump_outputs(PROGRAM, o->dump_dir, o->image, m))) goto done;
    st = cnnrt_yolo_heads(m, cfg, heads, CNNRT_DETECTION_MAX_HEADS, &err);
    if (!st)
        st = cnnrt_yolo_decode(heads, cfg->n_heads, cfg->labels.count, in.w, in.h,
                               (float)(o->min_prob / 100.0), &d, &err);
    if (st) {
        cli_error(PROGRAM, "%s", err.message);
        rc = cnnrt_status_exit_code(st);
        goto done;
    }
    cnnrt_letterbox_to_image(&lb, &d);
    cnnrt_nms(&d, (float)o->nms);
    filter_objects(&d, wanted);
    print_detections(o, &d, &cfg->labels);
    if (o->extract_dir && (rc = extract_objects(o, img, &d, &cfg->labels))) goto done;
    if (o->out_image) {
        st = cnnrt_draw_detections(img, &d, &cfg->labels, &err);
        if (!st) st = cnnrt_image_save(o->out_image, img, &err);
        if (st) {
            cli_error(PROGRAM, "%s", err.message);
            rc = cnnrt_status_exit_code(st);
        }
    }
done:
    cnnrt_detections_free(&d);
    free(input);
    return rc;
}

int main(int argc, char **argv)
{
    struct options o;
    int rc = parse_args(argc, argv, &o);
    if (rc) return rc;
    const char *dirs[2] = {o.dump_dir, o.extract_dir};
    for (int k = 0; k < 2; k++)
        if (dirs[k] && !cli_make_dirs(dirs[k])) {
            cli_error(PROGRAM, "cannot create the directory %s", dirs[k]);
            return EXIT_INPUT;
        }
    cnnrt_detection_config cfg;
    cnnrt_error err;
    char cbuf[1024];
    const char *config_path = strcmp(o.config, DEFAULT_CONFIG) == 0
                                  ? cli_resolve_data_path(o.config, cbuf, sizeof cbuf)
                                  : o.config;
    if (cnnrt_detection_config_load(config_path, &cfg, &err)) {
        cli_error(PROGRAM, "%s", err.message);
        return cnnrt_status_exit_code(err.status);
    }
    bool *wanted = calloc((size_t)cfg.labels.count, sizeof *wanted);
    cnnrt_model *m = cnnrt_model_new();
    cnnrt_image img = {0};
    if (!wanted || !m) {
        cli_error(PROGRAM, "out of memory");
        rc = EXIT_INTERNAL;
        goto done;
    }
    if ((rc = parse_objects(o.objects, &cfg.labels, config_path, wanted))) goto done;
    if (cnnrt_image_load(o.image, &img, &err)) { /* before the slow model load */
        cli_error(PROGRAM, "%s", err.message);
        rc = cnnrt_status_exit_code(err.status);
        goto done;
    }
    if ((rc = load_model(&o, m, &cfg, config_path))) goto done;
    rc = detect_image(&o, m, &cfg, wanted, &img);
done:
    cnnrt_image_free(&img);
    cnnrt_model_free(m);
    free(wanted);
    cnnrt_detection_config_free(&cfg);
    return rc;
}
