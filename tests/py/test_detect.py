"""test_detect.py - `detect` end to end: YOLOv3 with seeded synthetic weights on real
photos, against two independent implementations of the same network fed the same
numbers: PyTorch (torch_yolov3.py, written from FORMATS.md and keras-yolo3's yolo_body)
and OpenCV DNN's Darknet importer (Debian's yolov3.cfg plus a .weights file written
here from the .h5). Heads must agree within 1e-4 of their largest magnitude; the
detections must equal a reference decoding written from the spec (torch_yolov3.decode).
Also: naming schemes, custom class counts with both anchor forms, the CLI's options,
outputs and errors.

The photos are converted to PNG with OpenCV first, so that both sides decode identical
pixels (JPEG decoders differ); the letterbox is done on both sides independently
(numpy here, C in cnnrt) from the documented semantics.
"""
import json
import os
import re
import shutil
import subprocess
import sys

import cv2
import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import IMAGES, ROOT, TMP, run, run_tool, synthetic_weights, test, tool  # noqa: E402
import torch_yolov3 as ty  # noqa: E402

torch.set_num_threads(2)

COCO = json.load(open(os.path.join(ROOT, "models", "coco_detection_config.json")))
DARKNET_CFG = "/usr/share/darknet/cfg/yolov3.cfg"
HEAD_RTOL = 1e-4
BOX_PX = 1.0
PCT_TOL = 0.05
PHOTOS = ["dog", "eagle", "giraffe", "horses", "kite", "person"]

_cache = {}


def weights80():
    return synthetic_weights("yolov3.json", os.path.join(TMP, "yolov3.h5"))


def png(name):
    """tests/data/images/<name>.jpg decoded by OpenCV and saved losslessly."""
    path = os.path.join(TMP, name + ".png")
    if not os.path.exists(path):
        cv2.imwrite(path, cv2.imread(os.path.join(IMAGES, name + ".jpg")))
    return path


def rgb(path):
    return cv2.imread(path, cv2.IMREAD_COLOR)[..., ::-1]


def cnnrt(image, *args, weights=None, out=None):
    """Runs detect --json --dump-output [OUT_IMAGE]; returns (detections, heads). Cached."""
    key = (image, args, weights)
    if key not in _cache:
        dump = os.path.join(TMP, "dump-%d" % len(_cache))
        p = run_tool("detect", "--weights", weights or weights80(), "--json", "--dump-output",
                     dump, *args, image, *([out] if out else []), check=True)
        lines = p.stdout.strip().splitlines()
        assert len(lines) == 1, p.stdout
        result = json.loads(lines[0])
        assert result["image"] == image
        base = os.path.basename(image)
        heads = [np.load(os.path.join(dump, "%s.out%d.npy" % (base, i))) for i in range(3)]
        _cache[key] = (result["detections"], heads)
    return _cache[key]


_torch_models = {}


def torch_model(path, classes, pairing="position"):
    key = (path, classes, pairing)
    if key not in _torch_models:
        _torch_models.clear()  # one 250 MB model at a time
        _torch_models[key] = ty.YoloV3(path, classes, pairing)
    return _torch_models[key]


def compare_heads(ours, ref, what):
    assert len(ours) == len(ref) == 3, what
    worst = 0.0
    for i, (a, b) in enumerate(zip(ours, ref)):
        assert a.shape == b.shape and a.dtype == np.float32, (what, i, a.shape, b.shape)
        assert np.isfinite(a).all(), (what, i)
        err = np.abs(a.astype(np.float64) - b).max() / np.abs(b).max()
        assert err <= HEAD_RTOL, "%s head %d: max error %.3g of the largest value" % (what, i, err)
        worst = max(worst, err)
    print("    %s: max head error %.2e of the largest value" % (what, worst))


def compare_detections(ours, ref, labels, threshold, what):
    """ours: cnnrt's JSON detections; ref: torch_yolov3.decode output. Equal up to
    detections whose score is within 1e-4 of the threshold (either side may have them)."""
    left = list(ours)
    for c, score, x1, y1, x2, y2 in ref:
        match = None
        for d in left:
            b = d["box_points"]
            if (d["name"] == labels[c] and abs(d["percentage_probability"] - 100 * score) <= PCT_TOL
                    and all(abs(u - v) <= BOX_PX for u, v in zip(b, (x1, y1, x2, y2)))):
                match = d
                break
        if match:
            left.remove(match)
        else:
            assert abs(score - threshold) < 1e-4, "%s: reference detection %s %.4f%% [%.1f %.1f %.1f %.1f] " \
                "missing from cnnrt's %s" % (what, labels[c], 100 * score, x1, y1, x2, y2, ours)
    for d in left:
        assert abs(d["percentage_probability"] / 100 - threshold) < 1e-4, \
            "%s: cnnrt detection %s not in the reference %s" % (what, d, ref)


