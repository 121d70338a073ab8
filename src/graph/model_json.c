/*
 * model_json.c - builds the graph from a model JSON.
 *
 * Two spellings are accepted (README, "Model JSON"):
 *   - cnnrt's own: {"name", "architecture", "task", "preprocess", "params": {...},
 *     "layers": [{"name", "class_name", "config": {...}, "inputs": [names]}], "outputs": [...]}
 *   - Keras's model_config: {"class_name": "Model"|"Functional", "config": {"name",
 *     "layers": [{..., "inbound_nodes": ...}], "output_layers": [[name, 0, 0], ...]}}
 * Integer config values may be expressions over "params" ("3*(5+classes)").
 */
#include "graph/model_json.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/util.h"
#include "graph/expr.h"
#include "graph/ops.h"
#include "io/json_file.h"

#define MODEL_JSON_MAX_BYTES (16u << 20)
#define MODEL_MAX_LAYERS 100000

struct jctx {
    struct graph *g;
    const char *layer;      /* name of the layer being parsed (for messages) */
    const char *class_name; /* its class */
    cnnrt_error *err;
};

static cnnrt_status cfg_fail(struct jctx *c, const char *key, const char *fmt, const char *arg)
{
    char what[512];
    snprintf(what, sizeof what, fmt, arg ? arg : "");
    return cnnrt_fail(c->err, CNNRT_E_FORMAT, "layer '%s' (%s): '%s' %s", c->layer, c->class_name,
                      key, what);
}

/* An integer item: a JSON integer or an expression string. */
static cnnrt_status item_int(struct jctx *c, const char *key, const cJSON *item, long *out)
{
    if (cJSON_IsNumber(item)) {
        double v = item->valuedouble;
        if (!(v == floor(v)) || fabs(v) > 1e9) return cfg_fail(c, key, "must be an integer", NULL);
        *out = (long)v;
        return CNNRT_OK;
    }
    if (cJSON_IsString(item) && item->valuestring) {
        char why[256];
        if (!expr_eval(item->valuestring, c->g, out, why, sizeof why))
            return cfg_fail(c, key, "is not a valid expression: %s", why);
        return CNNRT_OK;
    }
    return cfg_fail(c, key, "must be an integer or an expression, found %s", json_kind(item));
}

static cnnrt_status get_int(struct jctx *c, const cJSON *cfg, const char *key, long def,
                            bool required, long *out)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(cfg, key);
    if (!item || cJSON_IsNull(item)) {
        if (required) return cfg_fail(c, key, "is required", NULL);
        *out = def;
        return CNNRT_OK;
    }
    return item_int(c, key, item, out);
}

/* An int or a pair [a, b] (kernel_size, strides, size). */
static cnnrt_status get_pair(struct jctx *c, const cJSON *cfg, const char *key, long def,
                             bool required, int out[2])
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(cfg, key);
    long a = def, b = def;
    if (!item || cJSON_IsNull(item)) {
        if (required) return cfg_fail(c, key, "is required", NULL);
        out[0] = out[1] = (int)def; /* the caller's default, possibly a "not given" marker */
        return CNNRT_OK;
    }
    if (cJSON_IsArray(item)) {
        if (cJSON_GetArraySize(item) != 2) return cfg_fail(c, key, "must have 2 values", NULL);
        cnnrt_status st = item_int(c, key, cJSON_GetArrayItem(item, 0), &a);
        if (!st) st = item_int(c, key, cJSON_GetArrayItem(item, 1), &b);
        if (st) return st;
    } else {
        cnnrt_status st = item_int(c, key, item, &a);
        if (st) return st;
        b = a;
    }
    if (a < 0 || b < 0 || a > 1000000 || b > 1000000) return cfg_fail(c, key, "is out of range", NULL);
    out[0] = (int)a;
    out[1] = (int)b;
    return CNNRT_OK;
}

static cnnrt_status get_bool(struct jctx *c, const cJSON *cfg, const char *key, bool def, bool *out)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(cfg, key);
    if (!item || cJSON_IsNull(item)) {
        *out = def;
        return CNNRT_OK;
    }
    if (!cJSON_IsBool(item)) return cfg_fail(c, key, "must be true or false, found %s", json_kind(item));
    *out = cJSON_IsTrue(item);
    return CNNRT_OK;
}

