"""test_loader_corpus.py - a corpus of deliberately wrong weight files (issues 2 and 4).

Every file is made here, from the synthetic-weights tool and h5py edits. For each
case the loader (build/predict for ResNet50, build/inspect --model for the detector)
must exit with the documented code (3 input/format, 4 model mismatch), name the key
facts (layer, weight, both shapes in (kh, kw, Cin, Cout) orientation, the cause and
the file to fix), never die on a signal, never print HDF5's raw error stack, and
never write an output file.
"""
import json
import os
import pickle
import shutil
import struct
import tempfile
import zipfile

import h5py
import numpy as np

from harness import IMAGES, ROOT, TMP, run, run_tool, synthetic_weights, test

DOG = os.path.join(IMAGES, "dog.jpg")
YOLOV3 = os.path.join(ROOT, "models", "yolov3.json")
TINY_JSON = os.path.join(ROOT, "models", "yolov3-tiny.json")
COCO_CONFIG = os.path.join(ROOT, "models", "coco_detection_config.json")
IMAGENET_CLASSES = os.path.join(ROOT, "models", "imagenet_classes.json")

EXIT_INPUT, EXIT_MISMATCH = 3, 4


# ------------------------------------------------------------------ base files
# Each is made once per run (synthetic_weights caches by path). The calibration
# size only affects the values, not the shapes: small sizes keep the suite fast.

def r50():
    return synthetic_weights("resnet50.json", os.path.join(TMP, "r50.h5"), "--size", "64")


def r50_5classes():
    return synthetic_weights("resnet50.json", os.path.join(TMP, "r50_5.h5"), "--size", "32",
                             "--classes", "5")


def yolo3_3classes():
    return synthetic_weights("yolov3.json", os.path.join(TMP, "y3_3.h5"), "--size", "64",
                             "--classes", "3", "--full-model")


def tiny():
    return synthetic_weights("yolov3-tiny.json", os.path.join(TMP, "tiny.h5"), "--size", "64")


def edited(src, name, edit):
    """A copy of src with edit(h5py.File) applied."""
    dst = os.path.join(TMP, name)
    shutil.copyfile(src, dst)
    with h5py.File(dst, "r+") as f:
        edit(f)
    return dst


def weight_path(layer, weight):
    """Dataset path of a weight in a weights-only file, e.g. conv1_conv/conv1_conv/kernel:0."""
    return "%s/%s/%s:0" % (layer, layer, weight)


def replace_dataset(f, path, data, **kw):
    del f[path]
    f.create_dataset(path, data=data, **kw)


def set_layer_names(f, names):
    width = max(len(n) for n in names)
    f.attrs["layer_names"] = np.array(names, dtype="S%d" % width)


def layer_names(f):
    return [n.decode() for n in f.attrs["layer_names"]]


# ------------------------------------------------------------------ running

def predict(weights, *extra):
    """Runs predict on one image with an output directory; returns (process, dir)."""
    out = tempfile.mkdtemp(dir=TMP)
    p = run_tool("predict", "--weights", weights, "--dump-output", out, *extra, DOG)
    return p, out


def check(p, code, facts, out_dir=None):
    text = p.stdout + p.stderr
    if os.environ.get("CNNRT_TEST_VERBOSE"):
        print("---- exit %d\n%s" % (p.returncode, p.stderr if p.returncode else text))
    assert p.returncode >= 0, "killed by signal %d:\n%s" % (-p.returncode, text)
    assert p.returncode == code, "exit %d, expected %d:\n%s" % (p.returncode, code, text)
    assert "HDF5-DIAG" not in text and "#000:" not in text, "raw HDF5 error stack:\n" + text
    assert "AddressSanitizer" not in text and "runtime error" not in text, text
    for fact in facts:
        assert fact in text, "%r not in the message:\n%s" % (fact, text)
    if out_dir is not None:
        assert os.listdir(out_dir) == [], "output written: %s" % os.listdir(out_dir)


def rm(path):
    if os.path.exists(path):
        os.remove(path)


# ------------------------------------------------------------------ shapes

