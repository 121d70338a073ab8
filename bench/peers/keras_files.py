"""keras_files.py - reads Keras .h5 weights and writes the same numbers as Darknet
.cfg/.weights files (for OpenCV DNN and Darknet in bench/compare). numpy + h5py only."""
import os
import struct

import h5py
import numpy as np


# ------------------------------------------------------------------ .h5 reading --

def read_keras_h5(path):
    """{layer name: [arrays in weight_names order]} for every layer with weights."""
    out = {}
    with h5py.File(path, "r") as f:
        root = f
        if "layer_names" not in f.attrs and "model_weights" in f:
            root = f["model_weights"]
        for name in root.keys():
            g = root[name]
            names = g.attrs.get("weight_names", [])
            arrays = []
            for wn in names:
                wn = wn.decode() if isinstance(wn, bytes) else str(wn)
                arrays.append(np.array(g[wn], dtype=np.float32))
            if arrays:
                out[name] = arrays
    return out


# -------------------------------------------------------------- Darknet files --

def write_darknet_cfg(src_cfg, dst_cfg, size, classes=80):
    """Copies Darknet's yolov3.cfg with batch 1 and the given input size and classes."""
    lines = []
    section = None
    for line in open(src_cfg):
        s = line.strip()
        if s.startswith("["):
            section = s
        key = s.split("=")[0].strip()
        if section == "[net]" and key in ("batch", "subdivisions"):
            line = "%s=1\n" % key
        elif section == "[net]" and key in ("width", "height"):
            line = "%s=%d\n" % (key, size)
        elif section == "[yolo]" and key == "classes":
            line = "classes=%d\n" % classes
        elif section == "[convolutional]" and key == "filters" and s.endswith("=255"):
            line = "filters=%d\n" % (3 * (5 + classes))
        lines.append(line)
    with open(dst_cfg + ".tmp", "w") as f:
        f.writelines(lines)
    os.replace(dst_cfg + ".tmp", dst_cfg)


YOLOV3_OUTPUT_CONVS = (59, 67, 75)  # linear convs with bias, no BatchNorm


def write_darknet_weights(w, path, bn_style, n_convs=75, output_convs=YOLOV3_OUTPUT_CONVS):
    """Writes keras-yolo3 weights w (read_keras_h5) as a Darknet .weights file: conv i of
    the cfg is conv2d_i; the BatchNorms are numbered over the convs that have one.

    BN variances are adjusted so that the reader's BN formula gives Keras's
    gamma * (x - mean) / sqrt(var + 1e-3) + beta:
      bn_style 'darknet': Darknet divides by sqrt(var') + 1e-6
      bn_style 'opencv':  OpenCV's Darknet importer divides by sqrt(var' + 1e-6)
    """
    with open(path + ".tmp", "wb") as f:
        f.write(struct.pack("<iiiq", 0, 2, 0, 0))  # major, minor, revision, seen (int64)
        bn_index = 0
        for i in range(1, n_convs + 1):
            conv = w["conv2d_%d" % i]
            kernel = conv[0].transpose(3, 2, 0, 1)  # (kh,kw,cin,cout) -> (cout,cin,kh,kw)
            if i in output_convs:
                f.write(conv[1].astype("<f4").tobytes())
            else:
                bn_index += 1
                gamma, beta, mean, var = w["batch_normalization_%d" % bn_index]
                denom = np.sqrt(var.astype(np.float64) + 1e-3)
                var2 = (denom - 1e-6) ** 2 if bn_style == "darknet" else denom ** 2 - 1e-6
                for a in (beta, gamma, mean, var2):
                    f.write(np.asarray(a).astype("<f4").tobytes())
            f.write(np.ascontiguousarray(kernel).astype("<f4").tobytes())
    os.replace(path + ".tmp", path)