def check_against_torch(name, size=416, letterbox=True, weights=None, classes=80,
                        anchors=None, labels=None, extra=(), out=None):
    image = png(name)
    args = ("--size", str(size)) + (() if letterbox else ("--no-letterbox",)) + tuple(extra)
    dets, heads = cnnrt(image, *args, weights=weights, out=out)
    x, geometry = ty.detector_input(rgb(image), size, letterbox)
    ref_heads = torch_model(weights or weights80(), classes).heads(x)
    compare_heads(heads, ref_heads, "%s vs PyTorch" % name)
    min_prob = 50.0
    if "--min-prob" in extra:
        min_prob = float(extra[list(extra).index("--min-prob") + 1])
    ref = ty.decode(ref_heads, anchors or COCO["anchors"], classes, size, geometry,
                    min_prob / 100, 0.45)
    compare_detections(dets, ref, labels or COCO["labels"], min_prob / 100,
                       "%s vs PyTorch" % name)
    return dets


@test
def heads_and_detections_match_pytorch():
    total = 0
    for name in ("dog", "giraffe", "kite", "person"):
        total += len(check_against_torch(name))
    assert total > 0, "no detections at all: the comparison would be vacuous"


@test
def no_letterbox_matches_pytorch_and_writes_jpeg():
    out = os.path.join(TMP, "horses-boxes.jpg")
    dets = check_against_torch("horses", letterbox=False, out=out)
    drawn = cv2.imread(out)
    assert drawn is not None and drawn.shape == rgb(png("horses")).shape
    assert dets, "no detections: the comparison would be vacuous"


def check_against_opencv(name, size):
    image = png(name)
    dets, heads = cnnrt(image, "--size", str(size))
    model = torch_model(weights80(), 80)
    cfg = os.path.join(TMP, "yolov3-%d.cfg" % size)
    out_convs = ty.darknet_cfg(DARKNET_CFG, cfg, size, 80)
    darknet = os.path.join(TMP, "yolov3.weights")
    if not os.path.exists(darknet):
        ty.write_darknet_weights(model, darknet)
    net = cv2.dnn.readNetFromDarknet(cfg, darknet)
    x, geometry = ty.detector_input(rgb(image), size)
    net.setInput(np.ascontiguousarray(x.transpose(2, 0, 1)[None]))
    outs = net.forward(["conv_%d" % k for k in out_convs])
    ref_heads = [o.transpose(0, 2, 3, 1) for o in outs]
    compare_heads(heads, ref_heads, "%s at %d vs OpenCV" % (name, size))
    ref = ty.decode(ref_heads, COCO["anchors"], 80, size, geometry, 0.5, 0.45)
    compare_detections(dets, ref, COCO["labels"], 0.5, "%s at %d vs OpenCV" % (name, size))
    return dets


@test
def heads_and_detections_match_opencv_darknet():
    if not os.path.exists(DARKNET_CFG):
        raise AssertionError("%s missing: install Debian's darknet package" % DARKNET_CFG)
    n = len(check_against_opencv("eagle", 416)) + len(check_against_opencv("dog", 416))
    n += len(check_against_opencv("horses", 320))
    assert n > 0, "no detections at all: the comparison would be vacuous"


@test
def realistic_number_of_detections_on_photos():
    """Synthetic heads are tuned so that a handful of objects fire per photo at the
    default 50% (not thousands, not none). Reuses the runs of the tests above."""
    counts = {name: len(cnnrt(png(name), "--size", "416")[0]) for name in PHOTOS if name != "horses"}
    counts["horses"] = len(cnnrt(png("horses"), "--size", "416", "--no-letterbox")[0])
    assert all(n <= 30 for n in counts.values()), counts
    assert sum(counts.values()) >= len(PHOTOS), counts
    assert sum(1 for n in counts.values() if n > 0) >= len(PHOTOS) // 2, counts


