/* detection_config.c - ImageAI's detection_config.json: class labels and YOLO anchors
 * (2.x nested lists per head, 3.x flat list; see cnnrt.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "cnnrt.h"
#include "core/error.h"
#include "core/util.h"
#include "io/json_file.h"

#define CONFIG_MAX_BYTES (16u << 20)
#define CONFIG_MAX_LABELS 100000
#define ANCHOR_MAX 100000.0 /* pixels; anchors are a fraction of the input size */
#define FLAT_ANCHORS_PER_HEAD 3

void cnnrt_detection_config_free(cnnrt_detection_config *cfg)
{
    if (!cfg) return;
    cnnrt_labels_free(&cfg->labels);
    memset(cfg, 0, sizeof *cfg);
}

static cnnrt_status read_labels(const char *path, const cJSON *list, cnnrt_labels *l,
                                cnnrt_error *err)
{
    if (!cJSON_IsArray(list))
        return cnnrt_fail(err, CNNRT_E_FORMAT,
                          "%s: \"labels\" must be a list of class names, found %s", path,
                          json_kind(list));
    int n = cJSON_GetArraySize(list);
    if (n <= 0) return cnnrt_fail(err, CNNRT_E_FORMAT, "%s: \"labels\" is empty", path);
    if (n > CONFIG_MAX_LABELS)
        return cnnrt_fail(err, CNNRT_E_FORMAT, "%s: more than %d labels", path, CONFIG_MAX_LABELS);
    if (!(l->names = calloc((size_t)n, sizeof *l->names))) return CNNRT_NOMEM(err);
    const cJSON *item;
    cJSON_ArrayForEach(item, list)
    {
        if (!cJSON_IsString(item) || !item->valuestring || !item->valuestring[0])
            return cnnrt_fail(err, CNNRT_E_FORMAT,
                              "%s: label %d must be a non-empty string, found %s", path, l->count,
                              json_kind(item));
        if (!(l->names[l->count] = str_dup(item->valuestring))) return CNNRT_NOMEM(err);
        l->count++;
    }
    return CNNRT_OK;
}

/* One anchor dimension: a positive finite number. */
static cnnrt_status anchor_value(const char *path, const cJSON *v, const char *where, float *out,
                                 cnnrt_error *err)
{
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) || !(v->valuedouble > 0) ||
        v->valuedouble > ANCHOR_MAX)
        return cnnrt_fail(err, CNNRT_E_FORMAT,
                          "%s: anchor value %s must be a positive number of pixels, found %s", path,
                          where, cJSON_IsNumber(v) ? "a number out of range" : json_kind(v));
    *out = (float)v->valuedouble;
    return CNNRT_OK;
}

/* ImageAI 2.x: [[w,h, w,h, w,h], ...], list 0 for the coarsest grid. */
static cnnrt_status read_nested(const char *path, const cJSON *anchors, cnnrt_detection_config *cfg,
                                cnnrt_error *err)
{
    int heads = cJSON_GetArraySize(anchors);
    if (heads > CNNRT_DETECTION_MAX_HEADS)
        return cnnrt_fail(err, CNNRT_E_FORMAT, "%s: %d anchor lists; at most %d are supported", path,
                          heads, CNNRT_DETECTION_MAX_HEADS);
    const cJSON *list;
    int h = 0;
    cJSON_ArrayForEach(list, anchors)
    {
        if (!cJSON_IsArray(list))
            return cnnrt_fail(err, CNNRT_E_FORMAT,
                              "%s: anchor list %d must be a list of numbers, found %s", path, h,
                              json_kind(list));
        int n = cJSON_GetArraySize(list);
        if (n == 0 || n % 2 || n / 2 > CNNRT_DETECTION_MAX_ANCHORS)
            return cnnrt_fail(err, CNNRT_E_FORMAT,
                              "%s: anchor list %d has %d numbers; expected (width, height) pairs, "
                              "at most %d of them",
                              path, h, n, CNNRT_DETECTION_MAX_ANCHORS);
        if (h > 0 && n / 2 != cfg->anchors_per_head)
            return cnnrt_fail(err, CNNRT_E_FORMAT,
                              "%s: anchor list %d has %d numbers but list 0 has %d; every list "
                              "needs the same count",
                              path, h, n, 2 * cfg->anchors_per_head);
        cfg->anchors_per_head = n / 2;
        const cJSON *v;
        int k = 0;
        cJSON_ArrayForEach(v, list)
        {
            char where[48];
            snprintf(where, sizeof where, "%d of list %d", k, h);
            cnnrt_status st = anchor_value(path, v, where, &cfg->anchors[h][k / 2][k % 2], err);
            if (st) return st;
            k++;
        }
        h++;
    }
    cfg->n_heads = h;
    return CNNRT_OK;
}

