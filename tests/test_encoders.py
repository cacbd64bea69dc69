import pytest
import torch

from riscmoe.encoders import RandomConvEncoder, RandomReLUEncoder, make_encoder


def test_conv_encoder_is_fixed_by_its_seed_and_batches_in_chunks():
    X = torch.rand(70, 28 * 28)
    a = RandomConvEncoder((28, 28), seed=3, chunk=16)
    b = RandomConvEncoder((28, 28), seed=3)
    Z = a(X)
    assert Z.shape == (70, a.dim) and (Z >= 0).all()
    torch.testing.assert_close(Z, b(X))
    assert not torch.equal(Z, RandomConvEncoder((28, 28), seed=4)(X))
    assert a.macs_per_input == a.filters * 25 * 24 * 24


@pytest.mark.parametrize("shape, pool, stride", [((28, 28), 4, None), ((28, 28), 8, 4), ((28, 28), 6, 4), ((3, 32, 32), 4, None), ((8, 8), 4, None)])
def test_conv_encoder_is_conv_relu_avgpool(shape, pool, stride):
    """The patch-product implementation (with overlapping windows pooled as blocks) gives
    the textbook conv2d -> ReLU -> avg_pool2d features."""
    from torch.nn import functional as F

    enc = RandomConvEncoder(shape, seed=1, pool=pool, stride=stride, chunk=16)  # chunks: views with a storage offset
    X = torch.rand(40, enc.input_shape[0] * enc.input_shape[1] * enc.input_shape[2])
    ref = F.avg_pool2d(F.conv2d(X.reshape(-1, *enc.input_shape), enc.weight, enc.bias).relu(), enc.pool, enc.stride).flatten(1)
    assert ref.shape[1] == enc.dim
    torch.testing.assert_close(enc(X), ref, atol=1e-5, rtol=1e-5)


def test_make_encoder_picks_by_shape():
    assert isinstance(make_encoder((28, 28)), RandomConvEncoder)
    assert isinstance(make_encoder((8, 8)), RandomConvEncoder)
    assert isinstance(make_encoder((3, 32, 32)), RandomConvEncoder)
    flat = make_encoder((20,))
    assert isinstance(flat, RandomReLUEncoder) and flat(torch.rand(4, 20)).shape == (4, flat.dim)
    with pytest.raises(ValueError, match="shape"):
        RandomConvEncoder((2, 3, 4, 5))


def test_any_module_or_callable_serves_as_an_encoder():
    import numpy as np

    from riscmoe.encoders import Encoder, ModuleEncoder

    net = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.ReLU(), torch.nn.Flatten())
    enc = ModuleEncoder(net, (1, 8, 8))
    X = torch.rand(5, 64)
    assert isinstance(enc, Encoder) and enc.dim == 4 * 6 * 6 and enc.n_parameters == 4 * 9 + 4
    torch.testing.assert_close(enc(X), net(X.reshape(5, 1, 8, 8)))
    assert not any(p.requires_grad for p in net.parameters()) and not net.training
    # A NumPy function, on flat rows, encoded in chunks.
    flat = ModuleEncoder(lambda x: np.tanh(x[:, :3]) * 2, (8, 8), flatten=True, numpy=True, chunk=2)
    assert flat.dim == 3 and flat.macs_per_input is None
    np.testing.assert_allclose(flat(X).numpy(), np.tanh(X.numpy()[:, :3]) * 2, rtol=1e-6)
    with pytest.raises(ValueError, match=r"returned shape \(1, 2, 2\).*\(B, F\)"):
        ModuleEncoder(lambda x: torch.zeros(len(x), 2, 2), (4,))
    with pytest.raises(TypeError, match="callable"):
        ModuleEncoder(3, (4,))
