"""test_inspect.py - `inspect` on good files (issue 4).

`inspect --json FILE` must recognise ResNet50, YOLOv3 and TinyYOLOv3 files whatever
their class count, layout (weights-only or full model), string encoding and naming
scheme, and report the same layers, shapes and counts that h5py reads from the file.
The expected counts are the published Keras model summaries (ResNet50 25,636,712
parameters; YOLOv3 62,001,757; TinyYOLOv3 8,858,734; each class adds 2,049, 5,385
and 2,310), not outputs of cnnrt. `inspect FILE --model` must pair the layers in
Keras's model.layers order (../shared/FORMATS.md gives YOLOv3's conv order) and mark
the first divergence of a broken pair.
"""
import json
import os
import shutil

import h5py
import numpy as np

from harness import ROOT, TMP, run, run_tool, synthetic_weights, test

MODELS = os.path.join(ROOT, "models")

# name: (model JSON, synthetic-weights options, expected kind, architecture, classes,
#        naming id, layers, weighted layers, parameters)
FILES = {
    "r50_modern_1000.h5": ("resnet50.json", ["--size", "32"], "keras2-weights",
                           "ResNet50", 1000, "keras-apps", 177, 107, 25636712),
    "r50_modern_5_full.h5": ("resnet50.json", ["--size", "32", "--classes", "5", "--full-model"],
                             "keras2-full-model", "ResNet50", 5, "keras-apps", 177, 107,
                             25636712 - 995 * 2049),
    "r50_v1_1000_full.h5": ("resnet50.json", ["--size", "32", "--scheme", "keras-apps-v1",
                                              "--full-model"],
                            "keras2-full-model", "ResNet50", 1000, "keras-apps-v1", 177, 107,
                            25636712),
    "r50_v1_5_vlen.h5": ("resnet50.json", ["--size", "32", "--scheme", "keras-apps-v1",
                                           "--classes", "5", "--vlen-strings"],
                         "keras2-weights", "ResNet50", 5, "keras-apps-v1", 177, 107,
                         25636712 - 995 * 2049),
    "y3_keras2_80_full.h5": ("yolov3.json", ["--size", "64", "--full-model"],
                             "keras2-full-model", "YOLOv3", 80, "keras2", 252, 147, 62001757),
    "y3_tfkeras_3_split.h5": ("yolov3.json", ["--size", "64", "--scheme", "tf-keras",
                                              "--classes", "3", "--split", "50"],
                              "keras2-weights", "YOLOv3", 3, "tf-keras", 252, 147,
                              62001757 - 77 * 5385),
    "y3_imageai_80_vlen.h5": ("yolov3.json", ["--size", "64", "--scheme", "imageai",
                                              "--vlen-strings"],
                              "keras2-weights", "YOLOv3", 80, "imageai", 252, 147, 62001757),
    "tiny_keras2_80_f64.h5": ("yolov3-tiny.json", ["--size", "64", "--float64"],
                              "keras2-weights", "TinyYOLOv3", 80, "keras2", 44, 24, 8858734),
    "tiny_imageai_3_full.h5": ("yolov3-tiny.json", ["--size", "64", "--scheme", "imageai",
                                                    "--classes", "3", "--full-model"],
                               "keras2-full-model", "TinyYOLOv3", 3, "imageai", 44, 24,
                               8858734 - 77 * 2310),
}


def make(name):
    model, options = FILES[name][0], FILES[name][1]
    return synthetic_weights(model, os.path.join(TMP, name), *options)


def inspect_json(*args, code=0):
    p = run_tool("inspect", "--json", *args)
    assert p.returncode == code, "exit %d, expected %d:\n%s%s" % (p.returncode, code, p.stdout,
                                                                  p.stderr)
    return json.loads(p.stdout)


def text(b):
    return b.decode() if isinstance(b, bytes) else str(b)


def h5py_layers(path):
    """Independent reading: [(layer, [(weight name, shape, dtype)])] in layer_names order."""
    with h5py.File(path, "r") as f:
        at_root = any(k.startswith("layer_names") for k in f.attrs)
        g = f if at_root or "model_weights" not in f else f["model_weights"]
        names = [text(n) for n in g.attrs["layer_names"]] if "layer_names" in g.attrs else None
        if names is None:  # split attribute: layer_names0, layer_names1, ...
            names, k = [], 0
            while "layer_names%d" % k in g.attrs:
                names += [text(n) for n in g.attrs["layer_names%d" % k]]
                k += 1
        out = []
        for name in names:
            weights = []
            if name in g:
                for w in g[name].attrs["weight_names"]:
                    d = g[name][text(w)]
                    weights.append((text(w), list(d.shape), d.dtype.name))
            out.append((name, weights))
        return out


