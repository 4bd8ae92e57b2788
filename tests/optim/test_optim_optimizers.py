"""Every optimizer against PyTorch, parameter groups, dtypes, zero_grad, errors."""
import json

import numpy as np
import pytest

import scratchgrad as sg
from scratchgrad import optim
from scratchgrad.optim import optimizer as optimizer_module

SHAPES = [(3, 4), (5,), (2, 1, 3)]
STEPS = 10


def param(array):
    return sg.tensor(array, requires_grad=True)


def gradient_sequence(steps, dtype, seed=0):
    """Initial weights and one random gradient per parameter per step; some are None."""
    rng = np.random.default_rng(seed)
    weights = [rng.standard_normal(s).astype(dtype) for s in SHAPES]
    grads = [[rng.standard_normal(s).astype(dtype) for s in SHAPES] for _ in range(steps)]
    grads[min(3, steps - 1)][1] = None  # a parameter without a gradient is skipped for that step
    return weights, grads


def as_groups(params, groups):
    """``groups``: None for one group, or a list of (param indices, overrides)."""
    if groups is None:
        return params
    return [{"params": [params[i] for i in idx], **extra} for idx, extra in groups]


def run_scratch(name, kwargs, weights, grads, groups=None):
    params = [param(w) for w in weights]
    opt = getattr(optim, name)(as_groups(params, groups), **kwargs)
    for step_grads in grads:
        for p, g in zip(params, step_grads):
            p.grad = None if g is None else sg.tensor(g)
        opt.step()
    return params, opt


def run_torch(torch, name, kwargs, weights, grads, groups=None):
    params = [torch.tensor(w, requires_grad=True) for w in weights]
    opt = getattr(torch.optim, name)(as_groups(params, groups), **kwargs)
    for step_grads in grads:
        for p, g in zip(params, step_grads):
            p.grad = None if g is None else torch.tensor(g)
        opt.step()
    return params, opt


def assert_matches_torch(name, kwargs, groups=None, dtype=np.float64, rtol=1e-9, atol=1e-12):
    torch = pytest.importorskip("torch")
    weights, grads = gradient_sequence(STEPS, dtype)
    ours, ours_opt = run_scratch(name, kwargs, weights, grads, groups)
    theirs, theirs_opt = run_torch(torch, name, kwargs, weights, grads, groups)
    for p, t in zip(ours, theirs):
        assert p.array.dtype == dtype
        np.testing.assert_allclose(p.array, t.detach().numpy(), rtol=rtol, atol=atol)
    ours_sd, theirs_sd = ours_opt.state_dict(), theirs_opt.state_dict()
    assert ours_sd["state"].keys() == theirs_sd["state"].keys()
    for index, state in ours_sd["state"].items():
        assert state.keys() == theirs_sd["state"][index].keys()
        for key, value in state.items():
            expected = theirs_sd["state"][index][key]
            if key == "step" or isinstance(value, float):  # scalar state: a Python number here, a tensor in torch
                np.testing.assert_allclose(value, expected.item(), rtol=rtol, atol=atol)
            else:
                np.testing.assert_allclose(value.array, expected.numpy(), rtol=rtol, atol=atol)
    for group, torch_group in zip(ours_sd["param_groups"], theirs_sd["param_groups"]):
        assert group == {k: torch_group[k] for k in group}


