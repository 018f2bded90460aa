"""Data-parallel training on ``torch.distributed`` (issue 19, section 2).

    torchrun --nproc_per_node N -m srs_lib train ...

``torchrun`` starts N processes and sets ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK`` and the
rendezvous (``MASTER_ADDR``/``MASTER_PORT``) in their environment; :func:`from_environment`
joins them into one process group, with ``gloo`` on a CPU and ``nccl`` on GPUs (one GPU
per process, ``LOCAL_RANK``). Without ``WORLD_SIZE`` (a plain ``python -m srs_lib train``)
the world is one process and nothing here communicates.

What the trainer does with a world of N (:class:`~srs_lib.training.trainer.Trainer`):

* every process draws the same global batch (the same seed, the same order) and loads
  only its shard of it, a contiguous slice of about ``batch / N`` contexts
  (:func:`shard_slice`);
* each computes its shard's losses and gradients; the gradients are summed over the
  processes, each first weighted by its share of the global batch
  (:meth:`World.average_gradients`), so that every process holds the gradient of the
  global batch's mean loss, and applies the same update: the weights stay identical, as
  in ``torch.nn.parallel.DistributedDataParallel``, which averages gradients the same way;
* batch normalisation uses each shard's own statistics in training (as DDP does without
  ``SyncBatchNorm``), and its moving averages are rank 0's, sent to every process before an
  evaluation or a checkpoint (DDP broadcasts them from rank 0 at every step); dropout draws
  from the same seeded generators in every process;
* evaluation is sharded: each process scores every N-th batch of the split and the
  scores are gathered in the split's order (:meth:`World.gather`);
* only rank 0 writes: the run folder's lock, ``config.json``, checkpoints, ``metric.txt``,
  ``best.keras``, the final report, Keras callbacks and the console log. A resumed run
  reads rank 0's newest checkpoint in every process.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class World:
    """The processes of one training run: this one's ``rank`` among ``size``."""

    rank: int = 0
    size: int = 1

    @property
    def main(self) -> bool:
        """Whether this process writes (rank 0)."""
        return self.rank == 0

    @property
    def parallel(self) -> bool:
        return self.size > 1

    def average_gradients(self, grads: list, weight: float) -> None:
        """Replace each of ``grads`` (torch tensors) in place by the sum over the processes
        of ``weight`` × it: with ``weight`` = this shard's share of the global batch, the
        gradient of the global batch's mean loss. One flat all-reduce."""
        if not self.parallel:
            return
        import torch
        import torch.distributed as dist

        flat = torch.cat([g.reshape(-1) for g in grads]) * weight
        dist.all_reduce(flat, op=dist.ReduceOp.SUM)
        offset = 0
        for g in grads:
            g.copy_(flat[offset:offset + g.numel()].view_as(g))
            offset += g.numel()

    def weighted_sum(self, values: dict[str, float], weight: float) -> dict[str, float]:
        """``{key: Σ over the processes of weight × value}`` (the global batch's mean losses
        from each shard's mean and its share); keys must be the same in every process."""
        if not self.parallel:
            return dict(values)
        import torch
        import torch.distributed as dist

        keys = sorted(values)
        tensor = torch.tensor([values[k] * weight for k in keys], dtype=torch.float64,
                              device=_collective_device())
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
        return dict(zip(keys, tensor.cpu().tolist()))

    def any(self, flag: bool) -> bool:
        """Whether ``flag`` is true in any process (every process gets the answer)."""
        if not self.parallel:
            return bool(flag)
        import torch
        import torch.distributed as dist

        tensor = torch.tensor([1 if flag else 0], dtype=torch.int32, device=_collective_device())
        dist.all_reduce(tensor, op=dist.ReduceOp.MAX)
        return bool(tensor.item())

    def from_main(self, flag: bool) -> bool:
        """Rank 0's ``flag`` in every process."""
        if not self.parallel:
            return bool(flag)
        import torch
        import torch.distributed as dist

        tensor = torch.tensor([1 if flag else 0], dtype=torch.int32, device=_collective_device())
        dist.broadcast(tensor, src=0)
        return bool(tensor.item())

    def broadcast_variables(self, variables: list) -> None:
        """Give every process rank 0's values of ``variables`` (Keras variables)."""
        if not self.parallel or not variables:
            return
        import torch
        import torch.distributed as dist

        values = [v.value for v in variables]
        flat = torch.cat([t.detach().reshape(-1).to(torch.float32) for t in values])
        dist.broadcast(flat, src=0)
        offset = 0
        with torch.no_grad():
            for t in values:
                t.copy_(flat[offset:offset + t.numel()].view_as(t).to(t.dtype))
                offset += t.numel()

    def gather(self, value) -> list:
        """Every process's ``value`` (any picklable object), in rank order."""
        if not self.parallel:
            return [value]
        import torch.distributed as dist

        out = [None] * self.size
        dist.all_gather_object(out, value)
        return out

    def barrier(self) -> None:
        if self.parallel:
            import torch.distributed as dist

            dist.barrier()


def _collective_device() -> str:
    import torch
    import torch.distributed as dist

    return "cuda" if dist.get_backend() == "nccl" and torch.cuda.is_available() else "cpu"


def from_environment() -> World:
    """The world ``torchrun`` (or any launcher setting ``WORLD_SIZE`` and ``RANK``) started
    this process in, its process group joined; one process when ``WORLD_SIZE`` is unset or 1.
    On GPUs each process takes the GPU ``LOCAL_RANK`` (``nccl``); otherwise ``gloo``."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size <= 1:
        return World()
    import torch
    import torch.distributed as dist

    rank = int(os.environ["RANK"])
    cuda = torch.cuda.is_available() and os.environ.get("KERAS_TORCH_DEVICE", "") != "cpu"
    if cuda:
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", rank)))
    if not dist.is_initialized():
        dist.init_process_group("nccl" if cuda else "gloo")
    return World(rank=dist.get_rank(), size=dist.get_world_size())


def shard_slice(n: int, world: World) -> slice:
    """This process's contiguous share of ``n`` items: the first ``n % size`` processes
    get one more (``np.array_split``'s rule); a process may get none when ``n < size``."""
    bounds = np.cumsum([0] + [n // world.size + (1 if r < n % world.size else 0)
                              for r in range(world.size)])
    return slice(int(bounds[world.rank]), int(bounds[world.rank + 1]))
