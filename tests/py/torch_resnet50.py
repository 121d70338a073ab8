"""torch_resnet50.py - an independent reference for `predict`: Keras ResNet50 in PyTorch and
Keras-style image preprocessing in NumPy.

Nothing here reads cnnrt's model JSON or shares code with the C runtime. The architecture is
written out from keras.applications' resnet50.py semantics (FORMATS.md section 2):

    input -> conv1_pad (3,3) -> conv1_conv 7x7/2 valid (bias) -> conv1_bn -> relu
          -> pool1_pad (1,1) zeros -> pool1_pool max 3x3/2 valid
          -> conv2..conv5 with [3, 4, 6, 3] bottleneck blocks, filters [64, 128, 256, 512]
          -> avg_pool (global mean) -> predictions (Dense, softmax)

Block convS_blockB: 1_conv 1x1 (stride s), 2_conv 3x3 TF "same", 3_conv 1x1 to 4f, each followed
by BN (eps 1.001e-5); block 1 has a projection 0_conv 1x1 (stride s) + 0_bn; add, then ReLU.
s = 2 for block 1 of stages 3..5, else 1.

Weights come from a Keras .h5 file (weights-only or full model), by layer name, each dataset
resolved through its layer's `weight_names` attribute; kernels (kh, kw, in, out) become torch
(out, in, kh, kw). The network runs in float64 by default so that it is a sharper reference
than the float32 runtime under test.

Usage as a script:  /usr/bin/python3 torch_resnet50.py WEIGHTS.h5 IMAGE.png [caffe|raw|tf|torch]
"""
import math
import sys

import cv2
import h5py
import numpy as np
import torch
import torch.nn.functional as F

BN_EPS = 1.001e-5
STAGES = [(2, 3, 64), (3, 4, 128), (4, 6, 256), (5, 3, 512)]  # (stage, blocks, filters)


# ------------------------------------------------------------------ preprocessing --

def load_image_rgb(path):
    """Decodes an image file with OpenCV as (H, W, 3) uint8 RGB (alpha dropped, grey
    replicated, as stb_image with 3 requested channels does)."""
    bgr = cv2.imread(path, cv2.IMREAD_COLOR)
    if bgr is None:
        raise IOError("%s: OpenCV cannot decode it" % path)
    return bgr[:, :, ::-1].copy()


def _axis_taps(src, dst):
    """Source indices i0, i1 and weight of i1 for each destination index, half-pixel
    centres: f = (d + 0.5) * src/dst - 0.5, clamped to the image (OpenCV INTER_LINEAR)."""
    f = (np.arange(dst, dtype=np.float64) + 0.5) * (src / dst) - 0.5
    f = np.clip(f, 0.0, src - 1.0)
    i0 = np.floor(f).astype(np.int64)
    i1 = np.minimum(i0 + 1, src - 1)
    return i0, i1, f - i0


def resize_bilinear(img, width, height):
    """(H, W, C) uint8/float -> (height, width, C) float64: bilinear, half-pixel centres,
    no antialiasing, no rounding."""
    x = img.astype(np.float64)
    y0, y1, wy = _axis_taps(x.shape[0], height)
    x0, x1, wx = _axis_taps(x.shape[1], width)
    wx = wx[None, :, None]
    top = x[y0][:, x0] * (1 - wx) + x[y0][:, x1] * wx
    bottom = x[y1][:, x0] * (1 - wx) + x[y1][:, x1] * wx
    wy = wy[:, None, None]
    return top * (1 - wy) + bottom * wy


def preprocess(rgb, mode):
    """Keras preprocess_input for (H, W, 3) RGB floats in 0..255; returns float64."""
    x = np.asarray(rgb, dtype=np.float64)
    if mode == "caffe":
        return x[:, :, ::-1] - np.array([103.939, 116.779, 123.68])
    if mode == "raw":
        return x.copy()
    if mode == "tf":
        return x / 127.5 - 1.0
    if mode == "torch":
        return (x / 255.0 - np.array([0.485, 0.456, 0.406])) / np.array([0.229, 0.224, 0.225])
    raise ValueError("unknown preprocessing mode %r" % mode)


def image_input(path, mode, size=224):
    """File -> (size, size, 3) float64 network input."""
    return preprocess(resize_bilinear(load_image_rgb(path), size, size), mode)


# ------------------------------------------------------------------------ weights --

def _as_str(v):
    return v.decode("utf-8") if isinstance(v, bytes) else str(v)


class KerasWeights:
    """The layer groups of a Keras 2 HDF5 file, looked up by layer name."""

    def __init__(self, path):
        self.file = h5py.File(path, "r")
        root = self.file
        if "layer_names" not in root.attrs and "model_weights" in root:
            root = root["model_weights"]  # full-model file (model.save)
        self.root = root

    def close(self):
        self.file.close()

    def layer(self, name):
        """Weights of one layer as float64 arrays, in `weight_names` order."""
        if name not in self.root:
            raise KeyError("%s: no layer group '%s'" % (self.file.filename, name))
        group = self.root[name]
        names = group.attrs.get("weight_names", [])
        return [np.asarray(group[_as_str(n)], dtype=np.float64) for n in names]


