"""Module bookkeeping against torch.nn: names, state dicts, loading, errors, repr, hooks, conversion, containers."""
from collections import OrderedDict

import numpy as np
import pytest

import scratchgrad as sg
import scratchgrad.nn as snn

torch = pytest.importorskip("torch")


def build(nn, lib):
    """A nested model using every container, a shared module, BatchNorm and extra buffers."""

    class Block(nn.Module):
        def __init__(self, channels):
            super().__init__()
            self.conv = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
            self.bn = nn.BatchNorm2d(channels)
            self.act = nn.ReLU(inplace=True)

        def forward(self, x):
            return self.act(self.bn(self.conv(x))) + x

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = nn.Sequential(OrderedDict([("conv", nn.Conv2d(3, 4, 3, padding=1)), ("bn", nn.BatchNorm2d(4)), ("relu", nn.ReLU())]))
            self.blocks = nn.ModuleList([Block(4), Block(4)])
            self.pool = nn.AdaptiveAvgPool2d(1)
            self.heads = nn.ModuleDict({"cls": nn.Linear(4, 5), "aux": nn.Sequential(nn.Dropout(0.25), nn.Linear(4, 2))})
            self.shared = self.heads["cls"]
            self.register_buffer("scale", lib.ones(1))
            self.register_buffer("cache", lib.zeros(2), persistent=False)
            self.temperature = nn.Parameter(lib.ones(1))

        def forward(self, x):
            x = self.stem(x)
            for block in self.blocks:
                x = block(x)
            x = self.pool(x).flatten(1) * self.scale
            return self.heads["cls"](x) * self.temperature + self.heads["aux"](x).sum(1, keepdim=True)

    return Net()


@pytest.fixture
def models():
    return build(snn, sg), build(torch.nn, torch)


def test_names_and_order_equal_torch(models):
    ours, theirs = models
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    assert [n for n, _ in ours.named_buffers()] == [n for n, _ in theirs.named_buffers()]
    assert [n for n, _ in ours.named_modules()] == [n for n, _ in theirs.named_modules()]
    assert [n for n, _ in ours.named_children()] == [n for n, _ in theirs.named_children()]
    assert list(ours.state_dict()) == list(theirs.state_dict())
    for prefix in ("", "model"):
        for recurse in (True, False):
            for remove_duplicate in (True, False):
                kwargs = dict(prefix=prefix, recurse=recurse, remove_duplicate=remove_duplicate)
                assert [n for n, _ in ours.named_parameters(**kwargs)] == [n for n, _ in theirs.named_parameters(**kwargs)]
    assert len(list(ours.parameters())) == len(list(theirs.parameters()))
    assert sum(p.numel() for p in ours.parameters()) == sum(p.numel() for p in theirs.parameters())
    assert [n for n, _ in ours.named_modules(remove_duplicate=False)] == [n for n, _ in theirs.named_modules(remove_duplicate=False)]


def test_state_dict_values_shapes_dtypes(models):
    ours, theirs = models
    for (key, ours_value), (_, theirs_value) in zip(ours.state_dict().items(), theirs.state_dict().items()):
        assert ours_value.shape == tuple(theirs_value.shape), key
        assert ours_value.dtype == np.dtype(str(theirs_value.dtype).replace("torch.", "")), key
        assert not ours_value.requires_grad and type(ours_value) is sg.Tensor
    assert ours.state_dict()["stem.bn.num_batches_tracked"].dtype == np.int64
    kept = ours.state_dict(keep_vars=True)
    assert kept["stem.conv.weight"] is ours.stem.conv.weight
    # detached values share memory with the module, as in torch
    ours.state_dict()["stem.conv.bias"].array[0] = 42.0
    assert ours.stem.conv.bias.array[0] == 42.0
    prefixed = ours.state_dict(prefix="net.")
    assert list(prefixed) == ["net." + k for k in theirs.state_dict()]


def test_load_torch_state_dict_and_forward_matches(models):
    ours, theirs = models
    theirs.train()
    theirs(torch.randn(4, 3, 6, 6))  # moves the running statistics away from their defaults
    weight = ours.stem.conv.weight
    data_before = weight.array
    assert repr(ours.load_state_dict(theirs.state_dict())) == "<All keys matched successfully>"
    assert ours.stem.conv.weight is weight and weight.array is data_before  # copied into the same memory
    assert int(ours.stem.bn.num_batches_tracked) == 1
    ours.eval()
    theirs.eval()
    x = np.random.default_rng(0).standard_normal((2, 3, 6, 6)).astype(np.float32)
    np.testing.assert_allclose(ours(sg.tensor(x)).detach().numpy(), theirs(torch.tensor(x)).detach().numpy(), rtol=1e-4, atol=1e-5)


