"""Small training scripts in the style of PyTorch's public examples, run on both engines.

Each script below is written once against a ``torch`` module argument: ``torch`` itself or
``scratchgrad`` (``import scratchgrad as torch``), which is all that changes between the runs.
The harness adds one thing a script does not do: ``adopt(model)`` right after a model is built
gives scratchgrad's model torch's freshly initialized weights (the two engines draw different
random numbers for the same seed). Everything after that (forward, losses, backward, the
optimizers and schedulers, DataLoader batches, checkpoints) must give torch's numbers: the
losses are compared step by step in float64.

What the scripts leave out on purpose, and why: random draws inside the loop (the DCGAN
noise, dropout masks, ``shuffle=True`` orders) differ between the engines' generators, so
noise comes from a NumPy generator, dropout rates are a parameter (0 for the comparison, the
script's own rates in a scratchgrad-only run) and the loader's order is given by a sampler.
"""
import math

import numpy as np
import pytest

import scratchgrad

torch = pytest.importorskip("torch")

RTOL = 1e-9  # float64; the losses pass through a few optimizer steps, each amplifying rounding a little


def run_both(script, **kwargs):
    """``script(lib, adopt, **kwargs)`` in torch and in scratchgrad, torch's initial weights in both."""
    initial = []

    def keep_torch_weights(model):
        initial.append({k: v.detach().clone() for k, v in model.state_dict().items()})
        return model

    theirs = script(torch, keep_torch_weights, **kwargs)
    weights = iter(initial)

    def load_torch_weights(model):
        model.load_state_dict(next(weights))
        return model

    ours = script(scratchgrad, load_torch_weights, **kwargs)
    return ours, theirs


def assert_same_numbers(ours, theirs):
    assert len(ours) == len(theirs)
    for step, (a, b) in enumerate(zip(ours, theirs)):
        np.testing.assert_allclose(a, b, rtol=RTOL, atol=1e-12, err_msg=f"entry {step}")


# ------------------------------------------------------------------ DCGAN (pytorch/examples dcgan, tutorial)
def dcgan(torch, adopt, iterations=3, batch=4, nz=8, ngf=8, ndf=8, nc=3):
    nn, optim = torch.nn, torch.optim
    device = torch.device("cuda:0" if torch.cuda.is_available() and False else "cpu")
    ngpu = 1

    def weights_init(m):
        classname = m.__class__.__name__
        if classname.find("Conv") != -1:
            nn.init.normal_(m.weight.data, 0.0, 0.02)
        elif classname.find("BatchNorm") != -1:
            nn.init.normal_(m.weight.data, 1.0, 0.02)
            nn.init.constant_(m.bias.data, 0)

    class Generator(nn.Module):
        def __init__(self, ngpu):
            super().__init__()
            self.ngpu = ngpu
            self.main = nn.Sequential(
                nn.ConvTranspose2d(nz, ngf * 4, 4, 1, 0, bias=False), nn.BatchNorm2d(ngf * 4), nn.ReLU(True),
                nn.ConvTranspose2d(ngf * 4, ngf * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf * 2), nn.ReLU(True),
                nn.ConvTranspose2d(ngf * 2, nc, 4, 2, 1, bias=False), nn.Tanh(),
            )

        def forward(self, input):
            if input.is_cuda and self.ngpu > 1:
                return nn.parallel.data_parallel(self.main, input, range(self.ngpu))
            return self.main(input)

    class Discriminator(nn.Module):
        def __init__(self, ngpu):
            super().__init__()
            self.ngpu = ngpu
            self.main = nn.Sequential(
                nn.Conv2d(nc, ndf, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, inplace=True),
                nn.Conv2d(ndf, ndf * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ndf * 2), nn.LeakyReLU(0.2, inplace=True),
                nn.Conv2d(ndf * 2, 1, 4, 1, 0, bias=False), nn.Sigmoid(),
            )

        def forward(self, input):
            return self.main(input).view(-1, 1).squeeze(1)

    netG = Generator(ngpu).to(device)
    netG.apply(weights_init)
    netG = adopt(nn.DataParallel(netG).double())
    netD = Discriminator(ngpu).to(device)
    netD.apply(weights_init)
    netD = adopt(netD.double())
    criterion = nn.BCELoss()
    real_label, fake_label = 1.0, 0.0
    optimizerD = optim.Adam(netD.parameters(), lr=0.0002, betas=(0.5, 0.999))
    optimizerG = optim.Adam(netG.parameters(), lr=0.0002, betas=(0.5, 0.999))
    rng = np.random.default_rng(0)
    images = rng.uniform(-1, 1, (iterations, batch, nc, 16, 16))
    noises = rng.standard_normal((iterations, batch, nz, 1, 1))
    history = []
    for i in range(iterations):
        # (1) update D: maximize log(D(x)) + log(1 - D(G(z)))
        netD.zero_grad()
        real = torch.from_numpy(images[i]).to(device)
        label = torch.full((batch,), real_label, dtype=real.dtype, device=device)
        output = netD(real)
        errD_real = criterion(output, label)
        errD_real.backward()
        D_x = output.mean().item()
        noise = torch.from_numpy(noises[i]).to(device)
        fake = netG(noise)
        label.fill_(fake_label)
        output = netD(fake.detach())
        errD_fake = criterion(output, label)
        errD_fake.backward()
        D_G_z1 = output.mean().item()
        errD = errD_real + errD_fake
        optimizerD.step()
        # (2) update G: maximize log(D(G(z)))
        netG.zero_grad()
        label.fill_(real_label)
        output = netD(fake)
        errG = criterion(output, label)
        errG.backward()
        D_G_z2 = output.mean().item()
        optimizerG.step()
        history.append((errD.item(), errG.item(), D_x, D_G_z1, D_G_z2))
    return history


