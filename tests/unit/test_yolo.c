/* test_yolo.c - detection post-processing on hand-made inputs with hand-computed
 * answers: YOLO decoding, letterbox geometry and mapping, NMS, detection_config.json,
 * drawing and crops. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cnnrt.h"
#include "test.h"

#define NEAR(a, b) (fabs((double)(a) - (double)(b)) < 1e-4)

static double logit(double p) { return log(p / (1 - p)); }

/* A 2x2 head with 2 anchors and 2 classes, every logit at -20 (nothing fires). */
#define H_CLASSES 2
#define H_PER (5 + H_CLASSES)
#define H_C (2 * H_PER)
static void blank_head(float *h)
{
    for (int i = 0; i < 2 * 2 * H_C; i++) h[i] = -20.0f;
}
static float *head_at(float *h, int y, int x, int anchor) { return h + (y * 2 + x) * H_C + anchor * H_PER; }

TEST(yolo_decode_one_cell)
{
    float h[2 * 2 * H_C];
    blank_head(h);
    /* cell (y=1, x=0), anchor 1: sigmoid(tx) = 0.5, sigmoid(ty) = 0.75, exp(tw) = 2,
     * exp(th) = 1, objectness 0.9, class 0 at 0.8 (score 0.72), class 1 off */
    float *t = head_at(h, 1, 0, 1);
    t[0] = 0;
    t[1] = (float)logit(0.75);
    t[2] = (float)log(2.0);
    t[3] = 0;
    t[4] = (float)logit(0.9);
    t[5] = (float)logit(0.8);
    const float anchors[4] = {5, 5, 10, 20}; /* anchor 1 = (w 10, h 20) */
    cnnrt_yolo_head head = {h, {2, 2, H_C}, anchors, 2};
    cnnrt_detections d = {0};
    cnnrt_error err;
    REQUIRE(cnnrt_yolo_decode(&head, 1, H_CLASSES, 64, 64, 0.5f, &d, &err) == CNNRT_OK);
    REQUIRE(d.count == 1);
    /* centre ((0 + 0.5) / 2 * 64, (1 + 0.75) / 2 * 64) = (16, 56); size (20, 20) */
    cnnrt_detection *b = &d.items[0];
    CHECK(b->class_index == 0);
    CHECK(NEAR(b->score, 0.72));
    CHECK_MSG(NEAR(b->x1, 6) && NEAR(b->y1, 46) && NEAR(b->x2, 26) && NEAR(b->y2, 66),
              "box %g %g %g %g", b->x1, b->y1, b->x2, b->y2);
    /* the threshold is exclusive and compares the product */
    d.count = 0;
    REQUIRE(cnnrt_yolo_decode(&head, 1, H_CLASSES, 64, 64, 0.73f, &d, &err) == CNNRT_OK);
    CHECK(d.count == 0);
    /* a non-square input scales x and y separately */
    REQUIRE(cnnrt_yolo_decode(&head, 1, H_CLASSES, 64, 32, 0.5f, &d, &err) == CNNRT_OK);
    REQUIRE(d.count == 1);
    CHECK(NEAR(d.items[0].x1, 6) && NEAR(d.items[0].y1, 28 - 10) && NEAR(d.items[0].y2, 28 + 10));
    cnnrt_detections_free(&d);
}

TEST(yolo_decode_every_class_above_threshold)
{
    float h[2 * 2 * H_C];
    blank_head(h);
    float *t = head_at(h, 0, 1, 0); /* cell (0, 1), anchor 0 */
    t[0] = t[1] = t[2] = t[3] = 0;
    t[4] = 20;                    /* objectness ~1 */
    t[5] = (float)logit(0.6);
    t[6] = (float)logit(0.9);
    const float anchors[4] = {8, 4, 1, 1};
    cnnrt_yolo_head head = {h, {2, 2, H_C}, anchors, 2};
    cnnrt_detections d = {0};
    cnnrt_error err;
    REQUIRE(cnnrt_yolo_decode(&head, 1, H_CLASSES, 32, 32, 0.5f, &d, &err) == CNNRT_OK);
    REQUIRE(d.count == 2);
    CHECK(d.items[0].class_index == 0 && NEAR(d.items[0].score, 0.6));
    CHECK(d.items[1].class_index == 1 && NEAR(d.items[1].score, 0.9));
    /* centre (1.5 / 2 * 32, 0.5 / 2 * 32) = (24, 8), size (8, 4) */
    CHECK(NEAR(d.items[1].x1, 20) && NEAR(d.items[1].y1, 6) && NEAR(d.items[1].x2, 28) &&
          NEAR(d.items[1].y2, 10));
    /* a head whose channels do not match anchors x (5 + classes) is refused */
    head.shape.c = H_C - 1;
    CHECK(cnnrt_yolo_decode(&head, 1, H_CLASSES, 32, 32, 0.5f, &d, &err) == CNNRT_E_USAGE);
    cnnrt_detections_free(&d);
}