@test
def wrong_shape_in_one_conv():
    def edit(f):
        replace_dataset(f, weight_path("conv2_block1_2_conv", "kernel"),
                        np.zeros((5, 5, 64, 64), np.float32))
    path = edited(r50(), "wrong_shape.h5", edit)
    p, out = predict(path)
    check(p, EXIT_MISMATCH, ["wrong_shape.h5", "conv2_block1_2_conv", "kernel",
                             "(5, 5, 64, 64)", "(3, 3, 64, 64)", "(kh, kw, Cin, Cout)",
                             "kernel sizes differ"], out)
    rm(path)


@test
def missing_layer_is_named():
    name = "conv3_block2_2_bn"

    def edit(f):
        del f[name]
        set_layer_names(f, [n for n in layer_names(f) if n != name])
    path = edited(r50(), "missing_layer.h5", edit)
    p, out = predict(path)
    check(p, EXIT_MISMATCH, ["missing_layer.h5", "106 layers with weights",
                             "the model's layer '%s' (BatchNormalization, 4 x (128,))" % name,
                             "is not in the file",
                             "straight to 'conv3_block2_3_conv'", "changed after"], out)
    rm(path)


@test
def extra_layer_is_named():
    def edit(f):
        g = f.create_group("extra_conv")
        g.create_dataset("extra_conv/kernel:0", data=np.zeros((1, 1, 256, 256), np.float32))
        g.create_dataset("extra_conv/bias:0", data=np.zeros((256,), np.float32))
        g.attrs["weight_names"] = np.array([b"extra_conv/kernel:0", b"extra_conv/bias:0"])
        names = layer_names(f)
        at = names.index("conv2_block1_out") + 1
        set_layer_names(f, names[:at] + ["extra_conv"] + names[at:])
    path = edited(r50(), "extra_layer.h5", edit)
    p, out = predict(path)
    check(p, EXIT_MISMATCH, ["108 layers with weights", "the file's layer 'extra_conv'",
                             "(1, 1, 256, 256) (256,)", "is not in the model",
                             "the model goes from 'conv2_block1_3_bn' straight to "
                             "'conv2_block2_1_conv'"], out)
    rm(path)


@test
def notop_file_given_to_the_full_classifier():
    """A feature extractor saved with include_top=False: no 'predictions' layer."""
    def edit(f):
        del f["predictions"]
        set_layer_names(f, [n for n in layer_names(f) if n not in ("avg_pool", "predictions")])
    path = edited(r50(), "notop.h5", edit)
    p, out = predict(path)
    check(p, EXIT_MISMATCH, ["106 layers with weights", "the model's layer 'predictions' (Dense, "
                             "(2048, 1000) (1000,))", "the file ends after 'conv5_block3_3_bn'",
                             "no classification layer", "include_top=False"], out)
    rm(path)


@test
def channels_first_kernel_is_recognised():
    def edit(f):
        k = f[weight_path("conv1_conv", "kernel")][()]
        replace_dataset(f, weight_path("conv1_conv", "kernel"), k.transpose(3, 2, 0, 1).copy())
    path = edited(r50(), "channels_first.h5", edit)
    p, out = predict(path)
    check(p, EXIT_MISMATCH, ["conv1_conv", "kernel", "channels-first", "(64, 3, 7, 7)",
                             "(Cout, Cin, kh, kw)", "(7, 7, 3, 64)", "Theano"], out)
    rm(path)


# ------------------------------------------------------------------ dtypes

@test
def integer_weights_are_refused_naming_the_dataset():
    def edit(f):
        replace_dataset(f, weight_path("conv1_conv", "kernel"), np.zeros((7, 7, 3, 64), np.int32))
    path = edited(r50(), "int_dtype.h5", edit)
    p, out = predict(path)
    check(p, EXIT_INPUT, ["int_dtype.h5", "conv1_conv", "kernel:0", "integers", "float32"], out)
    p = run_tool("inspect", path)  # no model could load it: inspect alone says so too
    check(p, EXIT_INPUT, ["conv1_conv/kernel:0", "int32"])
    rm(path)