def check_guess(name):
    (_, _, kind, arch, classes, naming, layers, weighted, params) = FILES[name]
    path = make(name)
    j = inspect_json(path)
    assert j["kind"] == kind, (name, j["kind"])
    assert j["guess"]["architecture"] == arch, (name, j["guess"])
    assert j["guess"]["classes"] == classes, (name, j["guess"])
    assert j["guess"]["naming"] == naming, (name, j["guess"])
    c = j["counts"]
    assert (c["layers"], c["weighted_layers"], c["parameters"]) == (layers, weighted, params), \
        (name, c)
    # every layer, weight, shape and dtype as h5py reads them
    expected = h5py_layers(path)
    got = [(l["name"], [(w["name"], w["shape"], w["dtype"]) for w in l["weights"]])
           for l in j["layers"]]
    assert got == expected, name
    assert sum(int(np.prod(s)) for _, ws in expected for _, s, _ in ws) == params
    assert j["synthetic_seed"] == 1 and j["problem"] is None
    return j


@test
def guess_resnet50_modern_1000_weights_only():
    j = check_guess("r50_modern_1000.h5")
    assert j["keras_version"] and j["backend"] == "tensorflow" and j["model_config"] is None


@test
def guess_resnet50_modern_5_classes_full_model():
    j = check_guess("r50_modern_5_full.h5")
    assert j["model_config"] is not None


@test
def guess_resnet50_apps_v1_1000_full_model():
    j = check_guess("r50_v1_1000_full.h5")
    assert j["layers"][-1]["name"] == "fc1000"


@test
def guess_resnet50_apps_v1_5_classes_vlen_strings():
    check_guess("r50_v1_5_vlen.h5")


@test
def guess_yolov3_keras2_80_full_model():
    check_guess("y3_keras2_80_full.h5")


@test
def guess_yolov3_tf_keras_3_classes_split_names():
    check_guess("y3_tfkeras_3_split.h5")


@test
def guess_yolov3_imageai_80_vlen_strings():
    j = check_guess("y3_imageai_80_vlen.h5")
    assert {"last1", "last2", "last3"} <= {l["name"] for l in j["layers"]}


@test
def guess_tiny_yolov3_float64():
    j = check_guess("tiny_keras2_80_f64.h5")
    assert j["counts"]["float64_weights"] == sum(len(l["weights"]) for l in j["layers"])


@test
def guess_tiny_yolov3_imageai_3_classes():
    check_guess("tiny_imageai_3_full.h5")


@test
def text_report_says_the_same():
    p = run_tool("inspect", make("r50_v1_1000_full.h5"))
    assert p.returncode == 0, p.stderr
    for fact in ["Keras 2 full model file", "177 in the file, 107 with weights",
                 "parameters: 25636712", "guess:      ResNet50, 1000 classes",
                 "res2a_branch2a", "synthetic", "fc1000/kernel:0"]:
        assert fact in p.stdout, (fact, p.stdout[:2000])


def keras3_copy(src, dst, rename=lambda n: n):
    """Rewrites a Keras 2 weights-only file in the Keras 3 .weights.h5 layout
    (layers/<name>/vars/<i>, weightless layers as empty groups)."""
    with h5py.File(src, "r") as s, h5py.File(dst, "w") as d:
        for name in [text(n) for n in s.attrs["layer_names"]]:
            vars_ = d.create_group("layers/%s/vars" % rename(name))
            if name in s:
                for i, w in enumerate(s[name].attrs["weight_names"]):
                    vars_.create_dataset(str(i), data=s[name][text(w)][()])
        d.create_group("optimizer/vars")
        d.create_group("vars")
    return dst


@test
def keras3_weights_file_is_recognised_and_paired_by_name():
    path = keras3_copy(make("tiny_keras2_80_f64.h5"), os.path.join(TMP, "tiny.weights.h5"))
    j = inspect_json(path)
    assert j["kind"] == "keras3-weights" and j["guess"]["naming"] == "keras3", j["kind"]
    assert j["guess"]["architecture"] == "TinyYOLOv3" and j["guess"]["classes"] == 80
    assert j["counts"]["weighted_layers"] == 24 and j["counts"]["parameters"] == 8858734
    model = os.path.join(MODELS, "yolov3-tiny.json")
    j = inspect_json(path, "--model", model)
    assert j["verdict"]["ok"] and j["pairing"] == "by name", j["verdict"]
    renamed = keras3_copy(make("tiny_keras2_80_f64.h5"), os.path.join(TMP, "renamed.weights.h5"),
                          lambda n: "k3_" + n)
    j = inspect_json(renamed, "--model", model, code=4)
    assert "Keras 3" in j["verdict"]["message"] and \
        "the model's layer 'conv2d_1' (Conv2D) is not in the file" in j["verdict"]["message"], j
    os.remove(path)
    os.remove(renamed)