TEST(letterbox_geometry)
{
    cnnrt_letterbox lb;
    /* 768x576 into 416: width limits, 576 * 416 / 768 = 312 rows, (416 - 312) / 2 = 52 */
    REQUIRE(cnnrt_letterbox_compute(768, 576, 416, 416, 1, &lb) == CNNRT_OK);
    CHECK(lb.new_w == 416 && lb.new_h == 312 && lb.off_x == 0 && lb.off_y == 52);
    /* 100x300: height limits, 100 * 416 / 300 = 138.67 -> 138, (416 - 138) / 2 = 139 */
    REQUIRE(cnnrt_letterbox_compute(100, 300, 416, 416, 1, &lb) == CNNRT_OK);
    CHECK(lb.new_w == 138 && lb.new_h == 416 && lb.off_x == 139 && lb.off_y == 0);
    /* 773x512 into 320x416 (non-square input): 320/773 < 416/512, so width limits */
    REQUIRE(cnnrt_letterbox_compute(773, 512, 320, 416, 1, &lb) == CNNRT_OK);
    CHECK(lb.new_w == 320 && lb.new_h == 211 && lb.off_y == 102);
    /* a 1000:1 sliver keeps at least one row */
    REQUIRE(cnnrt_letterbox_compute(10000, 10, 416, 416, 1, &lb) == CNNRT_OK);
    CHECK(lb.new_h == 1 && lb.off_y == 207);
    /* no letterbox: the whole input */
    REQUIRE(cnnrt_letterbox_compute(768, 576, 416, 416, 0, &lb) == CNNRT_OK);
    CHECK(lb.new_w == 416 && lb.new_h == 416 && lb.off_x == 0 && lb.off_y == 0);
    CHECK(cnnrt_letterbox_compute(0, 5, 416, 416, 1, &lb) == CNNRT_E_USAGE);
}

TEST(letterbox_maps_boxes_back_and_clips)
{
    cnnrt_letterbox lb;
    REQUIRE(cnnrt_letterbox_compute(768, 576, 416, 416, 1, &lb) == CNNRT_OK);
    cnnrt_detection items[4] = {
        {0, 0.9f, 0, 52, 416, 364},      /* the whole image */
        {1, 0.8f, 104, 156, 208, 260},   /* scale 768/416 = 576/312 = 1.846 */
        {2, 0.7f, -10, 40, 500, 100},    /* sticks out: clipped */
        {3, 0.6f, 10, 370, 50, 400},     /* wholly in the bottom padding: removed */
    };
    cnnrt_detections d = {items, 4, 4};
    cnnrt_letterbox_to_image(&lb, &d);
    REQUIRE(d.count == 3);
    CHECK(NEAR(items[0].x1, 0) && NEAR(items[0].y1, 0) && NEAR(items[0].x2, 768) && NEAR(items[0].y2, 576));
    CHECK(NEAR(items[1].x1, 192) && NEAR(items[1].y1, 192) && NEAR(items[1].x2, 384) &&
          NEAR(items[1].y2, 384));
    CHECK(items[2].class_index == 2);
    CHECK(NEAR(items[2].x1, 0) && NEAR(items[2].y1, 0) && NEAR(items[2].x2, 768) &&
          NEAR(items[2].y2, 48 * 768.0 / 416));
    /* no letterbox: x and y scale separately */
    REQUIRE(cnnrt_letterbox_compute(832, 208, 416, 416, 0, &lb) == CNNRT_OK);
    cnnrt_detection one = {0, 1, 104, 104, 208, 208};
    d = (cnnrt_detections){&one, 1, 1};
    cnnrt_letterbox_to_image(&lb, &d);
    CHECK(d.count == 1 && NEAR(one.x1, 208) && NEAR(one.y1, 52) && NEAR(one.x2, 416) && NEAR(one.y2, 104));
}