CASES = [
    ("SGD", dict(lr=0.1)),
    ("SGD", dict(lr=0.1, momentum=0.9)),
    ("SGD", dict(lr=0.1, momentum=0.9, dampening=0.3)),
    ("SGD", dict(lr=0.1, momentum=0.9, nesterov=True)),
    ("SGD", dict(lr=0.05, momentum=0.8, weight_decay=0.01)),
    ("SGD", dict(lr=0.05, momentum=0.9, dampening=0.5, weight_decay=0.1, maximize=True)),
    ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.1, maximize=True)),
    ("SGD", dict(lr=0.1, weight_decay=0.1, maximize=True)),
    ("Adam", dict()),
    ("Adam", dict(lr=0.01, betas=(0.8, 0.99), eps=1e-6)),
    ("Adam", dict(lr=0.01, weight_decay=0.1)),
    ("Adam", dict(lr=0.01, amsgrad=True)),
    ("Adam", dict(lr=0.01, weight_decay=0.05, amsgrad=True, maximize=True)),
    ("Adam", dict(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True)),
    ("AdamW", dict()),
    ("AdamW", dict(lr=0.01, weight_decay=0.1)),
    ("AdamW", dict(lr=0.01, betas=(0.5, 0.9), weight_decay=0.1, amsgrad=True)),
    ("AdamW", dict(lr=0.01, weight_decay=0.2, maximize=True)),
    ("Adadelta", dict()),
    ("Adadelta", dict(lr=0.5, rho=0.8, eps=1e-4, weight_decay=0.1, maximize=True)),
    ("RMSprop", dict()),
    ("RMSprop", dict(lr=0.01, alpha=0.9, momentum=0.9, weight_decay=0.1)),
    ("RMSprop", dict(lr=0.01, centered=True, momentum=0.5, maximize=True)),
    ("RMSprop", dict(lr=0.01, alpha=0.3, centered=True)),
    ("Adagrad", dict()),
    ("Adagrad", dict(lr=0.1, lr_decay=0.05, weight_decay=0.1, initial_accumulator_value=0.5, eps=1e-6, maximize=True)),
    ("Adamax", dict()),
    ("Adamax", dict(lr=0.01, betas=(0.5, 0.9), weight_decay=0.1, maximize=True)),
    ("NAdam", dict()),
    ("NAdam", dict(lr=0.01, betas=(0.8, 0.99), momentum_decay=0.1, weight_decay=0.1)),
    ("NAdam", dict(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True, maximize=True)),
    ("RAdam", dict()),  # rho_t <= 5 for the first steps: the unrectified update
    ("RAdam", dict(lr=0.01, betas=(0.9, 0.6), weight_decay=0.1)),  # rho_t > 5 from step 1: rectified
    ("RAdam", dict(lr=0.01, betas=(0.8, 0.9), weight_decay=0.1, decoupled_weight_decay=True, maximize=True)),
    ("ASGD", dict()),
    ("ASGD", dict(lr=0.05, lambd=0.01, alpha=0.5, t0=3, weight_decay=0.1)),  # averaging starts at step 4
    ("ASGD", dict(lr=0.05, t0=0, maximize=True)),
]


@pytest.mark.parametrize("name, kwargs", CASES, ids=[f"{n}-{k}" for n, k in CASES])
def test_matches_torch_float64(name, kwargs):
    assert_matches_torch(name, kwargs)


GROUP_CASES = [
    ("SGD", dict(lr=0.1, momentum=0.9), [([0, 2], {}), ([1], dict(lr=0.01, momentum=0.5, nesterov=True))]),
    ("Adam", dict(lr=0.01), [([1], dict(lr=0.1, betas=(0.5, 0.6))), ([0, 2], dict(weight_decay=0.1))]),
    ("AdamW", dict(lr=0.01), [([0], {}), ([1], dict(lr=0.003)), ([2], dict(amsgrad=True))]),
]


@pytest.mark.parametrize("name, kwargs, groups", GROUP_CASES, ids=[c[0] for c in GROUP_CASES])
def test_param_groups_match_torch(name, kwargs, groups):
    assert_matches_torch(name, kwargs, groups)


@pytest.mark.parametrize("name, kwargs", [
    ("SGD", dict(lr=np.float64(0.1), momentum=0.9, nesterov=True, weight_decay=0.01)),
    ("Adam", dict(lr=np.float64(0.01), weight_decay=0.1, amsgrad=True)),
    ("AdamW", dict(lr=0.01, betas=(np.float64(0.9), 0.999), weight_decay=np.float64(0.1))),
    ("Adadelta", dict(lr=np.float64(0.5), rho=np.float64(0.9), weight_decay=np.float64(0.1))),
    ("RMSprop", dict(lr=np.float64(0.01), alpha=np.float64(0.9), momentum=np.float64(0.5), centered=True)),
    ("Adagrad", dict(lr=np.float64(0.1), lr_decay=np.float64(0.01), weight_decay=np.float64(0.1))),
    ("Adamax", dict(lr=np.float64(0.01), betas=(np.float64(0.9), 0.99), weight_decay=np.float64(0.1))),
    ("NAdam", dict(lr=np.float64(0.01), momentum_decay=np.float64(0.1), weight_decay=np.float64(0.1))),
    ("RAdam", dict(lr=np.float64(0.01), betas=(0.9, np.float64(0.6)), weight_decay=np.float64(0.1))),
    ("ASGD", dict(lr=np.float64(0.05), lambd=np.float64(0.01), t0=np.float64(3), weight_decay=np.float64(0.1))),
])
def test_float32_stays_float32(name, kwargs):
    # np.float64 hyperparameters would promote float32 arrays under NumPy 2's rules.
    assert_matches_torch(name, kwargs, dtype=np.float32, rtol=1e-5, atol=1e-6)
    weights, grads = gradient_sequence(STEPS, np.float32)
    params, opt = run_scratch(name, kwargs, weights, grads)
    for p in params:
        assert p.array.dtype == np.float32
    for state in opt.state.values():
        for key, value in state.items():
            assert key == "step" or isinstance(value, float) or value.dtype == np.float32, key


