"""One training step in PyTorch, timed: the baseline bench/train-step.ts compares natinv with.

kd: teacher forward in eval mode without gradient; student forward in training mode (BatchNorm
    batch statistics, running statistics updated); loss = KL(softmax(t/T) || softmax(s/T)) x T^2
    with T 20 (batch mean); backward to the student's parameters; SGD lr 0.1, momentum 0.9,
    weight decay 5e-4; one host sync (loss.item()). What a data-free KD loop runs per step.
ce: the same student step on cross-entropy toward labels (SGD lr 1e-3, momentum 0.9, weight decay
    5e-4): what fine-tuning a pruned network and training from scratch run per step.

Teacher and student: CIFAR ResNet-20 (option-A shortcuts); the teacher's pre-trained weights from
../shared/models, the student freshly initialized. Inputs are random images in [0, 1], normalized.

Usage (prints one JSON object):
  .venv/bin/python bench/torch/train_step.py --kind kd --batch 128 --steps 10 --warmup 2
"""

import argparse
import json
import resource
import statistics
import sys

import torch
import torch.nn.functional as F

from step import build_teacher, time_steps

MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--kind", default="kd", choices=["kd", "ce"])
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--steps", type=int, default=10, help="timed steps (after the warm-up)")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    teacher = build_teacher("resnet20")
    teacher.eval()
    student = build_teacher("resnet20")  # same architecture, re-initialized below
    for module in student.modules():
        if hasattr(module, "reset_parameters"):
            module.reset_parameters()
    for parameter in student.parameters():
        parameter.requires_grad_(True)
    student.train()
    lr = 0.1 if args.kind == "kd" else 1e-3
    optimizer = torch.optim.SGD(student.parameters(), lr=lr, momentum=0.9, weight_decay=5e-4)
    gen = torch.Generator().manual_seed(1)
    images = (torch.rand(args.batch, 3, 32, 32, generator=gen) - MEAN) / STD
    labels = torch.randint(0, 10, (args.batch,), generator=gen)
    temperature = 20.0

    def step():
        optimizer.zero_grad(set_to_none=True)
        logits = student(images)
        if args.kind == "kd":
            with torch.no_grad():
                targets = F.softmax(teacher(images) / temperature, dim=1)
            loss = F.kl_div(F.log_softmax(logits / temperature, dim=1), targets, reduction="batchmean") * temperature**2
        else:
            loss = F.cross_entropy(logits, labels)
        loss.backward()
        value = loss.item()
        optimizer.step()
        return value

    times, losses, cpu_per_step = time_steps(step, args.warmup, args.steps)
    median = statistics.median(times)
    print(
        json.dumps(
            {
                "impl": "pytorch",
                "torch": torch.__version__,
                "threads": torch.get_num_threads(),
                "kind": args.kind,
                "batch": args.batch,
                "warmup": args.warmup,
                "steps": args.steps,
                "median_s": median,
                "mean_s": statistics.fmean(times),
                "min_s": min(times),
                "images_per_s": args.batch / median,
                "cpu_s_per_step": cpu_per_step,
                "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                "first_loss": losses[0],
                "last_loss": losses[-1],
            }
        )
    )


if __name__ == "__main__":
    sys.exit(main())
