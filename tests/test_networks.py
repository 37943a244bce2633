import torch

from colorizer.networks import AB_SCALE, UNet, build_model, count_params


def test_seed_shapes_and_ranges():
    m = build_model("seed", width=8, pretrained=False).eval()
    for H, W in [(64, 64), (100, 75), (33, 130)]:
        out = m(torch.rand(2, 1, H, W) * 100)
        ab = out["ab"]
        assert ab.shape == (2, 2, (H + 1) // 2, (W + 1) // 2)
        assert ab.abs().max() <= AB_SCALE
    assert set(out) == {"ab"}


def test_unet_shapes_and_ranges():
    m = build_model("unet", num_bins=262, dec=(16, 16, 16, 16, 16), pretrained=False).eval()
    for H, W in [(64, 64), (96, 160), (45, 70)]:
        out = m(torch.rand(1, 1, H, W) * 100)
        assert out["logits"].shape == (1, 262, (H + 1) // 2, (W + 1) // 2)
        assert out["ab"].shape == (1, 2, (H + 1) // 2, (W + 1) // 2)
        assert torch.isfinite(out["logits"]).all()
        assert out["ab"].abs().max() <= AB_SCALE


def test_unet_encoder_is_pretrained_lite0_and_trainable():
    m = build_model("unet", num_bins=262)
    assert count_params(m, trainable_only=True) == count_params(m)
    assert 3e6 < count_params(m) < 6e6  # small enough to ship under 25 MB
    # the pretrained stem differs from a fresh init
    fresh = build_model("unet", num_bins=262, pretrained=False)
    assert not torch.allclose(m.stem[0].weight, fresh.stem[0].weight)


def test_seed_classifier_is_frozen_and_classifies_from_gray():
    import numpy as np
    from PIL import Image
    from skimage import data

    m = build_model("seed", width=8)
    assert all(not p.requires_grad for p in m.embedder.parameters())
    # L repeated to 3 channels: the frozen Lite0 still recognises a cat
    from colorizer.networks import l_to_lite_input
    gray = np.asarray(Image.fromarray(data.chelsea()).convert("L").resize((224, 224)), dtype=np.float32)
    L = torch.from_numpy(gray / 255.0 * 100)[None, None]  # rough L for the check
    with torch.no_grad():
        logits = m.embedder.net(l_to_lite_input(L))
    assert logits.argmax().item() in range(281, 286)  # ImageNet cat classes


def test_output_names_say_what_each_network_gives():
    assert build_model("seed", width=8, pretrained=False).output_names == ("ab",)
    assert build_model("unet", num_bins=262, dec=(16, 16, 16, 16, 16), pretrained=False).output_names == ("logits", "ab")
    no_reg = build_model("unet", num_bins=262, dec=(16, 16, 16, 16, 16), reg_head=False, pretrained=False)
    assert no_reg.output_names == ("logits",)
    assert set(no_reg.eval()(torch.rand(1, 1, 64, 64) * 100)) == {"logits"}


def test_one_lite0_feature_extractor_for_lightness_and_rgb():
    """The seed's global features (from L) and FD-Lite0's (from RGB) are one frozen
    network: a gray RGB image and its lightness give the same features."""
    import pytest

    from colorizer.lab import lightness_to_gray
    from colorizer.networks import Lite0Features
    f_L, f_rgb = Lite0Features("lightness"), Lite0Features("rgb")
    assert all(not p.requires_grad for p in f_L.parameters())
    L = torch.rand(2, 1, 64, 80) * 100
    rgb = lightness_to_gray(L).expand(-1, 3, -1, -1)
    a, b = f_L(L), f_rgb(rgb)
    assert a.shape == (2, 1280)
    # the same inputs up to how L maps to 8-bit code values (L*2.55 vs sRGB gray): close, not equal
    cos = torch.nn.functional.cosine_similarity(a, b).min()
    assert cos > 0.8
    f_L.train()
    assert not f_L.training  # frozen batch-norm statistics
    with pytest.raises(ValueError):
        Lite0Features("xyz")


def test_the_fast_head_gives_the_block_scores_without_the_stride_2_stage():
    """A U-Net's fast head gives scores of the pooled scores' shape from the stride-4
    features; asked for alone, the stride-2 stage does not run; it changes none of the
    network's other outputs (the same weights with and without it)."""
    from colorizer.bins import FAST_LOGITS, POOLED_LOGITS
    torch.manual_seed(0)
    fast = UNet(num_bins=20, dec=(32, 24, 16, 16, 16), pretrained=False, fast_head=True).eval()
    plain = UNet(num_bins=20, dec=(32, 24, 16, 16, 16), pretrained=False).eval()
    missing, unexpected = plain.load_state_dict(fast.state_dict(), strict=False)
    assert not missing and unexpected and all(k.startswith("fast_head.") for k in unexpected)
    assert FAST_LOGITS in fast.output_names and FAST_LOGITS not in plain.output_names
    L = torch.rand(2, 1, 64, 96) * 100
    ran = []
    fast.up2.register_forward_hook(lambda *_: ran.append("up2"))
    with torch.no_grad():
        alone = fast(L, outputs=(FAST_LOGITS,))
        assert list(alone) == [FAST_LOGITS] and alone[FAST_LOGITS].shape == (2, 20, 16, 24) and not ran
        both = fast(L, outputs=(FAST_LOGITS, POOLED_LOGITS, "logits", "ab"))
        want = plain(L, outputs=(POOLED_LOGITS, "logits", "ab"))
    assert ran == ["up2"]
    assert torch.equal(both[FAST_LOGITS], alone[FAST_LOGITS])
    for k in want:
        assert torch.equal(both[k], want[k]), k
    # not a multiple of 32: the blocks would straddle the padding, so the full scores come
    with torch.no_grad():
        assert list(fast(L[..., :60, :90], outputs=(FAST_LOGITS,))) == ["logits"]