@test
def naming_schemes_and_full_model_give_identical_outputs():
    """The same seeded weights saved under other names load to identical outputs:
    YOLOv3 as keras2 weights-only vs ImageAI full model (last1..3, model_weights
    group); TinyYOLOv3 under keras2, tf-keras and ImageAI names (TinyYOLOv3 also runs
    its two heads with a flat 12-number anchor list here)."""
    image = png("giraffe")
    imageai = synthetic_weights("yolov3.json", os.path.join(TMP, "yolov3-imageai.h5"),
                                "--scheme", "imageai", "--full-model")
    results = [cnnrt(image, "--size", "128", "--min-prob", "5", weights=w) for w in (weights80(), imageai)]
    tiny_cfg = os.path.join(TMP, "tiny_config.json")
    json.dump({"labels": COCO["labels"], "anchors": [10, 14, 23, 27, 37, 58, 81, 82, 135, 169, 344, 319]},
              open(tiny_cfg, "w"))
    tiny = os.path.join(ROOT, "models", "yolov3-tiny.json")
    tiny_results = []
    for scheme, extra in (("keras2", ()), ("tf-keras", ()), ("imageai", ("--full-model",))):
        w = synthetic_weights("yolov3-tiny.json", os.path.join(TMP, "tiny-%s.h5" % scheme),
                              "--seed", "7", "--scheme", scheme, *extra)
        p = run_tool("detect", "--model", tiny, "--config", tiny_cfg, "--weights", w, "--json",
                     "--min-prob", "5", "--dump-output", os.path.join(TMP, "tiny-" + scheme), image,
                     check=True)
        heads = [np.load(os.path.join(TMP, "tiny-" + scheme, "giraffe.png.out%d.npy" % i)) for i in range(2)]
        tiny_results.append((json.loads(p.stdout)["detections"], heads))
    for group in (results, tiny_results):
        base_dets, base_heads = group[0]
        assert base_dets, "no detections to compare at 5%"
        for dets, heads in group[1:]:
            assert dets == base_dets
            for a, b in zip(heads, base_heads):
                assert np.array_equal(a, b)


CUSTOM_LABELS = ["hat", "kite/string", "umbrella"]  # '/' must not escape --extract-objects


def custom_configs():
    nested = os.path.join(TMP, "custom_nested.json")
    flat = os.path.join(TMP, "custom_flat.json")
    anchors = [[120, 100, 160, 190, 350, 300], [30, 60, 60, 45, 60, 120], [12, 14, 18, 28, 32, 24]]
    json.dump({"labels": CUSTOM_LABELS, "anchors": anchors}, open(nested, "w"))
    pairs = [anchors[h][2 * k:2 * k + 2] for h in (2, 1, 0) for k in range(3)]
    json.dump({"labels": CUSTOM_LABELS, "anchors": [v for p in pairs for v in p]}, open(flat, "w"))
    return nested, flat, anchors


@test
def custom_class_count_with_both_anchor_forms():
    nested, flat, anchors = custom_configs()
    w3 = synthetic_weights("yolov3.json", os.path.join(TMP, "yolov3-3c.h5"), "--classes", "3",
                           "--size", "320", "--seed", "3")
    extra = ("--config", nested, "--min-prob", "30")
    dets = check_against_torch("kite", size=320, weights=w3, classes=3, anchors=anchors,
                               labels=CUSTOM_LABELS, extra=extra)
    assert dets, "no detections at 30%: the comparison would be vacuous"
    flat_dets, flat_heads = cnnrt(png("kite"), "--size", "320", "--config", flat, "--min-prob", "30",
                                  weights=w3)
    assert flat_dets == dets
    # weights and config that disagree on the class count: a clear mismatch error
    p = run_tool("detect", "--weights", w3, png("kite"))
    assert p.returncode == 4, p.stderr
    assert "3 classes" in p.stderr and "80" in p.stderr and "coco_detection_config" in p.stderr, p.stderr
    p = run_tool("detect", "--weights", weights80(), "--config", nested, png("kite"))
    assert p.returncode == 4 and "80 classes" in p.stderr and nested in p.stderr, p.stderr


