#!/usr/bin/env python3
"""Writes the model JSONs in models/ (resnet50.json, yolov3.json, yolov3-tiny.json).

Each JSON lists one node per Keras layer, in the order the original Keras code
creates them, with the names Keras gives them, so that names and the Keras
model.layers order line up with real weight files:
  - ResNet50: keras.applications (keras-applications >= 1.0.7 / tf.keras) names;
  - YOLOv3 / TinyYOLOv3: qqwweee/keras-yolo3 model.py (yolo_body, tiny_yolo_body),
    auto-named as standalone Keras 2.x names them (conv2d_1, batch_normalization_1, ...).
Run from the repository root: python3 tools/make_model_json.py
"""
import json
import os
from collections import defaultdict


class Builder:
    def __init__(self):
        self.layers = []
        self.counters = defaultdict(int)

    def auto(self, prefix):
        self.counters[prefix] += 1
        return "%s_%d" % (prefix, self.counters[prefix])

    def add(self, name, class_name, inputs, **config):
        self.layers.append({"name": name, "class_name": class_name,
                            "config": config, "inputs": list(inputs)})
        return name


def dump(path, meta, b, outputs):
    """One layer per line: diffs stay readable."""
    lines = ["{"]
    for k, v in meta.items():
        lines.append('  "%s": %s,' % (k, json.dumps(v)))
    lines.append('  "layers": [')
    for i, layer in enumerate(b.layers):
        lines.append("    " + json.dumps(layer) + ("," if i + 1 < len(b.layers) else ""))
    lines.append("  ],")
    lines.append('  "outputs": %s' % json.dumps(outputs))
    lines.append("}")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


# ----------------------------------------------------------------- ResNet50 --

def resnet50():
    b = Builder()
    bn = dict(axis=-1, epsilon=1.001e-5)
    x = b.add("input_1", "InputLayer", [], batch_input_shape=[None, "size", "size", 3])
    x = b.add("conv1_pad", "ZeroPadding2D", [x], padding=[[3, 3], [3, 3]])
    x = b.add("conv1_conv", "Conv2D", [x], filters=64, kernel_size=[7, 7], strides=[2, 2],
              padding="valid", use_bias=True)
    x = b.add("conv1_bn", "BatchNormalization", [x], **bn)
    x = b.add("conv1_relu", "Activation", [x], activation="relu")
    x = b.add("pool1_pad", "ZeroPadding2D", [x], padding=[[1, 1], [1, 1]])
    x = b.add("pool1_pool", "MaxPooling2D", [x], pool_size=[3, 3], strides=[2, 2], padding="valid")

    def block(x, filters, stride, conv_shortcut, name):
        if conv_shortcut:
            s = b.add(name + "_0_conv", "Conv2D", [x], filters=4 * filters, kernel_size=[1, 1],
                      strides=[stride, stride], padding="valid", use_bias=True)
            s = b.add(name + "_0_bn", "BatchNormalization", [s], **bn)
        else:
            s = x
        y = b.add(name + "_1_conv", "Conv2D", [x], filters=filters, kernel_size=[1, 1],
                  strides=[stride, stride], padding="valid", use_bias=True)
        y = b.add(name + "_1_bn", "BatchNormalization", [y], **bn)
        y = b.add(name + "_1_relu", "Activation", [y], activation="relu")
        y = b.add(name + "_2_conv", "Conv2D", [y], filters=filters, kernel_size=[3, 3],
                  strides=[1, 1], padding="same", use_bias=True)
        y = b.add(name + "_2_bn", "BatchNormalization", [y], **bn)
        y = b.add(name + "_2_relu", "Activation", [y], activation="relu")
        y = b.add(name + "_3_conv", "Conv2D", [y], filters=4 * filters, kernel_size=[1, 1],
                  strides=[1, 1], padding="valid", use_bias=True)
        y = b.add(name + "_3_bn", "BatchNormalization", [y], **bn)
        y = b.add(name + "_add", "Add", [s, y])
        return b.add(name + "_out", "Activation", [y], activation="relu")

    for stage, (filters, blocks, stride) in enumerate([(64, 3, 1), (128, 4, 2), (256, 6, 2),
                                                       (512, 3, 2)], start=2):
        x = block(x, filters, stride, True, "conv%d_block1" % stage)
        for i in range(2, blocks + 1):
            x = block(x, filters, 1, False, "conv%d_block%d" % (stage, i))
    x = b.add("avg_pool", "GlobalAveragePooling2D", [x])
    x = b.add("predictions", "Dense", [x], units="classes", activation="softmax", use_bias=True)
    meta = {"format": "cnnrt-model/1", "name": "resnet50", "architecture": "ResNet50",
            "task": "classification", "preprocess": "caffe",
            "params": {"classes": 1000, "size": 224}}
    return meta, b, ["predictions"]


