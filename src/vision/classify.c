/* classify.c - classifier preprocessing and top-k selection. */
#include <stdlib.h>
#include <string.h>

#include "cnnrt.h"

static const char *const preprocess_names[] = {"caffe", "raw", "tf", "torch"};

cnnrt_status cnnrt_preprocess_parse(const char *name, cnnrt_preprocess *mode)
{
    for (int i = 0; i < 4; i++)
        if (name && strcmp(name, preprocess_names[i]) == 0) {
            *mode = (cnnrt_preprocess)i;
            return CNNRT_OK;
        }
    return CNNRT_E_USAGE;
}

const char *cnnrt_preprocess_name(cnnrt_preprocess mode)
{
    return (unsigned)mode < 4 ? preprocess_names[mode] : "?";
}

cnnrt_status cnnrt_classifier_input(const cnnrt_image *img, int w, int h, cnnrt_preprocess mode,
                                    float *out)
{
    cnnrt_status st = cnnrt_image_resize_bilinear(img, w, h, out);
    if (st) return st;
    const size_t pixels = (size_t)w * h;
    static const float caffe_bgr_mean[3] = {103.939f, 116.779f, 123.68f};
    static const float torch_mean[3] = {0.485f, 0.456f, 0.406f};
    static const float torch_std[3] = {0.229f, 0.224f, 0.225f};
    for (size_t p = 0; p < pixels; p++) {
        float *px = out + p * 3;
        switch (mode) {
        case CNNRT_PREPROCESS_CAFFE: {
            float r = px[0], g = px[1], b = px[2];
            px[0] = b - caffe_bgr_mean[0];
            px[1] = g - caffe_bgr_mean[1];
            px[2] = r - caffe_bgr_mean[2];
            break;
        }
        case CNNRT_PREPROCESS_RAW: break;
        case CNNRT_PREPROCESS_TF:
            for (int c = 0; c < 3; c++) px[c] = px[c] / 127.5f - 1.0f;
            break;
        case CNNRT_PREPROCESS_TORCH:
            for (int c = 0; c < 3; c++) px[c] = (px[c] / 255.0f - torch_mean[c]) / torch_std[c];
            break;
        default: return CNNRT_E_USAGE;
        }
    }
    return CNNRT_OK;
}

int cnnrt_top_k(const float *probabilities, int n, int k, cnnrt_class_score *out)
{
    if (k > n) k = n;
    int count = 0;
    for (int i = 0; i < n; i++) {
        float p = probabilities[i];
        if (count == k && !(p > out[k - 1].probability)) continue;
        int j = count < k ? count++ : k - 1;
        while (j > 0 && p > out[j - 1].probability) {
            out[j] = out[j - 1];
            j--;
        }
        out[j] = (cnnrt_class_score){i, p};
    }
    return count;
}
