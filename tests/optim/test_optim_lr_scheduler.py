"""Every scheduler against PyTorch's lr (and momentum) at every step, state dicts, errors."""
import json
import warnings

import numpy as np
import pytest

import scratchgrad as sg
from scratchgrad import optim
from scratchgrad.optim import lr_scheduler

STEPS = 100
LRS = (0.1, 0.02)  # two parameter groups with different learning rates


def param():
    return sg.tensor(np.ones(2), requires_grad=True)


def make_optimizer(module, make_param, name):
    groups = [{"params": [make_param()], "lr": lr} for lr in LRS]
    if name == "SGD":
        return module.SGD(groups, momentum=0.9)
    if name == "RMSprop":
        return module.RMSprop(groups, momentum=0.9)
    return getattr(module, name)(groups)


# Each case builds the scheduler from a module with torch.optim.lr_scheduler's API, so
# the same line builds ours and torch's.
CASES = {
    "StepLR": ("SGD", lambda m, o: m.StepLR(o, step_size=7, gamma=0.5)),
    "MultiStepLR": ("SGD", lambda m, o: m.MultiStepLR(o, milestones=[10, 30, 30, 75], gamma=0.3)),
    "ExponentialLR": ("SGD", lambda m, o: m.ExponentialLR(o, gamma=0.97)),
    "LambdaLR": ("SGD", lambda m, o: m.LambdaLR(o, lr_lambda=lambda e: 1 / (1 + 0.1 * e))),
    "LambdaLR-per-group": ("Adam", lambda m, o: m.LambdaLR(o, [lambda e: 0.9**e, lambda e: e % 10])),
    "ConstantLR": ("SGD", lambda m, o: m.ConstantLR(o, factor=0.5, total_iters=10)),
    "LinearLR": ("SGD", lambda m, o: m.LinearLR(o, start_factor=0.1, end_factor=0.9, total_iters=25)),
    "LinearLR-down": ("Adam", lambda m, o: m.LinearLR(o, start_factor=1.0, end_factor=0.0, total_iters=60)),
    "CosineAnnealingLR": ("SGD", lambda m, o: m.CosineAnnealingLR(o, T_max=30, eta_min=0.001)),
    "CosineAnnealingLR-T100": ("AdamW", lambda m, o: m.CosineAnnealingLR(o, T_max=STEPS)),
    "OneCycleLR": ("SGD", lambda m, o: m.OneCycleLR(o, max_lr=0.5, total_steps=STEPS)),
    "OneCycleLR-adam-linear-3phase": ("Adam", lambda m, o: m.OneCycleLR(
        o, max_lr=[0.5, 0.05], total_steps=STEPS, pct_start=0.25, anneal_strategy="linear",
        three_phase=True, base_momentum=[0.8, 0.7], max_momentum=0.9)),
    "OneCycleLR-epochs-no-momentum": ("AdamW", lambda m, o: m.OneCycleLR(
        o, max_lr=0.1, epochs=10, steps_per_epoch=10, cycle_momentum=False, div_factor=10.0)),
    "SequentialLR-warmup-cosine": ("SGD", lambda m, o: m.SequentialLR(
        o, [m.LinearLR(o, start_factor=0.1, total_iters=10), m.CosineAnnealingLR(o, T_max=90)],
        milestones=[10])),
    "SequentialLR-three": ("Adam", lambda m, o: m.SequentialLR(
        o, [m.ConstantLR(o, factor=0.2, total_iters=5), m.ExponentialLR(o, gamma=0.95),
            m.MultiStepLR(o, milestones=[20, 40])], milestones=[5, 40])),
    "CyclicLR": ("SGD", lambda m, o: m.CyclicLR(o, base_lr=0.01, max_lr=0.1, step_size_up=7)),
    "CyclicLR-triangular2-adam": ("Adam", lambda m, o: m.CyclicLR(
        o, base_lr=[0.001, 0.002], max_lr=0.05, step_size_up=5, step_size_down=11, mode="triangular2")),
    "CyclicLR-exp-range-rmsprop": ("RMSprop", lambda m, o: m.CyclicLR(
        o, base_lr=0.01, max_lr=0.1, step_size_up=4, mode="exp_range", gamma=0.97, base_momentum=0.5)),
    "CyclicLR-scale-fn-no-momentum": ("AdamW", lambda m, o: m.CyclicLR(
        o, base_lr=0.01, max_lr=0.1, step_size_up=6, scale_fn=lambda x: 0.9**x, scale_mode="iterations",
        cycle_momentum=False)),
}


