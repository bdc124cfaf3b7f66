"""Data loading (PyTorch's `torch.utils.data`): datasets, samplers, collation and the DataLoader,
with worker processes that hand batches over through shared memory. Users reach it as
`lt.utils.data` (or `lazytensor.utils.data`)."""
from lazytensor.runtime.data.collate import (collate, default_collate, default_collate_fn_map,  # noqa: F401
                                             default_convert)
from lazytensor.runtime.data.dataloader import DataLoader  # noqa: F401
from lazytensor.runtime.data.dataset import (ChainDataset, ConcatDataset, Dataset, IterableDataset,  # noqa: F401
                                             StackDataset, Subset, TensorDataset, random_split)
from lazytensor.runtime.data.sampler import (BatchSampler, RandomSampler, Sampler, SequentialSampler,  # noqa: F401
                                             SubsetRandomSampler, WeightedRandomSampler)
from lazytensor.runtime.data.worker import WorkerInfo, get_worker_info  # noqa: F401

__all__ = ["BatchSampler", "ChainDataset", "ConcatDataset", "DataLoader", "Dataset", "IterableDataset",
           "RandomSampler", "Sampler", "SequentialSampler", "StackDataset", "Subset", "SubsetRandomSampler",
           "TensorDataset", "WeightedRandomSampler", "WorkerInfo", "default_collate", "default_convert",
           "get_worker_info", "random_split"]