static cnnrt_status get_str(struct jctx *c, const cJSON *cfg, const char *key, const char *def,
                            const char **out)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(cfg, key);
    if (!item || cJSON_IsNull(item)) {
        *out = def;
        return CNNRT_OK;
    }
    if (!cJSON_IsString(item) || !item->valuestring)
        return cfg_fail(c, key, "must be a string, found %s", json_kind(item));
    *out = item->valuestring;
    return CNNRT_OK;
}

static cnnrt_status get_float(struct jctx *c, const cJSON *cfg, const char *key, double def,
                              double *out)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(cfg, key);
    if (!item || cJSON_IsNull(item)) {
        *out = def;
        return CNNRT_OK;
    }
    if (!cJSON_IsNumber(item) || !isfinite(item->valuedouble))
        return cfg_fail(c, key, "must be a number, found %s", json_kind(item));
    *out = item->valuedouble;
    return CNNRT_OK;
}

static cnnrt_status get_padding_mode(struct jctx *c, const cJSON *cfg, bool *same)
{
    const char *s = NULL;
    cnnrt_status st = get_str(c, cfg, "padding", "valid", &s);
    if (st) return st;
    if (strcmp(s, "same") == 0) *same = true;
    else if (strcmp(s, "valid") == 0) *same = false;
    else return cfg_fail(c, "padding", "must be \"same\" or \"valid\", found \"%s\"", s);
    return CNNRT_OK;
}

static cnnrt_status check_channels_last(struct jctx *c, const cJSON *cfg)
{
    const char *s = NULL;
    cnnrt_status st = get_str(c, cfg, "data_format", "channels_last", &s);
    if (st) return st;
    if (strcmp(s, "channels_last") != 0)
        return cfg_fail(c, "data_format", "is \"%s\": only channels_last (NHWC) models are supported",
                        s);
    return CNNRT_OK;
}

static cnnrt_status parse_act_name(struct jctx *c, const char *key, const char *s,
                                   enum act_type *act)
{
    if (strcmp(s, "linear") == 0) *act = ACT_LINEAR;
    else if (strcmp(s, "relu") == 0) *act = ACT_RELU;
    else if (strcmp(s, "softmax") == 0) *act = ACT_SOFTMAX;
    else if (strcmp(s, "sigmoid") == 0) *act = ACT_SIGMOID;
    else return cfg_fail(c, key, "names an unsupported activation \"%s\" (supported: linear, relu, "
                         "softmax, sigmoid)", s);
    return CNNRT_OK;
}

static cnnrt_status get_act(struct jctx *c, const cJSON *cfg, const char *key, enum act_type *act)
{
    const char *s = NULL;
    cnnrt_status st = get_str(c, cfg, key, "linear", &s);
    if (st) return st;
    return parse_act_name(c, key, s, act);
}

/* ---------------------------------------------------------- layer parsers -- */

static cnnrt_status parse_input(struct jctx *c, const cJSON *cfg, struct node *n)
{
    const cJSON *shape = cJSON_GetObjectItemCaseSensitive(cfg, "batch_input_shape");
    int skip = 1;
    if (!shape) shape = cJSON_GetObjectItemCaseSensitive(cfg, "batch_shape");
    if (!shape) {
        shape = cJSON_GetObjectItemCaseSensitive(cfg, "shape");
        skip = 0;
    }
    if (!cJSON_IsArray(shape) || cJSON_GetArraySize(shape) != 3 + skip)
        return cfg_fail(c, "batch_input_shape", "must be [null, height, width, channels]", NULL);
    long v[3];
    for (int k = 0; k < 3; k++) {
        const cJSON *item = cJSON_GetArrayItem(shape, k + skip);
        if (cJSON_IsNull(item) && k < 2) {
            /* Keras models with a free input size (ImageAI YOLOv3): take "size". */
            if (!graph_param_use(c->g, "size", &v[k]))
                return cfg_fail(c, "batch_input_shape",
                                "leaves the input size open; give the size parameter (--size)",
                                NULL);
            continue;
        }
        cnnrt_status st = item_int(c, "batch_input_shape", item, &v[k]);
        if (st) return st;
        if (v[k] <= 0 || v[k] > 65536)
            return cfg_fail(c, "batch_input_shape", "has an invalid dimension", NULL);
    }
    n->p.input = (struct input_params){(int)v[0], (int)v[1], (int)v[2]};
    return CNNRT_OK;
}