TEST(letterbox_input_canvas)
{
    /* a uniform 2x1 image in a 4x4 input: rows 1..2 hold it, rows 0 and 3 are gray */
    unsigned char px[6] = {10, 20, 30, 10, 20, 30};
    cnnrt_image img = {2, 1, 3, px};
    float out[4 * 4 * 3];
    cnnrt_letterbox lb;
    REQUIRE(cnnrt_detector_input(&img, 4, 4, 1, out, &lb) == CNNRT_OK);
    CHECK(lb.new_w == 4 && lb.new_h == 2 && lb.off_y == 1);
    for (int y = 0; y < 4; y++)
        for (int x = 0; x < 4; x++)
            for (int c = 0; c < 3; c++) {
                float want = (y == 0 || y == 3) ? 0.5f : (float)px[c] / 255.0f;
                CHECK_MSG(NEAR(out[(y * 4 + x) * 3 + c], want), "(%d, %d, %d) = %g, want %g", y, x,
                          c, out[(y * 4 + x) * 3 + c], want);
            }
    /* plain resize: every pixel is the image's */
    REQUIRE(cnnrt_detector_input(&img, 4, 4, 0, out, &lb) == CNNRT_OK);
    CHECK(NEAR(out[0], 10 / 255.0) && NEAR(out[4 * 4 * 3 - 1], 30 / 255.0));
}

TEST(nms_per_class)
{
    cnnrt_detection items[6] = {
        {0, 0.70f, 20, 20, 30, 30}, /* far away: kept */
        {0, 0.80f, 1, 0, 11, 10},   /* IoU 9/11 with the 0.9 box: dropped */
        {1, 0.85f, 0, 0, 10, 10},   /* other class: kept */
        {0, 0.90f, 0, 0, 10, 10},
        {0, 0.60f, 5, 0, 15, 10},   /* IoU 1/3 with the 0.9 box, 0 with the 0.8 one (dropped) */
        {1, 0.50f, 0, 0, 0, 10},    /* empty box: IoU 0, kept */
    };
    cnnrt_detections d = {items, 6, 6};
    CHECK(NEAR(cnnrt_box_iou(&items[3], &items[1]), 90.0 / 110.0));
    CHECK(NEAR(cnnrt_box_iou(&items[3], &items[4]), 1.0 / 3.0));
    CHECK(cnnrt_box_iou(&items[3], &items[0]) == 0);
    cnnrt_nms(&d, 0.45f);
    REQUIRE(d.count == 5);
    const float want[5] = {0.90f, 0.85f, 0.70f, 0.60f, 0.50f};
    for (int i = 0; i < 5; i++) CHECK_MSG(items[i].score == want[i], "%d: %g", i, items[i].score);
    /* IoU equal to the threshold is kept (drop only when >) */
    cnnrt_detection pair[2] = {{0, 0.9f, 0, 0, 10, 10}, {0, 0.8f, 5, 0, 15, 10}};
    d = (cnnrt_detections){pair, 2, 2};
    cnnrt_nms(&d, cnnrt_box_iou(&pair[0], &pair[1]));
    CHECK(d.count == 2);
    cnnrt_nms(&d, 0.3f);
    CHECK(d.count == 1);
}

/* Writes text to a config file in the scratch directory; returns its path. */
static const char *config_file(const char *text)
{
    static char path[1024];
    snprintf(path, sizeof path, "%s/detection_config.json", test_tmp_dir());
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
    return path;
}