def top5(p):
    return json.loads(p.stdout.splitlines()[0])["predictions"]


@test
def float64_weights_are_converted_exactly_with_a_note():
    """float64 copies of float32 values are exact: the output must not change."""
    converted = [("conv1_conv", "kernel"), ("conv2_block1_1_bn", "gamma"),
                 ("predictions", "kernel")]

    def edit(f):
        for layer, weight in converted:
            data = f[weight_path(layer, weight)][()]
            replace_dataset(f, weight_path(layer, weight), data.astype(np.float64))
    path = edited(r50(), "float64.h5", edit)
    p, out = predict(path, "--json")
    check(p, 0, ["note:", "3 weight(s) are stored as float64", "converted to float32"])
    base, base_out = predict(r50(), "--json")
    check(base, 0, [])
    a = np.load(os.path.join(out, "dog.jpg.out0.npy"))
    b = np.load(os.path.join(base_out, "dog.jpg.out0.npy"))
    assert a.shape == (1, 1000) and np.abs(a - b).max() <= 1e-7, np.abs(a - b).max()
    assert [c["index"] for c in top5(p)] == [c["index"] for c in top5(base)]
    rm(path)


@test
def float16_weights_are_converted_with_a_note():
    def edit(f):
        data = f[weight_path("conv1_conv", "kernel")][()]
        replace_dataset(f, weight_path("conv1_conv", "kernel"), data.astype(np.float16))
    path = edited(r50(), "float16.h5", edit)
    p, out = predict(path)
    check(p, 0, ["note:", "float16", "layer 'conv1_conv', weight 'conv1_conv/kernel:0'",
                 "converted to float32"])
    j = json.loads(run_tool("inspect", "--json", path).stdout)
    assert j["counts"]["float16_weights"] == 1 and j["problem"] is None, j["counts"]
    assert os.listdir(out) == ["dog.jpg.out0.npy"]
    rm(path)


@test
def weights_off_a_float_boundary_give_the_same_output():
    """The loader uses weights where they lie in the file (a mapping) when their values
    start on a 4-byte boundary, as h5py and the synthetic-weights tool place them;
    values at any other offset are read instead: the output must be the same bits."""
    moved = [("conv1_conv", "kernel"), ("conv1_conv", "bias"), ("conv5_block3_2_conv", "kernel"),
             ("conv2_block1_1_bn", "gamma"), ("predictions", "kernel")]

    def edit(f):
        for layer, weight in moved:
            path = weight_path(layer, weight)
            data = f[path][()]
            f.move(path, path + "_old")
            for k in range(8):  # one more byte of padding before it until it lands off
                f.create_dataset(path, data=data)
                if f[path].id.get_offset() % 4:
                    break
                del f[path]
                f.create_dataset("%s/%s/pad%d_%s" % (layer, layer, k, weight),
                                 data=np.zeros(1, np.uint8))
            else:
                f.create_dataset(path, data=data)
            del f[path + "_old"]
    path = edited(r50(), "unaligned.h5", edit)
    with h5py.File(path, "r") as f:
        off = [f[weight_path(layer, weight)].id.get_offset() for layer, weight in moved]
    assert sum(o % 4 != 0 for o in off) >= 3, off  # the case this test is about
    with h5py.File(r50(), "r") as f:
        base_off = [f[weight_path(layer, weight)].id.get_offset() for layer, weight in moved]
    assert all(o % 4 == 0 for o in base_off), base_off  # the usual case: used in place
    p, out = predict(path, "--json")
    check(p, 0, [])
    base, base_out = predict(r50(), "--json")
    check(base, 0, [])
    a = np.load(os.path.join(out, "dog.jpg.out0.npy"))
    b = np.load(os.path.join(base_out, "dog.jpg.out0.npy"))
    assert a.shape == (1, 1000) and np.array_equal(a, b), np.abs(a - b).max()
    rm(path)