@pytest.mark.parametrize("name, kwargs", [
    ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.01)),
    ("AdamW", dict(lr=0.05, amsgrad=True)),
])
def test_training_loop_with_autograd_matches_torch(name, kwargs):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    x, y, w0 = rng.standard_normal((8, 3)), rng.standard_normal((8, 1)), rng.standard_normal((3, 1))
    results = []
    for lib, make in [(sg, lambda a, g: sg.tensor(a, requires_grad=g)),
                      (torch, lambda a, g: torch.tensor(a, requires_grad=g))]:
        w = make(w0, True)
        opt = getattr(lib.optim, name)([w], **kwargs)
        for _ in range(STEPS):
            opt.zero_grad()
            loss = ((make(x, False) @ w - make(y, False)) ** 2).mean()
            loss.backward()
            opt.step()
        results.append(w.detach().numpy())
    np.testing.assert_allclose(results[0], results[1], rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("name, kwargs", CASES, ids=[f"{n}-{k}" for n, k in CASES])
def test_updates_in_blocks_equal_whole_arrays(name, kwargs, monkeypatch):
    # The updates run on blocks of rows on all cores; an element's arithmetic must not depend on the blocks.
    weights, grads = gradient_sequence(STEPS, np.float32)
    whole, _ = run_scratch(name, kwargs, weights, grads)
    monkeypatch.setattr(optimizer_module, "BLOCK_ELEMENTS", 2)  # a block of one or two rows
    blocked, _ = run_scratch(name, kwargs, weights, grads)
    for a, b in zip(whole, blocked):
        np.testing.assert_array_equal(a.array, b.array)


@pytest.mark.parametrize("name, kwargs", [("SGD", dict(lr=0.1, momentum=0.9)), ("Adam", dict(lr=0.1))])
def test_a_parameter_listed_twice_is_updated_twice_in_order(name, kwargs):
    twice, once = param(np.arange(4.0)), param(np.arange(4.0))
    with pytest.warns(UserWarning, match="duplicate"):
        opt_twice = getattr(optim, name)([twice, twice], **kwargs)
    opt_once = getattr(optim, name)([once], **kwargs)
    twice.grad = once.grad = sg.tensor(np.array([1.0, -2.0, 3.0, 0.5]))
    opt_twice.step()
    opt_once.step()
    opt_once.step()
    np.testing.assert_array_equal(twice.array, once.array)


def test_zero_grad_set_to_none():
    p = param(np.ones(3))
    p.grad = sg.tensor(np.full(3, 2.0))
    opt = optim.SGD([p], lr=0.1)
    opt.zero_grad()
    assert p.grad is None
    opt.step()  # nothing to do: parameters without a gradient are skipped
    np.testing.assert_array_equal(p.array, np.ones(3))


def test_zero_grad_fills_zeros_in_place():
    p = param(np.ones(3, dtype=np.float32))
    grad = p.grad = sg.tensor(np.full(3, 2.0, dtype=np.float32))
    optim.SGD([p], lr=0.1).zero_grad(set_to_none=False)
    assert p.grad is grad
    np.testing.assert_array_equal(p.grad.array, np.zeros(3))
    assert p.grad.array.dtype == np.float32


@pytest.mark.parametrize("name", ["SGD", "Adam", "AdamW"])
def test_backward_through_a_stale_graph_raises(name):
    p = param(np.ones(3))
    loss = (p * p).sum()  # saves p for backward
    p.grad = sg.tensor(np.ones(3))
    getattr(optim, name)([p], lr=0.1).step()
    with pytest.raises(RuntimeError, match="modified by an inplace operation|version"):
        loss.backward()


def test_step_returns_closure_loss_with_grad_enabled():
    p = param(np.ones(2))
    opt = optim.Adam([p])
    seen = []

    def closure():
        seen.append(sg.is_grad_enabled())
        p.grad = sg.tensor(np.ones(2))
        return 1.5

    with sg.no_grad():
        assert opt.step(closure) == 1.5
    assert seen == [True]
    assert opt.step() is None


def test_add_param_group_fills_defaults():
    a, b = param(np.ones(2)), param(np.ones(3))
    opt = optim.SGD([a], lr=0.1, momentum=0.9)
    opt.add_param_group({"params": b, "lr": 0.5})
    assert [g["lr"] for g in opt.param_groups] == [0.1, 0.5]
    assert opt.param_groups[1]["momentum"] == 0.9
    assert len(opt.param_groups[1]["params"]) == 1 and opt.param_groups[1]["params"][0] is b
    with pytest.raises(ValueError, match="more than one parameter group"):
        opt.add_param_group({"params": [a]})
    with pytest.raises(ValueError, match="invalid lr -1"):
        opt.add_param_group({"params": [param(np.ones(1))], "lr": -1})


@pytest.mark.parametrize("build, message", [
    (lambda p: optim.SGD([p], lr=-0.1), "invalid lr -0.1"),
    (lambda p: optim.SGD([p], momentum=-0.5), "invalid momentum -0.5"),
    (lambda p: optim.SGD([p], weight_decay=-1), "invalid weight_decay -1"),
    (lambda p: optim.SGD([p], nesterov=True), "nesterov=True requires momentum > 0.*momentum=0"),
    (lambda p: optim.SGD([p], momentum=0.9, dampening=0.1, nesterov=True), "dampening=0.1"),
    (lambda p: optim.Adam([p], lr=-1e-3), "invalid lr -0.001"),
    (lambda p: optim.Adam([p], eps=-1.0), "invalid eps -1.0"),
    (lambda p: optim.Adam([p], betas=(1.0, 0.9)), r"invalid betas\[0\] 1.0"),
    (lambda p: optim.Adam([p], betas=(0.9, -0.1)), r"invalid betas\[1\] -0.1"),
    (lambda p: optim.AdamW([p], weight_decay=-0.01), "AdamW: invalid weight_decay -0.01"),
    (lambda p: optim.SGD([], lr=0.1), "empty parameter list"),
    (lambda p: optim.SGD([{"params": [p]}, {"params": [p]}]), "more than one parameter group"),
])
def test_invalid_arguments_raise_value_error(build, message):
    with pytest.raises(ValueError, match=message):
        build(param(np.ones(2)))


@pytest.mark.parametrize("params, message", [
    (lambda p: p, "single Tensor"),
    (lambda p: {p}, "got a set"),
    (lambda p: [np.ones(2)], "can only optimize Tensors, got ndarray"),
])
def test_invalid_params_raise_type_error(params, message):
    with pytest.raises(TypeError, match=message):
        optim.SGD(params(param(np.ones(2))), lr=0.1)


# ------------------------------------------------------------------ state dicts

ROUND_TRIP_CASES = [
    ("SGD", dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01)),
    ("Adam", dict(lr=0.01, amsgrad=True, weight_decay=0.1)),
    ("AdamW", dict(lr=0.01, weight_decay=0.1)),
    ("Adadelta", dict(lr=0.5, weight_decay=0.1)),
    ("RMSprop", dict(lr=0.01, momentum=0.9, centered=True)),
    ("Adagrad", dict(lr=0.1, lr_decay=0.05)),
    ("Adamax", dict(lr=0.01)),
    ("NAdam", dict(lr=0.01, weight_decay=0.1)),
    ("RAdam", dict(lr=0.01, betas=(0.9, 0.6))),
    ("ASGD", dict(lr=0.05, lambd=0.01, t0=2)),
]


