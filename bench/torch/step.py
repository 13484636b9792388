"""One DeepInversion / NaturalInversion step in PyTorch, timed: the baseline natinv's bench/step.ts
compares itself with. The semantics are DESIGN.md section 3, step for step as natinv's loop runs
them (src/synthesis/synthesize.ts):

DI: jitter (roll by offsets in [-2, 2]) the pixels; teacher forward in eval mode with a hook on the
    input of every BatchNorm layer; loss = CE + 10 R_BN + 2.5e-5 TV_l2 on the jittered image;
    backward to the pixels only (teacher parameters need no gradient); Adam lr 0.05 (0.9, 0.999,
    1e-8); one host sync (loss.item()); keep a copy of the pixels when the loss is the lowest so far.
NI: g = G(z + one-hot); ga = jitter+flip(g); teacher taps of ga without gradient; image =
    alpha * FTP(ga, taps); ia = jitter+flip(image); loss = CE + 10 R_BN + 6e-3 TV_l2 + 1.5e-5 l2
    on ia; backward; three Adams (G 1e-3, FTP 5e-4, alpha 5e-2, eps 1e-8); one host sync; when
    the loss is the lowest so far, re-render the image without augmentation (no gradient).

Teachers: CIFAR ResNet-20 (akamaster, option-A shortcuts; the pre-trained weights in
../shared/models) and CIFAR ResNet-34 (kuangliu / DAFL, 1x1 conv + BN shortcuts; random weights,
which time the same).

Usage (prints one JSON object):
  .venv/bin/python bench/torch/step.py --model resnet20 --method di --batch 64 --steps 20 --warmup 3
NATINV_SHARED_DIR overrides the shared folder (default: ../shared beside the repository).
"""

import argparse
import json
import os
import resource
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

SHARED_DIR = Path(os.environ.get("NATINV_SHARED_DIR", Path(__file__).resolve().parents[3] / "shared"))


# ----- teachers --------------------------------------------------------------------------------


class BlockA(nn.Module):
    """akamaster BasicBlock with the parameter-free option-A shortcut."""

    def __init__(self, in_planes, planes, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.pad = planes // 4 if stride != 1 or in_planes != planes else None

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        shortcut = x if self.pad is None else F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, self.pad, self.pad))
        return F.relu(out + shortcut)


