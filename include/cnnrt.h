/*
 * cnnrt.h - public API of cnnrt, a CNN inference runtime for Keras / ImageAI models.
 *
 * Life cycle (one thread at a time per model handle):
 *
 *     cnnrt_model *m = cnnrt_model_new();
 *     cnnrt_model_set_param(m, "classes", 80);          // optional, before the graph
 *     cnnrt_model_load_graph(m, "models/yolov3.json");  // graph from config JSON
 *     cnnrt_model_load_weights(m, "yolo.h5", NULL);     // Keras HDF5, strictly validated
 *     cnnrt_model_prepare(m, NULL);                     // plan: fold BN, fuse, pack, arena
 *     cnnrt_model_run(m, input, n);                     // NHWC float32, batch 1
 *     const float *y = cnnrt_model_output(m, 0, &shape);
 *     cnnrt_model_free(m);
 *
 * Errors: every call returns a cnnrt_status. Calls on a model keep the detailed,
 * human-readable message on the handle (cnnrt_model_error). Calls without a handle
 * fill a caller-provided cnnrt_error. The library never prints, exits or aborts on
 * bad input.
 *
 * Tensors are float32, NHWC, batch 1: element (y, x, c) of an H x W x C tensor is at
 * index (y * W + x) * C + c.
 */
#ifndef CNNRT_H
#define CNNRT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------- status -- */

typedef enum cnnrt_status {
    CNNRT_OK = 0,
    CNNRT_E_USAGE,    /* the caller passed an invalid argument or called out of order */
    CNNRT_E_IO,       /* a file is missing, unreadable or unwritable */
    CNNRT_E_FORMAT,   /* a file is readable but not valid for its purpose */
    CNNRT_E_MISMATCH, /* the weights file does not fit the model (layers, shapes, classes) */
    CNNRT_E_NOMEM,    /* an allocation failed or a size cap was exceeded */
    CNNRT_E_INTERNAL  /* a bug in cnnrt */
} cnnrt_status;

/* Length of the message buffer of cnnrt_error (messages can span several lines). */
#define CNNRT_ERRMSG_MAX 4096

/* Error record for calls that have no model handle. */
typedef struct cnnrt_error {
    cnnrt_status status;
    char message[CNNRT_ERRMSG_MAX]; /* empty when status is CNNRT_OK */
} cnnrt_error;

/* Short constant name of a status, e.g. "model mismatch". Never NULL. */
const char *cnnrt_status_name(cnnrt_status status);

/* Process exit code the command-line tools use for a status:
 * 0 ok, 2 usage, 3 input/IO or format, 4 model mismatch, 5 internal or out of memory. */
int cnnrt_status_exit_code(cnnrt_status status);

/* ----------------------------------------------------------------- model -- */

/* Opaque model: graph, weights, execution plan and activation memory. */
typedef struct cnnrt_model cnnrt_model;

/* Shape of a tensor, NHWC with batch 1. A vector of C values has h = w = 1. */
typedef struct cnnrt_shape {
    int h, w, c;
} cnnrt_shape;

/* How a weights file's layers are paired with the model's layers. */
typedef enum cnnrt_pairing {
    CNNRT_PAIR_AUTO = 0,  /* by name when every name matches, else by Keras position */
    CNNRT_PAIR_BY_NAME,   /* by layer name only (Keras load_weights(by_name=True)) */
    CNNRT_PAIR_BY_POSITION /* by position in Keras's model.layers order */
} cnnrt_pairing;

typedef struct cnnrt_weights_options {
    cnnrt_pairing pairing;
    /* 0 (default): read and check every value now (NaN/Inf is an error here).
     * 1: check the file's structure, names, dtypes and shapes now, and leave the file
     * open so that cnnrt_model_prepare reads each layer's values just before packing
     * them: the Keras copy of the weights is never in memory all at once, which makes
     * loading faster and lighter. Read errors and NaN/Inf values are then reported
     * by cnnrt_model_prepare (same messages). Calls that need the Keras values
     * (cnnrt_model_save_weights, prepare with keep_originals) read them first. */
    int defer_values;
} cnnrt_weights_options;

