"""The layers added for PyTorch code (issue 18) beyond the parity tables: state-dict keys and
default initialization as torch's, channel dropout, orthogonal init, DataParallel, arguments."""
import math

import numpy as np
import pytest

import scratchgrad as sg
import scratchgrad.nn as snn
import scratchgrad.nn.functional as F

torch = pytest.importorskip("torch")

WITH_PARAMETERS = {
    "conv_transpose": lambda nn: nn.ConvTranspose2d(8, 6, 4, 2, 1, groups=2),
    "conv_transpose-nobias": lambda nn: nn.ConvTranspose2d(8, 6, 3, bias=False),
    "instance_norm2d": lambda nn: nn.InstanceNorm2d(5),
    "instance_norm2d-affine-running": lambda nn: nn.InstanceNorm2d(5, affine=True, track_running_stats=True),
    "instance_norm1d": lambda nn: nn.InstanceNorm1d(3, affine=True),
    "group_norm": lambda nn: nn.GroupNorm(2, 6),
    "group_norm-noaffine": lambda nn: nn.GroupNorm(3, 6, affine=False),
    "layer_norm": lambda nn: nn.LayerNorm((4, 5)),
    "layer_norm-nobias": lambda nn: nn.LayerNorm(4, bias=False),
    "embedding": lambda nn: nn.Embedding(40, 30, padding_idx=3),
    "data_parallel": lambda nn: nn.DataParallel(nn.Sequential(nn.Conv2d(2, 3, 3), nn.BatchNorm2d(3))),
}


@pytest.mark.parametrize("name", WITH_PARAMETERS)
def test_state_dict_keys_shapes_and_dtypes_match_torch(name):
    ours, theirs = WITH_PARAMETERS[name](snn).state_dict(), WITH_PARAMETERS[name](torch.nn).state_dict()
    assert list(ours) == list(theirs)
    for key, value in theirs.items():
        assert tuple(ours[key].shape) == tuple(value.shape), key
        assert ours[key].dtype == value.numpy().dtype, key
    module = WITH_PARAMETERS[name](snn)
    module.load_state_dict(theirs)  # a torch checkpoint loads as is
    module.train(False)


def _values(module, name):
    return {k: np.asarray(v.detach().numpy(), dtype=np.float64) for k, v in module.state_dict().items() if name in k}


@pytest.mark.parametrize("name", ["conv_transpose", "conv_transpose-nobias"])
def test_conv_transpose_default_init_has_torchs_bounds(name):
    # kaiming_uniform_(a=sqrt(5)) and U(+-1/sqrt(fan_in)), fan_in = out_channels / groups * kH * kW (weight dim 1)
    sg.manual_seed(0)
    module = WITH_PARAMETERS[name](snn)
    fan_in = module.weight.shape[1] * module.weight.shape[2] * module.weight.shape[3]
    bound = 1 / math.sqrt(fan_in)
    for array in _values(module, "").values():
        assert np.abs(array).max() <= bound
    weight = module.weight.detach().numpy()
    assert abs(weight.std() - bound / math.sqrt(3)) < 0.1 * bound  # uniform over the whole interval, not a narrower one


def test_norm_layers_start_at_identity_and_embedding_is_standard_normal():
    for name in ("instance_norm2d-affine-running", "group_norm", "layer_norm"):
        ours, theirs = WITH_PARAMETERS[name](snn).state_dict(), WITH_PARAMETERS[name](torch.nn).state_dict()
        for key in ours:
            np.testing.assert_array_equal(ours[key].numpy(), theirs[key].numpy(), err_msg=key)
    sg.manual_seed(0)
    weight = snn.Embedding(40, 30, padding_idx=3).weight.detach().numpy()
    np.testing.assert_array_equal(weight[3], 0)
    rows = np.delete(weight, 3, axis=0)
    assert abs(rows.mean()) < 0.05 and abs(rows.std() - 1) < 0.05