static cnnrt_status parse_zero_pad(struct jctx *c, const cJSON *cfg, struct node *n)
{
    cnnrt_status st = check_channels_last(c, cfg);
    if (st) return st;
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(cfg, "padding");
    long t = 1, b = 1, l = 1, r = 1;
    if (cJSON_IsArray(item) && cJSON_GetArraySize(item) == 2) {
        const cJSON *h = cJSON_GetArrayItem(item, 0), *w = cJSON_GetArrayItem(item, 1);
        if (cJSON_IsArray(h) && cJSON_IsArray(w) && cJSON_GetArraySize(h) == 2 &&
            cJSON_GetArraySize(w) == 2) {
            if ((st = item_int(c, "padding", cJSON_GetArrayItem(h, 0), &t)) ||
                (st = item_int(c, "padding", cJSON_GetArrayItem(h, 1), &b)) ||
                (st = item_int(c, "padding", cJSON_GetArrayItem(w, 0), &l)) ||
                (st = item_int(c, "padding", cJSON_GetArrayItem(w, 1), &r)))
                return st;
        } else {
            if ((st = item_int(c, "padding", h, &t)) || (st = item_int(c, "padding", w, &l)))
                return st;
            b = t;
            r = l;
        }
    } else if (item) {
        if ((st = item_int(c, "padding", item, &t))) return st;
        b = l = r = t;
    }
    if (t < 0 || b < 0 || l < 0 || r < 0 || t > 4096 || b > 4096 || l > 4096 || r > 4096)
        return cfg_fail(c, "padding", "is out of range", NULL);
    n->p.zero_pad.pad = (struct pad4){(int)t, (int)b, (int)l, (int)r};
    return CNNRT_OK;
}

static cnnrt_status check_unit_dilation(struct jctx *c, const cJSON *cfg)
{
    int d[2];
    cnnrt_status st = get_pair(c, cfg, "dilation_rate", 1, false, d);
    if (st) return st;
    if (d[0] != 1 || d[1] != 1) return cfg_fail(c, "dilation_rate", "must be 1 (dilated convolutions are not supported)", NULL);
    long groups;
    if ((st = get_int(c, cfg, "groups", 1, false, &groups))) return st;
    if (groups != 1) return cfg_fail(c, "groups", "must be 1 (grouped convolutions are not supported)", NULL);
    return CNNRT_OK;
}

static cnnrt_status parse_conv2d(struct jctx *c, const cJSON *cfg, struct node *n)
{
    struct conv2d_params *p = &n->p.conv;
    long filters;
    int k[2], s[2];
    cnnrt_status st;
    if ((st = check_channels_last(c, cfg)) || (st = check_unit_dilation(c, cfg)) ||
        (st = get_int(c, cfg, "filters", 0, true, &filters)) ||
        (st = get_pair(c, cfg, "kernel_size", 0, true, k)) ||
        (st = get_pair(c, cfg, "strides", 1, false, s)) || (st = get_padding_mode(c, cfg, &p->same)) ||
        (st = get_bool(c, cfg, "use_bias", true, &p->use_bias)) ||
        (st = get_act(c, cfg, "activation", &p->act)))
        return st;
    if (filters <= 0 || filters > 1000000) return cfg_fail(c, "filters", "must be positive", NULL);
    p->filters = (int)filters;
    p->kh = k[0];
    p->kw = k[1];
    p->sh = s[0];
    p->sw = s[1];
    return CNNRT_OK;
}

static cnnrt_status parse_batch_norm(struct jctx *c, const cJSON *cfg, struct node *n)
{
    const cJSON *axis = cJSON_GetObjectItemCaseSensitive(cfg, "axis");
    if (cJSON_IsArray(axis) && cJSON_GetArraySize(axis) == 1) axis = cJSON_GetArrayItem(axis, 0);
    if (axis && !(cJSON_IsNumber(axis) && (axis->valuedouble == -1 || axis->valuedouble == 3)))
        return cfg_fail(c, "axis", "must be -1 or 3 (the channel axis of NHWC)", NULL);
    double eps = 0;
    cnnrt_status st;
    if ((st = get_float(c, cfg, "epsilon", 1e-3, &eps)) ||
        (st = get_bool(c, cfg, "center", true, &n->p.bn.center)) ||
        (st = get_bool(c, cfg, "scale", true, &n->p.bn.scale)))
        return st;
    if (!(eps > 0)) return cfg_fail(c, "epsilon", "must be positive", NULL);
    n->p.bn.eps = (float)eps;
    return CNNRT_OK;
}

