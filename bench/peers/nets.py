"""nets.py - the benchmark's peer networks, written independently of cnnrt's C code.

ResNet50 (Keras applications layout) and YOLOv3 (Darknet-53 + three heads, keras-yolo3
layout) as PyTorch modules filled from a Keras .h5 weights file by layer name.

These are minimal stand-alone versions for bench/compare (other test helpers may carry
their own in tests/py). Tensors here are NCHW; Keras kernels (kh, kw, cin, cout) become
PyTorch (cout, cin, kh, kw).
"""
import numpy as np
import torch
from torch import nn
import torch.nn.functional as F

from keras_files import read_keras_h5


def _set_conv(conv, arrays):
    kernel = arrays[0]
    conv.weight.data = torch.from_numpy(np.ascontiguousarray(kernel.transpose(3, 2, 0, 1)))
    if len(arrays) > 1:
        conv.bias.data = torch.from_numpy(arrays[1])


def _set_bn(bn, arrays):
    gamma, beta, mean, var = arrays
    bn.weight.data = torch.from_numpy(gamma)
    bn.bias.data = torch.from_numpy(beta)
    bn.running_mean.data = torch.from_numpy(mean)
    bn.running_var.data = torch.from_numpy(var)


# -------------------------------------------------------------------- ResNet50 --

class _Bottleneck(nn.Module):
    """Keras v2 block: 1x1 (stride s) -> 3x3 -> 1x1 (4f), shortcut 1x1 (stride s) on
    the first block of a stage; every conv has a bias; BN eps 1.001e-5."""

    def __init__(self, prefix, cin, f, stride, project):
        super().__init__()
        self.prefix = prefix
        eps = 1.001e-5
        self.c1 = nn.Conv2d(cin, f, 1, stride)
        self.b1 = nn.BatchNorm2d(f, eps=eps)
        self.c2 = nn.Conv2d(f, f, 3, 1, padding=1)
        self.b2 = nn.BatchNorm2d(f, eps=eps)
        self.c3 = nn.Conv2d(f, 4 * f, 1)
        self.b3 = nn.BatchNorm2d(4 * f, eps=eps)
        self.c0 = nn.Conv2d(cin, 4 * f, 1, stride) if project else None
        self.b0 = nn.BatchNorm2d(4 * f, eps=eps) if project else None

    def load(self, w):
        p = self.prefix
        for k in ("1", "2", "3") + (("0",) if self.c0 is not None else ()):
            _set_conv(getattr(self, "c" + k), w[p + k + "_conv"])
            _set_bn(getattr(self, "b" + k), w[p + k + "_bn"])

    def forward(self, x):
        y = F.relu(self.b1(self.c1(x)))
        y = F.relu(self.b2(self.c2(y)))
        y = self.b3(self.c3(y))
        s = self.b0(self.c0(x)) if self.c0 is not None else x
        return F.relu(y + s)


class ResNet50(nn.Module):
    def __init__(self, classes=1000):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, 2, padding=3)
        self.bn1 = nn.BatchNorm2d(64, eps=1.001e-5)
        blocks = []
        cin = 64
        for stage, (f, n) in enumerate(zip((64, 128, 256, 512), (3, 4, 6, 3)), start=2):
            for b in range(1, n + 1):
                stride = 2 if (b == 1 and stage > 2) else 1
                blocks.append(_Bottleneck("conv%d_block%d_" % (stage, b), cin, f, stride, b == 1))
                cin = 4 * f
        self.blocks = nn.ModuleList(blocks)
        self.fc = nn.Linear(2048, classes)

    def load(self, w):
        _set_conv(self.conv1, w["conv1_conv"])
        _set_bn(self.bn1, w["conv1_bn"])
        for b in self.blocks:
            b.load(w)
        kernel, bias = w["predictions"]
        self.fc.weight.data = torch.from_numpy(np.ascontiguousarray(kernel.T))
        self.fc.bias.data = torch.from_numpy(bias)
        return self

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        # Keras pads with zeros before the max pool; after a ReLU that equals -inf padding
        x = F.max_pool2d(x, 3, 2, padding=1)
        for b in self.blocks:
            x = b(x)
        x = torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)
        return F.softmax(self.fc(x), dim=1)