def test_embedding_from_pretrained_is_frozen_unless_asked():
    table = sg.tensor(np.arange(6.0).reshape(3, 2))
    frozen = snn.Embedding.from_pretrained(table)
    assert not frozen.weight.requires_grad
    np.testing.assert_array_equal(frozen(sg.tensor([2, 0])).numpy(), [[4.0, 5.0], [0.0, 1.0]])
    assert snn.Embedding.from_pretrained(table, freeze=False).weight.requires_grad


def test_conv_transpose_output_size_picks_the_output_padding_like_torch():
    x = np.random.default_rng(0).standard_normal((1, 2, 4, 4))
    outputs = []
    for lib in (sg, torch):
        module = lib.nn.ConvTranspose2d(2, 3, 3, stride=2, padding=1)
        outputs.append(module(lib.tensor(x).float(), output_size=[1, 3, 8, 7]).shape)
        with pytest.raises(ValueError):
            module(lib.tensor(x).float(), output_size=(9, 9))
    assert tuple(outputs[0]) == tuple(outputs[1]) == (1, 3, 8, 7)


def test_dropout2d_zeroes_whole_channels_scaled_and_seeded():
    x = sg.ones(50, 40, 3, 3, requires_grad=True)
    sg.manual_seed(4)
    out = F.dropout2d(x, 0.25)
    sg.manual_seed(4)
    again = snn.Dropout2d(0.25)(x)
    values = out.detach().numpy()
    np.testing.assert_array_equal(values, again.detach().numpy())
    per_channel = values.reshape(50, 40, 9)
    assert (per_channel.min(-1) == per_channel.max(-1)).all()  # one draw per (N, C)
    assert set(np.unique(values)) == {0.0, np.float32(1 / 0.75)}
    assert abs((per_channel[..., 0] == 0).mean() - 0.25) < 0.03
    out.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), values)  # the gradient is the mask
    layer = snn.Dropout2d(0.25).eval()
    assert layer(x) is x


def test_dropout2d_of_a_3d_input_warns_as_torch_and_drops_channels():
    x = sg.ones(4, 30, 5)
    with pytest.warns(UserWarning, match="3D input"):
        out = F.dropout2d(x, 0.5).numpy()
    assert (out.min(-1) == out.max(-1)).all()


@pytest.mark.parametrize("shape", [(6, 4), (3, 8), (5, 2, 3, 3)])
def test_orthogonal_init_gives_orthonormal_rows_or_columns(shape):
    weight = sg.empty(*shape, dtype=sg.float64)
    sg.nn.init.orthogonal_(weight, gain=2.0)
    flat = weight.numpy().reshape(shape[0], -1)
    small = flat.T @ flat if flat.shape[0] >= flat.shape[1] else flat @ flat.T
    np.testing.assert_allclose(small, 4.0 * np.eye(small.shape[0]), atol=1e-12)
    sg.manual_seed(1)
    a = sg.nn.init.orthogonal_(sg.empty(*shape)).numpy()
    sg.manual_seed(1)
    np.testing.assert_array_equal(a, sg.nn.init.orthogonal_(sg.empty(*shape)).numpy())
    with pytest.raises(ValueError, match="2 or more"):
        sg.nn.init.orthogonal_(sg.empty(3))


def test_data_parallel_checkpoints_load_across_engines_and_into_module():
    torch_model = torch.nn.DataParallel(torch.nn.Linear(3, 2)).double()
    ours = snn.DataParallel(snn.Linear(3, 2)).to(sg.float64)
    ours.load_state_dict(torch_model.state_dict())
    bare = snn.Linear(3, 2).to(sg.float64)
    bare.load_state_dict(ours.module.state_dict())
    x = np.random.default_rng(0).standard_normal((4, 3))
    np.testing.assert_allclose(ours(sg.tensor(x)).detach().numpy(), torch_model(torch.tensor(x)).detach().numpy(), rtol=1e-12)
    np.testing.assert_array_equal(bare(sg.tensor(x)).detach().numpy(), ours(sg.tensor(x)).detach().numpy())
    assert sg.nn.parallel.data_parallel(bare, sg.tensor(x)).shape == (4, 2)
    with pytest.raises(RuntimeError, match="process group"):
        sg.nn.parallel.DistributedDataParallel(bare)


