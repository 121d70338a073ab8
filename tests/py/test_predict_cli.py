"""test_predict_cli.py - the `predict` command-line contract.

Output formats (JSON lines, text), --top, --classes (text and model_class.json), thread-count
determinism, weight-file variants (naming schemes, string kinds, split attributes, float64),
exit codes and messages for usage errors, missing or bad files, class-count mismatches, and
--dump-output. Expected values come from the dumped probabilities (checked against PyTorch
by test_resnet50_conformance.py) and from the class list read here with Python's json.
"""
import json
import os
import re
import shutil
import subprocess
import sys

import cv2
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import IMAGES, ROOT, TMP, run, run_tool, synthetic_weights, test, tool  # noqa: E402

MODEL = "resnet50.json"
JSON_LINE = re.compile(
    r'^\{"image": "(?:[^"\\]|\\.)*", "predictions": \['
    r'(?:\{"class": "(?:[^"\\]|\\.)*", "index": \d+, "percentage_probability": [-+.e\d]+\}'
    r'(?:, (?=\{))?)*\]\}$')
TEXT_RANK = re.compile(r"^  (\d+)\. (.+?) +(\d+\.\d{4})%$")


def weights(*extra):
    name = "w" + "".join(e.strip("-").replace(" ", "") for e in extra) + ".h5"
    return synthetic_weights(MODEL, os.path.join(TMP, name), *extra)


def png(name):
    """PNG copy of a sample photo (made once)."""
    path = os.path.join(TMP, name + ".png")
    if not os.path.exists(path):
        assert cv2.imwrite(path, cv2.imread(os.path.join(IMAGES, name + ".jpg")))
    return path


def imagenet_names():
    with open(os.path.join(ROOT, "models", "imagenet_classes.json")) as f:
        return {int(k): v for k, v in json.load(f).items()}


def predict(*args, threads=1, w=None):
    """predict with the plain synthetic weights (unless --weights is given) and 1 thread."""
    args = [str(a) for a in args]
    if "--weights" not in args:
        args = ["--weights", w or weights()] + args
    if threads is not None and "--threads" not in args:
        args = ["--threads", str(threads)] + args
    return run_tool("predict", *args)


def assert_exit(p, code, *needles):
    """Exit code and stderr contents of a failed run; nothing crashed."""
    msg = "exit %d, expected %d\nstdout: %s\nstderr: %s" % (p.returncode, code, p.stdout, p.stderr)
    assert p.returncode == code, msg
    assert "AddressSanitizer" not in p.stderr and "runtime error" not in p.stderr, msg
    for n in needles:
        assert n in p.stderr, "%r not in stderr:\n%s" % (n, p.stderr)


def dumped(directory, image):
    return np.load(os.path.join(directory, os.path.basename(image) + ".out0.npy"),
                   allow_pickle=False)


BASE_PHOTOS = ["dog", "eagle", "giraffe", "horses", "person"]
BASE_DUMP = os.path.join(TMP, "no", "such", "dir")  # --dump-output must create it


def base(name):
    """Probabilities (1000,) of a sample photo with the plain weights and one thread, from
    one predict run over all of BASE_PHOTOS (made once, reused by every test)."""
    if not os.path.isdir(BASE_DUMP):
        p = predict("--dump-output", BASE_DUMP, *[png(n) for n in BASE_PHOTOS])
        assert p.returncode == 0, p.stderr
    return dumped(BASE_DUMP, png(name))[0]


# ------------------------------------------------------------------ output formats --

@test
def json_lines_format():
    odd = os.path.join(TMP, 'odd "name" \\ é.png')  # JSON escaping of the path
    shutil.copy(png("dog"), odd)
    twin = os.path.join(TMP, "elsewhere", "dog.png")  # same file name: fine without dumps
    os.makedirs(os.path.dirname(twin), exist_ok=True)
    shutil.copy(png("eagle"), twin)
    images = [png("eagle"), odd, twin]
    expect = [base("eagle"), base("dog"), base("eagle")]
    p = predict("--json", "--top", 3, *images)
    assert p.returncode == 0, p.stderr
    lines = p.stdout.split("\n")
    assert lines[-1] == "" and len(lines) == len(images) + 1, p.stdout
    names = imagenet_names()
    for image, probs, line in zip(images, expect, lines):
        assert JSON_LINE.match(line), line
        obj = json.loads(line)
        assert list(obj) == ["image", "predictions"] and obj["image"] == image, obj
        preds = obj["predictions"]
        assert len(preds) == 3
        order = list(np.argsort(-probs, kind="stable")[:3])
        assert [q["index"] for q in preds] == order, (preds, order)
        for q in preds:
            assert list(q) == ["class", "index", "percentage_probability"], q
            assert q["class"] == names[q["index"]]
            want = 100.0 * float(probs[q["index"]])
            assert abs(q["percentage_probability"] - want) <= 1e-5 * want, (q, want)


