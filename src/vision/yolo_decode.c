/* yolo_decode.c - YOLOv3 output heads to scored boxes (FORMATS.md section 4: the
 * decoding keras-yolo3, Darknet and ImageAI share). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cnnrt.h"
#include "core/error.h"

#define DETECTIONS_MAX (1 << 20)

void cnnrt_detections_free(cnnrt_detections *d)
{
    if (!d) return;
    free(d->items);
    memset(d, 0, sizeof *d);
}

static cnnrt_status detections_push(cnnrt_detections *d, const cnnrt_detection *det,
                                    cnnrt_error *err)
{
    if (d->count == d->cap) {
        if (d->cap >= DETECTIONS_MAX)
            return cnnrt_fail(err, CNNRT_E_NOMEM,
                              "more than %d candidate detections are above the score threshold; "
                              "raise the threshold",
                              DETECTIONS_MAX);
        int cap = d->cap ? d->cap * 2 : 64;
        cnnrt_detection *grown = realloc(d->items, (size_t)cap * sizeof *grown);
        if (!grown) return CNNRT_NOMEM(err);
        d->items = grown;
        d->cap = cap;
    }
    d->items[d->count++] = *det;
    return CNNRT_OK;
}

static float sigmoidf(float x) { return 1.0f / (1.0f + expf(-x)); }

cnnrt_status cnnrt_yolo_heads(cnnrt_model *m, const cnnrt_detection_config *cfg,
                              cnnrt_yolo_head *heads, int max_heads, cnnrt_error *err)
{
    if (!m || !cfg || !heads) return cnnrt_fail(err, CNNRT_E_USAGE, "yolo heads: missing argument");
    int n = cnnrt_model_output_count(m);
    if (n != cfg->n_heads)
        return cnnrt_fail(err, CNNRT_E_MISMATCH,
                          "the model has %d output heads but the detection config has %d anchor "
                          "lists (YOLOv3 has 3, TinyYOLOv3 2): the config belongs to another model",
                          n, cfg->n_heads);
    if (n > max_heads)
        return cnnrt_fail(err, CNNRT_E_USAGE, "yolo heads: room for %d heads, the model has %d",
                          max_heads, n);
    const int per_anchor = 5 + cfg->labels.count;
    int order[CNNRT_DETECTION_MAX_HEADS];
    for (int i = 0; i < n; i++) {
        cnnrt_shape s;
        heads[i].data = cnnrt_model_output(m, i, &s);
        if (!heads[i].data)
            return cnnrt_fail(err, CNNRT_E_USAGE, "yolo heads: the model has not run");
        heads[i].shape = s;
        if (s.c != cfg->anchors_per_head * per_anchor)
            return cnnrt_fail(err, CNNRT_E_MISMATCH,
                              "output %d of the model has %d channels, but %d anchors x (5 + %d "
                              "classes) = %d are expected from the detection config",
                              i, s.c, cfg->anchors_per_head, cfg->labels.count,
                              cfg->anchors_per_head * per_anchor);
        /* insertion by grid width, coarsest first; stable for equal grids */
        int j = i;
        while (j > 0 && heads[order[j - 1]].shape.w > s.w) {
            order[j] = order[j - 1];
            j--;
        }
        order[j] = i;
    }
    for (int k = 0; k < n; k++) {
        heads[order[k]].anchors = &cfg->anchors[k][0][0];
        heads[order[k]].n_anchors = cfg->anchors_per_head;
    }
    return CNNRT_OK;
}

/* Decodes one head into d. */
static cnnrt_status decode_head(const cnnrt_yolo_head *hd, int n_classes, int net_w, int net_h,
                                float threshold, cnnrt_detections *d, cnnrt_error *err)
{
    const int gh = hd->shape.h, gw = hd->shape.w, per_anchor = 5 + n_classes;
    for (int y = 0; y < gh; y++)
        for (int x = 0; x < gw; x++) {
            const float *cell = hd->data + ((size_t)y * gw + x) * hd->shape.c;
            for (int a = 0; a < hd->n_anchors; a++) {
                const float *t = cell + (size_t)a * per_anchor;
                float obj = sigmoidf(t[4]);
                if (!(obj > threshold)) continue; /* score <= objectness */
                float cx = (x + sigmoidf(t[0])) / gw * net_w;
                float cy = (y + sigmoidf(t[1])) / gh * net_h;
                float bw = hd->anchors[2 * a] * expf(t[2]);
                float bh = hd->anchors[2 * a + 1] * expf(t[3]);
                for (int k = 0; k < n_classes; k++) {
                    float score = obj * sigmoidf(t[5 + k]);
                    if (!(score > threshold)) continue;
                    cnnrt_detection det = {k, score, cx - bw / 2, cy - bh / 2, cx + bw / 2,
                                           cy + bh / 2};
                    cnnrt_status st = detections_push(d, &det, err);
                    if (st) return st;
                }
            }
        }
    return CNNRT_OK;
}

cnnrt_status cnnrt_yolo_decode(const cnnrt_yolo_head *heads, int n_heads, int n_classes, int net_w,
                               int net_h, float threshold, cnnrt_detections *d, cnnrt_error *err)
{
    if (!heads || !d || n_heads < 0 || n_classes <= 0 || net_w <= 0 || net_h <= 0)
        return cnnrt_fail(err, CNNRT_E_USAGE, "yolo decode: invalid argument");
    for (int i = 0; i < n_heads; i++) {
        const cnnrt_yolo_head *hd = &heads[i];
        if (!hd->data || !hd->anchors || hd->n_anchors <= 0 || hd->shape.h <= 0 ||
            hd->shape.w <= 0 || hd->shape.c != hd->n_anchors * (5 + n_classes))
            return cnnrt_fail(err, CNNRT_E_USAGE,
                              "yolo decode: head %d (%dx%dx%d) does not hold %d anchors x (5 + %d "
                              "classes)",
                              i, hd->shape.h, hd->shape.w, hd->shape.c, hd->n_anchors, n_classes);
        cnnrt_status st = decode_head(hd, n_classes, net_w, net_h, threshold, d, err);
        if (st) return st;
    }
    return CNNRT_OK;
}