@pytest.mark.parametrize("call, error, message", [
    (lambda: snn.ConvTranspose2d(3, 4, 3, groups=2), ValueError, "divisible by groups"),
    (lambda: snn.ConvTranspose2d(3, 4, 3, padding_mode="reflect"), ValueError, "zeros"),
    (lambda: F.conv_transpose2d(sg.zeros(1, 2, 3, 3), sg.zeros(2, 1, 3, 3), stride=2, output_padding=2), RuntimeError, "output padding"),
    (lambda: F.conv_transpose2d(sg.zeros(1, 3, 3, 3), sg.zeros(2, 1, 3, 3)), RuntimeError, r"\(1, 3, 3, 3\)"),
    (lambda: snn.GroupNorm(4, 6), ValueError, "divisible"),
    (lambda: snn.Embedding(4, 2, padding_idx=4), ValueError, "padding_idx"),
    (lambda: F.embedding(sg.tensor([0.0]), sg.zeros(3, 2)), RuntimeError, "integer"),
    (lambda: F.pad(sg.zeros(1, 1, 3, 3), (3, 0, 0, 0), mode="reflect"), RuntimeError, "at most 2"),
    (lambda: F.pad(sg.zeros(1, 1, 3, 3), (1, 1), mode="wrap"), NotImplementedError, "mode"),
    (lambda: F.pixel_shuffle(sg.zeros(1, 6, 2, 2), 2), RuntimeError, "divisible"),
    (lambda: F.interpolate(sg.zeros(1, 1, 2, 2), size=3, scale_factor=2), ValueError, "either size or scale_factor"),
    (lambda: F.interpolate(sg.zeros(1, 1, 2, 2), scale_factor=2, mode="bicubic"), NotImplementedError, "mode"),
    (lambda: F.interpolate(sg.zeros(1, 1, 2, 2), scale_factor=2, align_corners=True), ValueError, "align_corners"),
    (lambda: F.layer_norm(sg.zeros(2, 3), (4,)), RuntimeError, "normalized_shape"),
    (lambda: F.instance_norm(sg.zeros(2, 3, 1, 1)), ValueError, "more than 1 spatial element"),
])
def test_arguments_are_checked(call, error, message):
    with pytest.raises(error, match=message):
        call()


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_instance_norm_running_statistics_in_eval_match_torch(dtype):
    # trained on two batches, then normalizing with the running statistics (eval mode)
    rng = np.random.default_rng(5)
    batches = [rng.standard_normal((3, 4, 5, 5)).astype(dtype) * 2 + 1 for _ in range(3)]
    torch_dtype = getattr(torch, np.dtype(dtype).name)
    theirs = torch.nn.InstanceNorm2d(4, affine=True, track_running_stats=True, momentum=0.2).to(torch_dtype)
    ours = snn.InstanceNorm2d(4, affine=True, track_running_stats=True, momentum=0.2).to(dtype)
    ours.load_state_dict(theirs.state_dict())
    for x in batches[:2]:
        theirs(torch.tensor(x))
        ours(sg.tensor(x))
    theirs.eval()
    ours.eval()
    tolerance = dict(rtol=1e-6, atol=1e-9) if dtype == np.float64 else dict(rtol=1e-4, atol=1e-5)
    for key, value in theirs.state_dict().items():
        np.testing.assert_allclose(ours.state_dict()[key].numpy(), value.numpy(), err_msg=key, **tolerance)
    np.testing.assert_allclose(ours(sg.tensor(batches[2])).detach().numpy(), theirs(torch.tensor(batches[2])).detach().numpy(),
                               **tolerance)