@test
def text_format_and_top():
    image = png("giraffe")
    probs = base("giraffe")
    order = np.argsort(-probs, kind="stable")
    names = imagenet_names()
    p = predict("--top", 7, image)
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert lines[0] == image + ":" and len(lines) == 8, p.stdout
    for k, line in enumerate(lines[1:]):
        m = TEXT_RANK.match(line)
        assert m, line
        assert int(m.group(1)) == k + 1
        assert m.group(2) == names[order[k]], (m.group(2), names[order[k]])
        assert abs(float(m.group(3)) - 100 * probs[order[k]]) <= 5.1e-5, line
    # more than the class count lists every class once, in descending order
    p = predict("--json", "--top", 5000, image)
    assert p.returncode == 0, p.stderr
    preds = json.loads(p.stdout)["predictions"]
    assert [x["index"] for x in preds] == list(order), [x["index"] for x in preds[:10]]
    pct = [x["percentage_probability"] for x in preds]
    assert abs(sum(pct) - 100) < 1e-3, sum(pct)


@test
def classes_from_text_file_and_model_class_json():
    image = png("horses")
    order = list(np.argsort(-base("horses"), kind="stable")[:5])
    text = os.path.join(TMP, "classes.txt")
    with open(text, "w") as f:  # CRLF line ends and a trailing blank line are tolerated
        f.write("".join("name %d\r\n" % i for i in range(1000)) + "\r\n")
    mapping = os.path.join(TMP, "model_class_1000.json")
    keys = list(range(1000))
    np.random.default_rng(3).shuffle(keys)  # keys out of order: names go by key
    with open(mapping, "w") as f:
        json.dump({str(k): "label-%d" % k for k in keys}, f)
    for path, fmt in ((text, "name %d"), (mapping, "label-%d")):
        p = predict("--json", "--classes", path, image)  # default --top is 5
        assert p.returncode == 0, p.stderr
        preds = json.loads(p.stdout)["predictions"]
        assert [q["index"] for q in preds] == order, (preds, order)
        assert [q["class"] for q in preds] == [fmt % i for i in order], preds


# -------------------------------------------------------------- determinism, files --

@test
def one_and_two_threads_are_bitwise_identical():
    names = ["dog", "person"]
    d = os.path.join(TMP, "dump-threads2")
    p = predict("--dump-output", d, *[png(n) for n in names], threads=2)
    assert p.returncode == 0, p.stderr
    for n in names:
        one, two = base(n), dumped(d, png(n))[0]
        assert one.tobytes() == two.tobytes(), (
            "%s: 1 and 2 threads differ by up to %.3g (the summation order depends on the "
            "thread count)" % (n, np.max(np.abs(one - two))))


@test
def weight_file_variants_give_identical_outputs():
    """The same seeded weights written as other Keras and h5py versions write them give
    the same outputs as the plain file. Options are paired to keep the run short (each
    file takes seconds to make): every option is still exercised."""
    image = png("person")
    plain = base("person")
    for extra in (["--scheme", "tf-keras", "--vlen-strings"],
                  ["--scheme", "keras-apps-v1", "--split", "50"],  # old names: by position
                  ["--float64"]):
        path = weights(*extra)
        d = os.path.join(TMP, "dump-variant" + "".join(extra))
        p = predict("--weights", path, "--dump-output", d, image)
        os.remove(path)  # 100-200 MB each
        assert p.returncode == 0, "%s: %s" % (extra, p.stderr)
        got = dumped(d, image)[0]
        err = np.max(np.abs(got - plain))
        if "--float64" in extra:
            assert err <= 1e-6, err
            notes = [x for x in p.stderr.splitlines() if "stored as float64" in x]
            assert len(notes) == 1 and "320 weight(s)" in notes[0], notes[:3]  # one summary
        else:
            assert got.tobytes() == plain.tobytes(), (extra, err)


@test
def dump_output_creates_directories_and_valid_npy():
    base("dog")  # the base run dumped into a directory that did not exist
    assert sorted(os.listdir(BASE_DUMP)) == sorted(n + ".png.out0.npy" for n in BASE_PHOTOS)
    for n in BASE_PHOTOS:
        with open(os.path.join(BASE_DUMP, n + ".png.out0.npy"), "rb") as f:
            version = np.lib.format.read_magic(f)
            header = np.lib.format.read_array_header_1_0(f) if version == (1, 0) else \
                np.lib.format.read_array_header_2_0(f)
        assert header == ((1, 1000), False, np.dtype("<f4")), header
        y = dumped(BASE_DUMP, png(n))
        assert y.shape == (1, 1000) and y.dtype == np.float32
        assert np.all(y >= 0) and abs(float(y.sum()) - 1) < 1e-4, y.sum()
    blocker = os.path.join(TMP, "a-file")
    open(blocker, "w").close()
    assert_exit(predict("--dump-output", os.path.join(blocker, "sub"), png("dog")), 3, blocker)