# ------------------------------------------------------------------ side by side

def tf_keras_name(name):
    """tf.keras numbers auto-names from no suffix: conv2d_1 -> conv2d, conv2d_7 -> conv2d_6."""
    prefix, _, num = name.rpartition("_")
    if not num.isdigit():
        return name
    return prefix if int(num) == 1 else "%s_%d" % (prefix, int(num) - 1)


# keras-yolo3's YOLOv3 convs in model.layers order (../shared/FORMATS.md section 1)
YOLOV3_CONV_ORDER = (["conv2d_%d" % i for i in range(1, 58)] +
                     ["conv2d_%d" % i for i in range(60, 66)] +
                     ["conv2d_%d" % i for i in range(68, 74)] +
                     ["conv2d_%d" % i for i in (58, 66, 74, 59, 67, 75)])


@test
def side_by_side_good_pair_by_position():
    """tf.keras names differ from the model's: the loader pairs by position."""
    cfg = os.path.join(TMP, "config3.json")
    with open(cfg, "w") as f:
        json.dump({"labels": ["cat", "dog", "bird"], "anchors": [[1] * 6] * 3}, f)
    path = make("y3_tfkeras_3_split.h5")
    j = inspect_json(path, "--model", os.path.join(MODELS, "yolov3.json"), "--config", cfg)
    assert j["verdict"]["ok"] and j["verdict"]["exit_code"] == 0, j["verdict"]
    assert j["pairing"] == "by position" and j["first_divergence"] is None
    assert j["classes"] == 3 and "config3.json (3 labels)" in j["classes_source"]
    rows = j["rows"]
    assert len(rows) == 147 and all(r["fits"] for r in rows)
    for r in rows:
        assert r["file"]["name"] == tf_keras_name(r["model"]["name"]), r
        assert r["file"]["shapes"] == r["model"]["shapes"], r
    convs = [r["model"]["name"] for r in rows if r["model"]["class_name"] == "Conv2D"]
    assert convs == YOLOV3_CONV_ORDER, convs
    # the file's shapes as h5py reads them, pair by pair
    by_name = dict(h5py_layers(path))
    for r in rows:
        assert [w[1] for w in by_name[r["file"]["name"]]] == r["file"]["shapes"], r
    p = run_tool("inspect", path, "--model", os.path.join(MODELS, "yolov3.json"), "--config", cfg)
    assert p.returncode == 0 and "verdict:    OK: all 147 layers fit (paired by position)" in p.stdout
    assert ">>" not in p.stdout


@test
def side_by_side_class_list_fits():
    labels = os.path.join(TMP, "model_class.json")
    with open(labels, "w") as f:
        json.dump({str(i): n for i, n in enumerate(["a", "b", "c", "d", "e"])}, f)
    j = inspect_json(make("r50_modern_5_full.h5"), "--model",
                     os.path.join(MODELS, "resnet50.json"), "--classes", labels)
    assert j["verdict"]["ok"] and j["pairing"] == "by name" and len(j["rows"]) == 107
    assert j["notes"] and "SYNTHETIC" in j["notes"][-1]


@test
def side_by_side_broken_pair_marks_the_first_divergence():
    """TinyYOLOv3 with one BatchNormalization removed from the file."""
    src = make("tiny_imageai_3_full.h5")
    path = os.path.join(TMP, "tiny_broken.h5")
    shutil.copyfile(src, path)
    dropped = "batch_normalization_5"
    with h5py.File(path, "r+") as f:
        g = f["model_weights"]
        del g[dropped]
        names = [text(n) for n in g.attrs["layer_names"] if text(n) != dropped]
        g.attrs["layer_names"] = np.array(names, dtype="S%d" % max(map(len, names)))
    cfg = os.path.join(TMP, "config3.json")
    model = os.path.join(MODELS, "yolov3-tiny.json")
    j = inspect_json(path, "--model", model, "--config", cfg, code=4)
    rows, first = j["rows"], j["first_divergence"]
    assert j["pairing"] == "by position" and j["verdict"]["exit_code"] == 4
    assert rows[first]["model"]["name"] == dropped, rows[first]
    assert all(r["fits"] for r in rows[:first])
    assert len(rows) == 24 and rows[-1]["file"] is None  # 23 file layers for 24 model layers
    assert "the model's layer '%s'" % dropped in j["verdict"]["message"]
    p = run_tool("inspect", path, "--model", model, "--config", cfg)
    assert p.returncode == 4
    marked = [l for l in p.stdout.splitlines() if l.startswith(">>")]
    assert len(marked) == 1 and dropped in marked[0] and "first divergence" in marked[0], marked
    assert "verdict:    model mismatch (exit 4)" in p.stdout
    assert "does not load" in p.stderr
    os.remove(path)


run()
