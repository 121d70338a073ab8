"""test_bench.py - the `bench` tool: its JSON keys and their consistency, the per-layer
table, the flop count against one computed here from the model JSON, and usage errors.
No assertion on how long anything takes."""
import json
import math
import os
import subprocess

import numpy as np

from harness import ROOT, TMP, run, run_tool, synthetic_weights, test, tool

RESNET = os.path.join(ROOT, "models", "resnet50.json")
SIZE = 64
WEIGHTS = os.path.join(TMP, "resnet50-64.h5")
KEYS = ("median_ms", "min_ms", "p90_ms", "load_ms", "peak_rss_mb", "first_run_ms", "mean_ms",
        "max_ms", "images_per_s", "gflop_per_image", "gflops", "peak_gflops", "pct_peak",
        "arena_mb", "scratch_mb", "threads", "times_ms", "cpu", "cores", "isa")


def weights():
    return synthetic_weights("resnet50.json", WEIGHTS, "--size", str(SIZE))


def bench_json(*args):
    p = run_tool("bench", "--model", RESNET, "--size", SIZE, "--json", *args, check=True)
    lines = [line for line in p.stdout.splitlines() if line.strip()]
    assert len(lines) == 1, "expected one JSON line, got:\n" + p.stdout
    return json.loads(lines[0])


def resnet_gflop(size):
    """2 * multiply-adds of every Conv2D and Dense of models/resnet50.json at this size,
    from a shape walk over the JSON written here (independent of cnnrt's planner)."""
    layers = json.load(open(RESNET))["layers"]
    shape = {}
    flops = 0.0
    for layer in layers:
        cls, cfg = layer["class_name"], layer["config"]
        ins = [shape[i] for i in layer["inputs"]]
        if cls == "InputLayer":
            out = (size, size, 3)
        elif cls == "ZeroPadding2D":
            (t, b), (lft, r) = cfg["padding"]
            h, w, c = ins[0]
            out = (h + t + b, w + lft + r, c)
        elif cls in ("Conv2D", "MaxPooling2D"):
            k = cfg["kernel_size"] if cls == "Conv2D" else cfg["pool_size"]
            s = cfg["strides"]
            h, w, c = ins[0]
            if cfg["padding"] == "same":
                oh, ow = math.ceil(h / s[0]), math.ceil(w / s[1])
            else:
                oh, ow = (h - k[0]) // s[0] + 1, (w - k[1]) // s[1] + 1
            if cls == "Conv2D":
                out = (oh, ow, cfg["filters"])
                flops += 2.0 * oh * ow * cfg["filters"] * k[0] * k[1] * c
            else:
                out = (oh, ow, c)
        elif cls == "GlobalAveragePooling2D":
            out = (1, 1, ins[0][2])
        elif cls == "Dense":
            units = 1000 if cfg["units"] == "classes" else cfg["units"]
            out = (1, 1, units)
            flops += 2.0 * ins[0][2] * units
        else:  # BatchNormalization, Activation, Add: shape of the first input
            out = ins[0]
        shape[layer["name"]] = out
    return flops * 1e-9


@test
def json_has_documented_keys_with_sane_values():
    r = bench_json("--weights", weights(), "--iters", 2, "--warmup", 1)
    for k in KEYS:
        assert k in r, "key %s missing from %s" % (k, sorted(r))
    assert r["input"] == [SIZE, SIZE, 3]
    assert r["iters"] == 2 and r["warmup"] == 1 and len(r["times_ms"]) == 2
    assert 0 < r["min_ms"] <= r["median_ms"] <= r["p90_ms"] <= r["max_ms"]
    assert r["min_ms"] == min(r["times_ms"]) and r["max_ms"] == max(r["times_ms"])
    assert abs(r["median_ms"] - sum(r["times_ms"]) / 2) < 0.01  # median of two runs
    assert r["load_ms"] > 0 and r["first_run_ms"] > 0
    assert abs(r["images_per_s"] - 1000.0 / r["median_ms"]) < 1e-2 * r["images_per_s"]
    assert abs(r["gflops"] - r["gflop_per_image"] / (r["median_ms"] * 1e-3)) < 1e-2 * r["gflops"]
    assert abs(r["pct_peak"] - 100 * r["gflops"] / r["peak_gflops"]) < 0.05
    assert r["threads"] >= 1 and r["cores"] >= 1 and r["peak_gflops"] > 0
    # the process holds at least the arena and scratch, and less than 4 GiB at this size
    assert r["arena_mb"] > 0 and r["arena_mb"] + r["scratch_mb"] < r["peak_rss_mb"] < 4096
    assert r["weights"] == WEIGHTS


@test
def flop_count_matches_the_model_json():
    r = bench_json("--weights", weights(), "--iters", 1, "--warmup", 0)
    want = resnet_gflop(SIZE)
    assert abs(r["gflop_per_image"] - want) < 1e-3 * want, (r["gflop_per_image"], want)
    # and at 224 the known figure for Keras ResNet50: 3.86-3.87 GMAC
    assert 7.7 < resnet_gflop(224) < 7.8


