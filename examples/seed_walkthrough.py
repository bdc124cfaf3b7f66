"""A walk-through of the "Everything PyTorch" seed notes (../shared/seeds/000_7162ce42bc0fa33d.txt):
every snippet, in the notes' order, run on lazytensor with the notes' code unchanged
(`import lazytensor as torch`), printing what the notes print.

    python examples/seed_walkthrough.py

Where a snippet needs what no machine here has (a CUDA device; torchvision's image files), the
walk-through says so and runs the nearest thing that does work.
"""
import os
import tempfile

import lazytensor as torch  # the notes' code, unchanged
from lazytensor import nn


def section(title: str) -> None:
    print(f"\n# {title}")


section("Tensor")
a = torch.ones(3)
print(a)

section("Save and load")
points = torch.tensor([[4.0, 1.0], [5.0, 3.0], [2.0, 1.0]])
with tempfile.TemporaryDirectory() as d:
    path = os.path.join(d, "ourpoints.t")
    torch.save(points, path)
    with open(path, "wb") as f:
        torch.save(points, f)
    points = torch.load(path)
    with open(path, "rb") as f:
        points = torch.load(f)
print(points)

section("Devices")
if torch.cuda.is_available():
    points_gpu = torch.tensor([[1.0, 4.0], [2.0, 1.0], [3.0, 4.0]], device="cuda")
    points_gpu = points.to(device="cuda")
    print(points_gpu.device)
else:
    print("no CUDA device here: the notes' device='cuda' lines are skipped (tensors stay on the CPU)")

section("Tabular data")
wineq = torch.tensor([[7.4, 0.70, 0.00, 5.0], [7.8, 0.88, 0.00, 5.0], [11.2, 0.28, 0.56, 6.0]])
data = wineq[:, :-1]
target = wineq[:, -1]
print(data.shape, target)

section("Attributes of a tensor")
tensor = torch.rand(3, 4)
print(f"Shape of tensor: {tensor.shape}")
print(f"Datatype of tensor: {tensor.dtype}")
print(f"Device tensor is stored on: {tensor.device}")

section("Joining tensors")
tensor = torch.ones(4, 4)
print(torch.cat([tensor, tensor, tensor], dim=1))
print(torch.cat([tensor, tensor, tensor], dim=0))

section("Matrix multiplication and elementwise products")
y1 = tensor @ tensor.T
y2 = tensor.matmul(tensor.T)
z1 = tensor * tensor
z2 = tensor.mul(tensor)
print(torch.equal(y1, y2), torch.equal(z1, z2))

section("Datasets & DataLoaders")
try:
    from lazytensor.utils.data import DataLoader, Dataset
except ImportError as exc:  # written by another part of the project; say so rather than fail
    print(f"lt.utils.data is not available yet ({exc}); skipping the Dataset/DataLoader snippets")
else:
    class CustomImageDataset(Dataset):
        """The notes' dataset shape (annotations + images), over in-memory images instead of files:
        the notes read a CSV with pandas and PNGs with torchvision, neither of which is here."""

        def __init__(self, images, labels, transform=None, target_transform=None):
            self.images, self.img_labels = images, labels
            self.transform, self.target_transform = transform, target_transform

        def __len__(self):
            return len(self.img_labels)

        def __getitem__(self, idx):
            image, label = self.images[idx], self.img_labels[idx]
            if self.transform:
                image = self.transform(image)
            if self.target_transform:
                label = self.target_transform(label)
            return image, label

    torch.manual_seed(0)
    training_data = CustomImageDataset(torch.rand(256, 28, 28), [i % 10 for i in range(256)])
    test_data = CustomImageDataset(torch.rand(64, 28, 28), [i % 10 for i in range(64)])
    train_dataloader = DataLoader(training_data, batch_size=64, shuffle=True)
    test_dataloader = DataLoader(test_data, batch_size=64, shuffle=True)
    train_features, train_labels = next(iter(train_dataloader))
    print(f"Feature batch shape: {train_features.size()}")
    print(f"Labels batch shape: {train_labels.size()}")

section("Build the Neural Network")
device = "cuda" if torch.cuda.is_available() else "cpu"


class NeuralNetwork(nn.Module):
    def __init__(self):
        super().__init__()
        self.flatten = nn.Flatten()
        self.linear_relu_stack = nn.Sequential(
            nn.Linear(28*28, 512),
            nn.ReLU(),
            nn.Linear(512, 512),
            nn.ReLU(),
            nn.Linear(512, 10),
        )

    def forward(self, x):
        x = self.flatten(x)
        logits = self.linear_relu_stack(x)
        return logits


model = NeuralNetwork().to(device)
print(model)
for name, param in model.named_parameters():
    print(f"Layer: {name} | Size: {param.size()}")

section("Automatic Differentiation")
x = torch.ones(5)  # input tensor
y = torch.zeros(3)  # expected output
w = torch.randn(5, 3, requires_grad=True)
b = torch.randn(3, requires_grad=True)
z = torch.matmul(x, w)+b
loss = torch.nn.functional.binary_cross_entropy_with_logits(z, y)
print(f"Gradient function for z = {z.grad_fn}")
print(f"Gradient function for loss = {loss.grad_fn}")
loss.backward()
print(w.grad.shape, b.grad.shape)
print(z.requires_grad)
with torch.no_grad():
    z = torch.matmul(x, w)+b
print(z.requires_grad)
