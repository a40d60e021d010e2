"""A GAN on the digits, after pytorch-ignite's DCGAN example: one engine, two networks.

As in ignite's example, one engine's step updates the discriminator (on real
digits, then on generated ones) and then the generator, and returns the
losses and the discriminator's mean outputs (`errD`, `errG`, `D_x`, `D_G_z1`,
`D_G_z2`), here as tensors: nothing waits for the device. Running averages
of them are metrics, charted every iteration; after every epoch a grid of
samples generated from the same fixed noise is logged as an image.

    python examples/gan.py --epochs 25 --output-dir outputs/gan
    tensorboard --logdir outputs/gan/tb     # the Images tab shows the samples
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from ignite.metrics import RunningAverage
from torch import nn
from torch.utils.data import DataLoader

from nodes import Engine, Metric
from nodes.datasets import MNIST_MEAN, MNIST_STD, digits_datasets
from nodes.tensorboard import EnginesMetricsCharts, TensorBoard
from pipeline import State

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--epochs", type=int, default=25)
parser.add_argument("--nz", type=int, default=32, help="size of the noise vector")
parser.add_argument("--width", type=int, default=16, help="channels of the networks' first layer")
parser.add_argument("--lr", type=float, default=2e-4)
parser.add_argument("--beta1", type=float, default=0.5)
parser.add_argument("--batch-size", type=int, default=64)
parser.add_argument("--alpha", type=float, default=0.98, help="the running averages' smoothing")
parser.add_argument("--seed", type=int, default=0)
parser.add_argument("--output-dir", type=Path, default=Path("outputs/gan"))
args = parser.parse_args()


def weights_init(m: nn.Module) -> None:
    """DCGAN's initialisation: normal(0, 0.02) convolutions, normal(1, 0.02) batch norms."""
    if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(m.weight, 0.0, 0.02)
    elif isinstance(m, nn.BatchNorm2d):
        nn.init.normal_(m.weight, 1.0, 0.02)
        nn.init.zeros_(m.bias)


w = args.width
generator = nn.Sequential(  # noise [nz, 1, 1] -> 4x4 -> 8x8 -> image [1, 16, 16] in [-1, 1]
    nn.ConvTranspose2d(args.nz, 4 * w, 4, 1, 0, bias=False), nn.BatchNorm2d(4 * w), nn.ReLU(True),
    nn.ConvTranspose2d(4 * w, 2 * w, 4, 2, 1, bias=False), nn.BatchNorm2d(2 * w), nn.ReLU(True),
    nn.ConvTranspose2d(2 * w, 1, 4, 2, 1, bias=False), nn.Tanh(),
)  # fmt: skip
discriminator = nn.Sequential(  # image [1, 16, 16] -> 8x8 -> 4x4 -> the probability it is real
    nn.Conv2d(1, 2 * w, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, True),
    nn.Conv2d(2 * w, 4 * w, 4, 2, 1, bias=False), nn.BatchNorm2d(4 * w), nn.LeakyReLU(0.2, True),
    nn.Conv2d(4 * w, 1, 4, 1, 0, bias=False), nn.Sigmoid(), nn.Flatten(0),
)  # fmt: skip
torch.manual_seed(args.seed)
generator.apply(weights_init)
discriminator.apply(weights_init)

train_set, _ = digits_datasets(seed=args.seed, size=16)
images = (train_set.tensors[0] * MNIST_STD + MNIST_MEAN) * 2 - 1  # to the generator's [-1, 1]
state = State()
state.configs.nz, state.configs.lr = args.nz, args.lr
state.modules.generator, state.modules.discriminator = generator, discriminator
state.optimizers.generator = torch.optim.Adam(generator.parameters(), args.lr, (args.beta1, 0.999))
state.optimizers.discriminator = torch.optim.Adam(
    discriminator.parameters(), args.lr, (args.beta1, 0.999)
)
shuffled = torch.Generator().manual_seed(args.seed)
state.dataloaders.train = DataLoader(images, args.batch_size, shuffle=True, generator=shuffled)
state.params.fixed_noise = torch.randn(64, args.nz, 1, 1)  # the same 64 samples every epoch
bce = nn.BCELoss()


def step(engine: Engine, real: torch.Tensor) -> dict[str, torch.Tensor]:
    """ignite's DCGAN step: one update of the discriminator, then one of the generator."""
    generator.train(), discriminator.train()
    ones, zeros = torch.ones(len(real)), torch.zeros(len(real))
    # (1) the discriminator: maximise log(D(x)) + log(1 - D(G(z)))
    state.optimizers.discriminator.zero_grad()
    output = discriminator(real)
    err_real = bce(output, ones)
    d_x = output.mean()
    err_real.backward()
    fake = generator(torch.randn(len(real), args.nz, 1, 1))
    output = discriminator(fake.detach())
    err_fake = bce(output, zeros)
    d_g_z1 = output.mean()
    err_fake.backward()
    state.optimizers.discriminator.step()
    # (2) the generator: maximise log(D(G(z)))
    state.optimizers.generator.zero_grad()
    output = discriminator(fake)
    err_g = bce(output, ones)
    err_g.backward()
    state.optimizers.generator.step()
    out = {"errD": err_real + err_fake, "errG": err_g, "D_x": d_x, "D_G_z1": d_g_z1}
    return {**{k: v.detach() for k, v in out.items()}, "D_G_z2": output.mean().detach()}


gan = Engine(state, "gan", step, state.dataloaders.train)
gan.declare_writes(
    state.modules.generator_ref, state.modules.discriminator_ref,
    state.optimizers.generator_ref, state.optimizers.discriminator_ref,
)  # fmt: skip
for key in ("errD", "errG", "D_x", "D_G_z1", "D_G_z2"):
    average = RunningAverage(output_transform=lambda out, key=key: out[key], alpha=args.alpha)
    Metric(gan, average, key, usage="running")

TensorBoard(state, log_dir=args.output_dir / "tb")
EnginesMetricsCharts(x_axes_refs=gan.n_iteration_completed_ref)


def grid(samples: torch.Tensor, columns: int = 8, pad: int = 2) -> torch.Tensor:
    """Images [n, 1, h, w] in [-1, 1] side by side: one [1, H, W] image in [0, 1]."""
    n, _, h, width = samples.shape
    rows = -(-n // columns)
    canvas = torch.ones(rows * (h + pad) + pad, columns * (width + pad) + pad)
    for i, image in enumerate(samples[:, 0].clamp(-1, 1).add(1).div(2)):
        top, left = pad + (i // columns) * (h + pad), pad + (i % columns) * (width + pad)
        canvas[top : top + h, left : left + width] = image
    return canvas.unsqueeze(0)


@state.on(gan.n_epoch_completed_ref, reads=[state.modules.generator_ref, state.params.fixed_noise_ref])  # fmt: skip
def log_samples() -> None:
    """The generator's samples from the fixed noise, as one image per epoch."""
    generator.eval()
    with torch.no_grad():
        samples = generator(state.params.fixed_noise)
    state.tensorboard.writer.add_image("samples", grid(samples), gan.n_epoch_completed)
    m = state.metrics
    print(
        f"epoch {gan.n_epoch_completed}  errD {float(m.gan_errD):.3f}  errG {float(m.gan_errG):.3f}"
        f"  D(x) {float(m.gan_D_x):.3f}  D(G(z)) {float(m.gan_D_G_z1):.3f}"
    )


args.output_dir.mkdir(parents=True, exist_ok=True)
gan.run(max_epochs=args.epochs)
state.tensorboard.close()
print(f"graph: {state.render(args.output_dir / 'graph.svg')}")