@test
def nan_weight_is_refused():
    def edit(f):
        d = f[weight_path("conv2_block1_1_bn", "gamma")]
        d[5] = np.nan
    path = edited(r50(), "nan.h5", edit)
    p, out = predict(path)
    check(p, EXIT_INPUT, ["nan.h5", "conv2_block1_1_bn", "gamma:0", "NaN"], out)
    rm(path)


# ------------------------------------------------------------------ wrong model

@test
def tiny_yolo_file_given_to_yolov3():
    p = run_tool("inspect", tiny(), "--model", YOLOV3)
    check(p, EXIT_MISMATCH, ["24 layers with weights", "147", "wrong model type",
                             "TinyYOLOv3", "models/yolov3-tiny.json"])


@test
def resnet50_file_given_to_the_detector():
    p = run_tool("inspect", r50(), "--model", YOLOV3, "--config", COCO_CONFIG)
    check(p, EXIT_MISMATCH, ["107 layers with weights", "147", "wrong model type",
                             "ResNet50 model (1000 classes)", "classifier", "predict"])


@test
def yolov3_file_given_to_the_classifier():
    p, out = predict(yolo3_3classes())
    check(p, EXIT_MISMATCH, ["y3_3.h5", "147 layers with weights", "107", "wrong model type",
                             "YOLOv3 model (3 classes)", "detector"], out)


# ------------------------------------------------------------------ class count

@test
def five_class_resnet_with_the_1000_name_class_list():
    p, out = predict(r50_5classes())
    check(p, EXIT_MISMATCH, ["weights are for 5 classes", "set up for 1000", "predictions",
                             "(2048, 5)", "(2048, 1000)", "imagenet_classes.json (1000 names)",
                             "model_class.json", "--classes", "exactly 5 entries"], out)


@test
def three_class_yolo_with_the_80_label_config():
    p = run_tool("inspect", yolo3_3classes(), "--model", YOLOV3, "--config", COCO_CONFIG)
    check(p, EXIT_MISMATCH, ["weights are for 3 classes", "set up for 80", "conv2d_59",
                             "(1, 1, 1024, 24)", "(1, 1, 1024, 255)",
                             "coco_detection_config.json (80 labels)", "detection_config.json",
                             "--config", "exactly 3 entries"])
    # and the right config fits
    cfg = os.path.join(TMP, "three_labels.json")
    with open(cfg, "w") as f:
        json.dump({"labels": ["a", "b", "c"], "anchors": [[116, 90, 156, 198, 373, 326],
                                                          [30, 61, 62, 45, 59, 119],
                                                          [10, 13, 16, 30, 33, 23]]}, f)
    p = run_tool("inspect", yolo3_3classes(), "--model", YOLOV3, "--config", cfg)
    check(p, 0, ["OK: all 147 layers fit"])


# ------------------------------------------------------------------ not HDF5

def write(name, data):
    path = os.path.join(TMP, name)
    with open(path, "wb") as f:
        f.write(data)
    return path


def darknet_file(name, values):
    """A Darknet .weights header (0.2.0, int64 seen) and `values` zero floats (sparse)."""
    path = os.path.join(TMP, name)
    with open(path, "wb") as f:
        f.write(struct.pack("<iiiq", 0, 2, 0, 32013312))
        f.truncate(20 + 4 * values)
    return path


def pytorch_zip(name):
    path = os.path.join(TMP, name)
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("archive/data.pkl", pickle.dumps({"model": "fake"}, protocol=2))
        z.writestr("archive/version", "3\n")
        z.writestr("archive/data/0", b"\0" * 64)
    return path


def keras3_archive(name):
    path = os.path.join(TMP, name)
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("metadata.json", "{}")
        z.writestr("config.json", "{}")
        z.writestr("model.weights.h5", b"\0" * 64)
    return path