def test_load_numpy_and_scratch_values_keep_dtype(models):
    ours, theirs = models
    as_float64 = {k: v.numpy().astype(np.float64) if v.is_floating_point() else v.numpy() for k, v in theirs.state_dict().items()}
    ours.load_state_dict(as_float64)
    assert ours.stem.conv.weight.dtype == np.float32
    np.testing.assert_allclose(ours.stem.conv.weight.array, theirs.stem.conv.weight.detach().numpy())
    other = build(snn, sg)
    other.load_state_dict(ours.state_dict())
    np.testing.assert_array_equal(other.heads["aux"][1].weight.array, ours.heads["aux"][1].weight.array)


def test_strict_errors_and_non_strict_keys_equal_torch(models):
    ours, theirs = models
    state = theirs.state_dict()
    del state["stem.bn.running_var"], state["blocks.1.conv.weight"]
    state["bogus"] = torch.zeros(1)
    state["heads.cls.extra"] = torch.zeros(1)
    state["nothere.weight"] = torch.zeros(1)
    with pytest.raises(RuntimeError) as ours_error:
        ours.load_state_dict(state)
    with pytest.raises(RuntimeError) as theirs_error:
        theirs.load_state_dict(state)
    assert str(ours_error.value) == str(theirs_error.value)
    assert tuple(ours.load_state_dict(state, strict=False)) == tuple(theirs.load_state_dict(state, strict=False))
    assert ours.load_state_dict(state, strict=False).missing_keys == ["stem.bn.running_var", "blocks.1.conv.weight"]


def test_missing_num_batches_tracked_is_filled_in(models):
    ours, theirs = models
    state = {k: v for k, v in theirs.state_dict().items() if not k.endswith("num_batches_tracked")}
    assert tuple(ours.load_state_dict(state)) == ([], [])


def test_wrong_shape_error_names_parameter_and_shapes(models):
    ours, _ = models
    state = ours.state_dict()
    state["heads.cls.weight"] = np.zeros((6, 4), np.float32)
    with pytest.raises(RuntimeError, match=r"size mismatch for heads\.cls\.weight: copying a param with shape \(6, 4\) "
                                           r"from checkpoint, the shape in current model is \(5, 4\)"):
        ours.load_state_dict(state, strict=False)
    with pytest.raises(RuntimeError, match="expected a Tensor"):
        ours.load_state_dict({**ours.state_dict(), "scale": "one"})
    with pytest.raises(TypeError, match="dict-like"):
        ours.load_state_dict([1, 2])


def test_repr_equals_torch():
    assert repr(build(snn, sg)) == repr(build(torch.nn, torch))
    for make in [
        lambda nn: nn.Sequential(nn.Conv2d(3, 8, 3, stride=2, padding=1, dilation=2, groups=1, bias=False), nn.BatchNorm2d(8, momentum=None, affine=False),
                                 nn.LeakyReLU(0.2, inplace=True), nn.MaxPool2d(3, 2, 1), nn.AvgPool2d(2, count_include_pad=False), nn.Flatten(0, 2),
                                 nn.Dropout(0.1, inplace=True), nn.Linear(3, 4, bias=False), nn.ELU(0.5), nn.SELU(), nn.GELU("tanh"), nn.Sigmoid(),
                                 nn.Tanh(), nn.Softmax(dim=-1), nn.LogSoftmax(1), nn.Identity(), nn.BatchNorm1d(3, eps=1e-3, track_running_stats=False)),
        lambda nn: nn.ModuleList([nn.ReLU(), nn.ReLU(), nn.Linear(1, 2), nn.Linear(1, 2), nn.Linear(1, 2), nn.Tanh()]),
        lambda nn: nn.ModuleList([nn.Sequential(nn.Linear(2, 2), nn.ReLU()) for _ in range(3)]),
        lambda nn: nn.ModuleList(),
        lambda nn: nn.Sequential(),
        lambda nn: nn.ModuleDict({"a": nn.Conv2d(1, 2, (3, 1), padding="same", groups=1, padding_mode="reflect"), "b": nn.Conv2d(2, 4, 1, groups=2, padding="valid")}),
        lambda nn: nn.Sequential(nn.CrossEntropyLoss(label_smoothing=0.1), nn.MSELoss(), nn.BCEWithLogitsLoss(), nn.NLLLoss(), nn.AdaptiveAvgPool2d((1, None))),
    ]:
        assert repr(make(snn)) == repr(make(torch.nn))


