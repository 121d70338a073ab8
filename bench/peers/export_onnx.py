"""export_onnx.py - exports bench/peers/nets.py's network, filled from a Keras .h5, to
ONNX with Debian's PyTorch (torch.onnx.export, opset 12), for ONNX Runtime and OpenCV.

usage: /usr/bin/python3 export_onnx.py ARCH H5 CLASSES SIZE OUT.onnx
"""
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import nets  # noqa: E402


def main():
    arch, h5, classes, size, out = sys.argv[1:6]
    model = nets.build(arch, h5, int(classes))
    x = torch.zeros(1, 3, int(size), int(size))
    names = ["out0"] if arch == "resnet50" else ["out0", "out1", "out2"]
    with torch.no_grad():
        torch.onnx.export(model, x, out + ".tmp", opset_version=12, input_names=["input"],
                          output_names=names, do_constant_folding=True)
    os.replace(out + ".tmp", out)


if __name__ == "__main__":
    main()