def trace(module, make_param, case, steps=STEPS, epochs=None):
    """(lrs, momenta, last_epoch, get_last_lr) after construction and after each step."""
    optimizer_name, build = CASES[case]
    opt = make_optimizer(module, make_param, optimizer_name)
    scheduler = build(module.lr_scheduler, opt)
    rows = [snapshot(opt, scheduler)]
    for epoch in (epochs or [None] * steps):
        opt.step()
        scheduler.step() if epoch is None else scheduler.step(epoch)
        rows.append(snapshot(opt, scheduler))
    return rows


def snapshot(opt, scheduler):
    groups = opt.param_groups
    momenta = [g["betas"][0] if "betas" in g else g.get("momentum", 0.0) for g in groups]
    return [g["lr"] for g in groups], momenta, scheduler.last_epoch, list(scheduler.get_last_lr())


def torch_param(torch):
    return lambda: torch.ones(2, requires_grad=True)


@pytest.mark.parametrize("case", CASES)
def test_matches_torch_at_every_step(case):
    torch = pytest.importorskip("torch")
    ours = trace(optim, param, case)
    theirs = trace(torch.optim, torch_param(torch), case)
    for step, (row, expected) in enumerate(zip(ours, theirs)):
        lrs, momenta, last_epoch, last_lr = row
        assert lrs == pytest.approx(expected[0], rel=1e-12, abs=0), step
        assert momenta == pytest.approx(expected[1], rel=1e-12, abs=0), step
        assert last_epoch == expected[2], step
        assert last_lr == pytest.approx(expected[3], rel=1e-12, abs=0), step


@pytest.mark.parametrize("case", ["StepLR", "MultiStepLR", "ExponentialLR", "ConstantLR", "LinearLR",
                                  "CosineAnnealingLR", "LambdaLR"])
@pytest.mark.filterwarnings("ignore:The epoch")
def test_step_with_epoch_uses_closed_form_like_torch(case):
    torch = pytest.importorskip("torch")
    epochs = [3, 10, 11, 31, 30, 75, 2, 60]
    ours = trace(optim, param, case, epochs=epochs)
    theirs = trace(torch.optim, torch_param(torch), case, epochs=epochs)
    for row, expected in zip(ours, theirs):
        assert row[0] == pytest.approx(expected[0], rel=1e-12, abs=0)


@pytest.mark.parametrize("build", [
    lambda m, o, e: m.StepLR(o, step_size=7, last_epoch=e),
    lambda m, o, e: m.CosineAnnealingLR(o, T_max=30, last_epoch=e),
    lambda m, o, e: m.OneCycleLR(o, max_lr=0.5, total_steps=STEPS, last_epoch=e),
], ids=["StepLR", "CosineAnnealingLR", "OneCycleLR"])
def test_resuming_with_last_epoch_matches_torch(build):
    torch = pytest.importorskip("torch")
    traces = []
    for module, make_param in [(optim, param), (torch.optim, torch_param(torch))]:
        opt = make_optimizer(module, make_param, "SGD")
        build(module.lr_scheduler, opt, -1)  # records initial_lr (and OneCycleLR's keys)
        scheduler = build(module.lr_scheduler, opt, 10)
        rows = [snapshot(opt, scheduler)]
        for _ in range(20):
            opt.step()
            scheduler.step()
            rows.append(snapshot(opt, scheduler))
        traces.append(rows)
    assert traces[0] == traces[1]


def test_initial_lr_and_base_lrs_recorded():
    opt = make_optimizer(optim, param, "SGD")
    scheduler = lr_scheduler.StepLR(opt, step_size=3)
    assert [g["initial_lr"] for g in opt.param_groups] == list(LRS)
    assert scheduler.base_lrs == list(LRS)
    assert scheduler.last_epoch == 0
    assert scheduler.get_last_lr() == list(LRS)


# ------------------------------------------------------------------ state dicts

@pytest.mark.parametrize("case", CASES)
def test_state_dict_round_trip_continues_exactly(case):
    expected = trace(optim, param, case)
    optimizer_name, build = CASES[case]

    opt = make_optimizer(optim, param, optimizer_name)
    scheduler = build(lr_scheduler, opt)
    for _ in range(40):
        opt.step()
        scheduler.step()
    # Through JSON, as a checkpoint's metadata would store them.
    opt_state = json.loads(json.dumps(opt.state_dict()))
    scheduler_state = json.loads(json.dumps(scheduler.state_dict()))

    opt = make_optimizer(optim, param, optimizer_name)
    scheduler = build(lr_scheduler, opt)
    scheduler.load_state_dict(scheduler_state)
    opt.load_state_dict(opt_state)
    rows = [snapshot(opt, scheduler)]
    for _ in range(STEPS - 40):
        opt.step()
        scheduler.step()
        rows.append(snapshot(opt, scheduler))
    assert rows == expected[40:]