typedef struct cnnrt_prepare_options {
    int threads;        /* worker threads for run; 0 = all cores */
    int keep_originals; /* 1: keep the unfolded Keras weights (for tests and tools) */
} cnnrt_prepare_options;

/* New empty model, or NULL when out of memory. Free with cnnrt_model_free. */
cnnrt_model *cnnrt_model_new(void);

/* Frees the model and everything it owns. NULL is allowed. */
void cnnrt_model_free(cnnrt_model *m);

/* Message of the last failed call on m ("" if none). Owned by m; valid until the
 * next call on m. Never NULL. */
const char *cnnrt_model_error(const cnnrt_model *m);

/* Notes from loading that are not errors (e.g. "converted float64 weights"), one per
 * line, "" if none. Owned by m. */
const char *cnnrt_model_notes(const cnnrt_model *m);

/* Overrides a named integer parameter of the graph JSON ("classes", "size", ...).
 * Call before cnnrt_model_load_graph. */
cnnrt_status cnnrt_model_set_param(cnnrt_model *m, const char *name, long value);

/* Same, and records where the value came from (e.g. "model_class.json (5 classes)")
 * so that error messages can name it. source may be NULL; it is copied. */
cnnrt_status cnnrt_model_set_param_from(cnnrt_model *m, const char *name, long value,
                                        const char *source);

/* Reads the graph from a model JSON file (format: README, "Model JSON"), infers
 * every shape and checks the graph. */
cnnrt_status cnnrt_model_load_graph(cnnrt_model *m, const char *json_path);

/* Value of a graph parameter after load_graph; *value untouched and an error if absent. */
cnnrt_status cnnrt_model_param(cnnrt_model *m, const char *name, long *value);

/* Loads Keras HDF5 weights (weights-only or full-model file) into the graph.
 * Every weight's count, dtype and shape is validated; a mismatch is
 * CNNRT_E_MISMATCH with a diagnosis. opts may be NULL (automatic pairing). */
cnnrt_status cnnrt_model_load_weights(cnnrt_model *m, const char *h5_path,
                                      const cnnrt_weights_options *opts);

/* Fills every weight with seeded synthetic values: He-initialised kernels and
 * BatchNorm statistics calibrated on a synthetic image so that no BatchNorm is an
 * identity and activations keep a sane scale; detection heads are tuned so that
 * only a few cells fire. Deterministic for a given seed and graph. */
cnnrt_status cnnrt_model_synthetic_weights(cnnrt_model *m, uint64_t seed);

/* Plans execution: folds BatchNorm, fuses padding/activations/residual adds,
 * packs weights, plans the activation arena. opts may be NULL (defaults). */
cnnrt_status cnnrt_model_prepare(cnnrt_model *m, const cnnrt_prepare_options *opts);

/* Shape of the model input. */
cnnrt_status cnnrt_model_input_shape(cnnrt_model *m, cnnrt_shape *shape);

/* Number of model outputs (after load_graph). */
int cnnrt_model_output_count(const cnnrt_model *m);

/* Runs one forward pass on input (NHWC float32, n = h*w*c values of the input shape).
 * Allocates nothing. */
cnnrt_status cnnrt_model_run(cnnrt_model *m, const float *input, size_t n);

/* Output i of the last run (NULL if i is out of range or nothing ran). The pointer is
 * owned by m and valid until the next run, prepare or free. shape may be NULL. */
const float *cnnrt_model_output(cnnrt_model *m, int i, cnnrt_shape *shape);

/* Sets the number of worker threads used by cnnrt_model_run (OpenMP and OpenBLAS
 * share one pool). 0 = all cores. */
cnnrt_status cnnrt_model_set_threads(cnnrt_model *m, int threads);

/* 1 if the loaded weights file was made by cnnrt's synthetic-weights tool (random
 * weights: outputs are meaningless), else 0. */
int cnnrt_model_weights_synthetic(const cnnrt_model *m);

/* Writes the model's current weights as a Keras HDF5 file. scheme selects layer names:
 * "" or NULL keeps the graph's names; see the README for the other schemes.
 * full_model = 1 writes a Keras full-model file (root attributes, model_weights group). */
