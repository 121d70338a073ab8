/* letterbox.c - detector input (letterbox or plain resize) and the way back from
 * network pixels to image pixels. */
#include <math.h>
#include <stdlib.h>

#include "cnnrt.h"

#define CANVAS_GRAY 0.5f

cnnrt_status cnnrt_letterbox_compute(int image_w, int image_h, int net_w, int net_h, int letterbox,
                                     cnnrt_letterbox *lb)
{
    if (image_w <= 0 || image_h <= 0 || net_w <= 0 || net_h <= 0 || !lb) return CNNRT_E_USAGE;
    *lb = (cnnrt_letterbox){image_w, image_h, net_w, net_h, net_w, net_h, 0, 0};
    if (!letterbox) return CNNRT_OK;
    /* net_w / image_w < net_h / image_h, compared exactly in integers */
    if ((long long)net_w * image_h < (long long)net_h * image_w) {
        lb->new_h = (int)((long long)image_h * net_w / image_w);
        if (lb->new_h < 1) lb->new_h = 1;
    } else {
        lb->new_w = (int)((long long)image_w * net_h / image_h);
        if (lb->new_w < 1) lb->new_w = 1;
    }
    lb->off_x = (net_w - lb->new_w) / 2;
    lb->off_y = (net_h - lb->new_h) / 2;
    return CNNRT_OK;
}

cnnrt_status cnnrt_detector_input(const cnnrt_image *img, int net_w, int net_h, int letterbox,
                                  float *out, cnnrt_letterbox *lb_out)
{
    if (!img || !img->pixels || !out) return CNNRT_E_USAGE;
    cnnrt_letterbox lb;
    cnnrt_status st = cnnrt_letterbox_compute(img->width, img->height, net_w, net_h, letterbox, &lb);
    if (st) return st;
    const size_t net_px = (size_t)net_w * net_h;
    float *resized = out;
    if (lb.new_w != net_w || lb.new_h != net_h) {
        resized = malloc((size_t)lb.new_w * lb.new_h * 3 * sizeof *resized);
        if (!resized) return CNNRT_E_NOMEM;
    }
    st = cnnrt_image_resize_bilinear(img, lb.new_w, lb.new_h, resized);
    if (st) {
        if (resized != out) free(resized);
        return st;
    }
    if (resized == out) {
        for (size_t i = 0; i < net_px * 3; i++) out[i] /= 255.0f;
    } else {
        for (size_t i = 0; i < net_px * 3; i++) out[i] = CANVAS_GRAY;
        for (int y = 0; y < lb.new_h; y++) {
            const float *src = resized + (size_t)y * lb.new_w * 3;
            float *dst = out + ((size_t)(y + lb.off_y) * net_w + lb.off_x) * 3;
            for (int i = 0; i < lb.new_w * 3; i++) dst[i] = src[i] / 255.0f;
        }
        free(resized);
    }
    if (lb_out) *lb_out = lb;
    return CNNRT_OK;
}

static float clampf(float v, float hi)
{
    /* NaN and -inf go to 0, +inf to hi */
    return v > 0 ? (v < hi ? v : hi) : 0;
}

void cnnrt_letterbox_to_image(const cnnrt_letterbox *lb, cnnrt_detections *d)
{
    const double sx = (double)lb->image_w / lb->new_w, sy = (double)lb->image_h / lb->new_h;
    const float w = (float)lb->image_w, h = (float)lb->image_h;
    int kept = 0;
    for (int i = 0; i < d->count; i++) {
        cnnrt_detection b = d->items[i];
        b.x1 = clampf((float)((b.x1 - lb->off_x) * sx), w);
        b.x2 = clampf((float)((b.x2 - lb->off_x) * sx), w);
        b.y1 = clampf((float)((b.y1 - lb->off_y) * sy), h);
        b.y2 = clampf((float)((b.y2 - lb->off_y) * sy), h);
        if (b.x2 > b.x1 && b.y2 > b.y1) d->items[kept++] = b; /* else all in the padding */
    }
    d->count = kept;
}