def test_state_dict_is_a_deep_copy():
    opt = make_optimizer(optim, param, "SGD")
    scheduler = lr_scheduler.MultiStepLR(opt, milestones=[2, 4])
    saved = scheduler.state_dict()
    assert "optimizer" not in saved
    saved["milestones"][3] = 1
    saved["base_lrs"][0] = 5.0
    assert 3 not in scheduler.milestones and scheduler.base_lrs[0] == LRS[0]


def test_lambda_state_saves_callable_objects_only():
    class Decay:
        def __init__(self):
            self.rate = 0.5

        def __call__(self, epoch):
            return self.rate**epoch

    decay = Decay()
    opt = make_optimizer(optim, param, "SGD")
    scheduler = lr_scheduler.LambdaLR(opt, [decay, lambda e: 1.0])
    saved = scheduler.state_dict()
    assert saved["lr_lambdas"] == [{"rate": 0.5}, None]
    saved["lr_lambdas"][0]["rate"] = 0.25
    scheduler.load_state_dict(saved)
    assert decay.rate == 0.25


# ------------------------------------------------------------------ warnings and errors

def test_warns_when_stepped_before_the_optimizer():
    scheduler = lr_scheduler.StepLR(make_optimizer(optim, param, "SGD"), step_size=3)
    with pytest.warns(UserWarning, match="before `optimizer.step\\(\\)`"):
        scheduler.step()


def test_no_warning_in_the_right_order():
    opt = make_optimizer(optim, param, "Adam")
    scheduler = lr_scheduler.ExponentialLR(opt, gamma=0.5)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        opt.step()
        scheduler.step()


def test_get_lr_outside_step_warns():
    scheduler = lr_scheduler.ExponentialLR(make_optimizer(optim, param, "SGD"), gamma=0.5)
    with pytest.warns(UserWarning, match="get_last_lr"):
        scheduler.get_lr()


def test_one_cycle_refuses_to_step_past_total_steps():
    opt = make_optimizer(optim, param, "SGD")
    scheduler = lr_scheduler.OneCycleLR(opt, max_lr=0.1, total_steps=3)
    for _ in range(3):
        opt.step()
        scheduler.step()
    with pytest.raises(ValueError, match="tried to step 4 times, more than total_steps=3"):
        scheduler.step()


def test_resuming_needs_initial_lr():
    with pytest.raises(KeyError, match="initial_lr"):
        lr_scheduler.StepLR(make_optimizer(optim, param, "SGD"), step_size=3, last_epoch=5)


@pytest.mark.parametrize("build, error, message", [
    (lambda o: lr_scheduler.StepLR(o, step_size=0), ValueError, "step_size: expected a positive integer, got 0"),
    (lambda o: lr_scheduler.LinearLR(o, start_factor=0), ValueError, r"start_factor: expected a value in \(0, 1\], got 0"),
    (lambda o: lr_scheduler.LinearLR(o, end_factor=1.5), ValueError, "end_factor.*got 1.5"),
    (lambda o: lr_scheduler.LinearLR(o, total_iters=0), ValueError, "total_iters.*got 0"),
    (lambda o: lr_scheduler.ConstantLR(o, factor=2), ValueError, "factor.*got 2"),
    (lambda o: lr_scheduler.CosineAnnealingLR(o, T_max=0), ValueError, "T_max.*got 0"),
    (lambda o: lr_scheduler.LambdaLR(o, [lambda e: 1.0]), ValueError, "lr_lambda: expected 2 values.*got 1"),
    (lambda o: lr_scheduler.LambdaLR(o, 0.5), TypeError, "lr_lambda: expected a function, got float"),
    (lambda o: lr_scheduler.OneCycleLR(o, max_lr=0.1), ValueError, "total_steps, or epochs and steps_per_epoch"),
    (lambda o: lr_scheduler.OneCycleLR(o, max_lr=0.1, total_steps=-5), ValueError, "total_steps.*got -5"),
    (lambda o: lr_scheduler.OneCycleLR(o, max_lr=0.1, epochs=2, steps_per_epoch=0), ValueError,
     "steps_per_epoch.*got 0"),
    (lambda o: lr_scheduler.OneCycleLR(o, max_lr=0.1, total_steps=10, pct_start=1.5), ValueError,
     r"pct_start.*got 1.5"),
    (lambda o: lr_scheduler.OneCycleLR(o, max_lr=0.1, total_steps=10, anneal_strategy="exp"), ValueError,
     "anneal_strategy: expected 'cos' or 'linear', got 'exp'"),
    (lambda o: lr_scheduler.OneCycleLR(o, max_lr=[0.1], total_steps=10), ValueError, "max_lr: expected 2 values"),
    (lambda o: lr_scheduler.SequentialLR(o, [lr_scheduler.StepLR(o, 2)], milestones=[3]), ValueError,
     "milestones: expected 0.*got 1"),
    (lambda o: lr_scheduler.SequentialLR(o, [], milestones=[]), ValueError, "at least one scheduler"),
    (lambda o: lr_scheduler.SequentialLR(
        o, [lr_scheduler.StepLR(make_optimizer(optim, param, "SGD"), 2)], milestones=[]), ValueError,
     r"schedulers\[0\].*another optimizer"),
    (lambda o: lr_scheduler.StepLR(object(), 2), TypeError, "optimizer: expected an Optimizer, got object"),
])
def test_invalid_arguments(build, error, message):
    with pytest.raises(error, match=message):
        build(make_optimizer(optim, param, "SGD"))