@test
def synthetic_weights_by_default_and_options_apply():
    # at size 32 (the smallest ResNet50 takes) to keep the in-memory generation short
    p = run_tool("bench", "--model", RESNET, "--size", 32, "--json", "--iters", 2, "--warmup", 0,
                 "--threads", 1, "--peak-gflops", 10, check=True)
    r = json.loads(p.stdout)
    assert r["weights"] == "synthetic" and r["input"] == [32, 32, 3]
    assert r["threads"] == 1
    assert abs(r["peak_gflops"] - 10.0) < 1e-6
    # 100 * gflops / (10 * 1 thread); both printed to 2 decimals: 10 * 0.005 + 0.005
    assert abs(r["pct_peak"] - 10 * r["gflops"]) <= 0.0551, (r["pct_peak"], r["gflops"])


@test
def per_layer_table_shares_sum_to_100():
    p = run_tool("bench", "--model", RESNET, "--size", SIZE, "--weights", weights(), "--iters", 2,
                 "--warmup", 0, "--per-layer", check=True)
    lines = p.stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("step "))
    shares, steps = [], 0
    for line in lines[start + 1:]:
        if not line.strip():
            break
        fields = line.split()
        assert fields[-1].endswith("%"), line
        shares.append(float(fields[-1][:-1]))
        ms, gflops = float(fields[-3]), float(fields[-2])
        assert ms >= 0 and gflops >= 0, line
        steps += 1
    assert steps >= 54, "expected a row per step (53 convs + dense + pools), got %d" % steps
    assert abs(sum(shares) - 100.0) < 1.0, sum(shares)
    assert "By kind:" in p.stdout and " conv " in p.stdout


@test
def per_layer_json_adds_up():
    r = bench_json("--weights", weights(), "--iters", 2, "--warmup", 0, "--per-layer")
    layers = r["layers"]
    assert r["profiled_runs"] == 2
    assert abs(sum(layer["share"] for layer in layers) - 100.0) < 0.1
    assert abs(sum(layer["gflop"] for layer in layers) - r["gflop_per_image"]) < 1e-3
    convs = [layer for layer in layers if layer["kind"] == "conv"]
    assert len(convs) == 53 and all("conv" in c["label"] for c in convs)


@test
def bad_options_exit_2():
    for args in (["--iters", "0"], ["--bogus"], ["--threads", "x"], ["--size", "abc"],
                 ["--warmup", "-1"], ["--peak-gflops", "-3"], ["--iters"],
                 ["--weights", "w.h5", "--seed", "5"]):
        p = run_tool("bench", *args)
        assert p.returncode == 2, (args, p.returncode, p.stderr)
        assert "bench: error:" in p.stderr and p.stdout == "", (args, p.stderr)


@test
def bad_files_exit_3():
    p = run_tool("bench", "--model", os.path.join(TMP, "missing.json"))
    assert p.returncode == 3 and "missing.json" in p.stderr, p.stderr
    bad = os.path.join(TMP, "short.npy")
    np.save(bad, np.zeros(2, np.float32))
    p = run_tool("bench", "--model", RESNET, "--size", SIZE, "--weights", weights(), "--input", bad)
    assert p.returncode == 3 and "short.npy" in p.stderr and "holds 2 values" in p.stderr, p.stderr


@test
def help_exits_0():
    p = run_tool("bench", "--help")
    assert p.returncode == 0 and "--per-layer" in p.stdout and "--json" in p.stdout


@test
def serve_answers_the_worker_protocol():
    """bench --serve (bench/compare's cnnrt worker): a ready line, then one JSON reply per
    command; an unknown command is an error reply and the worker goes on; quit reports
    the peak RSS and exits 0."""
    p = subprocess.run([tool("bench"), "--model", RESNET, "--size", str(SIZE), "--weights", weights(),
                        "--threads", "2", "--serve"], input="run 3\nrun 0\nfly\nrun 1\nquit\n",
                       capture_output=True, text=True, cwd=ROOT)
    assert p.returncode == 0, p.stderr
    replies = [json.loads(line) for line in p.stdout.splitlines()]
    assert len(replies) == 6, p.stdout
    assert replies[0]["ready"] is True and replies[0]["load_ms"] > 0, replies[0]
    assert len(replies[1]["times_ms"]) == 3 and all(t > 0 for t in replies[1]["times_ms"]), replies[1]
    assert "error" in replies[2] and "error" in replies[3], replies[2:4]
    assert len(replies[4]["times_ms"]) == 1, replies[4]
    assert replies[5]["rss_mb"] > 10, replies[5]


@test
def compare_documents_installs_and_rejects_bad_models():
    script = os.path.join(ROOT, "bench", "compare")
    p = subprocess.run(["/usr/bin/python3", script, "--help"], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    for words in ("npm install --ignore-scripts", "apt-get install", "onnxruntime-node", "darknet"):
        assert words in p.stdout, words
    for bad in (["--models", "vgg16:224"], ["--models", "yolov3:100"], ["--peers", "tflite"]):
        p = subprocess.run(["/usr/bin/python3", script] + bad, capture_output=True, text=True)
        assert p.returncode == 2 and "error" in p.stderr, (bad, p.returncode, p.stderr)


run()