TEST(detection_config_forms)
{
    cnnrt_detection_config cfg;
    cnnrt_error err;
    char path[1024];
    snprintf(path, sizeof path, "%s/models/coco_detection_config.json", test_source_dir());
    REQUIRE(cnnrt_detection_config_load(path, &cfg, &err) == CNNRT_OK);
    CHECK(cfg.labels.count == 80 && strcmp(cfg.labels.names[0], "person") == 0);
    CHECK(cfg.n_heads == 3 && cfg.anchors_per_head == 3);
    CHECK(cfg.anchors[0][0][0] == 116 && cfg.anchors[0][0][1] == 90);
    CHECK(cfg.anchors[2][2][0] == 33 && cfg.anchors[2][2][1] == 23);
    cnnrt_detection_config_free(&cfg);
    /* 2.x nested: pairs used as (w, h) in list order, list 0 coarsest */
    REQUIRE(cnnrt_detection_config_load(
                config_file("{\"labels\": [\"a\", \"b\", \"c\"], \"anchors\": [[1,2, 3,4, 5,6], "
                            "[7,8, 9,10, 11,12], [13,14, 15,16, 17,18]], \"extra\": 1}"),
                &cfg, &err) == CNNRT_OK);
    CHECK(cfg.labels.count == 3 && strcmp(cfg.labels.names[2], "c") == 0);
    CHECK(cfg.anchors[0][0][0] == 1 && cfg.anchors[0][0][1] == 2 && cfg.anchors[0][2][1] == 6);
    CHECK(cfg.anchors[2][1][0] == 15 && cfg.anchors[2][1][1] == 16);
    cnnrt_detection_config_free(&cfg);
    /* 3.x flat, smallest first: the coarsest head takes the last three pairs */
    REQUIRE(cnnrt_detection_config_load(
                config_file("{\"labels\": [\"a\"], \"anchors\": [10,13, 16,30, 33,23, 30,61, 62,45, "
                            "59,119, 116,90, 156,198, 373,326]}"),
                &cfg, &err) == CNNRT_OK);
    CHECK(cfg.n_heads == 3 && cfg.anchors_per_head == 3);
    CHECK(cfg.anchors[0][0][0] == 116 && cfg.anchors[0][0][1] == 90 && cfg.anchors[0][2][0] == 373);
    CHECK(cfg.anchors[1][0][0] == 30 && cfg.anchors[1][2][1] == 119);
    CHECK(cfg.anchors[2][0][0] == 10 && cfg.anchors[2][2][1] == 23);
    cnnrt_detection_config_free(&cfg);
    /* TinyYOLOv3: 12 flat numbers, two heads */
    REQUIRE(cnnrt_detection_config_load(
                config_file("{\"labels\": [\"a\"], \"anchors\": [10,14, 23,27, 37,58, 81,82, "
                            "135,169, 344,319]}"),
                &cfg, &err) == CNNRT_OK);
    CHECK(cfg.n_heads == 2 && cfg.anchors[0][0][0] == 81 && cfg.anchors[1][0][0] == 10);
    cnnrt_detection_config_free(&cfg);
}