cnnrt_status cnnrt_model_save_weights(cnnrt_model *m, const char *h5_path,
                                      const char *scheme, int full_model);

/* ----------------------------------------------------------------- image -- */

/* An 8-bit image, rows top to bottom, channels interleaved (RGB when channels = 3). */
typedef struct cnnrt_image {
    int width, height, channels;
    unsigned char *pixels; /* width*height*channels bytes, owned by the image */
} cnnrt_image;

/* Largest image accepted, in pixels per side and in total. */
#define CNNRT_IMAGE_MAX_SIDE 16384
#define CNNRT_IMAGE_MAX_PIXELS (64L * 1024 * 1024)

/* Loads a JPEG, PNG or BMP file as RGB. On failure the image is left empty. */
cnnrt_status cnnrt_image_load(const char *path, cnnrt_image *img, cnnrt_error *err);

/* Writes img as JPEG (.jpg/.jpeg, quality 90) or PNG (.png), chosen by extension.
 * The file is written under a temporary name and renamed, so it is either complete
 * or absent. */
cnnrt_status cnnrt_image_save(const char *path, const cnnrt_image *img, cnnrt_error *err);

/* Frees the pixels and zeroes the struct. NULL is allowed. */
void cnnrt_image_free(cnnrt_image *img);

/* Bilinear resize of an 8-bit RGB image to float RGB in 0..255, half-pixel centres
 * (as OpenCV INTER_LINEAR and TensorFlow's resize with half_pixel_centers), no
 * antialiasing, no rounding. out holds dst_w*dst_h*3 floats. */
cnnrt_status cnnrt_image_resize_bilinear(const cnnrt_image *img, int dst_w, int dst_h,
                                         float *out);

/* -------------------------------------------------------- classification -- */

/* Input preprocessing of a classifier (what Keras's preprocess_input does). */
typedef enum cnnrt_preprocess {
    CNNRT_PREPROCESS_CAFFE, /* RGB->BGR, minus ImageNet BGR means (Keras ResNet50) */
    CNNRT_PREPROCESS_RAW,   /* raw 0..255 RGB (ImageAI 2.1.6 classifyImage) */
    CNNRT_PREPROCESS_TF,    /* x / 127.5 - 1 */
    CNNRT_PREPROCESS_TORCH  /* x / 255, minus ImageNet mean, over ImageNet std */
} cnnrt_preprocess;

/* Parses "caffe", "raw", "tf" or "torch". */
cnnrt_status cnnrt_preprocess_parse(const char *name, cnnrt_preprocess *mode);

/* Name of a mode ("caffe", ...). */
const char *cnnrt_preprocess_name(cnnrt_preprocess mode);

/* Resizes img (bilinear, see cnnrt_image_resize_bilinear) to w x h and applies mode;
 * out holds w*h*3 floats, NHWC. */
cnnrt_status cnnrt_classifier_input(const cnnrt_image *img, int w, int h, cnnrt_preprocess mode,
                                    float *out);

typedef struct cnnrt_class_score {
    int index;
    float probability;
} cnnrt_class_score;

/* The k highest of n probabilities, descending (ties: lower index first). Returns the
 * number written (min(k, n)). */
int cnnrt_top_k(const float *probabilities, int n, int k, cnnrt_class_score *out);

/* Class names, indexed by class number. */
typedef struct cnnrt_labels {
    int count;
    char **names;
} cnnrt_labels;

/* Reads class names from ImageAI's model_class.json ({"0": "chef", ...}, indexed by
 * key), a JSON list, or a text file with one name per line. */
cnnrt_status cnnrt_labels_load(const char *path, cnnrt_labels *labels, cnnrt_error *err);

void cnnrt_labels_free(cnnrt_labels *labels);

/* Writes data (float32) as a NumPy .npy file of the given shape (rank <= 8),
 * atomically (temporary name, then rename). */
cnnrt_status cnnrt_npy_save(const char *path, const int *shape, int rank, const float *data,
                            cnnrt_error *err);