@test
def dump_output_refuses_two_images_with_one_name():
    """a/x.png and b/x.png would both be dumped as DIR/x.png.out0.npy."""
    twin = os.path.join(TMP, "elsewhere", "dog.png")
    os.makedirs(os.path.dirname(twin), exist_ok=True)
    shutil.copy(png("eagle"), twin)
    p = predict("--dump-output", os.path.join(TMP, "dump-twins"), png("dog"), twin)
    assert_exit(p, 2, "dog.png", "same file name")
    assert not os.path.exists(os.path.join(TMP, "dump-twins", "dog.png.out0.npy"))


# ------------------------------------------------------------------------- errors --

@test
def usage_errors_exit_2():
    image = png("dog")
    cases = [
        (["--bogus", image], "--bogus"),
        (["--top", "0", image], "--top"),
        (["--top", "x", image], "--top"),
        (["--threads", "-1", image], "--threads"),
        (["--json"], "no image"),
        ([], "no image"),
        (["--preprocess", "imagenet", image], "imagenet"),
        ([image, "--top"], "--top"),
    ]
    for args, needle in cases:
        p = run_tool("predict", *args)
        assert_exit(p, 2, needle)
        assert p.stdout == "", (args, p.stdout)
    p = run_tool("predict", "--help")
    assert p.returncode == 0 and "usage: predict" in p.stdout


@test
def missing_default_weights_explains_where_to_get_them():
    """No --weights and no models/resnet50_imagenet_tf.2.0.h5: exit 3 with a download hint."""
    data = os.path.join(TMP, "datadir")
    os.makedirs(os.path.join(data, "models"), exist_ok=True)
    for f in ("resnet50.json", "imagenet_classes.json"):
        shutil.copy(os.path.join(ROOT, "models", f), os.path.join(data, "models", f))
    env = dict(os.environ, CNNRT_DATA_DIR=data)
    p = subprocess.run([os.path.abspath(tool("predict")), png("dog")], capture_output=True, text=True, env=env,
                       cwd=data)
    assert_exit(p, 3, "resnet50_imagenet_tf.2.0.h5", "https://", "--weights",
                "synthetic-weights")
    missing = os.path.join(TMP, "missing.h5")
    assert_exit(predict("--weights", missing, png("dog")), 3, missing)
    assert_exit(predict("--classes", os.path.join(TMP, "none.txt"), png("dog")), 3, "none.txt")


@test
def bad_images_are_reported_and_the_others_processed():
    good = [png("dog"), png("eagle")]
    bad = {}
    with open(good[0], "rb") as f:
        data = f.read()
    bad["truncated.png"] = data[: len(data) // 3]
    bad["empty.jpg"] = b""
    bad["text.jpg"] = b"this is not a picture\n"
    bad["noise.png"] = bytes(np.random.default_rng(5).integers(0, 256, 3000, dtype=np.uint8))
    bad["header-only.jpg"] = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00"
    paths = {}
    for name, content in bad.items():
        paths[name] = os.path.join(TMP, name)
        with open(paths[name], "wb") as f:
            f.write(content)
    paths["missing.png"] = os.path.join(TMP, "missing.png")
    args = [good[0]] + list(paths.values()) + [good[1]]
    d = os.path.join(TMP, "dump-bad")
    p = predict("--json", "--dump-output", d, *args)
    assert_exit(p, 3, *paths.values())
    lines = p.stdout.splitlines()
    assert [json.loads(x)["image"] for x in lines] == good, p.stdout
    assert sorted(os.listdir(d)) == sorted(os.path.basename(g) + ".out0.npy" for g in good)
    for name, g in zip(("dog", "eagle"), good):  # the bad files did not disturb the others
        assert dumped(d, g)[0].tobytes() == base(name).tobytes(), g
    errors = [x for x in p.stderr.splitlines() if ": error: " in x]
    assert len(errors) == len(paths), p.stderr
    for line in errors:
        assert "not a JPEG" in line or "damaged" in line or "empty" in line \
            or "No such file" in line, line


@test
def class_count_mismatch_exits_4_and_names_the_counts():
    five = os.path.join(TMP, "five-classes.txt")
    with open(five, "w") as f:
        f.write("chef\ndoctor\nengineer\nfarmer\nnurse\n")
    p = predict("--classes", five, png("dog"))
    assert_exit(p, 4, five)
    assert re.search(r"\b1000\b", p.stderr) and re.search(r"\b5\b", p.stderr), p.stderr
    assert p.stdout == ""


run()
