"""Damaged HDF5 files never crash a tool (issue 4, ../shared/RELIABILITY.md).

HDF5 1.10.8 itself crashes on some corrupt structures; cnnrt reads a file's structure
in a child process first and reports a crash there as a damaged file. This test mutates
a small Keras file at random (fixed seed, so the corpus is the same every run) and
checks that `inspect` always exits with a status and a message, never by a signal.
"""
import json
import os
import random

from harness import TMP, run, run_tool, test

MODEL = {
    "params": {"size": 8},
    "layers": [
        {"name": "input_1", "class_name": "InputLayer",
         "config": {"batch_input_shape": [None, 8, 8, 3]}},
        {"name": "conv2d_1", "class_name": "Conv2D",
         "config": {"filters": 4, "kernel_size": 3, "padding": "same"}, "inputs": ["input_1"]},
        {"name": "batch_normalization_1", "class_name": "BatchNormalization",
         "inputs": ["conv2d_1"]},
        {"name": "dense_1", "class_name": "Dense", "config": {"units": 2},
         "inputs": ["batch_normalization_1"]},
    ],
    "outputs": ["dense_1"],
}


def small_file(*extra):
    model = os.path.join(TMP, "tiny.json")
    with open(model, "w") as f:
        json.dump(MODEL, f)
    out = os.path.join(TMP, "tiny%s.h5" % "".join(extra))
    run_tool("synthetic-weights", "--model", model, "--out", out, *extra, check=True)
    return model, out


def mutate_and_check(path, model, seed, count):
    data = open(path, "rb").read()
    rng = random.Random(seed)
    damaged = 0
    for i in range(count):
        b = bytearray(data)
        for _ in range(rng.randint(1, 8)):
            b[rng.randrange(len(b))] = rng.randrange(256)
        m = os.path.join(TMP, "mutant.h5")
        with open(m, "wb") as f:
            f.write(b)
        for args in (["inspect", m], ["inspect", m, "--model", model]):
            p = run_tool(*args)
            assert p.returncode >= 0, "mutant %d (seed %d): %s died from signal %d\n%s" % (
                i, seed, args[0], -p.returncode, p.stderr[-2000:])
            assert p.returncode in (0, 3, 4), (i, p.returncode, p.stderr[-500:])
            assert "HDF5-DIAG" not in p.stderr, p.stderr[-500:]
            assert "ERROR: AddressSanitizer" not in p.stderr, p.stderr[-3000:]
            if "HDF5 library crashed" in p.stderr + p.stdout or "HDF5 library failed" in p.stderr:
                damaged += 1
    return damaged


@test
def mutated_files_never_crash_fixed_strings():
    model, path = small_file()
    mutate_and_check(path, model, 11, 60)


@test
def mutated_files_never_crash_variable_length_strings():
    # variable-length strings live in the global heap, where HDF5 1.10.8 crashes on
    # damage (H5HG_read): the probe must turn those into a "damaged" error
    model, path = small_file("--vlen-strings")
    damaged = mutate_and_check(path, model, 1, 120)
    print("    %d of 240 runs hit an HDF5 crash that the probe reported as damage" % damaged)


run()