def test_parameter_repr_and_identity():
    param = snn.Parameter(sg.tensor([1.0, 2.0]))
    assert repr(param) == repr(torch.nn.Parameter(torch.tensor([1.0, 2.0])))
    assert param.requires_grad and param.is_leaf and isinstance(param, sg.Tensor)
    assert not snn.Parameter(sg.zeros(2), requires_grad=False).requires_grad
    assert snn.Parameter().shape == (0,) and snn.Parameter().dtype == np.float32
    source = sg.zeros(3)
    shared = snn.Parameter(source)
    shared.array[0] = 1.0
    assert source.array[0] == 1.0  # shares memory with its data, as torch
    assert type(shared.detach()) is sg.Tensor and type(shared * 2) is sg.Tensor


def test_setattr_getattr_delattr_bookkeeping():
    module = snn.Module()
    module.weight = snn.Parameter(sg.ones(2))
    module.child = snn.Linear(2, 2)
    module.register_buffer("stat", sg.zeros(2))
    module.plain = 3
    assert list(module._parameters) == ["weight"] and list(module._modules) == ["child"] and list(module._buffers) == ["stat"]
    with pytest.raises(TypeError, match="cannot assign 'Tensor' as parameter 'weight'"):
        module.weight = sg.ones(2)
    with pytest.raises(TypeError, match="child module 'child'"):
        module.child = 3
    with pytest.raises(TypeError, match="buffer 'stat'"):
        module.stat = 3
    module.stat = sg.ones(2)  # a tensor may replace a buffer
    assert module.stat is module._buffers["stat"]
    module.weight = None
    assert "weight" in module._parameters and module.weight is None and list(module.parameters())[0] is module.child.weight
    module.child = snn.Parameter(sg.ones(1))  # a parameter replaces a module of the same name
    assert "child" not in module._modules and "child" in module._parameters
    del module.child, module.stat, module.plain
    assert "child" not in module._parameters and "stat" not in module._buffers and not hasattr(module, "plain")
    with pytest.raises(AttributeError, match="'Module' object has no attribute 'missing'"):
        module.missing
    assert {"weight"} <= set(dir(module))


def test_registration_errors():
    module = snn.Module()
    module.x = 1
    for bad in ["a.b", "", "x"]:
        with pytest.raises(KeyError):
            module.register_buffer(bad, sg.zeros(1))
        with pytest.raises(KeyError):
            module.register_parameter(bad, None)
        with pytest.raises(KeyError):
            module.add_module(bad, None)
    with pytest.raises(TypeError, match="Tensor or None required"):
        module.register_buffer("b", np.zeros(1))
    with pytest.raises(TypeError):
        module.register_parameter("p", sg.zeros(1))
    with pytest.raises(TypeError, match="is not a Module subclass"):
        module.add_module("m", 3)

    class Early(snn.Module):
        def __init__(self):
            self.weight = snn.Parameter(sg.ones(1))

    with pytest.raises(AttributeError, match="before Module.__init__"):
        Early()


def test_submodule_access_and_apply(models):
    ours, theirs = models
    assert ours.get_submodule("blocks.1.conv") is ours.blocks[1].conv
    assert ours.get_submodule("") is ours
    assert ours.get_parameter("heads.cls.bias") is ours.heads["cls"].bias
    assert ours.get_buffer("stem.bn.running_mean") is ours.stem.bn.running_mean
    with pytest.raises(AttributeError, match="has no attribute `nope`"):
        ours.get_submodule("blocks.nope")
    visited = []
    ours.apply(lambda m: visited.append(type(m).__name__))
    theirs_visited = []
    theirs.apply(lambda m: theirs_visited.append(type(m).__name__))
    assert visited == theirs_visited
    ours.register_module("extra", snn.Tanh())
    assert ours.extra is ours._modules["extra"]


def test_train_eval_requires_grad_zero_grad(models):
    ours, _ = models
    assert all(m.training for m in ours.modules())
    assert ours.eval() is ours and not any(m.training for m in ours.modules())
    ours.train()
    assert all(m.training for m in ours.modules())
    with pytest.raises(ValueError, match="boolean"):
        ours.train("yes")
    ours.requires_grad_(False)
    assert not any(p.requires_grad for p in ours.parameters())
    ours.requires_grad_()
    out = ours(sg.randn(2, 3, 4, 4)).sum()
    out.backward()
    assert all(p.grad is not None for p in ours.parameters())
    ours.zero_grad(set_to_none=False)
    assert all(p.grad is not None and not p.grad.array.any() for p in ours.parameters())
    ours.zero_grad()
    assert all(p.grad is None for p in ours.parameters())