static cnnrt_status parse_activation(struct jctx *c, const cJSON *cfg, struct node *n)
{
    const char *s = NULL;
    cnnrt_status st = get_str(c, cfg, "activation", NULL, &s);
    if (st) return st;
    if (!s) return cfg_fail(c, "activation", "is required", NULL);
    if (strcmp(s, "leaky_relu") == 0) {
        n->p.act.act = ACT_LEAKY;
        n->p.act.alpha = 0.2f; /* tf.nn.leaky_relu default */
        return CNNRT_OK;
    }
    return parse_act_name(c, "activation", s, &n->p.act.act);
}

static cnnrt_status parse_relu(struct jctx *c, const cJSON *cfg, struct node *n)
{
    double max_value = -1, slope = 0, threshold = 0;
    cnnrt_status st;
    if ((st = get_float(c, cfg, "max_value", -1, &max_value)) ||
        (st = get_float(c, cfg, "negative_slope", 0, &slope)) ||
        (st = get_float(c, cfg, "threshold", 0, &threshold)))
        return st;
    if (max_value >= 0) return cfg_fail(c, "max_value", "is not supported (capped ReLU)", NULL);
    if (threshold != 0) return cfg_fail(c, "threshold", "is not supported (must be 0)", NULL);
    n->p.act.act = slope != 0 ? ACT_LEAKY : ACT_RELU;
    n->p.act.alpha = (float)slope;
    return CNNRT_OK;
}

static cnnrt_status parse_leaky_relu(struct jctx *c, const cJSON *cfg, struct node *n)
{
    double alpha = 0;
    const char *key = cJSON_GetObjectItemCaseSensitive(cfg, "negative_slope") ? "negative_slope"
                                                                               : "alpha";
    cnnrt_status st = get_float(c, cfg, key, 0.3, &alpha); /* Keras 2 default 0.3 */
    if (st) return st;
    n->p.act.act = ACT_LEAKY;
    n->p.act.alpha = (float)alpha;
    return CNNRT_OK;
}

static cnnrt_status parse_softmax(struct jctx *c, const cJSON *cfg, struct node *n)
{
    long axis;
    cnnrt_status st = get_int(c, cfg, "axis", -1, false, &axis);
    if (st) return st;
    if (axis != -1 && axis != 3) return cfg_fail(c, "axis", "must be -1", NULL);
    n->p.act.act = ACT_SOFTMAX;
    return CNNRT_OK;
}

static cnnrt_status parse_max_pool(struct jctx *c, const cJSON *cfg, struct node *n)
{
    struct pool_params *p = &n->p.pool;
    int k[2], s[2];
    cnnrt_status st;
    if ((st = check_channels_last(c, cfg)) || (st = get_pair(c, cfg, "pool_size", 2, false, k)))
        return st;
    if ((st = get_pair(c, cfg, "strides", -1, false, s))) return st;
    if (s[0] < 0) {
        s[0] = k[0];
        s[1] = k[1];
    }
    if ((st = get_padding_mode(c, cfg, &p->same))) return st;
    p->kh = k[0];
    p->kw = k[1];
    p->sh = s[0];
    p->sw = s[1];
    return CNNRT_OK;
}

static cnnrt_status parse_no_config(struct jctx *c, const cJSON *cfg, struct node *n)
{
    (void)n;
    return check_channels_last(c, cfg);
}

static cnnrt_status parse_dense(struct jctx *c, const cJSON *cfg, struct node *n)
{
    long units;
    cnnrt_status st;
    if ((st = get_int(c, cfg, "units", 0, true, &units)) ||
        (st = get_bool(c, cfg, "use_bias", true, &n->p.dense.use_bias)) ||
        (st = get_act(c, cfg, "activation", &n->p.dense.act)))
        return st;
    if (units <= 0 || units > 1000000) return cfg_fail(c, "units", "must be positive", NULL);
    n->p.dense.units = (int)units;
    return CNNRT_OK;
}

static cnnrt_status parse_concat(struct jctx *c, const cJSON *cfg, struct node *n)
{
    (void)n;
    long axis;
    cnnrt_status st = get_int(c, cfg, "axis", -1, false, &axis);
    if (st) return st;
    if (axis != -1 && axis != 3)
        return cfg_fail(c, "axis", "must be -1 (channels); other axes are not supported", NULL);
    return CNNRT_OK;
}

