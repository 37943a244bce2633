"""The colorization network of Zhang, Isola & Efros, "Colorful Image Colorization"
(ECCV 2016), for timing comparisons only (benchmarks/inference.py): the layer structure
of the authors' PyTorch port (github.com/richzhang/colorization, colorizers/eccv16.py,
ECCVGenerator) with random weights. Nothing here is trained or downloaded.

    conv1  1->64,   64->64 /2                        ReLU, then BatchNorm
    conv2  64->128, 128->128 /2                      ReLU, then BatchNorm
    conv3  128->256, 256->256, 256->256 /2           ReLU, then BatchNorm
    conv4  256->512, 512->512 x2                     ReLU, then BatchNorm
    conv5  512->512 x3, dilation 2                   ReLU, then BatchNorm
    conv6  512->512 x3, dilation 2                   ReLU, then BatchNorm
    conv7  512->512 x3                               ReLU, then BatchNorm
    conv8  transposed 4x4 /2 512->256, 256->256 x2   ReLU; 1x1 256->313 (colour classes)
    softmax over the 313 classes, 1x1 313->2 (a,b, no bias), bilinear x4 upsampling

All convolutions are 3x3 with bias unless noted. 32.2M parameters; at 256x256 input
41.8 G multiply-accumulates (83.6 GFLOPs counting a MAC as two FLOPs)."""
import torch
import torch.nn as nn

L_CENT, L_NORM, AB_NORM = 50.0, 100.0, 110.0
NUM_CLASSES = 313


def _stage(cin, cout, n, stride_last=1, dilation=1, norm=True):
    layers = []
    for i in range(n):
        stride = stride_last if i == n - 1 else 1
        layers += [nn.Conv2d(cin if i == 0 else cout, cout, 3, stride=stride, padding=dilation, dilation=dilation, bias=True),
                   nn.ReLU(inplace=True)]
    if norm:
        layers.append(nn.BatchNorm2d(cout))
    return nn.Sequential(*layers)


class ECCV16(nn.Module):
    """L (B, 1, H, W) in [0, 100] -> a,b (B, 2, H, W); H, W multiples of 8."""

    def __init__(self):
        super().__init__()
        self.model1 = _stage(1, 64, 2, stride_last=2)
        self.model2 = _stage(64, 128, 2, stride_last=2)
        self.model3 = _stage(128, 256, 3, stride_last=2)
        self.model4 = _stage(256, 512, 3)
        self.model5 = _stage(512, 512, 3, dilation=2)
        self.model6 = _stage(512, 512, 3, dilation=2)
        self.model7 = _stage(512, 512, 3)
        self.model8 = nn.Sequential(
            nn.ConvTranspose2d(512, 256, 4, stride=2, padding=1, bias=True), nn.ReLU(inplace=True),
            nn.Conv2d(256, 256, 3, padding=1, bias=True), nn.ReLU(inplace=True),
            nn.Conv2d(256, 256, 3, padding=1, bias=True), nn.ReLU(inplace=True),
            nn.Conv2d(256, NUM_CLASSES, 1, bias=True),
        )
        self.softmax = nn.Softmax(dim=1)
        self.model_out = nn.Conv2d(NUM_CLASSES, 2, 1, bias=False)
        self.upsample4 = nn.Upsample(scale_factor=4, mode="bilinear")

    def forward(self, L):
        x = (L - L_CENT) / L_NORM
        for stage in (self.model1, self.model2, self.model3, self.model4, self.model5, self.model6, self.model7, self.model8):
            x = stage(x)
        return self.upsample4(self.model_out(self.softmax(x))) * AB_NORM


def count_macs(model, shape=(1, 1, 256, 256)):
    """Multiply-accumulates of one forward pass on a zero input of `shape`, counted with
    hooks on the convolutions (transposed and depthwise ones included) and the linear
    layers. Softmax, activations, BatchNorm, pooling and resampling are not counted
    (under 1% here). One MAC is two FLOPs."""
    total = [0]

    def hook(mod, inp, out):
        if isinstance(mod, nn.ConvTranspose2d):  # every input value meets cout/groups x kh x kw weights
            total[0] += inp[0].numel() * mod.weight[0].numel()
        elif isinstance(mod, nn.Conv2d):         # every output value is a dot product over cin/groups x kh x kw
            total[0] += out.numel() * mod.weight[0].numel()
        else:                                    # nn.Linear
            total[0] += out.numel() * mod.in_features

    hooks = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear))]
    try:
        with torch.no_grad():
            model(torch.zeros(shape))
    finally:
        for h in hooks:
            h.remove()
    return total[0]
