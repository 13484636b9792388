"""Parity vectors for another teacher: the four files of ../shared/parity, made again for any CIFAR
ResNet of ../shared/models by an independent float32 PyTorch statement of DESIGN.md section 3.

The inputs (real images and labels, the DI pixels and targets, the student/teacher logits, the
NaturalInversion latent, generator/FTP weights and alpha, every weight of the weighted sums) are
read from an existing set (--inputs, default ../shared/parity), so only what depends on the
teacher changes. Tensor names, layouts (NHWC images and feature maps, PyTorch weights), dtypes and
`__metadata__` (JSON strings) are those of the shipped files (described in their README.md):

teacher_logits           logits and stage outputs tap_layer1..3 of the normalized images01
deepinversion_terms      R_BN (per layer, summed, first layer x10), CE, TV l2/l1, l2, the weighted
                         total, each with its gradient with respect to x (teacher in eval mode)
logit_losses             ADI competition (T 3), KD (T 4, 20) and their gradients for both logits
natural_inversion_step   one NaturalInversion forward and backward with no augmentation

With --model cifar10_resnet20 the script reproduces the shipped set (bench/parity-other-depth.sh
compares them); other depths give a set natinv's parity tests must pass unchanged
(NATINV_PARITY_DIR=<out>).

Usage:
  .venv/bin/python bench/torch/parity.py --model cifar10_resnet56 --out /tmp/parity-resnet56
  .venv/bin/python bench/torch/parity.py --compare A B    # max abs/rel differences of two sets
NATINV_SHARED_DIR overrides the shared folder (default: ../shared beside the repository).
"""

import argparse
import json
import re
import struct
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

from step import SHARED_DIR, BatchNormHooks, BlockA, FeatureTransferPyramid, Generator, ResNet, tv_l2

FILES = ["teacher_logits", "deepinversion_terms", "logit_losses", "natural_inversion_step"]
STAGES = ["layer1", "layer2", "layer3"]
TAP_NOTE = "taps are the outputs of layer3, layer2, layer1 (after the residual add and ReLU)"
NI_NOTE = (
    "generator BN layers in training mode (batch statistics, eps 1e-5); teacher in inference mode; FTP taps are the teacher "
    "outputs of layer3, layer2, layer1 computed without gradient from the generator output; image = alpha * tanh(out(g + "
    "to_image(o))); generator.running_* are after one training-mode forward (PyTorch momentum 0.1)"
)

# ----- safetensors, by hand: 8-byte little-endian header length, JSON header, raw data ---------

DTYPES = {"F32": (torch.float32, 4), "F64": (torch.float64, 8), "I64": (torch.int64, 8), "I32": (torch.int32, 4)}


def read_safetensors(path):
    """(tensors, metadata) of a safetensors file; metadata values JSON-parsed where they are JSON."""
    data = Path(path).read_bytes()
    (length,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + length])
    raw_meta = header.pop("__metadata__", {}) or {}
    body = data[8 + length :]
    tensors = {}
    for name, entry in header.items():
        dtype, _ = DTYPES[entry["dtype"]]
        start, end = entry["data_offsets"]
        flat = torch.frombuffer(bytearray(body[start:end]), dtype=dtype) if end > start else torch.zeros(0, dtype=dtype)
        tensors[name] = flat.reshape(entry["shape"]).clone()
    return tensors, {k: json_or_text(v) for k, v in raw_meta.items()}