# ------------------------------------------------------------------ ReduceLROnPlateau (steps on a metric)

PLATEAU_CASES = {
    "min-rel": dict(),
    "min-abs-cooldown": dict(mode="min", factor=0.5, patience=2, threshold=0.05, threshold_mode="abs", cooldown=3),
    "max-rel-min-lr": dict(mode="max", factor=0.3, patience=1, threshold=0.01, min_lr=[0.005, 0.001]),
    "max-abs-eps": dict(mode="max", factor=0.9, patience=0, threshold_mode="abs", eps=0.01),
}


def plateau_trace(module, make_param, kwargs, metrics):
    opt = make_optimizer(module, make_param, "SGD")
    scheduler = module.lr_scheduler.ReduceLROnPlateau(opt, **kwargs)
    rows = []
    for metric in metrics:
        opt.step()
        scheduler.step(metric)
        rows.append(([g["lr"] for g in opt.param_groups], scheduler.last_epoch, scheduler.num_bad_epochs,
                     scheduler.best, list(scheduler.get_last_lr())))
    return rows, scheduler


@pytest.mark.parametrize("case", PLATEAU_CASES)
def test_reduce_lr_on_plateau_matches_torch(case):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    # noisy, with stretches that improve, stall and get worse
    metrics = np.concatenate([np.linspace(1, 0.5, 10), np.full(15, 0.5), np.linspace(0.5, 0.8, 10)]) + rng.normal(0, 0.01, 35)
    ours, _ = plateau_trace(optim, param, PLATEAU_CASES[case], [float(m) for m in metrics])
    theirs, _ = plateau_trace(torch.optim, torch_param(torch), PLATEAU_CASES[case], [torch.tensor(m) for m in metrics])
    assert ours == theirs
    assert ours[-1][0] != [0.1, 0.02] or case == "max-abs-eps", "the case should reduce the lr at least once"


def test_reduce_lr_on_plateau_state_dict_round_trip():
    metrics = [1.0, 0.9, 0.95, 0.96, 0.97, 0.98, 0.99, 0.85, 0.9, 0.91, 0.92, 0.93]
    kwargs = dict(factor=0.5, patience=2, cooldown=1)
    expected, _ = plateau_trace(optim, param, kwargs, metrics)
    _, scheduler = plateau_trace(optim, param, kwargs, metrics[:5])
    saved = json.loads(json.dumps(scheduler.state_dict()))
    rows, resumed = plateau_trace(optim, param, kwargs, [])
    resumed.load_state_dict(saved)
    for g, lr in zip(resumed.optimizer.param_groups, expected[4][0]):
        g["lr"] = lr  # the optimizer's lr comes with its own state dict
    for metric in metrics[5:]:
        resumed.step(metric)
        rows.append(([g["lr"] for g in resumed.optimizer.param_groups], resumed.last_epoch, resumed.num_bad_epochs,
                     resumed.best, list(resumed.get_last_lr())))
    assert rows == expected[5:]


@pytest.mark.parametrize("build, message", [
    (lambda o: lr_scheduler.ReduceLROnPlateau(o, factor=1.0), "factor"),
    (lambda o: lr_scheduler.ReduceLROnPlateau(o, mode="up"), "mode"),
    (lambda o: lr_scheduler.ReduceLROnPlateau(o, threshold_mode="pct"), "threshold_mode"),
    (lambda o: lr_scheduler.CyclicLR(o, 0.01, 0.1, mode="sine"), "mode"),
])
def test_new_scheduler_arguments_are_checked(build, message):
    with pytest.raises(ValueError, match=message):
        build(make_optimizer(optim, param, "SGD"))


def test_cyclic_lr_needs_momentum_to_cycle_it():
    with pytest.raises(ValueError, match="momentum"):
        lr_scheduler.CyclicLR(make_optimizer(optim, param, "Adagrad"), 0.01, 0.1)