# ------------------------------------------------------------ keras-yolo3 ----

def dbl(b, x, filters, k, strides=1):
    """DarknetConv2D_BN_Leaky: conv (no bias) + BN + LeakyReLU(0.1)."""
    pad = "valid" if strides == 2 else "same"
    x = b.add(b.auto("conv2d"), "Conv2D", [x], filters=filters, kernel_size=[k, k],
              strides=[strides, strides], padding=pad, use_bias=False)
    x = b.add(b.auto("batch_normalization"), "BatchNormalization", [x], epsilon=1e-3)
    return b.add(b.auto("leaky_re_lu"), "LeakyReLU", [x], alpha=0.1)


def head_conv(b, x):
    """DarknetConv2D(num_anchors*(num_classes+5), (1,1)): the output conv, with bias."""
    return b.add(b.auto("conv2d"), "Conv2D", [x], filters="3*(5+classes)", kernel_size=[1, 1],
                 strides=[1, 1], padding="same", use_bias=True)


def yolov3():
    b = Builder()
    x = b.add(b.auto("input"), "InputLayer", [], batch_input_shape=[None, "size", "size", 3])
    x = dbl(b, x, 32, 3)
    skips = {}
    for filters, blocks in [(64, 1), (128, 2), (256, 8), (512, 8), (1024, 4)]:
        x = b.add(b.auto("zero_padding2d"), "ZeroPadding2D", [x], padding=[[1, 0], [1, 0]])
        x = dbl(b, x, filters, 3, strides=2)
        for _ in range(blocks):
            y = dbl(b, x, filters // 2, 1)
            y = dbl(b, y, filters, 3)
            x = b.add(b.auto("add"), "Add", [x, y])
        skips[filters] = x  # darknet.layers[92] = add_11 (256), [152] = add_19 (512)
    outputs = []

    def last_layers(x, filters):
        for k in (1, 3, 1, 3, 1):
            x = dbl(b, x, filters if k == 1 else filters * 2, k)
        y = dbl(b, x, filters * 2, 3)
        return x, head_conv(b, y)

    x, y1 = last_layers(x, 512)
    outputs.append(y1)
    for filters, skip in [(256, skips[512]), (128, skips[256])]:
        x = dbl(b, x, filters, 1)
        x = b.add(b.auto("up_sampling2d"), "UpSampling2D", [x], size=[2, 2])
        x = b.add(b.auto("concatenate"), "Concatenate", [x, skip], axis=-1)
        x, y = last_layers(x, filters)
        outputs.append(y)
    meta = {"format": "cnnrt-model/1", "name": "yolov3", "architecture": "YOLOv3",
            "task": "detection", "preprocess": "yolo",
            "params": {"classes": 80, "size": 416}}
    return meta, b, outputs


def yolov3_tiny():
    b = Builder()
    x = b.add(b.auto("input"), "InputLayer", [], batch_input_shape=[None, "size", "size", 3])

    def pool(x, stride=2):
        return b.add(b.auto("max_pooling2d"), "MaxPooling2D", [x], pool_size=[2, 2],
                     strides=[stride, stride], padding="same")

    for filters in (16, 32, 64, 128):
        x = dbl(b, x, filters, 3)
        x = pool(x)
    x1 = dbl(b, x, 256, 3)
    x = pool(x1)
    x = dbl(b, x, 512, 3)
    x = pool(x, 1)
    x = dbl(b, x, 1024, 3)
    x2 = dbl(b, x, 256, 1)
    y1 = head_conv(b, dbl(b, x2, 512, 3))
    x = dbl(b, x2, 128, 1)
    x = b.add(b.auto("up_sampling2d"), "UpSampling2D", [x], size=[2, 2])
    x = b.add(b.auto("concatenate"), "Concatenate", [x, x1], axis=-1)
    y2 = head_conv(b, dbl(b, x, 256, 3))
    meta = {"format": "cnnrt-model/1", "name": "yolov3-tiny", "architecture": "TinyYOLOv3",
            "task": "detection", "preprocess": "yolo",
            "params": {"classes": 80, "size": 416}}
    return meta, b, [y1, y2]


if __name__ == "__main__":
    here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "models")
    for fname, fn in [("resnet50.json", resnet50), ("yolov3.json", yolov3),
                      ("yolov3-tiny.json", yolov3_tiny)]:
        meta, b, outs = fn()
        dump(os.path.join(here, fname), meta, b, outs)
        print("wrote models/%s: %d layers" % (fname, len(b.layers)))