class BlockB(nn.Module):
    """kuangliu BasicBlock with a 1x1 conv + BN shortcut when the shape changes."""

    def __init__(self, in_planes, planes, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut = nn.Sequential()
        if stride != 1 or in_planes != planes:
            self.shortcut = nn.Sequential(nn.Conv2d(in_planes, planes, 1, stride, bias=False), nn.BatchNorm2d(planes))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class ResNet(nn.Module):
    """Stem conv3x3 + BN + ReLU, stages of blocks, global average pool, Linear `linear`."""

    def __init__(self, block, widths, blocks, num_classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(3, widths[0], 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(widths[0])
        in_planes = widths[0]
        self.stages = []
        for s, (planes, n) in enumerate(zip(widths, blocks)):
            layers = []
            for i in range(n):
                layers.append(block(in_planes, planes, 2 if i == 0 and s > 0 else 1))
                in_planes = planes
            stage = nn.Sequential(*layers)
            setattr(self, f"layer{s + 1}", stage)
            self.stages.append(stage)
        self.linear = nn.Linear(in_planes, num_classes)

    def features(self, x):
        """Stage outputs, deepest first (the FTP's taps); the head is not run."""
        out = F.relu(self.bn1(self.conv1(x)))
        outs = []
        for stage in self.stages:
            out = stage(out)
            outs.append(out)
        return outs[::-1]

    def forward(self, x):
        out = self.features(x)[0]
        out = F.adaptive_avg_pool2d(out, 1).flatten(1)
        return self.linear(out)


def build_teacher(name):
    if name == "resnet20":
        model = ResNet(BlockA, [16, 32, 64], [3, 3, 3])
        from safetensors.torch import load_file

        state = load_file(str(SHARED_DIR / "models" / "cifar10_resnet20.safetensors"))
        model.load_state_dict(state, strict=False)
    elif name == "resnet34":
        torch.manual_seed(0)
        model = ResNet(BlockB, [64, 128, 256, 512], [3, 4, 6, 3])
    else:
        raise SystemExit(f"unknown model {name}; use resnet20 or resnet34")
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


# ----- loss terms ------------------------------------------------------------------------------


class BatchNormHooks:
    """R_BN: ||var - running_var||_2 + ||mean - running_mean||_2 at every BatchNorm input."""

    def __init__(self, model):
        self.active = False
        self.losses = []
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.register_forward_hook(self.hook)

    def hook(self, module, inputs, _output):
        if not self.active:
            return
        x = inputs[0]
        var, mean = torch.var_mean(x, dim=[0, 2, 3], correction=0)
        self.losses.append(torch.norm(var - module.running_var, 2) + torch.norm(mean - module.running_mean, 2))

    def run(self, model, x):
        self.losses = []
        self.active = True
        try:
            logits = model(x)
        finally:
            self.active = False
        return logits, torch.stack(self.losses).sum()


def tv_l2(x):
    d1 = x[:, :, :, :-1] - x[:, :, :, 1:]
    d2 = x[:, :, :-1, :] - x[:, :, 1:, :]
    d3 = x[:, :, 1:, :-1] - x[:, :, :-1, 1:]
    d4 = x[:, :, :-1, :-1] - x[:, :, 1:, 1:]
    return torch.norm(d1) + torch.norm(d2) + torch.norm(d3) + torch.norm(d4)


def jitter(x, gen, flip):
    dy, dx = (int(v) for v in torch.randint(-2, 3, (2,), generator=gen))
    x = torch.roll(x, shifts=(dy, dx), dims=(2, 3))
    if flip and torch.rand(1, generator=gen).item() < 0.5:
        x = torch.flip(x, dims=(3,))
    return x


def cycle_labels(batch, classes):
    return torch.arange(batch) % classes


# ----- NaturalInversion parts ------------------------------------------------------------------


class Generator(nn.Module):
    """NaturalInversion's CIFAR generator (BN always in training mode, eps 1e-5)."""

    def __init__(self, latent=1024, classes=10, width=128, init_size=8, channels=3):
        super().__init__()
        self.width, self.init_size = width, init_size
        self.l1 = nn.Linear(latent + classes, width * init_size * init_size)
        self.bn0 = nn.BatchNorm2d(width)
        self.conv1 = nn.Conv2d(width, width, 3, 1, 1)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width // 2, 3, 1, 1)
        self.bn2 = nn.BatchNorm2d(width // 2)
        self.conv3 = nn.Conv2d(width // 2, channels, 3, 1, 1)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.normal_(m.weight, 1.0, 0.02)
                nn.init.zeros_(m.bias)

    def forward(self, z):
        x = self.l1(z).view(z.shape[0], self.width, self.init_size, self.init_size)
        x = F.leaky_relu(self.bn0(x), 0.2)
        x = F.interpolate(x, scale_factor=2, mode="nearest")
        x = F.leaky_relu(self.bn1(self.conv1(x)), 0.2)
        x = F.interpolate(x, scale_factor=2, mode="nearest")
        x = F.leaky_relu(self.bn2(self.conv2(x)), 0.2)
        return self.conv3(x)


class FeatureTransferPyramid(nn.Module):
    """o = tap[0]; per next tap f: o = conv3x3(conv1x1(up(o)) + f); tanh(out(g + to_image(o)))."""

    def __init__(self, channels, image_channels=3):
        super().__init__()
        self.reduce = nn.ModuleList(nn.Conv2d(a, b, 1) for a, b in zip(channels, channels[1:]))
        self.mix = nn.ModuleList(nn.Conv2d(b, b, 3, 1, 1) for b in channels[1:])
        self.to_image = nn.Conv2d(channels[-1], image_channels, 1)
        self.out = nn.Conv2d(image_channels, image_channels, 1)

    def forward(self, g, taps):
        o = taps[0]
        for reduce, mix, f in zip(self.reduce, self.mix, taps[1:]):
            # A 1x1 conv commutes with nearest upsampling: run it on the small map (natinv does too).
            o = mix(F.interpolate(reduce(o), scale_factor=f.shape[2] // o.shape[2], mode="nearest") + f)
        r = self.to_image(o)
        if r.shape[2] != g.shape[2]:
            r = F.interpolate(r, scale_factor=g.shape[2] // r.shape[2], mode="nearest")
        return torch.tanh(self.out(g + r))


# ----- steps -----------------------------------------------------------------------------------


def di_runner(teacher, batch):
    hooks = BatchNormHooks(teacher)
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(batch, 3, 32, 32, generator=gen).requires_grad_(True)
    targets = cycle_labels(batch, 10)
    opt = torch.optim.Adam([x], lr=0.05, betas=(0.9, 0.999), eps=1e-8)
    state = {"best": float("inf"), "improved": 0}

    def step():
        opt.zero_grad(set_to_none=True)
        xj = jitter(x, gen, flip=False)
        logits, r_bn = hooks.run(teacher, xj)
        loss = F.cross_entropy(logits, targets) + 10 * r_bn + 2.5e-5 * tv_l2(xj)
        loss.backward()
        value = loss.item()
        opt.step()
        if value < state["best"]:
            state["best"] = value
            state["improved"] += 1
            state["image"] = x.detach().clone()
        return value

    return step, state


def ni_runner(teacher, batch):
    hooks = BatchNormHooks(teacher)
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(0)
    tap_channels = [t.shape[1] for t in teacher.features(torch.zeros(1, 3, 32, 32))]
    generator = Generator()
    ftp = FeatureTransferPyramid(tap_channels)
    alpha = (torch.randn(batch, 3, 1, 1, generator=gen) + 5).requires_grad_(True)
    targets = cycle_labels(batch, 10)
    z = torch.cat([torch.randn(batch, 1024, generator=gen), F.one_hot(targets, 10).float()], 1)
    opts = [
        torch.optim.Adam(generator.parameters(), lr=1e-3, eps=1e-8),
        torch.optim.Adam(ftp.parameters(), lr=5e-4, eps=1e-8),
        torch.optim.Adam([alpha], lr=5e-2, eps=1e-8),
    ]
    state = {"best": float("inf"), "improved": 0}

    def render(augment):
        g = generator(z)
        ga = jitter(g, gen, flip=True) if augment else g
        with torch.no_grad():
            taps = teacher.features(ga)
        return alpha * ftp(ga, taps)

    def step():
        for opt in opts:
            opt.zero_grad(set_to_none=True)
        image = jitter(render(True), gen, flip=True)
        logits, r_bn = hooks.run(teacher, image)
        loss = F.cross_entropy(logits, targets) + 10 * r_bn + 6e-3 * tv_l2(image) + 1.5e-5 * torch.norm(image)
        loss.backward()
        value = loss.item()
        for opt in opts:
            opt.step()
        if value < state["best"]:
            state["best"] = value
            state["improved"] += 1
            with torch.no_grad():
                state["image"] = render(False)
        return value

    return step, state


def time_steps(step, warmup, steps):
    """Runs `warmup` then `steps` steps; returns the timed steps' seconds, every loss, and CPU s per timed step."""
    times, losses = [], []
    cpu_start = time.process_time()
    for i in range(warmup + steps):
        if i == warmup:
            cpu_start = time.process_time()
        start = time.perf_counter()
        losses.append(step())
        if i >= warmup:
            times.append(time.perf_counter() - start)
    return times, losses, (time.process_time() - cpu_start) / steps


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="resnet20", choices=["resnet20", "resnet34"])
    parser.add_argument("--method", default="di", choices=["di", "ni"])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=10, help="timed steps (after the warm-up)")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    teacher = build_teacher(args.model)
    runner = di_runner if args.method == "di" else ni_runner
    step, state = runner(teacher, args.batch)
    times, losses, cpu_per_step = time_steps(step, args.warmup, args.steps)
    median = statistics.median(times)
    print(
        json.dumps(
            {
                "impl": "pytorch",
                "torch": torch.__version__,
                "threads": torch.get_num_threads(),
                "model": args.model,
                "method": args.method,
                "batch": args.batch,
                "warmup": args.warmup,
                "steps": args.steps,
                "median_s": median,
                "mean_s": statistics.fmean(times),
                "min_s": min(times),
                "times_s": times,
                "images_per_s": args.batch / median,
                "cpu_s_per_step": cpu_per_step,
                "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                "improved_steps": state["improved"],
                "first_loss": losses[0],
                "last_loss": losses[-1],
            }
        )
    )


if __name__ == "__main__":
    sys.exit(main())