@test
def cli_outputs_image_crops_and_filters():
    image = png("dog")
    all_dets, _ = cnnrt(image, "--size", "416")
    assert all_dets
    names = sorted({d["name"] for d in all_dets})
    keep = names[:1]
    out_png = os.path.join(TMP, "out", "dog-boxes.png")
    crops = os.path.join(TMP, "crops")
    os.makedirs(os.path.dirname(out_png), exist_ok=True)
    p = run_tool("detect", "--weights", weights80(), "--objects", ",".join(keep),
                 "--extract-objects", crops, image, out_png, check=True)
    want = [d for d in all_dets if d["name"] in keep]
    lines = p.stdout.strip().splitlines()
    assert len(lines) == len(want), (p.stdout, want)
    for line, d in zip(lines, want):
        m = re.fullmatch(r"(.+): (\d+\.\d\d)% \[(\d+) (\d+) (\d+) (\d+)\]", line)
        assert m, line
        assert m.group(1) == d["name"] and abs(float(m.group(2)) - d["percentage_probability"]) <= 0.005
        assert [int(v) for v in m.groups()[2:]] == d["box_points"], (line, d)
    assert "SYNTHETIC" in p.stderr
    # the drawn image: original size, boxes changed pixels on the box edges only
    src, drawn = rgb(image), rgb(out_png)
    assert drawn.shape == src.shape
    x1, y1, x2, y2 = want[0]["box_points"]
    ym = (y1 + y2) // 2
    assert (drawn[ym, x1] != src[ym, x1]).any(), "no box edge drawn"
    changed = (drawn != src).any(-1)
    assert 0 < changed.mean() < 0.5
    assert not any(f.endswith(".tmp") or ".tmp" in f for f in os.listdir(os.path.dirname(out_png)))
    # crops: <name>-<n>.jpg with the box's size
    files = sorted(os.listdir(crops))
    assert files == sorted("%s-%d.jpg" % (d["name"], i + 1) for i, d in enumerate(want)), files
    for i, d in enumerate(want):
        crop = cv2.imread(os.path.join(crops, "%s-%d.jpg" % (d["name"], i + 1)))
        bx1, by1, bx2, by2 = d["box_points"]
        assert abs(crop.shape[1] - (bx2 - bx1)) <= 1 and abs(crop.shape[0] - (by2 - by1)) <= 1


@test
def cli_usage_errors():
    image = png("eagle")
    before = open(image, "rb").read()
    cases = [
        (["--objects", "person,unicorn", image], "unicorn", "toothbrush"),
        (["--size", "100", image], "multiple of 32", None),
        (["--min-prob", "0", image], "--min-prob", None),
        (["--nms", "2", image], "--nms", None),
        ([image, image], "is the input image", None),
        ([image, os.path.join(TMP, "out.gif")], ".jpg, .jpeg or .png", None),
        ([], "no image given", None),
        (["--bogus", image], "unknown option", None),
    ]
    for args, needle, needle2 in cases:
        p = run_tool("detect", "--weights", weights80(), *args)
        assert p.returncode == 2, (args, p.returncode, p.stderr)
        assert needle in p.stderr and (needle2 is None or needle2 in p.stderr), (args, p.stderr)
        assert p.stdout == ""
    assert open(image, "rb").read() == before


@test
def cli_input_errors():
    bad = os.path.join(TMP, "broken.png")
    open(bad, "wb").write(b"\x89PNG\r\n\x1a\n" + b"\0" * 40)
    out = os.path.join(TMP, "never.png")
    p = run_tool("detect", "--weights", weights80(), bad, out)
    assert p.returncode == 3 and "broken.png" in p.stderr, p.stderr
    assert not os.path.exists(out)
    bad_cfg = os.path.join(TMP, "bad_config.json")
    open(bad_cfg, "w").write('{"labels": ["a"], "anchors": [[1, 2, 3]]}')
    p = run_tool("detect", "--weights", weights80(), "--config", bad_cfg, png("eagle"))
    assert p.returncode == 3 and "bad_config.json" in p.stderr and "anchor list 0" in p.stderr, p.stderr
    p = run_tool("detect", "--model", os.path.join(ROOT, "models", "yolov3-tiny.json"),
                 "--weights", weights80(), png("eagle"))
    assert p.returncode == 4, p.stderr


@test
def missing_default_weights_explains_how_to_get_them():
    empty = os.path.join(TMP, "empty-data")
    os.makedirs(empty, exist_ok=True)
    env = dict(os.environ, CNNRT_DATA_DIR=empty)
    p = subprocess.run([os.path.join(ROOT, tool("detect")),
                        "--model", os.path.join(ROOT, "models", "yolov3.json"),
                        "--config", os.path.join(ROOT, "models", "coco_detection_config.json"),
                        png("eagle")], capture_output=True, text=True, cwd=empty, env=env)
    assert p.returncode == 3, p.stderr
    for needle in ("models/yolov3.h5", "https://github.com/OlafenwaMoses/ImageAI/releases/download/1.0/yolo.h5",
                   "convert.py", "build/synthetic-weights --model models/yolov3.json --out models/yolov3.h5"):
        assert needle in p.stderr, (needle, p.stderr)


@test
def cleanup_big_files():
    """Frees the scratch weights early (the harness removes TMP at the end anyway)."""
    _torch_models.clear()
    for f in os.listdir(TMP):
        if f.endswith((".h5", ".weights")):
            os.remove(os.path.join(TMP, f))
    shutil.rmtree(os.path.join(TMP, "crops"), ignore_errors=True)


run()
