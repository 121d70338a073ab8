"""test_resnet50_conformance.py - `predict` against an independent PyTorch ResNet50.

The reference (torch_resnet50.py) defines Keras ResNet50 and Keras preprocessing in Python,
loads the same .h5 file by layer name and runs in float64. Both sides read the same PNG
files (JPEG decoders differ between stb and libjpeg, so the sample JPEGs are converted to
PNG with OpenCV first). Checked per image: all probabilities within PROB_TOL, the same
top-5 classes in the same order (near-ties excepted), and the JSON percentages equal to
100 * the dumped probabilities.
"""
import json
import os
import sys

import cv2
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_resnet50 as ref  # noqa: E402
from harness import IMAGES, ROOT, TMP, run, run_tool, synthetic_weights, test  # noqa: E402

PROB_TOL = 1e-4  # absolute, on every probability
TIE_TOL = 1e-5   # neighbours closer than this may swap places in the top 5
MODEL = "resnet50.json"
PHOTOS = ["dog", "eagle", "giraffe", "horses", "person"]

_errors = {}  # label -> (max abs probability error, images)
_models = {}  # weights path -> reference ResNet50


def _weights(*extra):
    name = "resnet50" + "".join(e.strip("-").replace(" ", "") for e in extra) + ".h5"
    return synthetic_weights(MODEL, os.path.join(TMP, name), *extra)


def _pngs():
    """PNG copies of the sample photos, plus two edge cases: a grey PNG (stb and OpenCV
    both replicate grey into RGB) and a small RGBA crop (alpha is dropped; upscaling
    exercises the resize's edge clamping). Made once."""
    out = os.path.join(TMP, "png")
    paths = [os.path.join(out, n + ".png") for n in PHOTOS]
    paths += [os.path.join(out, "grey.png"), os.path.join(out, "small_rgba.png")]
    if os.path.isdir(out):
        return paths
    os.makedirs(out)
    for name, path in zip(PHOTOS, paths):
        bgr = cv2.imread(os.path.join(IMAGES, name + ".jpg"), cv2.IMREAD_COLOR)
        assert bgr is not None, name
        assert cv2.imwrite(path, bgr)
    kite = cv2.imread(os.path.join(IMAGES, "kite.jpg"), cv2.IMREAD_COLOR)
    assert cv2.imwrite(paths[-2], cv2.cvtColor(kite, cv2.COLOR_BGR2GRAY))
    crop = kite[100:197, 300:450]  # 150 x 97: upscaled to 224 x 224
    alpha = np.random.default_rng(7).integers(0, 256, crop.shape[:2], dtype=np.uint8)
    assert cv2.imwrite(paths[-1], np.dstack([crop, alpha]))
    return paths


def _top(probs, k):
    return list(np.argsort(-probs, kind="stable")[:k])


def _check_image(label, image, c_probs, r_probs, line, names):
    """Compares one image's C output (dumped probabilities + JSON line) with the reference."""
    assert c_probs.shape == r_probs.shape, (c_probs.shape, r_probs.shape)
    assert np.all(np.isfinite(c_probs)), "%s: non-finite output" % image
    err = float(np.max(np.abs(c_probs.astype(np.float64) - r_probs)))
    worst, count = _errors.get(label, (0.0, 0))
    _errors[label] = (max(worst, err), count + 1)
    assert err <= PROB_TOL, "%s [%s]: max |p - p_ref| = %.3g > %g" % (image, label, err, PROB_TOL)

    k = min(5, len(r_probs))
    c_top, r_top = _top(c_probs, k), _top(r_probs, k)
    for rank in range(k):
        if c_top[rank] != r_top[rank]:  # only a near-tie of the reference may swap
            gap = abs(r_probs[c_top[rank]] - r_probs[r_top[rank]])
            assert gap < TIE_TOL, "%s [%s]: top-%d is %s, reference %s" % (
                image, label, k, c_top, r_top)

    result = json.loads(line)
    assert result["image"] == image
    preds = result["predictions"]
    assert [p["index"] for p in preds] == c_top, (preds, c_top)
    for p in preds:
        assert p["class"] == names[p["index"]], p
        want = 100.0 * float(c_probs[p["index"]])
        assert abs(p["percentage_probability"] - want) <= 1e-5 * want + 1e-9, (p, want)