def json_round_trip(state_dict):
    """What a safetensors checkpoint does: Tensors as arrays, everything else as JSON."""
    arrays = {(i, k): v.array.copy() for i, s in state_dict["state"].items() for k, v in s.items() if isinstance(v, sg.Tensor)}
    meta = json.loads(json.dumps({
        "state": {i: {k: v for k, v in s.items() if not isinstance(v, sg.Tensor)} for i, s in state_dict["state"].items()},
        "param_groups": state_dict["param_groups"],
    }))
    for (i, k), array in arrays.items():
        meta["state"][str(i)][k] = sg.tensor(array)
    return meta


@pytest.mark.parametrize("through_json", [False, True], ids=["direct", "json"])
@pytest.mark.parametrize("name, kwargs", ROUND_TRIP_CASES, ids=[c[0] for c in ROUND_TRIP_CASES])
def test_state_dict_round_trip_continues_exactly(name, kwargs, through_json):
    weights, grads = gradient_sequence(STEPS, np.float64)
    expected, _ = run_scratch(name, kwargs, weights, grads)

    first, opt = run_scratch(name, kwargs, weights, grads[:4])
    saved = opt.state_dict()
    if through_json:
        saved = json_round_trip(saved)
    resumed, resumed_opt = run_scratch(name, kwargs, [p.array for p in first], [])
    resumed_opt.load_state_dict(saved)
    for step_grads in grads[4:]:
        for p, g in zip(resumed, step_grads):
            p.grad = None if g is None else sg.tensor(g)
        resumed_opt.step()
    for p, q in zip(resumed, expected):
        np.testing.assert_array_equal(p.array, q.array)