def test_to_float_double_keep_identity_and_integer_buffers(models):
    ours, _ = models
    weight = ours.stem.conv.weight
    ours(sg.randn(2, 3, 4, 4)).sum().backward()
    assert ours.double() is ours
    assert ours.stem.conv.weight is weight and weight.dtype == np.float64 and weight.grad.dtype == np.float64
    assert ours.stem.bn.running_mean.dtype == np.float64 and ours.stem.bn.num_batches_tracked.dtype == np.int64
    assert ours(sg.randn(2, 3, 4, 4).double()).dtype == np.float64
    ours.to(sg.float32)
    assert weight.dtype == np.float32 and ours.cache.dtype == np.float32
    ours.to("cpu", dtype=sg.float64).float().cpu()
    assert all(p.dtype == np.float32 for p in ours.parameters())
    with pytest.raises(TypeError, match="floating point"):
        ours.to(sg.int64)


def test_forward_hooks():
    linear = snn.Linear(3, 2)
    calls = []
    pre = linear.register_forward_pre_hook(lambda m, args: calls.append(("pre", args[0].shape)))
    post = linear.register_forward_hook(lambda m, args, out: calls.append(("post", out.shape)))
    first = linear.register_forward_hook(lambda m, args, out: calls.append(("first", None)), prepend=True)
    x = sg.randn(4, 3)
    linear(x)
    assert calls == [("pre", (4, 3)), ("first", None), ("post", (4, 2))]
    pre.remove(), post.remove(), first.remove()
    calls.clear()
    linear(x)
    assert calls == []
    # hooks may replace the input and the output
    with linear.register_forward_pre_hook(lambda m, args: args[0] * 0):
        assert np.allclose(linear(x).detach().numpy(), linear.bias.detach().numpy())
    with linear.register_forward_hook(lambda m, args, out: out * 0):
        assert not linear(x).detach().numpy().any()
    with linear.register_forward_pre_hook(lambda m, args, kwargs: ((args[0] * 0,), kwargs), with_kwargs=True):
        assert np.allclose(linear(x).detach().numpy(), linear.bias.detach().numpy())
    seen = []
    with linear.register_forward_hook(lambda m, args, kwargs, out: seen.append(kwargs), with_kwargs=True):
        linear(input=x)
    assert seen == [{"input": x}]


def test_forward_missing_raises():
    with pytest.raises(NotImplementedError, match=r'Module \[Module\] is missing the required "forward" function'):
        snn.Module()(1)


def test_sequential_behaves_like_torch():
    for nn, lib in ((snn, sg), (torch.nn, torch)):
        seq = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))
        assert len(seq) == 3 and isinstance(seq[-1], nn.Linear) and isinstance(seq[1], nn.ReLU)
        sliced = seq[1:]
        assert isinstance(sliced, nn.Sequential) and list(sliced._modules) == ["1", "2"] and sliced[0] is seq[1]
        seq.append(nn.Sigmoid())
        del seq[1]
        assert list(seq._modules) == ["0", "1", "2"]
        seq[0] = nn.Tanh()
        seq.insert(1, nn.Identity())
        assert [type(m).__name__ for m in seq] == ["Tanh", "Identity", "Linear", "Sigmoid"]
        with pytest.raises(IndexError):
            seq[10]
    named = snn.Sequential(OrderedDict([("a", snn.Linear(2, 2)), ("b", snn.ReLU())]))
    assert named.a is named[0] and list(named.state_dict()) == ["a.weight", "a.bias"]
    assert named(sg.randn(3, 2)).shape == (3, 2)


def test_module_list_and_dict():
    layers = snn.ModuleList([snn.Linear(2, 2) for _ in range(3)])
    layers.append(snn.ReLU())
    layers.extend([snn.Tanh()])
    layers += [snn.Sigmoid()]
    layers.insert(0, snn.Identity())
    assert len(layers) == 7 and isinstance(layers[0], snn.Identity) and isinstance(layers[-1], snn.Sigmoid)
    assert isinstance(layers[1:3], snn.ModuleList) and len(layers[1:3]) == 2
    del layers[0]
    assert list(layers._modules) == [str(i) for i in range(6)]
    assert len(list(layers.parameters())) == 6
    with pytest.raises(TypeError):
        layers.extend(snn.Linear(1, 1))
    heads = snn.ModuleDict({"a": snn.Linear(2, 3)})
    heads["b"] = snn.ReLU()
    heads.update([("c", snn.Tanh())])
    assert list(heads) == ["a", "b", "c"] and "b" in heads and len(heads) == 3
    assert list(heads.keys()) == ["a", "b", "c"] and isinstance(heads.pop("b"), snn.ReLU)
    assert [k for k, _ in heads.items()] == ["a", "c"]
    assert list(heads.state_dict()) == ["a.weight", "a.bias"]
    heads.clear()
    assert len(heads) == 0


def test_deepcopy_is_independent(models):
    import copy

    ours, _ = models
    clone = copy.deepcopy(ours)
    clone.stem.conv.weight.array[...] = 0
    assert ours.stem.conv.weight.array.any()
    assert list(clone.state_dict()) == list(ours.state_dict())
    assert clone.shared is clone.heads["cls"]