/* ImageAI 3.x / Darknet: [w,h, w,h, ...] smallest first, three per head, the coarsest
 * grid takes the last three. */
static cnnrt_status read_flat(const char *path, const cJSON *anchors, cnnrt_detection_config *cfg,
                              cnnrt_error *err)
{
    int n = cJSON_GetArraySize(anchors);
    int pairs = n / 2;
    if (n % 2 || pairs % FLAT_ANCHORS_PER_HEAD ||
        pairs / FLAT_ANCHORS_PER_HEAD > CNNRT_DETECTION_MAX_HEADS)
        return cnnrt_fail(err, CNNRT_E_FORMAT,
                          "%s: a flat anchor list has %d numbers; expected (width, height) pairs, "
                          "%d per output head (18 for YOLOv3, 12 for TinyYOLOv3)",
                          path, n, FLAT_ANCHORS_PER_HEAD);
    cfg->n_heads = pairs / FLAT_ANCHORS_PER_HEAD;
    cfg->anchors_per_head = FLAT_ANCHORS_PER_HEAD;
    const cJSON *v;
    int k = 0;
    cJSON_ArrayForEach(v, anchors)
    {
        int pair = k / 2;
        int head = cfg->n_heads - 1 - pair / FLAT_ANCHORS_PER_HEAD;
        char where[32];
        snprintf(where, sizeof where, "%d", k);
        cnnrt_status st =
            anchor_value(path, v, where, &cfg->anchors[head][pair % FLAT_ANCHORS_PER_HEAD][k % 2], err);
        if (st) return st;
        k++;
    }
    return CNNRT_OK;
}

cnnrt_status cnnrt_detection_config_load(const char *path, cnnrt_detection_config *cfg,
                                         cnnrt_error *err)
{
    memset(cfg, 0, sizeof *cfg);
    cJSON *root;
    cnnrt_status st = json_load_file(path, CONFIG_MAX_BYTES, &root, err);
    if (st) return st;
    const cJSON *labels = cJSON_GetObjectItemCaseSensitive(root, "labels");
    const cJSON *anchors = cJSON_GetObjectItemCaseSensitive(root, "anchors");
    if (!cJSON_IsObject(root))
        st = cnnrt_fail(err, CNNRT_E_FORMAT,
                        "%s: expected a detection config object {\"labels\": [...], \"anchors\": "
                        "[...]}, found %s",
                        path, json_kind(root));
    else if (!labels || !anchors)
        st = cnnrt_fail(err, CNNRT_E_FORMAT,
                        "%s: a detection config needs \"labels\" and \"anchors\" (ImageAI's "
                        "detection_config.json); \"%s\" is missing",
                        path, labels ? "anchors" : "labels");
    if (!st) st = read_labels(path, labels, &cfg->labels, err);
    if (!st && (!cJSON_IsArray(anchors) || cJSON_GetArraySize(anchors) == 0))
        st = cnnrt_fail(err, CNNRT_E_FORMAT, "%s: \"anchors\" must be a non-empty list, found %s",
                        path, json_kind(anchors));
    if (!st) {
        if (cJSON_IsArray(anchors->child)) st = read_nested(path, anchors, cfg, err);
        else st = read_flat(path, anchors, cfg, err);
    }
    cJSON_Delete(root);
    if (st) cnnrt_detection_config_free(cfg);
    return st;
}
