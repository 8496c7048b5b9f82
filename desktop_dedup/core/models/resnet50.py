"""ResNet-50 (torchvision, ImageNet weights): globally pooled 2048-d features, the fc layer removed."""
from __future__ import annotations

from typing import Optional

import torch
from torch import nn

FEATURE_DIM = 2048


def build(weights_path: Optional[str] = None) -> tuple[nn.Module, nn.Linear]:
    """(feature model in eval mode with fc = Identity, the original fc head). strict=True loading."""
    from torchvision.models import resnet50

    m = resnet50(weights=None)
    if weights_path is not None:
        sd = torch.load(weights_path, map_location="cpu", weights_only=True)
        m.load_state_dict(sd, strict=True)
    fc = m.fc
    m.fc = nn.Identity()
    return m.eval(), fc.eval()