static cnnrt_status parse_upsample(struct jctx *c, const cJSON *cfg, struct node *n)
{
    const char *interp = NULL;
    cnnrt_status st;
    int size[2];
    if ((st = check_channels_last(c, cfg)) || (st = get_pair(c, cfg, "size", 2, false, size)))
        return st;
    n->p.up.sh = size[0];
    n->p.up.sw = size[1];
    if ((st = get_str(c, cfg, "interpolation", "nearest", &interp))) return st;
    if (strcmp(interp, "nearest") != 0)
        return cfg_fail(c, "interpolation", "is \"%s\": only nearest is supported", interp);
    return CNNRT_OK;
}

typedef cnnrt_status (*parse_fn)(struct jctx *c, const cJSON *cfg, struct node *n);

/* Keras layer classes understood, and the op each becomes. */
static const struct keras_class {
    const char *class_name;
    enum op_type op;
    parse_fn parse;
} keras_classes[] = {
    {"InputLayer", OP_INPUT, parse_input},
    {"ZeroPadding2D", OP_ZERO_PAD, parse_zero_pad},
    {"Conv2D", OP_CONV2D, parse_conv2d},
    {"Convolution2D", OP_CONV2D, parse_conv2d},
    {"BatchNormalization", OP_BATCH_NORM, parse_batch_norm},
    {"Activation", OP_ACTIVATION, parse_activation},
    {"ReLU", OP_ACTIVATION, parse_relu},
    {"LeakyReLU", OP_ACTIVATION, parse_leaky_relu},
    {"Softmax", OP_ACTIVATION, parse_softmax},
    {"MaxPooling2D", OP_MAX_POOL, parse_max_pool},
    {"MaxPool2D", OP_MAX_POOL, parse_max_pool},
    {"GlobalAveragePooling2D", OP_GLOBAL_AVG_POOL, parse_no_config},
    {"Flatten", OP_FLATTEN, parse_no_config},
    {"Dense", OP_DENSE, parse_dense},
    {"Add", OP_ADD, parse_no_config},
    {"Concatenate", OP_CONCAT, parse_concat},
    {"UpSampling2D", OP_UPSAMPLE, parse_upsample},
};

static const struct keras_class *find_class(const char *name)
{
    for (size_t i = 0; i < CNNRT_ARRAY_LEN(keras_classes); i++)
        if (strcmp(keras_classes[i].class_name, name) == 0) return &keras_classes[i];
    return NULL;
}

static void list_classes(char *buf, size_t len)
{
    size_t pos = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < CNNRT_ARRAY_LEN(keras_classes) && pos < len; i++)
        pos += (size_t)snprintf(buf + pos, len - pos, "%s%s", i ? ", " : "",
                                keras_classes[i].class_name);
}

/* ------------------------------------------------------------ connections -- */

/* Collects input layer names of a Keras 3 "args" structure (depth-first). */
static int collect_keras3_history(const cJSON *item, const char **names, int max, int n)
{
    if (cJSON_IsObject(item)) {
        const cJSON *cfg = cJSON_GetObjectItemCaseSensitive(item, "config");
        const cJSON *hist = cJSON_GetObjectItemCaseSensitive(cfg, "keras_history");
        if (cJSON_IsArray(hist)) {
            const cJSON *name = cJSON_GetArrayItem(hist, 0);
            if (cJSON_IsString(name) && name->valuestring && n < max) names[n++] = name->valuestring;
            return n;
        }
    }
    if (cJSON_IsArray(item)) {
        const cJSON *el;
        cJSON_ArrayForEach(el, item) n = collect_keras3_history(el, names, max, n);
    }
    return n;
}

#define MAX_LAYER_INPUTS 64