def test_state_dict_is_a_copy():
    weights, grads = gradient_sequence(2, np.float64)
    params, opt = run_scratch("SGD", dict(lr=0.1, momentum=0.9), weights, grads)
    saved = opt.state_dict()
    buffer = opt.state[params[0]]["momentum_buffer"]
    before = buffer.copy()
    saved["state"][0]["momentum_buffer"].array[...] = 7.0
    saved["param_groups"][0]["lr"] = 3.0
    np.testing.assert_array_equal(buffer, before)
    assert opt.param_groups[0]["lr"] == 0.1

    opt.load_state_dict(saved)
    saved["state"][0]["momentum_buffer"].array[...] = -1.0
    np.testing.assert_array_equal(opt.state[params[0]]["momentum_buffer"], np.full(SHAPES[0], 7.0))
    assert opt.param_groups[0]["lr"] == 3.0
    assert opt.param_groups[0]["params"][0] is params[0]


def test_load_state_dict_casts_to_param_dtype():
    weights, grads = gradient_sequence(2, np.float64)
    _, opt64 = run_scratch("Adam", dict(lr=0.01), weights, grads)
    params32, opt32 = run_scratch("Adam", dict(lr=0.01), [w.astype(np.float32) for w in weights], [])
    opt32.load_state_dict(opt64.state_dict())
    state = opt32.state[params32[0]]
    assert state["step"] == 2
    assert state["exp_avg"].dtype == state["exp_avg_sq"].dtype == np.float32


def test_load_state_dict_validates_groups_and_shapes():
    weights, grads = gradient_sequence(2, np.float64)
    _, opt = run_scratch("SGD", dict(lr=0.1, momentum=0.9), weights, grads)
    saved = opt.state_dict()
    two_groups = optim.SGD([{"params": [param(w)]} for w in weights[:2]], lr=0.1)
    with pytest.raises(ValueError, match="has 1 parameter groups, the optimizer has 2"):
        two_groups.load_state_dict(saved)
    fewer = optim.SGD([param(w) for w in weights[:2]], lr=0.1)
    with pytest.raises(ValueError, match="group 0 has 3 parameters, the optimizer's group 0 has 2"):
        fewer.load_state_dict(saved)
    reshaped = optim.SGD([param(np.ones((4, 3))), param(weights[1]), param(weights[2])], lr=0.1)
    with pytest.raises(ValueError, match=r"state\[0\]\['momentum_buffer'\] has shape \(3, 4\), expected .* \(4, 3\)"):
        reshaped.load_state_dict(saved)
    with pytest.raises(ValueError, match="expected a 'param_groups' entry"):
        opt.load_state_dict({"state": {}})
