"""py_worker.py - PyTorch and OpenCV DNN peers for bench/compare.

usage: /usr/bin/python3 py_worker.py torch  ARCH H5 CLASSES INPUT.bin C H W THREADS
       /usr/bin/python3 py_worker.py opencv ARCH MODEL_FILE[,CFG] CLASSES INPUT.bin C H W THREADS
  torch:  builds bench/peers/nets.py's network from the .h5 (eager mode, oneDNN)
  opencv: ARCH resnet50 reads an ONNX file (cv2.dnn.readNetFromONNX); ARCH yolov3 reads
          Darknet WEIGHTS,CFG (cv2.dnn.readNetFromDarknet) and returns the three output
          convs (the layers before the [yolo] layers), not the decoded boxes.
Commands on stdin and replies on stdout as in ort_worker.js: run N, dump PREFIX, quit.
"""
import json
import os
import resource
import sys
import time

import numpy as np


def reply(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def torch_peer(arch, h5, classes, x, threads):
    import torch
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import nets
    torch.set_num_threads(threads)
    model = nets.build(arch, h5, classes)
    xt = torch.from_numpy(x)

    def forward():
        with torch.inference_mode():
            y = model(xt)
        return [t.numpy() for t in (y if isinstance(y, tuple) else (y,))]

    return forward, "torch " + torch.__version__


def opencv_peer(arch, files, x, threads):
    import cv2
    cv2.setNumThreads(threads)
    if arch == "resnet50":
        net = cv2.dnn.readNetFromONNX(files)
        names = net.getUnconnectedOutLayersNames()
    else:
        weights, cfg = files.split(",")
        net = cv2.dnn.readNetFromDarknet(cfg, weights)
        layer_names = net.getLayerNames()
        # the [yolo] layers' inputs: the linear output convs (OpenCV may put a permute
        # layer between them)
        names = []
        for yolo in net.getUnconnectedOutLayersNames():
            idx = layer_names.index(yolo) - 1
            while not layer_names[idx].startswith("conv_"):
                idx -= 1
            names.append(layer_names[idx])
    net.setPreferableBackend(cv2.dnn.DNN_BACKEND_OPENCV)
    net.setPreferableTarget(cv2.dnn.DNN_TARGET_CPU)

    def forward():
        net.setInput(x)
        return [np.array(o) for o in net.forward(list(names))]

    return forward, "opencv " + cv2.__version__


def main():
    peer, arch, files, classes, inp, c, h, w, threads = sys.argv[1:10]
    x = np.fromfile(inp, dtype=np.float32).reshape(1, int(c), int(h), int(w))
    t0 = time.perf_counter()
    if peer == "torch":
        forward, version = torch_peer(arch, files, int(classes), x, int(threads))
    else:
        forward, version = opencv_peer(arch, files, x, int(threads))
    forward()  # OpenCV builds its network on the first forward: count it as loading
    reply({"ready": True, "load_ms": (time.perf_counter() - t0) * 1e3, "version": version})
    for line in sys.stdin:
        parts = line.split()
        if not parts:
            continue
        if parts[0] == "run":
            times = []
            for _ in range(int(parts[1])):
                s = time.perf_counter()
                forward()
                times.append((time.perf_counter() - s) * 1e3)
            reply({"times_ms": times})
        elif parts[0] == "dump":
            outs = forward()
            for i, o in enumerate(outs):
                np.ascontiguousarray(o, dtype=np.float32).tofile(parts[1] + "%d.bin" % i)
            reply({"outputs": [list(o.shape[1:]) for o in outs]})
        elif parts[0] == "quit":
            reply({"rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024})
            break
        else:
            reply({"error": "unknown command " + parts[0]})


if __name__ == "__main__":
    main()