/* Names of a layer's inputs from "inputs" (cnnrt) or "inbound_nodes" (Keras 2 or 3). */
static cnnrt_status layer_input_names(struct jctx *c, const cJSON *layer, const char **names,
                                      int *count)
{
    *count = 0;
    const cJSON *inputs = cJSON_GetObjectItemCaseSensitive(layer, "inputs");
    if (inputs) {
        if (cJSON_IsString(inputs) && inputs->valuestring) {
            names[(*count)++] = inputs->valuestring;
            return CNNRT_OK;
        }
        if (!cJSON_IsArray(inputs))
            return cfg_fail(c, "inputs", "must be a list of layer names, found %s", json_kind(inputs));
        const cJSON *el;
        cJSON_ArrayForEach(el, inputs)
        {
            if (!cJSON_IsString(el) || !el->valuestring)
                return cfg_fail(c, "inputs", "must be a list of layer names", NULL);
            if (*count >= MAX_LAYER_INPUTS) return cfg_fail(c, "inputs", "has too many entries", NULL);
            names[(*count)++] = el->valuestring;
        }
        return CNNRT_OK;
    }
    const cJSON *inbound = cJSON_GetObjectItemCaseSensitive(layer, "inbound_nodes");
    if (!inbound || (cJSON_IsArray(inbound) && cJSON_GetArraySize(inbound) == 0)) return CNNRT_OK;
    if (!cJSON_IsArray(inbound)) return cfg_fail(c, "inbound_nodes", "must be a list", NULL);
    if (cJSON_GetArraySize(inbound) > 1)
        return cfg_fail(c, "inbound_nodes", "has several nodes: shared layers are not supported", NULL);
    const cJSON *node = cJSON_GetArrayItem(inbound, 0);
    if (cJSON_IsObject(node)) { /* Keras 3 */
        *count = collect_keras3_history(cJSON_GetObjectItemCaseSensitive(node, "args"), names,
                                        MAX_LAYER_INPUTS, 0);
        return CNNRT_OK;
    }
    if (!cJSON_IsArray(node)) return cfg_fail(c, "inbound_nodes", "has an invalid node", NULL);
    const cJSON *conn;
    cJSON_ArrayForEach(conn, node)
    {
        const cJSON *name = cJSON_GetArrayItem(conn, 0);
        if (!cJSON_IsArray(conn) || !cJSON_IsString(name) || !name->valuestring)
            return cfg_fail(c, "inbound_nodes", "has an invalid connection", NULL);
        const cJSON *node_index = cJSON_GetArrayItem(conn, 1);
        if (cJSON_IsNumber(node_index) && node_index->valuedouble != 0)
            return cfg_fail(c, "inbound_nodes", "uses node %s: shared layers are not supported",
                            cJSON_IsString(name) ? name->valuestring : "?");
        if (*count >= MAX_LAYER_INPUTS) return cfg_fail(c, "inbound_nodes", "has too many entries", NULL);
        names[(*count)++] = name->valuestring;
    }
    return CNNRT_OK;
}

static cnnrt_status add_layer(struct graph *g, const cJSON *layer, int index, cnnrt_error *err)
{
    if (!cJSON_IsObject(layer))
        return cnnrt_fail(err, CNNRT_E_FORMAT, "layers[%d] must be an object, found %s", index,
                          json_kind(layer));
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(layer, "name");
    const cJSON *cls = cJSON_GetObjectItemCaseSensitive(layer, "class_name");
    const cJSON *cfg = cJSON_GetObjectItemCaseSensitive(layer, "config");
    if (!cJSON_IsString(name) && cJSON_IsObject(cfg))
        name = cJSON_GetObjectItemCaseSensitive(cfg, "name");
    if (!cJSON_IsString(name) || !name->valuestring || !name->valuestring[0] ||
        strlen(name->valuestring) > 255)
        return cnnrt_fail(err, CNNRT_E_FORMAT, "layers[%d] has no valid \"name\"", index);
    if (!cJSON_IsString(cls) || !cls->valuestring)
        return cnnrt_fail(err, CNNRT_E_FORMAT, "layer '%s' has no \"class_name\"", name->valuestring);
    if (cfg && !cJSON_IsObject(cfg))
        return cnnrt_fail(err, CNNRT_E_FORMAT, "layer '%s': \"config\" must be an object",
                          name->valuestring);
    const struct keras_class *kc = find_class(cls->valuestring);
    if (!kc) {
        char list[1024];
        list_classes(list, sizeof list);
        return cnnrt_fail(err, CNNRT_E_FORMAT,
                          "layer '%s': unknown layer kind \"%s\" (supported: %s)", name->valuestring,
                          cls->valuestring, list);
    }
    if (graph_find(g, name->valuestring) >= 0)
        return cnnrt_fail(err, CNNRT_E_FORMAT, "layer name '%s' is used twice", name->valuestring);
    int idx = graph_add_node(g, name->valuestring, kc->class_name, kc->op);
    if (idx < 0) return CNNRT_NOMEM(err);
    struct node *n = &g->nodes[idx];
    struct jctx c = {g, n->name, kc->class_name, err};

    const char *in_names[MAX_LAYER_INPUTS];
    int n_in;
    cnnrt_status st = layer_input_names(&c, layer, in_names, &n_in);
    if (st) return st;
    if (kc->op == OP_INPUT && n_in > 0)
        return cnnrt_fail(err, CNNRT_E_FORMAT, "layer '%s' (InputLayer) cannot have inputs", n->name);
    if (kc->op != OP_INPUT && n_in == 0)
        return cnnrt_fail(err, CNNRT_E_FORMAT, "layer '%s' (%s) has no inputs", n->name,
                          kc->class_name);
    if (n_in > 0 && n_in <= MAX_LAYER_INPUTS) {
        n->inputs = malloc((size_t)n_in * sizeof *n->inputs);
        if (!n->inputs) return CNNRT_NOMEM(err);
    }
    for (int k = 0; k < n_in; k++) {
        int src = graph_find(g, in_names[k]);
        if (src < 0 || src == idx)
            return cnnrt_fail(err, CNNRT_E_FORMAT,
                              "layer '%s': input '%s' is not defined before it (every input must be "
                              "a layer listed earlier in \"layers\")",
                              n->name, in_names[k]);
        n->inputs[k] = src;
    }
    n->n_inputs = n_in;
    static const cJSON empty = {0};
    return kc->parse(&c, cfg ? cfg : &empty, n);
}

