"""Seconds per epoch: the source post's training pipeline against ``vaelib.fit``.

Both train the source's 784-400-20 VAE with Adam (lr 1e-3, batch 128) on the same
data and device, in one run:

- reference: ``vaelib.fit_dataloader``, the source's loop: a torchvision dataset with
  ``ToTensor`` behind a shuffling ``DataLoader``; each batch is copied to the device
  (a no-op on a CPU); the decoder's sigmoid output goes into ``binary_cross_entropy``
  summed over the batch; plain Adam;
- vaelib: ``vaelib.fit``, with the whole training set copied to the device once and
  each batch gathered there with ``index_select`` (no per-image PIL/``ToTensor``
  work, no per-batch host-to-device copy), the loss from logits averaged over the
  batch, fused Adam, subnormal Adam moments flushed on a CPU, and
  ``training_matmul_precision("medium")`` (its default), which permits bfloat16
  inside float32 matmuls on CPUs with AMX or AVX512-BF16 and TF32 on Ampere and
  later GPUs (whether the kernels use it is up to the library: Appendix A measures it);
- vaelib, exact float32: the same under ``training_matmul_precision("highest")``, to
  show how much of the gain is the pipeline and how much is the matmul format.

It prints the median seconds per epoch of each, the ratios to the reference and the
final test losses (negative ELBO, nats per image, by ``vaelib.evaluate``), then one JSON line.
Full MNIST is used when torchvision's copy is under --data-root; otherwise full
Fashion-MNIST from --fashion-dir (Debian's dataset-fashion-mnist), which has the
same shapes and so the same cost. Run it with ``make bench``.
"""

from __future__ import annotations

import argparse
import gzip
import json
import shutil
import statistics
import sys
from pathlib import Path

import torch
from torchvision import datasets, transforms

import vaelib

IDX_NAMES = ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default=None, help="cpu, cuda, mps (default: vaelib.pick_device())")
    parser.add_argument("--dataset", choices=["auto", "mnist", "fashion-mnist"], default="auto")
    parser.add_argument("--epochs", type=int, default=3, help="epochs for each pipeline")
    parser.add_argument("--data-root", default=str(vaelib.data.default_data_root()), help="torchvision data root")
    parser.add_argument("--fashion-dir", default=str(vaelib.data.FASHION_DEBIAN_DIR), help="gzipped Fashion-MNIST IDX files")
    parser.add_argument("--workers", type=int, default=0, help="DataLoader workers for the reference (the source uses 0)")
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


def torchvision_dataset(args: argparse.Namespace, train: bool):
    """The torchvision dataset both pipelines read: MNIST if present, else Fashion-MNIST."""
    root = Path(args.data_root)
    has_mnist = all((root / "MNIST" / "raw" / name).is_file() for name in IDX_NAMES)
    if args.dataset == "mnist" or (args.dataset == "auto" and has_mnist):
        return "MNIST", datasets.MNIST(str(root), train=train, transform=transforms.ToTensor(), download=False)
    raw = root / "FashionMNIST" / "raw"
    for name in IDX_NAMES:  # torchvision's layout, unpacked from the Debian package's files
        if not (raw / name).is_file():
            source = Path(args.fashion_dir) / f"{name}.gz"
            if not source.is_file():
                sys.exit(f"neither MNIST under {root} nor {source}: apt-get install dataset-fashion-mnist")
            raw.mkdir(parents=True, exist_ok=True)
            with gzip.open(source, "rb") as src, open(raw / name, "wb") as dst:
                shutil.copyfileobj(src, dst)
    return "Fashion-MNIST", datasets.FashionMNIST(str(root), train=train, transform=transforms.ToTensor(), download=False)


def as_matrix(dataset) -> torch.Tensor:
    """The dataset's images as ``(n, D)`` floats in [0, 1], the values ToTensor yields."""
    return dataset.data.reshape(len(dataset), -1).float() / 255.0


def run_reference(args, train_set, test_images, device) -> tuple[list[float], float]:
    vaelib.seed_all(args.seed)
    model = vaelib.VAE()
    history = vaelib.fit_dataloader(model, train_set, epochs=args.epochs, device=device, num_workers=args.workers)
    return history.seconds, vaelib.evaluate(model, test_images)


def run_vaelib(args, train_images, test_images, device, precision) -> tuple[list[float], float]:
    vaelib.seed_all(args.seed)
    model = vaelib.VAE()
    with vaelib.training_matmul_precision(precision):
        history = vaelib.fit(model, train_images, epochs=args.epochs, batch_size=128, lr=1e-3, device=device,
                             progress=False)
    return history.seconds, vaelib.evaluate(model, test_images)


def main(argv=None) -> dict:
    args = parse_args(argv)
    device = torch.device(args.device) if args.device else vaelib.pick_device()
    name, train_set = torchvision_dataset(args, train=True)
    _, test_set = torchvision_dataset(args, train=False)
    train_images, test_images = as_matrix(train_set), as_matrix(test_set)
    print(f"data: {name}, {len(train_set):,} train / {len(test_set):,} test images; device: {device}; "
          f"epochs: {args.epochs}; torch {torch.__version__}; threads {torch.get_num_threads()}")
    runs = {"reference": run_reference(args, train_set, test_images, device)}
    runs["vaelib"] = run_vaelib(args, train_images, test_images, device, "medium")
    runs["vaelib_fp32"] = run_vaelib(args, train_images, test_images, device, "highest")
    labels = {"reference": "reference (source's pipeline)",
              "vaelib": f"vaelib.fit ({vaelib.speed.describe_matmul(device, 'medium')})",
              "vaelib_fp32": f"vaelib.fit ({vaelib.speed.describe_matmul(device, 'highest')})"}
    result = {"dataset": name, "device": str(device), "epochs": args.epochs, "torch": torch.__version__}
    ref_s, ref_loss = statistics.median(runs["reference"][0]), runs["reference"][1]
    print(f"{'pipeline':<48} {'s/epoch (median)':>16} {'speed-up':>9} {'test -ELBO':>11} {'gap':>7}")
    for key, (seconds, loss) in runs.items():
        s_per_epoch = statistics.median(seconds)
        speedup, gap = ref_s / s_per_epoch, 100 * (loss - ref_loss) / ref_loss
        result.update({f"{key}_s_per_epoch": s_per_epoch, f"{key}_test_loss": loss})
        if key != "reference":
            result.update({f"{key}_speedup": speedup, f"{key}_test_loss_gap_pct": gap})
        print(f"{labels[key]:<48} {s_per_epoch:16.3f} {speedup:8.2f}x {loss:11.2f} {gap:+6.2f}%")
    result["vaelib_matmul"] = labels["vaelib"]
    print("test -ELBO in nats per image; gap relative to the reference")
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
