"""torch_yolov3.py - an independent PyTorch YOLOv3 (keras-yolo3's yolo_body) that reads
Keras .h5 weights, and a reference YOLO decoding written from the spec. Test oracle.

Written from FORMATS.md sections 1, 3 and 4 and keras-yolo3's semantics, NOT from
cnnrt's model JSON:
- DarknetConv2D_BN_Leaky: Conv2D without bias, BatchNormalization(eps 1e-3), LeakyReLU(0.1);
  stride 2: ZeroPadding2D(((1, 0), (1, 0))) then a "valid" 3x3 convolution; stride 1 "same".
- darknet_body: conv 32, then residual stages of [1, 2, 8, 8, 4] blocks with 64..1024
  filters; a block is conv 1x1 (n/2), conv 3x3 (n), Add with its input.
- make_last_layers(n): conv 1x1 n, 3x3 2n, 1x1 n, 3x3 2n, 1x1 n (-> x), then conv 3x3 2n
  and a 1x1 output conv with bias (-> y).
- yolo_body: y1 from the 1024-channel output; x -> conv 1x1 256 -> UpSampling2D(2) ->
  Concatenate([x, add_19 (stage 4 output)]) -> y2; the same with 128 and add_11 -> y3.
Convolutions are numbered in creation order (conv2d_1 .. conv2d_75, keras-yolo3's
convert.py names); BatchNorms likewise (75 convs, the three output convs have none).

Weights are paired by position (Keras model.layers order from FORMATS.md section 1:
convs 1..57, 60..65, 68..73, 58, 66, 74, 59, 67, 75; each BatchNorm in the order of its
conv) or by name (conv2d_N / batch_normalization_N). Datasets are always found through
the weight_names attributes.
"""
import h5py
import numpy as np
import torch
import torch.nn.functional as F

N_CONVS = 75
OUTPUT_CONVS = (59, 67, 75)


def bn_index(conv_index):
    """BatchNorm number of a conv (convs 59, 67, 75 have none)."""
    return conv_index - sum(1 for o in OUTPUT_CONVS if o < conv_index)


def keras_conv_order():
    """Convs in Keras model.layers order (FORMATS.md section 1)."""
    return (list(range(1, 58)) + list(range(60, 66)) + list(range(68, 74)) +
            [58, 66, 74, 59, 67, 75])


def _weight_groups(path):
    """[(layer name, [arrays in weight_names order])] for layers with weights, in the
    file's layer_names order."""
    f = h5py.File(path, "r")
    root = f
    if "layer_names" not in f.attrs and "model_weights" in f:
        root = f["model_weights"]

    def strings(attr):
        return [s.decode() if isinstance(s, bytes) else str(s) for s in attr]

    names = []
    if "layer_names" in root.attrs:
        names = strings(root.attrs["layer_names"])
    else:  # split attributes layer_names0, layer_names1, ...
        k = 0
        while "layer_names%d" % k in root.attrs:
            names += strings(root.attrs["layer_names%d" % k])
            k += 1
    groups = []
    for name in names:
        g = root[name]
        wn = g.attrs.get("weight_names", [])
        wn = strings(wn) if len(wn) else []
        if wn:
            groups.append((name, [np.asarray(g[w], dtype=np.float32) for w in wn]))
    f.close()
    return groups