/* ------------------------------------------------------------- detection -- */
/*
 * YOLOv3 object detection (README, "Object detection"; FORMATS.md sections 3-4):
 *
 *     cnnrt_detection_config cfg;                        // labels + anchors
 *     cnnrt_detection_config_load("detection_config.json", &cfg, &err);
 *     cnnrt_letterbox lb;
 *     cnnrt_detector_input(&img, 416, 416, 1, input, &lb); // letterboxed, /255
 *     cnnrt_model_run(m, input, 416 * 416 * 3);
 *     cnnrt_yolo_head heads[3];
 *     cnnrt_yolo_heads(m, &cfg, heads, 3, &err);         // outputs paired with anchors
 *     cnnrt_detections d = {0};
 *     cnnrt_yolo_decode(heads, 3, cfg.labels.count, 416, 416, 0.5f, &d, &err);
 *     cnnrt_letterbox_to_image(&lb, &d);                 // original pixels, clipped
 *     cnnrt_nms(&d, 0.45f);                              // per class, best first
 *     cnnrt_detections_free(&d);
 *
 * Boxes are continuous pixel coordinates: x1 <= x2, y1 <= y2; a box covering a whole
 * W x H image is (0, 0, W, H).
 */

/* Most output heads and anchors per head a detection config may have. */
#define CNNRT_DETECTION_MAX_HEADS 8
#define CNNRT_DETECTION_MAX_ANCHORS 16

/* One detected object. */
typedef struct cnnrt_detection {
    int class_index; /* index into the config's labels */
    float score;     /* sigmoid(objectness) * sigmoid(class logit), 0..1 */
    float x1, y1, x2, y2;
} cnnrt_detection;

/* A growable list of detections. Zero-initialise; free with cnnrt_detections_free. */
typedef struct cnnrt_detections {
    cnnrt_detection *items; /* count entries, owned by the list */
    int count, cap;
} cnnrt_detections;

void cnnrt_detections_free(cnnrt_detections *d);

/* ImageAI's detection_config.json: class names and anchors. */
typedef struct cnnrt_detection_config {
    cnnrt_labels labels;   /* the class count is labels.count */
    int n_heads;           /* anchor lists, coarsest grid first */
    int anchors_per_head;
    /* anchors[h][a] = (width, height) in network input pixels of anchor a of head h */
    float anchors[CNNRT_DETECTION_MAX_HEADS][CNNRT_DETECTION_MAX_ANCHORS][2];
} cnnrt_detection_config;

/* Reads {"labels": [names...], "anchors": ...}. Anchors come in two forms:
 *  - ImageAI 2.x: a list per head, coarsest grid first, each (w, h, w, h, ...) as ImageAI
 *    uses them: [[116,90, 156,198, 373,326], [30,61, ...], [10,13, ...]];
 *  - ImageAI 3.x / Darknet: one flat list of (w, h) pairs, smallest anchor first, three
 *    per head; the coarsest grid takes the last three (Darknet's masks 6,7,8 / 3,4,5 /
 *    0,1,2).
 * Other keys are ignored. On failure cfg is left empty. Free with
 * cnnrt_detection_config_free. */
cnnrt_status cnnrt_detection_config_load(const char *path, cnnrt_detection_config *cfg,
                                         cnnrt_error *err);

void cnnrt_detection_config_free(cnnrt_detection_config *cfg);

/* Where the image sits inside the network input. */
typedef struct cnnrt_letterbox {
    int image_w, image_h; /* original image */
    int net_w, net_h;     /* network input */
    int new_w, new_h;     /* the resized image inside the input */
    int off_x, off_y;     /* its top-left corner in the input */
} cnnrt_letterbox;

/* Geometry of the network input for an image_w x image_h image. letterbox = 1 keeps
 * the aspect ratio (Darknet, keras-yolo3, ImageAI ObjectDetection): the limiting side
 * becomes the network side exactly, the other is floor(side * net / limiting side) in
 * integer arithmetic (at least 1), centred at offset floor((net - new) / 2).
 * letterbox = 0 stretches the image over the whole input (ImageAI
 * CustomObjectDetection). */