/* Output layer names from "outputs": [names] or "output_layers": [[name, 0, 0], ...]. */
static cnnrt_status read_outputs(struct graph *g, const cJSON *model, cnnrt_error *err)
{
    const cJSON *outs = cJSON_GetObjectItemCaseSensitive(model, "outputs");
    bool keras = false;
    if (!outs) {
        outs = cJSON_GetObjectItemCaseSensitive(model, "output_layers");
        keras = true;
    }
    if (!cJSON_IsArray(outs) || cJSON_GetArraySize(outs) == 0)
        return cnnrt_fail(err, CNNRT_E_FORMAT, "\"outputs\" must be a non-empty list of layer names");
    /* a single Keras output may be written [name, 0, 0] instead of [[name, 0, 0]] */
    if (keras && cJSON_IsString(cJSON_GetArrayItem(outs, 0))) {
        const cJSON *name = cJSON_GetArrayItem(outs, 0);
        g->outputs = malloc(sizeof *g->outputs);
        if (!g->outputs) return CNNRT_NOMEM(err);
        g->outputs[0] = graph_find(g, name->valuestring);
        g->n_outputs = 1;
        if (g->outputs[0] < 0)
            return cnnrt_fail(err, CNNRT_E_FORMAT, "output '%s' is not a layer", name->valuestring);
        return CNNRT_OK;
    }
    int n = cJSON_GetArraySize(outs);
    if (n <= 0 || n > MODEL_MAX_LAYERS) return cnnrt_fail(err, CNNRT_E_FORMAT, "invalid \"outputs\"");
    g->outputs = malloc((size_t)n * sizeof *g->outputs);
    if (!g->outputs) return CNNRT_NOMEM(err);
    const cJSON *el;
    cJSON_ArrayForEach(el, outs)
    {
        const cJSON *name = cJSON_IsArray(el) ? cJSON_GetArrayItem(el, 0) : el;
        if (!cJSON_IsString(name) || !name->valuestring)
            return cnnrt_fail(err, CNNRT_E_FORMAT, "\"outputs\" must list layer names");
        int idx = graph_find(g, name->valuestring);
        if (idx < 0) return cnnrt_fail(err, CNNRT_E_FORMAT, "output '%s' is not a layer", name->valuestring);
        for (int k = 0; k < g->n_outputs; k++)
            if (g->outputs[k] == idx)
                return cnnrt_fail(err, CNNRT_E_FORMAT, "output '%s' is listed twice", name->valuestring);
        g->outputs[g->n_outputs++] = idx;
    }
    return CNNRT_OK;
}

static cnnrt_status copy_meta(const cJSON *obj, const char *key, char **out, cnnrt_error *err)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!item) return CNNRT_OK;
    if (!cJSON_IsString(item) || !item->valuestring)
        return cnnrt_fail(err, CNNRT_E_FORMAT, "\"%s\" must be a string", key);
    free(*out);
    *out = str_dup(item->valuestring);
    return *out ? CNNRT_OK : CNNRT_NOMEM(err);
}