# ---------------------------------------------------------------------- YOLOv3 --

class _ConvBN(nn.Module):
    """Darknet [convolutional]: conv (no bias) + BN (eps 1e-3, Keras) + leaky 0.1, or a
    plain linear conv with bias (the three output convs)."""

    def __init__(self, index, cin, cout, k, stride=1, bn=True):
        super().__init__()
        self.index = index  # 1-based, cfg order == keras-yolo3's conv2d_<index>
        # stride 2: keras-yolo3 pads ((1,0),(1,0)) and convolves 'valid'; for even
        # sizes that is the same as Darknet's symmetric padding of 1
        self.conv = nn.Conv2d(cin, cout, k, stride, padding=k // 2, bias=not bn)
        self.bn = nn.BatchNorm2d(cout, eps=1e-3) if bn else None

    def forward(self, x):
        x = self.conv(x)
        return F.leaky_relu(self.bn(x), 0.1) if self.bn is not None else x


class YOLOv3(nn.Module):
    """Layer order follows yolov3.cfg: conv i is keras-yolo3's conv2d_i."""

    def __init__(self, classes=80):
        super().__init__()
        self.convs = []
        self.out_channels = 3 * (5 + classes)

        def conv(cin, cout, k, stride=1, bn=True):
            c = _ConvBN(len(self.convs) + 1, cin, cout, k, stride, bn)
            self.convs.append(c)
            return c

        # Darknet-53: a list of ("conv", module) / ("res", (a, b)) in order
        self.backbone = []
        c = conv(3, 32, 3)
        self.backbone.append(("conv", c))
        cin = 32
        for f, n in ((64, 1), (128, 2), (256, 8), (512, 8), (1024, 4)):
            self.backbone.append(("conv", conv(cin, f, 3, 2)))
            for _ in range(n):
                self.backbone.append(("res", (conv(f, f // 2, 1), conv(f // 2, f, 3))))
            self.backbone.append(("mark", f))
            cin = f

        def head(cin, f):
            five = [conv(cin, f, 1), conv(f, 2 * f, 3), conv(2 * f, f, 1), conv(f, 2 * f, 3),
                    conv(2 * f, f, 1)]
            return five, conv(f, 2 * f, 3), conv(2 * f, self.out_channels, 1, bn=False)

        self.h1 = head(1024, 512)
        self.u1 = conv(512, 256, 1)
        self.h2 = head(256 + 512, 256)
        self.u2 = conv(256, 128, 1)
        self.h3 = head(128 + 256, 128)
        self.modules_ = nn.ModuleList(self.convs)  # registers parameters
        assert len(self.convs) == 75

    def load(self, w):
        bn_index = 0
        for c in self.convs:
            _set_conv(c.conv, w["conv2d_%d" % c.index])
            if c.bn is not None:
                bn_index += 1
                _set_bn(c.bn, w["batch_normalization_%d" % bn_index])
        return self

    def forward(self, x):
        skips = {}
        for kind, m in self.backbone:
            if kind == "conv":
                x = m(x)
            elif kind == "res":
                x = x + m[1](m[0](x))
            else:
                skips[m] = x
        outs = []
        for i, (five, c3, out) in enumerate((self.h1, self.h2, self.h3)):
            if i == 1:
                x = torch.cat([F.interpolate(self.u1(x), scale_factor=2, mode="nearest"), skips[512]], 1)
            elif i == 2:
                x = torch.cat([F.interpolate(self.u2(x), scale_factor=2, mode="nearest"), skips[256]], 1)
            for m in five:
                x = m(x)
            outs.append(out(c3(x)))
        return tuple(outs)


def build(arch, h5_path, classes):
    """An eval-mode PyTorch model of arch ('resnet50' or 'yolov3') with h5's weights."""
    w = read_keras_h5(h5_path)
    model = ResNet50(classes) if arch == "resnet50" else YOLOv3(classes)
    model.load(w)
    return model.eval()