cnnrt_status cnnrt_letterbox_compute(int image_w, int image_h, int net_w, int net_h, int letterbox,
                                     cnnrt_letterbox *lb);

/* Detector input: img resized (cnnrt_image_resize_bilinear) into the geometry of
 * cnnrt_letterbox_compute, on a 0.5 gray canvas, values / 255 in 0..1. out holds
 * net_w*net_h*3 floats (NHWC, RGB); *lb (may be NULL) receives the geometry. */
cnnrt_status cnnrt_detector_input(const cnnrt_image *img, int net_w, int net_h, int letterbox,
                                  float *out, cnnrt_letterbox *lb);

/* Maps boxes from network input pixels to original image pixels,
 * x_image = (x - off_x) * image_w / new_w (same for y), and clips them to the image.
 * Boxes left without area (wholly in the letterbox padding) are removed; the others
 * keep their order. */
void cnnrt_letterbox_to_image(const cnnrt_letterbox *lb, cnnrt_detections *d);

/* One YOLO output head and its anchors. */
typedef struct cnnrt_yolo_head {
    const float *data;      /* (h, w, n_anchors * (5 + classes)), NHWC; not owned */
    cnnrt_shape shape;
    const float *anchors;   /* n_anchors (width, height) pairs in network pixels; not owned */
    int n_anchors;
} cnnrt_yolo_head;

/* Pairs the outputs of the last run of m with the anchor lists of cfg: the coarsest
 * grid gets cfg's list 0. Checks that the head counts agree and that every head has
 * anchors_per_head * (5 + classes) channels. heads holds max_heads entries; the
 * pointers stay valid as long as cnnrt_model_output's and cfg's. */
cnnrt_status cnnrt_yolo_heads(cnnrt_model *m, const cnnrt_detection_config *cfg,
                              cnnrt_yolo_head *heads, int max_heads, cnnrt_error *err);

/* Decodes YOLOv3 heads (channel = anchor * (5 + classes) + k, k over tx, ty, tw, th,
 * objectness, class logits): centre = ((cell + sigmoid(t)) / grid) * net, size =
 * anchor * exp(t), score = sigmoid(obj) * sigmoid(class). Appends one detection per
 * (cell, anchor, class) whose score is > threshold, box in network input pixels.
 * Fails (CNNRT_E_NOMEM) past 2^20 candidates: raise the threshold. */
cnnrt_status cnnrt_yolo_decode(const cnnrt_yolo_head *heads, int n_heads, int n_classes, int net_w,
                               int net_h, float threshold, cnnrt_detections *d, cnnrt_error *err);

/* Non-maximum suppression per class, in place: in descending score order, a detection
 * is dropped when its IoU with a kept one of the same class is > iou_threshold. The
 * survivors are left sorted by descending score (ties: class, then earlier first). */
void cnnrt_nms(cnnrt_detections *d, float iou_threshold);

/* Intersection over union of two boxes (0 when either is empty). */
float cnnrt_box_iou(const cnnrt_detection *a, const cnnrt_detection *b);

/* Colour (RGB) used for a class: distinct hues for neighbouring indices. */
void cnnrt_class_colour(int class_index, unsigned char rgb[3]);

/* Draws each detection on img (RGB) in place: a box in its class colour and a label
 * "name 97.12%" on a filled background. labels names the classes. */
cnnrt_status cnnrt_draw_detections(cnnrt_image *img, const cnnrt_detections *d,
                                   const cnnrt_labels *labels, cnnrt_error *err);

/* Copies the pixels of box (rounded to whole pixels, clipped, at least 1x1) of img
 * into a new image *out (free with cnnrt_image_free). */
cnnrt_status cnnrt_image_crop(const cnnrt_image *img, const cnnrt_detection *box, cnnrt_image *out,
                              cnnrt_error *err);

/* ------------------------------------------------------------- threading -- */

/* Number of cores OpenMP will use by default. */
int cnnrt_default_threads(void);

#ifdef __cplusplus
}
#endif
#endif /* CNNRT_H */