/* Every node must lead to an output; dead layers are almost always a typo. */
static cnnrt_status check_reachable(const struct graph *g, cnnrt_error *err)
{
    bool *live = calloc((size_t)g->n_nodes, sizeof *live);
    if (!live) return CNNRT_NOMEM(err);
    for (int k = 0; k < g->n_outputs; k++) live[g->outputs[k]] = true;
    for (int i = g->n_nodes - 1; i >= 0; i--)
        if (live[i])
            for (int k = 0; k < g->nodes[i].n_inputs; k++) live[g->nodes[i].inputs[k]] = true;
    int dead = -1;
    for (int i = 0; i < g->n_nodes && dead < 0; i++)
        if (!live[i]) dead = i;
    free(live);
    if (dead >= 0)
        return cnnrt_fail(err, CNNRT_E_FORMAT,
                          "layer '%s' does not lead to any output (check the inputs of the layers "
                          "after it, and \"outputs\")",
                          g->nodes[dead].name);
    return CNNRT_OK;
}

static cnnrt_status build(struct graph *g, const cJSON *root, cnnrt_error *err)
{
    if (!cJSON_IsObject(root)) return cnnrt_fail(err, CNNRT_E_FORMAT, "the top level must be an object");
    const cJSON *model = root;
    const cJSON *inner = cJSON_GetObjectItemCaseSensitive(root, "config");
    if (cJSON_IsObject(inner) && cJSON_GetObjectItemCaseSensitive(inner, "layers")) model = inner;

    cnnrt_status st;
    if ((st = copy_meta(model, "name", &g->name, err)) ||
        (st = copy_meta(root, "architecture", &g->architecture, err)) ||
        (st = copy_meta(root, "task", &g->task, err)) ||
        (st = copy_meta(root, "preprocess", &g->preprocess, err)))
        return st;

    const cJSON *params = cJSON_GetObjectItemCaseSensitive(root, "params");
    if (params) {
        if (!cJSON_IsObject(params))
            return cnnrt_fail(err, CNNRT_E_FORMAT, "\"params\" must be an object of integers");
        const cJSON *p;
        cJSON_ArrayForEach(p, params)
        {
            if (!cJSON_IsNumber(p) || p->valuedouble != floor(p->valuedouble) ||
                fabs(p->valuedouble) > 1e9)
                return cnnrt_fail(err, CNNRT_E_FORMAT, "parameter \"%s\" must be an integer",
                                  p->string ? p->string : "?");
            long v;
            if (graph_param_get(g, p->string, &v)) continue; /* caller's override wins */
            if (!graph_param_set(g, p->string, (long)p->valuedouble)) return CNNRT_NOMEM(err);
            g->params[g->n_params - 1].used = true; /* declared: not an unknown override */
        }
    }

    const cJSON *layers = cJSON_GetObjectItemCaseSensitive(model, "layers");
    if (!cJSON_IsArray(layers) || cJSON_GetArraySize(layers) == 0)
        return cnnrt_fail(err, CNNRT_E_FORMAT, "\"layers\" must be a non-empty list");
    if (cJSON_GetArraySize(layers) > MODEL_MAX_LAYERS)
        return cnnrt_fail(err, CNNRT_E_FORMAT, "too many layers");
    int index = 0;
    const cJSON *layer;
    cJSON_ArrayForEach(layer, layers)
    {
        if ((st = add_layer(g, layer, index++, err))) return st;
        struct node *n = &g->nodes[g->n_nodes - 1];
        if (n->op == OP_INPUT) {
            if (g->input >= 0)
                return cnnrt_fail(err, CNNRT_E_FORMAT,
                                  "layer '%s': a second InputLayer (models with several inputs are "
                                  "not supported)",
                                  n->name);
            g->input = g->n_nodes - 1;
        }
    }
    if ((st = read_outputs(g, model, err))) return st;
    if ((st = check_reachable(g, err))) return st;
    return graph_infer_shapes(g, err);
}

cnnrt_status model_json_load(struct graph *g, const char *path, cnnrt_error *err)
{
    cJSON *root;
    cnnrt_status st = json_load_file(path, MODEL_JSON_MAX_BYTES, &root, err);
    if (st) return st;
    st = build(g, root, err);
    cJSON_Delete(root);
    if (!st)
        for (int i = 0; i < g->n_params; i++)
            if (!g->params[i].used) {
                st = cnnrt_fail(err, CNNRT_E_USAGE, "the model has no parameter \"%s\"",
                                g->params[i].name);
                break;
            }
    if (st) cnnrt_error_prefix(err, "model %s: ", path);
    return st;
}