def test_dcgan_generator_discriminator_pair():
    assert_same_numbers(*run_both(dcgan))


# ------------------------------------------------------------------ super-resolution (pytorch/examples super_resolution)
def super_resolution(torch, adopt, epochs=2, upscale_factor=3, batch=4):
    nn, optim, init = torch.nn, torch.optim, torch.nn.init
    DataLoader, TensorDataset = torch.utils.data.DataLoader, torch.utils.data.TensorDataset

    class Net(nn.Module):
        def __init__(self, upscale_factor):
            super().__init__()
            self.relu = nn.ReLU()
            self.conv1 = nn.Conv2d(1, 16, (5, 5), (1, 1), (2, 2))
            self.conv2 = nn.Conv2d(16, 16, (3, 3), (1, 1), (1, 1))
            self.conv3 = nn.Conv2d(16, 8, (3, 3), (1, 1), (1, 1))
            self.conv4 = nn.Conv2d(8, upscale_factor ** 2, (3, 3), (1, 1), (1, 1))
            self.pixel_shuffle = nn.PixelShuffle(upscale_factor)
            self._initialize_weights()

        def forward(self, x):
            x = self.relu(self.conv1(x))
            x = self.relu(self.conv2(x))
            x = self.relu(self.conv3(x))
            return self.pixel_shuffle(self.conv4(x))

        def _initialize_weights(self):
            init.orthogonal_(self.conv1.weight, init.calculate_gain("relu"))
            init.orthogonal_(self.conv2.weight, init.calculate_gain("relu"))
            init.orthogonal_(self.conv3.weight, init.calculate_gain("relu"))
            init.orthogonal_(self.conv4.weight)

    rng = np.random.default_rng(1)
    low = rng.random((10, 1, 6, 6))
    high = rng.random((10, 1, 6 * upscale_factor, 6 * upscale_factor))
    train_set = TensorDataset(torch.from_numpy(low[:8]), torch.from_numpy(high[:8]))
    test_set = TensorDataset(torch.from_numpy(low[8:]), torch.from_numpy(high[8:]))
    training_data_loader = DataLoader(dataset=train_set, num_workers=2, batch_size=batch, shuffle=False)
    testing_data_loader = DataLoader(dataset=test_set, num_workers=2, batch_size=2, shuffle=False)
    model = adopt(Net(upscale_factor=upscale_factor).double())
    criterion = nn.MSELoss()
    optimizer = optim.Adam(model.parameters(), lr=0.01)
    history = []
    for epoch in range(1, epochs + 1):
        epoch_loss = 0
        for iteration, batch_ in enumerate(training_data_loader, 1):
            input, target = batch_[0], batch_[1]
            optimizer.zero_grad()
            loss = criterion(model(input), target)
            epoch_loss += loss.item()
            loss.backward()
            optimizer.step()
            history.append(loss.item())
        avg_psnr = 0
        with torch.no_grad():
            for batch_ in testing_data_loader:
                mse = criterion(model(batch_[0]), batch_[1])
                avg_psnr += 10 * math.log10(1 / mse.item())
        history.append(avg_psnr / len(testing_data_loader))
    return history


