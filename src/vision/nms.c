/* nms.c - greedy non-maximum suppression per class (Darknet's do_nms_sort and
 * keras-yolo3's per-class tf.image.non_max_suppression: drop when IoU > threshold). */
#include <stdbool.h>
#include <stdlib.h>

#include "cnnrt.h"

float cnnrt_box_iou(const cnnrt_detection *a, const cnnrt_detection *b)
{
    float area_a = (a->x2 - a->x1) * (a->y2 - a->y1);
    float area_b = (b->x2 - b->x1) * (b->y2 - b->y1);
    if (!(area_a > 0) || !(area_b > 0)) return 0;
    float iw = (a->x2 < b->x2 ? a->x2 : b->x2) - (a->x1 > b->x1 ? a->x1 : b->x1);
    float ih = (a->y2 < b->y2 ? a->y2 : b->y2) - (a->y1 > b->y1 ? a->y1 : b->y1);
    if (!(iw > 0) || !(ih > 0)) return 0;
    float inter = iw * ih;
    return inter / (area_a + area_b - inter);
}

struct ranked {
    cnnrt_detection det;
    int position; /* index before sorting: ties keep decoding order */
};

static int cmp_ranked(const void *pa, const void *pb)
{
    const struct ranked *a = pa, *b = pb;
    if (a->det.score != b->det.score) return a->det.score > b->det.score ? -1 : 1;
    if (a->det.class_index != b->det.class_index) return a->det.class_index < b->det.class_index ? -1 : 1;
    return (a->position > b->position) - (a->position < b->position);
}

void cnnrt_nms(cnnrt_detections *d, float iou_threshold)
{
    if (!d || d->count == 0) return;
    struct ranked *r = malloc((size_t)d->count * sizeof *r);
    if (r) {
        for (int i = 0; i < d->count; i++) r[i] = (struct ranked){d->items[i], i};
        qsort(r, (size_t)d->count, sizeof *r, cmp_ranked);
        for (int i = 0; i < d->count; i++) d->items[i] = r[i].det;
        free(r);
    } else { /* no memory for the stable sort: insertion sort in place, still stable */
        for (int i = 1; i < d->count; i++) {
            cnnrt_detection v = d->items[i];
            int j = i;
            while (j > 0 && (d->items[j - 1].score < v.score ||
                             (d->items[j - 1].score == v.score &&
                              d->items[j - 1].class_index > v.class_index))) {
                d->items[j] = d->items[j - 1];
                j--;
            }
            d->items[j] = v;
        }
    }
    /* the kept ones are compacted at the front, still in descending order */
    int kept = 0;
    for (int i = 0; i < d->count; i++) {
        const cnnrt_detection *c = &d->items[i];
        bool drop = false;
        for (int k = 0; k < kept && !drop; k++)
            drop = d->items[k].class_index == c->class_index &&
                   cnnrt_box_iou(&d->items[k], c) > iou_threshold;
        if (!drop) d->items[kept++] = *c;
    }
    d->count = kept;
}