def _conformance(label, weights, images, mode, classes=None, names=None, threads=1):
    """Runs predict and the reference on images and compares every image. mode None:
    predict's default, which must be caffe."""
    dump = os.path.join(TMP, "dump-" + label)
    args = ["--weights", weights, "--json", "--top", 5, "--dump-output", dump,
            "--threads", threads] + (["--preprocess", mode] if mode else [])
    mode = mode or "caffe"
    if classes:
        args += ["--classes", classes]
    p = run_tool("predict", *(args + images))
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert len(lines) == len(images), p.stdout
    if names is None:
        with open(os.path.join(ROOT, "models", "imagenet_classes.json")) as f:
            names = {int(k): v for k, v in json.load(f).items()}
    if weights not in _models:  # loading 100 MB into float64 takes a while: once per file
        _models[weights] = ref.ResNet50(weights)
    model = _models[weights]
    for image, line in zip(images, lines):
        c_out = np.load(os.path.join(dump, os.path.basename(image) + ".out0.npy"))
        assert c_out.dtype == np.float32 and c_out.shape == (1, len(names)), (c_out.dtype,
                                                                              c_out.shape)
        r_probs = model(ref.image_input(image, mode))
        _check_image(label, image, c_out[0], r_probs, line, names)
    print("     %-22s max |p - p_ref| = %.3g over %d images" % ((label,) + _errors[label]))


@test
def reference_resize_matches_opencv():
    """The reference's resize is OpenCV INTER_LINEAR on float input (down and up)."""
    for path in _pngs()[:1] + _pngs()[-1:]:
        rgb = ref.load_image_rgb(path)
        for w, h in [(224, 224), (301, 155), (7, 5)]:
            mine = ref.resize_bilinear(rgb, w, h)
            cv = cv2.resize(rgb.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR)
            # OpenCV rounds its source coordinates to float: up to ~0.01 on sharp edges
            assert np.max(np.abs(mine - cv)) < 0.02, (path, w, h, np.max(np.abs(mine - cv)))


@test
def caffe_mode_matches_torch():
    # two threads here: the multi-threaded path is compared with the reference too
    _conformance("caffe", _weights(), _pngs(), None, threads=2)


@test
def raw_mode_matches_torch():
    """ImageAI 2.1.6 feeds ResNet50 unpreprocessed 0..255 RGB."""
    _conformance("raw", _weights(), _pngs()[:4], "raw")


@test
def tf_and_torch_modes_match_torch():
    _conformance("tf", _weights(), _pngs()[:2], "tf")
    _conformance("torch", _weights(), _pngs()[2:4], "torch")


@test
def full_model_file_with_five_classes_matches_torch():
    """Keras model.save layout (model_weights group) and an ImageAI custom model with a
    model_class.json whose keys are out of order."""
    weights = _weights("--full-model", "--classes", "5")
    names = {3: "nurse", 0: "chef", 4: "police", 1: "doctor", 2: "engineer"}
    classes = os.path.join(TMP, "model_class.json")
    with open(classes, "w") as f:
        f.write('{"3": "nurse", "0": "chef", "4": "police", "1": "doctor", "2": "engineer"}')
    _conformance("full-model, 5 classes", weights, _pngs()[:4], "caffe", classes, names)


@test
def summary():
    worst = max((e for e, _ in _errors.values()), default=float("nan"))
    count = sum(n for _, n in _errors.values())
    print("     max abs probability error, predict vs PyTorch float64: %.3g over %d image runs "
          "(tolerance %g)" % (worst, count, PROB_TOL))
    assert count > 0


run()