def test_super_resolution_with_pixel_shuffle():
    assert_same_numbers(*run_both(super_resolution))


# ------------------------------------------------------------------ style transfer (pytorch/examples fast_neural_style)
def style_transfer(torch, adopt, steps=3):
    nn = torch.nn

    class ConvLayer(nn.Module):
        def __init__(self, in_channels, out_channels, kernel_size, stride):
            super().__init__()
            self.reflection_pad = nn.ReflectionPad2d(kernel_size // 2)
            self.conv2d = nn.Conv2d(in_channels, out_channels, kernel_size, stride)

        def forward(self, x):
            return self.conv2d(self.reflection_pad(x))

    class ResidualBlock(nn.Module):
        def __init__(self, channels):
            super().__init__()
            self.conv1 = ConvLayer(channels, channels, kernel_size=3, stride=1)
            self.in1 = nn.InstanceNorm2d(channels, affine=True)
            self.conv2 = ConvLayer(channels, channels, kernel_size=3, stride=1)
            self.in2 = nn.InstanceNorm2d(channels, affine=True)
            self.relu = nn.ReLU()

        def forward(self, x):
            residual = x
            out = self.relu(self.in1(self.conv1(x)))
            out = self.in2(self.conv2(out))
            return out + residual

    class UpsampleConvLayer(nn.Module):
        def __init__(self, in_channels, out_channels, kernel_size, stride, upsample=None):
            super().__init__()
            self.upsample = upsample
            self.reflection_pad = nn.ReflectionPad2d(kernel_size // 2)
            self.conv2d = nn.Conv2d(in_channels, out_channels, kernel_size, stride)

        def forward(self, x):
            x_in = x
            if self.upsample:
                x_in = torch.nn.functional.interpolate(x_in, mode="nearest", scale_factor=self.upsample)
            return self.conv2d(self.reflection_pad(x_in))

    class TransformerNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = ConvLayer(3, 8, kernel_size=5, stride=1)
            self.in1 = nn.InstanceNorm2d(8, affine=True)
            self.conv2 = ConvLayer(8, 16, kernel_size=3, stride=2)
            self.in2 = nn.InstanceNorm2d(16, affine=True)
            self.res1 = ResidualBlock(16)
            self.deconv1 = UpsampleConvLayer(16, 8, kernel_size=3, stride=1, upsample=2)
            self.in4 = nn.InstanceNorm2d(8, affine=True)
            self.deconv3 = ConvLayer(8, 3, kernel_size=5, stride=1)
            self.relu = nn.ReLU()

        def forward(self, X):
            y = self.relu(self.in1(self.conv1(X)))
            y = self.relu(self.in2(self.conv2(y)))
            y = self.res1(y)
            y = self.relu(self.in4(self.deconv1(y)))
            return self.deconv3(y)

    def gram_matrix(y):
        (b, ch, h, w) = y.size()
        features = y.view(b, ch, w * h)
        features_t = features.transpose(1, 2)
        return features.bmm(features_t) / (ch * h * w)

    transformer = adopt(TransformerNet().double())
    optimizer = torch.optim.Adam(transformer.parameters(), 1e-3)
    mse_loss = torch.nn.MSELoss()
    rng = np.random.default_rng(2)
    style = torch.from_numpy(rng.random((1, 3, 16, 16)))
    gram_style = gram_matrix(style)
    history = []
    for step in range(steps):
        x = torch.from_numpy(rng.random((2, 3, 16, 16)))
        optimizer.zero_grad()
        y = transformer(x)
        content_loss = 1e1 * mse_loss(y, x)
        style_loss = 1e3 * mse_loss(gram_matrix(y), gram_style.expand(2, 3, 3))
        total_loss = content_loss + style_loss
        total_loss.backward()
        optimizer.step()
        history.append((content_loss.item(), style_loss.item()))
    return history


def test_style_transfer_with_reflection_padding_and_instance_norm():
    assert_same_numbers(*run_both(style_transfer))


# ------------------------------------------------------------------ MNIST (pytorch/examples mnist: Adadelta, StepLR, torch.utils.data)
def mnist(torch, adopt, epochs=2, dropout=(0.0, 0.0), checkpoint=None):
    nn, F, optim = torch.nn, torch.nn.functional, torch.optim
    from scratchgrad.data import mnist_sample  # the bundled sample's arrays; torchvision is not a dependency

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(1, 4, 3, 1)
            self.conv2 = nn.Conv2d(4, 8, 3, 1)
            self.dropout1 = nn.Dropout(dropout[0])
            self.dropout2 = nn.Dropout(dropout[1])
            self.fc1 = nn.Linear(1152, 16)
            self.fc2 = nn.Linear(16, 10)

        def forward(self, x):
            x = F.relu(self.conv1(x))
            x = F.relu(self.conv2(x))
            x = F.max_pool2d(x, 2)
            x = self.dropout1(x)
            x = torch.flatten(x, 1)
            x = F.relu(self.fc1(x))
            x = self.dropout2(x)
            return F.log_softmax(self.fc2(x), dim=1)

    def train(model, device, train_loader, optimizer, epoch, history):
        model.train()
        for batch_idx, (data, target) in enumerate(train_loader):
            data, target = data.to(device), target.to(device)
            optimizer.zero_grad()
            output = model(data)
            loss = F.nll_loss(output, target)
            loss.backward()
            optimizer.step()
            history.append(loss.item())

    def test(model, device, test_loader, history):
        model.eval()
        test_loss, correct, tutorial_correct = 0, 0, 0
        with torch.no_grad():
            for data, target in test_loader:
                data, target = data.to(device), target.to(device)
                output = model(data)
                test_loss += F.nll_loss(output, target, reduction="sum").item()
                pred = output.argmax(dim=1, keepdim=True)
                correct += pred.eq(target.view_as(pred)).sum().item()
                _, predicted = torch.max(output.data, 1)  # the CIFAR-10 tutorial's way
                tutorial_correct += (predicted == target).sum().item()
        history += [test_loss / len(test_loader.dataset), correct, tutorial_correct]

    torch.manual_seed(1)
    use_accel = torch.accelerator.is_available()
    device = torch.accelerator.current_accelerator() if use_accel else torch.device("cpu")
    sample = mnist_sample()
    images = (sample.images[:96].astype(np.float64) / 255 - 0.1307) / 0.3081
    labels = sample.labels[:96].astype(np.int64)
    dataset1 = torch.utils.data.TensorDataset(torch.from_numpy(images[:64]), torch.from_numpy(labels[:64]))
    dataset2 = torch.utils.data.TensorDataset(torch.from_numpy(images[64:]), torch.from_numpy(labels[64:]))
    order = list(np.random.default_rng(3).permutation(64))  # the engines' shuffle=True orders differ
    train_loader = torch.utils.data.DataLoader(dataset1, batch_size=16, sampler=order)
    test_loader = torch.utils.data.DataLoader(dataset2, batch_size=16)
    model = adopt(Net().to(device).double())
    optimizer = optim.Adadelta(model.parameters(), lr=1.0)
    scheduler = optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.7)
    history = []
    for epoch in range(1, epochs + 1):
        train(model, device, train_loader, optimizer, epoch, history)
        test(model, device, test_loader, history)
        scheduler.step()
        history.append(scheduler.get_last_lr()[0])
    if checkpoint is not None:
        torch.save(model.state_dict(), checkpoint)
        restored = Net().double()
        restored.load_state_dict(torch.load(checkpoint))
        test(restored, device, test_loader, history)
    return history


def test_mnist_with_adadelta_steplr_and_torch_utils_data(tmp_path):
    ours, theirs = run_both(mnist, checkpoint=None)
    assert_same_numbers(ours, theirs)
    assert ours[4] < ours[0] and ours[5] == ours[6]  # it learns; both accuracy idioms count alike


def test_mnist_checkpoint_round_trip_and_dropout_run(tmp_path):
    # the script as published: its dropout rates, and a checkpoint saved and loaded back
    history = mnist(scratchgrad, lambda model: model, epochs=2, dropout=(0.25, 0.5), checkpoint=tmp_path / "mnist_cnn.pt")
    assert all(math.isfinite(value) for value in history)
    assert history[-3:] == history[-7:-4]  # the restored model's test loss and accuracies equal the trained one's