def _conv_params(w, name, dtype):
    arrays = w.layer(name)
    if len(arrays) != 2 or arrays[0].ndim != 4:
        raise ValueError("%s: expected a conv kernel and bias" % name)
    kernel = torch.from_numpy(arrays[0].transpose(3, 2, 0, 1).copy()).to(dtype)  # HWIO -> OIHW
    return kernel, torch.from_numpy(arrays[1]).to(dtype)


def _bn_params(w, name, dtype):
    arrays = w.layer(name)
    if len(arrays) != 4:
        raise ValueError("%s: expected gamma, beta, moving_mean, moving_variance" % name)
    return [torch.from_numpy(a).to(dtype) for a in arrays]


# ------------------------------------------------------------------------ network --

def _same_pad(x, k, s):
    """TF 'same' padding for a k x k window at stride s: extra row/column bottom/right."""
    pads = []
    for size in (x.shape[3], x.shape[2]):  # F.pad wants (left, right, top, bottom)
        out = math.ceil(size / s)
        total = max((out - 1) * s + k - size, 0)
        pads += [total // 2, total - total // 2]
    return F.pad(x, pads)


class ResNet50:
    """Keras ResNet50 with weights from an .h5 file. Call with an (H, W, 3) input array
    (already preprocessed); returns the softmax probabilities as a float64 vector."""

    def __init__(self, h5_path, dtype=torch.float64):
        self.dtype = dtype
        self.conv = {}
        self.bn = {}
        w = KerasWeights(h5_path)
        try:
            for name in self._conv_names():
                self.conv[name] = _conv_params(w, name + "_conv", dtype)
                self.bn[name] = _bn_params(w, name + "_bn", dtype)
            kernel, bias = w.layer("predictions")
            self.dense = (torch.from_numpy(kernel).to(dtype), torch.from_numpy(bias).to(dtype))
        finally:
            w.close()

    @staticmethod
    def _conv_names():
        yield "conv1"
        for stage, blocks, _ in STAGES:
            for b in range(1, blocks + 1):
                for i in ([0] if b == 1 else []) + [1, 2, 3]:
                    yield "conv%d_block%d_%d" % (stage, b, i)

    def _conv_bn(self, x, name, stride=1, padding="valid", relu=True):
        kernel, bias = self.conv[name]
        k = kernel.shape[2]
        if padding == "same":
            x = _same_pad(x, k, stride)
        x = F.conv2d(x, kernel, bias, stride=stride)
        gamma, beta, mean, var = self.bn[name]
        shape = (1, -1, 1, 1)
        x = gamma.view(shape) * (x - mean.view(shape)) / torch.sqrt(var.view(shape) + BN_EPS) \
            + beta.view(shape)
        return F.relu(x) if relu else x

    def _block(self, x, stage, block, stride):
        name = "conv%d_block%d" % (stage, block)
        if block == 1:
            shortcut = self._conv_bn(x, name + "_0", stride, relu=False)
        else:
            shortcut = x
        y = self._conv_bn(x, name + "_1", stride)
        y = self._conv_bn(y, name + "_2", 1, padding="same")
        y = self._conv_bn(y, name + "_3", 1, relu=False)
        return F.relu(shortcut + y)

    def logits_and_probs(self, image):
        x = torch.from_numpy(np.ascontiguousarray(image)).to(self.dtype)
        x = x.permute(2, 0, 1).unsqueeze(0)  # (1, 3, H, W)
        with torch.no_grad():
            x = F.pad(x, (3, 3, 3, 3))  # conv1_pad
            x = self._conv_bn(x, "conv1", 2)
            x = F.pad(x, (1, 1, 1, 1))  # pool1_pad: zeros (inputs are >= 0 after ReLU)
            x = F.max_pool2d(x, 3, 2)
            for stage, blocks, _ in STAGES:
                for b in range(1, blocks + 1):
                    x = self._block(x, stage, b, 2 if (b == 1 and stage > 2) else 1)
            x = x.mean(dim=(2, 3))  # avg_pool: (1, 2048)
            kernel, bias = self.dense
            logits = x @ kernel + bias
            probs = torch.softmax(logits, dim=1)
        return logits[0].numpy().astype(np.float64), probs[0].numpy().astype(np.float64)

    def __call__(self, image):
        return self.logits_and_probs(image)[1]


def main(argv):
    if len(argv) < 3:
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    mode = argv[3] if len(argv) > 3 else "caffe"
    probs = ResNet50(argv[1])(image_input(argv[2], mode))
    for i in np.argsort(-probs, kind="stable")[:5]:
        print("%4d %.6f" % (i, probs[i]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