class YoloV3:
    """YOLOv3 with Keras weights: conv[i] = (kernel (kh, kw, in, out), bias or None),
    bn[j] = (gamma, beta, mean, var)."""

    def __init__(self, path, classes, pairing="position"):
        self.classes = classes
        self.conv, self.bn = {}, {}
        groups = _weight_groups(path)
        if pairing == "name":
            by_name = dict(groups)
            for i in range(1, N_CONVS + 1):
                self.conv[i] = by_name["conv2d_%d" % i]
                if i not in OUTPUT_CONVS:
                    j = bn_index(i)
                    self.bn[j] = by_name["batch_normalization_%d" % j]
        else:
            convs = [w for _, w in groups if w[0].ndim == 4]
            bns = [w for _, w in groups if w[0].ndim == 1 and len(w) == 4]
            assert len(convs) == N_CONVS and len(bns) == N_CONVS - 3, (len(convs), len(bns))
            order = keras_conv_order()
            for pos, i in enumerate(order):
                self.conv[i] = convs[pos]
            for pos, i in enumerate([i for i in order if i not in OUTPUT_CONVS]):
                self.bn[bn_index(i)] = bns[pos]
        self.t_conv = {i: (torch.from_numpy(np.ascontiguousarray(w[0].transpose(3, 2, 0, 1))),
                           torch.from_numpy(w[1]) if len(w) > 1 else None)
                       for i, w in self.conv.items()}
        self.t_bn = {j: [torch.from_numpy(a) for a in w] for j, w in self.bn.items()}

    def _cbl(self, x, i, stride=1):
        """DarknetConv2D_BN_Leaky, conv number i."""
        w, b = self.t_conv[i]
        k = w.shape[-1]
        if stride == 2:
            x = F.pad(x, (1, 0, 1, 0))  # ZeroPadding2D(((1, 0), (1, 0)))
            x = F.conv2d(x, w, b, stride=2)
        else:
            x = F.conv2d(x, w, b, padding=k // 2)
        if i in OUTPUT_CONVS:
            return x
        gamma, beta, mean, var = self.t_bn[bn_index(i)]
        x = F.batch_norm(x, mean, var, gamma, beta, training=False, eps=1e-3)
        return F.leaky_relu(x, 0.1)

    @torch.no_grad()
    def heads(self, x_nhwc):
        """x: (H, W, 3) float32 in 0..1. Returns the 3 heads as (1, h, w, C) NHWC numpy,
        coarsest first."""
        x = torch.from_numpy(np.ascontiguousarray(x_nhwc.transpose(2, 0, 1)[None]))
        n = [0]

        def cbl(x, stride=1):
            n[0] += 1
            return self._cbl(x, n[0], stride)

        x = cbl(x)
        skips = []
        for blocks in (1, 2, 8, 8, 4):
            x = cbl(x, 2)
            for _ in range(blocks):
                x = x + cbl(cbl(x))
            skips.append(x)
        add_11, add_19 = skips[2], skips[3]
        outs = []
        for filters, skip in ((512, add_19), (256, add_11), (128, None)):
            for _ in range(5):
                x = cbl(x)
            outs.append(cbl(cbl(x)))  # 3x3 2n, then the output conv
            if skip is not None:
                x = cbl(x)
                x = F.interpolate(x, scale_factor=2, mode="nearest")
                x = torch.cat([x, skip], dim=1)
        assert n[0] == N_CONVS
        return [o.numpy().transpose(0, 2, 3, 1).copy() for o in outs]


# --------------------------------------------------------------- pre-processing --

def letterbox_geometry(iw, ih, nw_net, nh_net, letterbox=True):
    """(new_w, new_h, off_x, off_y): the limiting side becomes the network side, the
    other floor(side * net / limiting side), centred with floor((net - new) / 2)."""
    if not letterbox:
        return nw_net, nh_net, 0, 0
    if nw_net * ih < nh_net * iw:
        new_w, new_h = nw_net, max(1, ih * nw_net // iw)
    else:
        new_w, new_h = max(1, iw * nh_net // ih), nh_net
    return new_w, new_h, (nw_net - new_w) // 2, (nh_net - new_h) // 2


def resize_bilinear(img, dw, dh):
    """Half-pixel-centre bilinear resize of a uint8 (H, W, 3) image to float 0..255,
    no antialiasing (OpenCV INTER_LINEAR / TF half_pixel_centers semantics)."""
    sh, sw = img.shape[:2]
    src = img.astype(np.float64)

    def axis(d, s):
        f = np.maximum((np.arange(d) + 0.5) * (s / d) - 0.5, 0)
        i0 = np.minimum(f.astype(np.int64), s - 1)
        i1 = np.minimum(i0 + 1, s - 1)
        return i0, i1, f - i0

    y0, y1, wy = axis(dh, sh)
    x0, x1, wx = axis(dw, sw)
    top = src[y0][:, x0] + (src[y0][:, x1] - src[y0][:, x0]) * wx[None, :, None]
    bot = src[y1][:, x0] + (src[y1][:, x1] - src[y1][:, x0]) * wx[None, :, None]
    return top + (bot - top) * wy[:, None, None]


def detector_input(img, size, letterbox=True):
    """RGB uint8 image -> (size, size, 3) float32 network input in 0..1 on a 0.5 canvas,
    and the geometry."""
    ih, iw = img.shape[:2]
    new_w, new_h, ox, oy = letterbox_geometry(iw, ih, size, size, letterbox)
    canvas = np.full((size, size, 3), 0.5)
    canvas[oy:oy + new_h, ox:ox + new_w] = resize_bilinear(img, new_w, new_h) / 255.0
    return canvas.astype(np.float32), (iw, ih, new_w, new_h, ox, oy)


# -------------------------------------------------------------------- decoding --

def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def decode(heads, anchors, classes, size, geometry, threshold, nms_iou):
    """Reference decoding: heads (1, h, w, A*(5+C)) NHWC; anchors[k] = [w, h, ...] for
    the k-th coarsest grid. Returns [(class, score, x1, y1, x2, y2)] in image pixels,
    after clipping, dropping empty boxes and per-class NMS (drop when IoU > nms_iou),
    best first."""
    iw, ih, new_w, new_h, ox, oy = geometry
    order = sorted(range(len(heads)), key=lambda i: heads[i].shape[2])
    dets = []
    for rank, hi in enumerate(order):
        h = heads[hi][0].astype(np.float64)
        gh, gw = h.shape[:2]
        na = len(anchors[rank]) // 2
        t = h.reshape(gh, gw, na, 5 + classes)
        ys, xs = np.meshgrid(np.arange(gh), np.arange(gw), indexing="ij")
        for a in range(na):
            aw, ah = anchors[rank][2 * a], anchors[rank][2 * a + 1]
            cx = (xs + _sigmoid(t[..., a, 0])) / gw * size
            cy = (ys + _sigmoid(t[..., a, 1])) / gh * size
            bw = aw * np.exp(t[..., a, 2])
            bh = ah * np.exp(t[..., a, 3])
            score = _sigmoid(t[..., a, 4])[..., None] * _sigmoid(t[..., a, 5:])
            for y, x, c in zip(*np.nonzero(score > threshold)):
                box = [cx[y, x] - bw[y, x] / 2, cy[y, x] - bh[y, x] / 2,
                       cx[y, x] + bw[y, x] / 2, cy[y, x] + bh[y, x] / 2]
                box = [(box[0] - ox) * iw / new_w, (box[1] - oy) * ih / new_h,
                       (box[2] - ox) * iw / new_w, (box[3] - oy) * ih / new_h]
                box = [min(max(box[0], 0), iw), min(max(box[1], 0), ih),
                       min(max(box[2], 0), iw), min(max(box[3], 0), ih)]
                if box[2] > box[0] and box[3] > box[1]:
                    dets.append((int(c), float(score[y, x, c]), *box))
    dets.sort(key=lambda d: -d[1])
    kept = []
    for d in dets:
        if all(k[0] != d[0] or iou(k[2:], d[2:]) <= nms_iou for k in kept):
            kept.append(d)
    return kept


def iou(a, b):
    area_a = (a[2] - a[0]) * (a[3] - a[1])
    area_b = (b[2] - b[0]) * (b[3] - b[1])
    iw = min(a[2], b[2]) - max(a[0], b[0])
    ih = min(a[3], b[3]) - max(a[1], b[1])
    if area_a <= 0 or area_b <= 0 or iw <= 0 or ih <= 0:
        return 0.0
    return iw * ih / (area_a + area_b - iw * ih)


# ---------------------------------------------------------------------- Darknet --

def darknet_cfg(src, out, size, classes):
    """Copies Darknet's yolov3.cfg with the input size, class count and the filters of
    the conv before each [yolo] set. Returns the section index of each [yolo]'s output
    conv (OpenCV names it conv_<index>)."""
    lines = open(src).read().splitlines()
    sections = []  # (line index, name)
    for i, line in enumerate(lines):
        s = line.strip()
        if s.startswith("["):
            sections.append((i, s))
    out_convs = []
    for k, (i, name) in enumerate(sections):
        if name == "[yolo]":
            j, prev = sections[k - 1]
            assert prev == "[convolutional]"
            end = i
            for n in range(j, end):
                if lines[n].strip().replace(" ", "").startswith("filters="):
                    lines[n] = "filters=%d" % (3 * (5 + classes))
            out_convs.append(k - 2)  # section index without [net]
    for n, line in enumerate(lines):
        key = line.strip().replace(" ", "").split("=")[0]
        if key in ("width", "height"):
            lines[n] = "%s=%d" % (key, size)
        elif key == "classes":
            lines[n] = "classes=%d" % classes
    open(out, "w").write("\n".join(lines) + "\n")
    return out_convs


def write_darknet_weights(model, path, bn_eps_runtime=1e-6):
    """Writes model's weights as a Darknet .weights file (FORMATS.md section 4): header
    (major 0, minor 2, revision 0, seen as int64), then per conv in cfg order: biases
    (BN beta) or bias, [scales (gamma), rolling mean, rolling variance], kernel as
    (out, in, kh, kw).

    Keras divides by sqrt(var + 1e-3). OpenCV's Darknet importer builds a BatchNorm with
    eps 1e-6, dividing by sqrt(var' + 1e-6), so var' = var + 1e-3 - 1e-6 gives the same
    number. (Darknet itself divides by sqrt(var') + 1e-6 and would need
    var' = (sqrt(var + 1e-3) - 1e-6)^2 instead.)"""
    with open(path, "wb") as f:
        np.array([0, 2, 0], dtype=np.int32).tofile(f)
        np.array([0], dtype=np.int64).tofile(f)
        for i in range(1, N_CONVS + 1):
            w = model.conv[i]
            if i in OUTPUT_CONVS:
                w[1].astype(np.float32).tofile(f)
            else:
                gamma, beta, mean, var = model.bn[bn_index(i)]
                adjusted = var.astype(np.float64) + 1e-3 - bn_eps_runtime
                for a in (beta, gamma, mean, adjusted):
                    np.asarray(a, dtype=np.float32).tofile(f)
            np.ascontiguousarray(w[0].transpose(3, 2, 0, 1)).astype(np.float32).tofile(f)