def truncated(name):
    data = open(tiny(), "rb").read()
    return write(name, data[: len(data) // 2])


# (file maker, predict's exit code, facts in predict's message, inspect-alone exit code)
NOT_KERAS = {
    "empty": (lambda: write("empty.h5", b""), EXIT_INPUT, ["empty.h5", "empty (0 bytes)"],
              EXIT_INPUT),
    "truncated": (lambda: truncated("truncated.h5"), EXIT_INPUT,
                  ["truncated.h5", "truncated", "50.0% present", "download"], EXIT_INPUT),
    "html": (lambda: write("page.h5", b"<!DOCTYPE html>\n<html><body>Not Found</body></html>\n"),
             EXIT_INPUT, ["page.h5", "HTML page", "direct link"], EXIT_INPUT),
    "pytorch_zip": (lambda: pytorch_zip("model.pt"), EXIT_INPUT,
                    ["model.pt", "PyTorch checkpoint", "ImageAI 3.x", "Troubleshooting"], 0),
    "pytorch_legacy": (lambda: write("legacy.pth", pickle.dumps({"state_dict": {}}, protocol=2)),
                       EXIT_INPUT, ["legacy.pth", "PyTorch checkpoint", "legacy pickle"], 0),
    "darknet": (lambda: darknet_file("yolov3-tiny-3.weights", 8858734 - 77 * 2310), EXIT_INPUT,
                ["yolov3-tiny-3.weights", "Darknet .weights", "version 0.2.0",
                 "TinyYOLOv3 with 3 classes", "convert.py", "yolov3-tiny.cfg", "classes=3",
                 "filters=24"], 0),
    "keras3_archive": (lambda: keras3_archive("model.keras"), EXIT_INPUT,
                       ["model.keras", "Keras 3 .keras archive", "model.weights.h5"], 0),
    "json": (lambda: IMAGENET_CLASSES, EXIT_INPUT,
             ["imagenet_classes.json", "JSON file", "model_class.json"], EXIT_INPUT),
    "garbage": (lambda: write("garbage.h5", bytes(range(256)) * 40), EXIT_INPUT,
                ["garbage.h5", "not an HDF5 file"], EXIT_INPUT),
}


def not_keras_case(key):
    make, code, facts, inspect_code = NOT_KERAS[key]
    path = make()
    p, out = predict(path)
    check(p, code, facts, out)
    p = run_tool("inspect", path)
    check(p, inspect_code, [os.path.basename(path)])
    return path


@test
def empty_file():
    not_keras_case("empty")


@test
def truncated_download():
    not_keras_case("truncated")


@test
def html_error_page():
    not_keras_case("html")


@test
def pytorch_zip_checkpoint():
    path = not_keras_case("pytorch_zip")
    j = json.loads(run_tool("inspect", "--json", path).stdout)
    assert j["kind"] == "pytorch-zip" and j["problem"] is None, j


@test
def pytorch_legacy_pickle():
    not_keras_case("pytorch_legacy")


@test
def darknet_weights_file():
    path = not_keras_case("darknet")
    p = run_tool("inspect", "--json", path)
    check(p, 0, [])
    j = json.loads(p.stdout)
    assert j["kind"] == "darknet", j
    assert j["guess"]["architecture"] == "TinyYOLOv3" and j["guess"]["classes"] == 3, j


@test
def keras3_archive_file():
    not_keras_case("keras3_archive")


@test
def json_file_given_as_weights():
    not_keras_case("json")


@test
def unknown_bytes():
    not_keras_case("garbage")


@test
def missing_weights_file():
    p, out = predict(os.path.join(TMP, "no-such-file.h5"))
    check(p, EXIT_INPUT, ["no-such-file.h5"], out)
    p = run_tool("inspect", os.path.join(TMP, "no-such-file.h5"))
    check(p, EXIT_INPUT, ["no-such-file.h5"])


# ------------------------------------------------------------------ HDF5, not right

@test
def hdf5_file_that_is_not_keras():
    path = os.path.join(TMP, "not_keras.h5")
    with h5py.File(path, "w") as f:
        f.create_dataset("images", data=np.zeros((4, 4), np.float32))
        f.attrs["creator"] = "not keras"
    p, out = predict(path)
    check(p, EXIT_INPUT, ["not_keras.h5", "not a Keras weights file", "save_weights"], out)
    p = run_tool("inspect", path)
    check(p, EXIT_INPUT, ["not_keras.h5", "not a Keras weights file"])


@test
def corrupt_hdf5_structure_is_translated():
    """Valid signature and size, garbage where the root group's header is."""
    path = os.path.join(TMP, "corrupt.h5")
    shutil.copyfile(tiny(), path)
    with open(path, "r+b") as f:
        f.seek(48)
        f.write(bytes((i * 37 + 11) % 256 for i in range(4096)))
    p, out = predict(path, "--model", TINY_JSON)
    check(p, EXIT_INPUT, ["corrupt.h5", "damaged", "download"], out)
    p = run_tool("inspect", path)
    check(p, EXIT_INPUT, ["corrupt.h5", "damaged"])
    rm(path)


@test
def dataset_behind_an_external_link_is_refused():
    other = os.path.join(TMP, "elsewhere.h5")
    with h5py.File(other, "w") as f:
        f.create_dataset("k", data=np.zeros((7, 7, 3, 64), np.float32))

    def edit(f):
        del f[weight_path("conv1_conv", "kernel")]
        f[weight_path("conv1_conv", "kernel")] = h5py.ExternalLink(other, "/k")
    path = edited(r50(), "external_link.h5", edit)
    p, out = predict(path)
    check(p, EXIT_INPUT, ["external_link.h5", "conv1_conv", "kernel:0", "external link",
                          "refused"], out)
    p = run_tool("inspect", "--json", path)
    check(p, EXIT_INPUT, ["external link"])
    assert "external link" in json.loads(p.stdout)["problem"]
    rm(path)


@test
def dataset_with_external_storage_is_refused():
    raw = os.path.join(TMP, "raw.bin")
    with open(raw, "wb") as f:
        f.write(b"\0" * (7 * 7 * 3 * 64 * 4))

    def edit(f):
        del f[weight_path("conv1_conv", "kernel")]
        f.create_dataset(weight_path("conv1_conv", "kernel"), shape=(7, 7, 3, 64), dtype="f4",
                         external=[(raw, 0, 7 * 7 * 3 * 64 * 4)])
    path = edited(r50(), "external_storage.h5", edit)
    p, out = predict(path)
    check(p, EXIT_INPUT, ["external_storage.h5", "conv1_conv", "kernel:0", "external storage",
                          "refused"], out)
    p = run_tool("inspect", path)
    check(p, EXIT_INPUT, ["external storage"])
    rm(path)


@test
def dataset_listed_but_missing():
    def edit(f):
        del f["conv2d_3/conv2d_3/kernel:0"]
    path = edited(tiny(), "listed_missing.h5", edit)
    p = run_tool("inspect", path, "--model", TINY_JSON)
    check(p, EXIT_INPUT, ["listed_missing.h5", "conv2d_3", "kernel:0", "missing from the file"])
    rm(path)


@test
def dataset_listed_but_a_group_or_a_dangling_link():
    def as_group(f):
        del f["conv2d_3/conv2d_3/kernel:0"]
        f["conv2d_3/conv2d_3"].create_group("kernel:0")

    def as_dangling_link(f):
        del f["conv2d_3/conv2d_3/kernel:0"]
        f["conv2d_3/conv2d_3/kernel:0"] = h5py.SoftLink("/nowhere")

    for name, edit, why in [("listed_group.h5", as_group, "is not a dataset"),
                            ("listed_dangling.h5", as_dangling_link, "missing from the file")]:
        path = edited(tiny(), name, edit)
        p = run_tool("inspect", path, "--model", TINY_JSON)
        check(p, EXIT_INPUT, [name, "conv2d_3", "kernel:0", why])
        rm(path)


@test
def usage_errors_exit_2():
    p = run_tool("inspect")
    check(p, 2, ["no FILE"])
    p = run_tool("inspect", tiny(), "--classes", IMAGENET_CLASSES)
    check(p, 2, ["need --model"])
    p = run_tool("inspect", tiny(), "--model", YOLOV3, "--classes", IMAGENET_CLASSES,
                 "--config", COCO_CONFIG)
    check(p, 2, ["exclude each other"])


run()