def json_or_text(text):
    """Parity metadata is JSON; the model files' metadata is plain text."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def write_safetensors(path, tensors, metadata):
    """Float32 tensors in name order; metadata values written as JSON strings; header padded to 8 bytes."""
    header = {"__metadata__": {k: json.dumps(v) for k, v in metadata.items()}}
    chunks, offset = [], 0
    for name in sorted(tensors):
        t = tensors[name].detach().to(torch.float32).contiguous()
        raw = t.numpy().astype("<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [offset, offset + len(raw)]}
        chunks.append(raw)
        offset += len(raw)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    Path(path).write_bytes(struct.pack("<Q", len(text)) + text + b"".join(chunks))


def nchw(t):
    return t.permute(0, 3, 1, 2).contiguous()


def nhwc(t):
    return t.detach().permute(0, 2, 3, 1).contiguous()


def value(t):
    return float(t.detach())


# ----- teacher ---------------------------------------------------------------------------------


def load_teacher(name):
    """A CIFAR ResNet-(6n+2) with option-A shortcuts (stage widths 16/32/64) from ../shared/models."""
    match = re.fullmatch(r"cifar10_resnet(\d+)", name)
    if match is None or (int(match[1]) - 2) % 6 != 0:
        raise SystemExit(f"unknown model {name}: expected cifar10_resnet<6n+2> (a file in {SHARED_DIR / 'models'})")
    n = (int(match[1]) - 2) // 6
    model = ResNet(BlockA, [16, 32, 64], [n, n, n])
    state, _ = read_safetensors(SHARED_DIR / "models" / f"{name}.safetensors")
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = [k for k in missing if not k.endswith("num_batches_tracked")]
    if missing or unexpected:
        raise SystemExit(f"{name}: missing {missing[:5]}, unexpected {unexpected[:5]}")
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def stage_outputs(model, x):
    """model.layer1..3 outputs (after the residual add and ReLU), shallowest first."""
    return model.features(x)[::-1]


# ----- terms (DESIGN.md section 3) -------------------------------------------------------------


def bn_terms(model, x):
    """(logits, per-layer R_BN list) with one teacher forward in inference mode."""
    hooks = BatchNormHooks(model)
    logits, _ = hooks.run(model, x)
    return logits, hooks.losses


def tv_l1(x):
    d1 = x[:, :, :, :-1] - x[:, :, :, 1:]
    d2 = x[:, :, :-1, :] - x[:, :, 1:, :]
    d3 = x[:, :, 1:, :-1] - x[:, :, :-1, 1:]
    d4 = x[:, :, :-1, :-1] - x[:, :, 1:, 1:]
    return d1.abs().mean() + d2.abs().mean() + d3.abs().mean() + d4.abs().mean()


def l2_prior(x):
    return torch.norm(x)


def kd_loss(student, teacher, t):
    """KL(softmax(teacher/T) || softmax(student/T)) x T^2, batch mean."""
    return F.kl_div(F.log_softmax(student / t, 1), F.softmax(teacher / t, 1), reduction="batchmean") * t * t


def adi_loss(student, teacher, t):
    """1 - clamp(JS', 0, 1) with M from the unclamped P, Q; then P, Q, M clamped to [0.01, 0.99]."""
    p = F.softmax(student / t, 1)
    q = F.softmax(teacher / t, 1)
    m = 0.5 * (p + q)
    p, q, m = (v.clamp(0.01, 0.99) for v in (p, q, m))
    kl_mp = (m * (m.log() - p.log())).sum(1).mean()
    kl_mq = (m * (m.log() - q.log())).sum(1).mean()
    return 1 - torch.clamp(0.5 * kl_mp + 0.5 * kl_mq, 0, 1)


# ----- the four files --------------------------------------------------------------------------


def teacher_logits(model, name, inputs):
    t, meta = inputs
    mean = torch.tensor(meta["normalize_mean"]).view(1, 3, 1, 1)
    std = torch.tensor(meta["normalize_std"]).view(1, 3, 1, 1)
    x = (nchw(t["images01"]) - mean) / std
    with torch.no_grad():
        logits = model(x)
        taps = stage_outputs(model, x)
    tensors = {"images01": t["images01"], "labels": t["labels"], "logits": logits}
    tensors.update({f"tap_{stage}": nhwc(tap) for stage, tap in zip(STAGES, taps)})
    metadata = {"model": name, "normalize_mean": meta["normalize_mean"], "normalize_std": meta["normalize_std"], "note": TAP_NOTE}
    return tensors, metadata


def deepinversion_terms(model, name, inputs):
    t, meta = inputs
    weights = meta["weights_total"]
    x0 = nchw(t["x"])
    labels = t["labels"].long()

    def evaluate(term):
        x = x0.clone().requires_grad_(True)
        logits, per_layer = bn_terms(model, x)
        parts = {
            "bn": lambda: torch.stack(per_layer).sum(),
            "bn_first10": lambda: 10 * per_layer[0] + torch.stack(per_layer[1:]).sum(),
            "ce": lambda: F.cross_entropy(logits, labels),
            "tv_l2": lambda: tv_l2(x),
            "tv_l1": lambda: tv_l1(x),
            "l2": lambda: l2_prior(x),
        }
        loss = sum(w * parts[k]() for k, w in weights.items()) if term == "total" else parts[term]()
        (grad,) = torch.autograd.grad(loss, x)
        return loss, grad, per_layer

    tensors = {"x": t["x"], "labels": t["labels"]}
    metadata = {}
    for term in ["bn", "bn_first10", "ce", "tv_l2", "tv_l1", "l2", "total"]:
        loss, grad, per_layer = evaluate(term)
        metadata[term] = value(loss)
        tensors[f"grad_{term}"] = nhwc(grad)
    metadata["bn_per_layer"] = [value(v) for v in per_layer]
    metadata["bn_layer_count"] = len(per_layer)
    metadata["weights_total"] = weights
    metadata["model"] = name
    return tensors, metadata


def logit_losses(_model, _name, inputs):
    t, meta = inputs
    tensors = {"student_logits": t["student_logits"], "teacher_logits": t["teacher_logits"]}
    metadata = {}
    for key in meta:
        match = re.fullmatch(r"(adi|kd)_T(\d+(?:\.\d+)?)", key)
        if match is None:
            continue
        loss_fn = adi_loss if match[1] == "adi" else kd_loss
        s = t["student_logits"].clone().requires_grad_(True)
        te = t["teacher_logits"].clone().requires_grad_(True)
        loss = loss_fn(s, te, float(match[2]))
        gs, gt = torch.autograd.grad(loss, [s, te])
        metadata[key] = value(loss)
        tensors[f"grad_student_{key}"] = gs
        tensors[f"grad_teacher_{key}"] = gt
    return tensors, metadata


def natural_inversion_step(model, name, inputs):
    t, meta = inputs
    sizes, weights, labels = meta["generator"], meta["weights"], meta["labels"]
    generator = Generator(sizes["latent"], sizes["classes"], sizes["channels"], sizes["init_size"])
    tap_channels = [tap.shape[1] for tap in model.features(torch.zeros(1, 3, 32, 32))]
    ftp = FeatureTransferPyramid(tap_channels)
    # Weights from the input set; the BN running statistics start at PyTorch's defaults (0, 1) and
    # are recorded after the one training-mode forward below.
    params = {k: v for k, v in generator.state_dict().items() if "running_" not in k and "num_batches" not in k}
    generator.load_state_dict({**generator.state_dict(), **{k: t[f"generator.{k}"] for k in params}})
    ftp.load_state_dict({k: t[f"ftp.{k}"] for k in ftp.state_dict()})
    generator.train()
    alpha = nchw(t["alpha"]).requires_grad_(True)
    z = t["z"]
    targets = torch.tensor(labels)

    g = generator(z)
    with torch.no_grad():
        taps = model.features(g)
    image = alpha * ftp(g, taps)
    logits, per_layer = bn_terms(model, image)
    terms = {
        "ce": F.cross_entropy(logits, targets),
        "bn": torch.stack(per_layer).sum(),
        "tv_l2": tv_l2(image),
        "l2": l2_prior(image),
    }
    loss = sum(weights[k] * terms[k] for k in weights)
    named = [(f"generator.{k}", p) for k, p in generator.named_parameters()] + [(f"ftp.{k}", p) for k, p in ftp.named_parameters()]
    grads = torch.autograd.grad(loss, [p for _, p in named] + [alpha])

    tensors = {k: t[k] for k in t if k.startswith("ftp.") or (k.startswith("generator.") and "running_" not in k)}
    tensors.update({f"generator.{k}": v for k, v in generator.state_dict().items() if "running_" in k})
    tensors.update({"alpha": t["alpha"], "z": z, "generator_out": nhwc(g), "image": nhwc(image)})
    # conv1/conv2 biases feed a training-mode BN: their true gradient is zero, left out.
    skip = {"generator.conv1.bias", "generator.conv2.bias"}
    tensors.update({f"grad.{k}": gr for (k, _), gr in zip(named, grads[:-1]) if k not in skip})
    tensors["grad_alpha"] = nhwc(grads[-1])
    metadata = {"model": name, "loss": value(loss), "weights": weights}
    metadata.update({k: value(v) for k, v in terms.items()})
    metadata.update({"labels": labels, "generator": sizes, "note": NI_NOTE})
    return tensors, metadata


MAKERS = {
    "teacher_logits": teacher_logits,
    "deepinversion_terms": deepinversion_terms,
    "logit_losses": logit_losses,
    "natural_inversion_step": natural_inversion_step,
}


# ----- comparing two sets ----------------------------------------------------------------------


def compare(a_dir, b_dir, verbose):
    """Max abs and relative (to b's largest entry / |b| for scalars) differences: every entry, or the largest per file."""
    worst = 0.0
    for file in FILES:
        ta, ma = read_safetensors(Path(a_dir) / f"{file}.safetensors")
        tb, mb = read_safetensors(Path(b_dir) / f"{file}.safetensors")
        if sorted(ta) != sorted(tb) or sorted(ma) != sorted(mb):
            print(f"{file}: names differ: {sorted(set(ta) ^ set(tb))} {sorted(set(ma) ^ set(mb))}")
            worst = float("inf")
        rows = []
        for k in sorted(set(ta) & set(tb)):
            if ta[k].shape != tb[k].shape:
                rows.append((k, float("inf"), float("inf")))
                continue
            diff = (ta[k] - tb[k]).abs().max().item() if ta[k].numel() else 0.0
            scale = tb[k].abs().max().item() if tb[k].numel() else 0.0
            rows.append((k, diff, diff / scale if scale else diff))
        for k in sorted(set(ma) & set(mb)):
            va, vb = ma[k], mb[k]
            if isinstance(vb, (int, float)) and not isinstance(vb, bool):
                diff = abs(va - vb)
                rows.append((f"meta {k}", diff, diff / abs(vb) if vb else diff))
            elif isinstance(vb, list) and vb and all(isinstance(v, (int, float)) for v in vb):
                diffs = [abs(x - y) / (abs(y) or 1) for x, y in zip(va, vb)]
                rows.append((f"meta {k}", max(abs(x - y) for x, y in zip(va, vb)), max(diffs)))
            elif va != vb:
                rows.append((f"meta {k}", float("inf"), float("inf")))
        for k, abs_diff, rel in rows if verbose else [max(rows, key=lambda row: row[2])]:
            print(f"{file:24s} {k:34s} abs {abs_diff:.3e} rel {rel:.3e}{'' if verbose else ' (largest)'}")
        worst = max([worst] + [rel for _, _, rel in rows])
    print(f"largest relative difference: {worst:.3e}")
    return worst


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="cifar10_resnet56", help="a teacher in ../shared/models (cifar10_resnet<6n+2>)")
    parser.add_argument("--inputs", default=str(SHARED_DIR / "parity"), help="the set whose inputs are reused")
    parser.add_argument("--out", help="folder to write the four files into")
    parser.add_argument("--compare", nargs=2, metavar=("A", "B"), help="print the differences of set A from set B and exit")
    parser.add_argument("--verbose", action="store_true", help="--compare prints every tensor and metadata value")
    parser.add_argument("--tolerance", type=float, default=1e-5, help="--compare fails above this relative difference")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    if args.compare:
        return 0 if compare(*args.compare, verbose=args.verbose) <= args.tolerance else 1
    if not args.out:
        parser.error("--out is required")
    torch.manual_seed(0)  # only the module constructors draw; every weight is then loaded
    model = load_teacher(args.model)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for file in FILES:
        inputs = read_safetensors(Path(args.inputs) / f"{file}.safetensors")
        tensors, metadata = MAKERS[file](model, args.model, inputs)
        write_safetensors(out / f"{file}.safetensors", tensors, metadata)
        print(f"wrote {out / f'{file}.safetensors'} ({len(tensors)} tensors)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
