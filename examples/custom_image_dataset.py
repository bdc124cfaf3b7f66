"""The seed notes' CustomImageDataset: an annotations CSV (file name, label) plus an image folder,
with a transform, iterated by a DataLoader with worker processes.

The images are `.npy` arrays (HxWxC uint8) that this script writes into a temporary folder first,
so it runs anywhere without downloads:

    python examples/custom_image_dataset.py
"""
from __future__ import annotations

import csv
import os
import tempfile

import numpy as np

import lazytensor as lt
from lazytensor.utils.data import DataLoader, Dataset


def read_image(path: str) -> lt.Tensor:
    """An image file as a CxHxW uint8 tensor (torchvision's read_image layout)."""
    return lt.from_numpy(np.load(path)).permute(2, 0, 1)


class CustomImageDataset(Dataset):
    """Images listed in an annotations file, with their labels."""

    def __init__(self, annotations_file, img_dir, transform=None, target_transform=None):
        with open(annotations_file, newline="") as f:
            self.img_labels = [(row[0], int(row[1])) for row in csv.reader(f)]
        self.img_dir = img_dir
        self.transform = transform
        self.target_transform = target_transform

    def __len__(self):
        return len(self.img_labels)

    def __getitem__(self, idx):
        name, label = self.img_labels[idx]
        image = read_image(os.path.join(self.img_dir, name))
        if self.transform:
            image = self.transform(image)
        if self.target_transform:
            label = self.target_transform(label)
        return image, label


def to_float_and_flip(image: lt.Tensor) -> lt.Tensor:
    """Scale to [0, 1] and flip left-right with probability 1/2 (a random transform: each worker
    draws from its own seeded generator)."""
    image = image.float() / 255
    if lt.rand(()).item() < 0.5:
        image = image.flip(-1)
    return image


def make_fake_images(root: str, n: int = 24, size: int = 16) -> str:
    """Write `n` random HxWx3 uint8 images and their annotations CSV; returns the CSV's path."""
    rng = np.random.default_rng(0)
    img_dir = os.path.join(root, "images")
    os.makedirs(img_dir, exist_ok=True)
    annotations = os.path.join(root, "labels.csv")
    with open(annotations, "w", newline="") as f:
        writer = csv.writer(f)
        for i in range(n):
            name = f"img_{i:03d}.npy"
            np.save(os.path.join(img_dir, name), rng.integers(0, 256, (size, size, 3), dtype=np.uint8))
            writer.writerow([name, i % 10])
    return annotations


def main() -> list:
    with tempfile.TemporaryDirectory() as root:
        annotations = make_fake_images(root)
        data = CustomImageDataset(annotations, os.path.join(root, "images"), transform=to_float_and_flip,
                                  target_transform=lambda y: lt.tensor(y))
        loader = DataLoader(data, batch_size=8, shuffle=True, num_workers=2, generator=lt.Generator().manual_seed(0))
        batches = []
        for images, labels in loader:
            print(f"Feature batch shape: {tuple(images.shape)}, labels: {labels.tolist()}")
            batches.append((images, labels))
        img, label = batches[0][0][0], batches[0][1][0]
        print(f"First image: {tuple(img.shape)} {img.dtype}, mean {img.mean().item():.3f}, label {label.item()}")
        return batches


if __name__ == "__main__":
    main()