TEST(detection_config_errors)
{
    static const struct {
        const char *text, *needle;
    } cases[] = {
        {"[1, 2]", "expected a detection config object"},
        {"{\"labels\": [\"a\"]}", "\"anchors\" is missing"},
        {"{\"anchors\": [1,2,3,4,5,6]}", "\"labels\" is missing"},
        {"{\"labels\": [], \"anchors\": [1,2,3,4,5,6]}", "\"labels\" is empty"},
        {"{\"labels\": [\"a\", 3], \"anchors\": [1,2,3,4,5,6]}", "label 1 must be a non-empty string"},
        {"{\"labels\": \"a\", \"anchors\": [1,2,3,4,5,6]}", "must be a list of class names"},
        {"{\"labels\": [\"a\"], \"anchors\": [1,2,3,4,5,6,7,8]}", "flat anchor list has 8 numbers"},
        {"{\"labels\": [\"a\"], \"anchors\": [1,2,3,4,5]}", "flat anchor list has 5 numbers"},
        {"{\"labels\": [\"a\"], \"anchors\": [1,2,3,-4,5,6]}", "anchor value 3 must be a positive"},
        {"{\"labels\": [\"a\"], \"anchors\": [1,2,3,\"x\",5,6]}", "found a string"},
        {"{\"labels\": [\"a\"], \"anchors\": [[1,2,3,4], [1,2]]}", "anchor list 1 has 2 numbers but list 0 has 4"},
        {"{\"labels\": [\"a\"], \"anchors\": [[1,2,3]]}", "anchor list 0 has 3 numbers"},
        {"{\"labels\": [\"a\"], \"anchors\": [[1,2], 3]}", "anchor list 1 must be a list"},
        {"{\"labels\": [\"a\"], \"anchors\": []}", "\"anchors\" must be a non-empty list"},
        {"{\"labels\": [\"a\"], \"anchors\": [1,2,3,4,5,6]", "not valid JSON"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cnnrt_detection_config cfg;
        cnnrt_error err = {0};
        const char *path = config_file(cases[i].text);
        CHECK_MSG(cnnrt_detection_config_load(path, &cfg, &err) == CNNRT_E_FORMAT, "case %zu accepted", i);
        CHECK_MSG(strstr(err.message, cases[i].needle) && strstr(err.message, path),
                  "case %zu: message \"%s\" lacks \"%s\"", i, err.message, cases[i].needle);
        CHECK(cfg.labels.count == 0 && cfg.labels.names == NULL && cfg.n_heads == 0);
    }
    cnnrt_detection_config cfg;
    cnnrt_error err;
    char missing[1100];
    snprintf(missing, sizeof missing, "%s/no-such-config.json", test_tmp_dir());
    CHECK(cnnrt_detection_config_load(missing, &cfg, &err) == CNNRT_E_IO);
}

TEST(draw_boxes_labels_and_crop)
{
    const int w = 200, h = 120;
    unsigned char *px = calloc((size_t)w * h * 3, 1);
    REQUIRE(px);
    cnnrt_image img = {w, h, 3, px};
    char *names[2] = {"cat", "dog\xc3\xa9"}; /* non-ASCII is drawn as '?' */
    cnnrt_labels labels = {2, names};
    cnnrt_detection box = {1, 0.9712f, 50, 60, 150, 110};
    cnnrt_detections d = {&box, 1, 1};
    cnnrt_error err;
    REQUIRE(cnnrt_draw_detections(&img, &d, &labels, &err) == CNNRT_OK);
    unsigned char colour[3];
    cnnrt_class_colour(1, colour);
    const unsigned char *p = px + ((size_t)85 * w + 50) * 3; /* left edge, middle */
    CHECK(p[0] == colour[0] && p[1] == colour[1] && p[2] == colour[2]);
    p = px + ((size_t)109 * w + 149) * 3; /* bottom-right corner pixel */
    CHECK(p[0] == colour[0] && p[1] == colour[1] && p[2] == colour[2]);
    p = px + ((size_t)85 * w + 100) * 3; /* inside the box: untouched */
    CHECK(p[0] == 0 && p[1] == 0 && p[2] == 0);
    p = px + ((size_t)10 * w + 10) * 3; /* far outside: untouched */
    CHECK(p[0] == 0 && p[1] == 0 && p[2] == 0);
    /* the label sits above the box on its colour, with text in another colour */
    int label_px = 0, text_px = 0;
    for (int y = 30; y < 60; y++)
        for (int x = 50; x < 150; x++) {
            const unsigned char *q = px + ((size_t)y * w + x) * 3;
            if (q[0] == colour[0] && q[1] == colour[1] && q[2] == colour[2]) label_px++;
            else if (q[0] || q[1] || q[2]) text_px++;
        }
    CHECK_MSG(label_px > 200 && text_px > 50, "label %d, text %d pixels", label_px, text_px);
    /* crop: the box's pixels, rounded and clipped */
    cnnrt_image crop;
    cnnrt_detection out_of_image = {0, 1, 180.4f, 100.6f, 400, 300};
    REQUIRE(cnnrt_image_crop(&img, &out_of_image, &crop, &err) == CNNRT_OK);
    CHECK(crop.width == 20 && crop.height == 19);
    CHECK(memcmp(crop.pixels, px + ((size_t)101 * w + 180) * 3, 20 * 3) == 0);
    cnnrt_image_free(&crop);
    cnnrt_detection empty = {0, 1, 300, 300, 300, 300};
    REQUIRE(cnnrt_image_crop(&img, &empty, &crop, &err) == CNNRT_OK);
    CHECK(crop.width == 1 && crop.height == 1);
    cnnrt_image_free(&crop);
    free(px);
}

TEST(class_colours_distinct)
{
    unsigned char c[80][3];
    for (int i = 0; i < 80; i++) cnnrt_class_colour(i, c[i]);
    int same = 0;
    for (int i = 0; i < 80; i++)
        for (int j = i + 1; j < 80; j++)
            same += abs(c[i][0] - c[j][0]) + abs(c[i][1] - c[j][1]) + abs(c[i][2] - c[j][2]) < 12;
    CHECK_MSG(same == 0, "%d pairs of classes share a colour", same);
    for (int i = 0; i + 1 < 80; i++) /* neighbours differ clearly */
        CHECK(abs(c[i][0] - c[i + 1][0]) + abs(c[i][1] - c[i + 1][1]) + abs(c[i][2] - c[i + 1][2]) > 60);
}
