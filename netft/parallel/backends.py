"""What differs between the parallel backends, stated once per backend, so that code outside
netft/parallel/ asks a question ("are parameters sharded?", "does it keep its own float32
masters?") instead of testing a backend's name or reading its private attributes.

Each backend is one ordered chain, applied to the loaded model (parallel/engine.py CHAINS;
parallel/zero3.py):

    single   activation checkpointing -> to device -> autocast (fp32 masters) -> compile
    ddp      activation checkpointing -> to device -> autocast (fp32 masters) -> DDP -> compile
    fsdp2    activation checkpointing -> fully_shard each decoder layer, then the root
             (meta load: rank 0 fills each unit as it is sharded) -> compile
    zero3    (before the model is read: zero.Init, so from_pretrained builds partitions)
             activation checkpointing -> deepspeed.initialize (no compile: refused)

Memory accounting for the planner (netft/plan.py) is here too: which copies of the weights,
gradients and optimizer states each backend holds per device. Imports nothing of netft, so
that config, models and plan can ask it without an import cycle."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

NAMES = ("single", "ddp", "fsdp2", "zero3")  # parallel.name's choices, in the docs' order


@dataclass(frozen=True)
class Memory:
    """Bytes per device of a backend's own terms (plan.estimate computes the rest)."""
    weights: float
    grads: float
    optimizer: float
    host_buffers: float  # full-size gradient buffers measured on the host (CPU runs)
    runtime: float  # extra process memory on the host (DeepSpeed's import and ops)


@dataclass(frozen=True)
class Sizes:
    """What the planner knows of a run, in bytes or element counts (plan.estimate)."""
    params: int  # P: every weight
    trainable: int
    weight_bytes: float  # the stored weights, whole (qlora: packed 4-bit linears)
    layer_bytes: float  # one decoder layer, gathered in the compute dtype
    root_params: int  # embedding + final norm + head
    compute_bytes: int  # bytes of the compute dtype
    param_bytes: int  # bytes of a stored trainable parameter (4 with float32 masters)
    world: int
    grad_accum: int
    grad_sync_every_microbatch: bool
    full: bool  # method=full (the root's weights train)
    on_host: bool  # a CPU run (host buffers measured there)


@dataclass(frozen=True)
class Backend:
    name: str
    multi_rank: bool = True  # one process per device, launched by torchrun / srun
    sharded: bool = False  # parameters split over the ranks (1/world of them per device)
    autocast: bool = False  # 16-bit full fine-tuning: fp32 masters, forward under autocast
    gather_in_compute_dtype: bool = False  # shards all-gathered in the compute dtype (FSDP2 MP)
    own_masters: bool = False  # keeps its own fp32 master partition; the module stays 16-bit
    meta_load: bool = False  # ranks > 0 may start from a meta-device skeleton
    streamed_export: bool = False  # full weights exported file by file from the shards
    partitioned_load: bool = False  # from_pretrained already builds this rank's partitions
    quantized_weights: bool = True  # can wrap 4-bit (qlora) weights
    compiles: bool = True  # train.compile applies
    memory: Callable[[Sizes], Memory] | None = None

    def account(self, s: Sizes) -> Memory:
        return (self.memory or _replicated)(s)


def _replicated(s: Sizes) -> Memory:
    """single / ddp: every rank holds everything; + the 16-bit copies autocast holds from
    forward until backward has used them; torch AdamW states in the parameters' dtype."""
    masters = s.param_bytes != s.compute_bytes
    return Memory(s.weight_bytes + (s.params * s.compute_bytes if masters else 0),
                  float(s.trainable * s.param_bytes), float(s.trainable * 2 * s.param_bytes),
                  0.0, 0.0)


def _fsdp2(s: Sizes) -> Memory:
    if s.world <= 1:
        return _replicated(s)
    # Gathered copies are full-size buffers beside the shards: 2 decoder layers (the one
    # computing, the prefetched one) and the root's embedding/norm/head.
    weights = s.weight_bytes / s.world + 2 * s.layer_bytes + s.root_params * s.compute_bytes
    grads = s.trainable * s.param_bytes / s.world
    if s.grad_accum > 1 and not s.grad_sync_every_microbatch:
        grads += s.trainable * 4  # unsharded accumulation across the micro-batches
    buffers = 0.0
    if s.on_host:
        # FSDP2 keeps the root unit's gradients (embedding/head) unsharded until the end of
        # backward; and each unit's all-gathered parameters (in forward and again in
        # backward) and unsharded gradients are freed into glibc's heap, which keeps about
        # one more shard of the model as fragments (measured for full and lora alike).
        buffers = (s.root_params if s.full else 0) * s.compute_bytes + s.weight_bytes / s.world
    return Memory(weights, grads, s.trainable * 2 * s.param_bytes / s.world, buffers, 0.0)


DS_MAX_LIVE = 1e9  # DeepSpeed stage3_max_live_parameters default (netft does not set it)
DS_REDUCE_BUCKET = 5e8  # DeepSpeed reduce_bucket_size default
DS_CPU_RUNTIME = 0.05 * 2**30  # measured (bench/bench_plan.py): DeepSpeed's share of the process


def _zero3(s: Sizes) -> Memory:
    sharded = s.world > 1
    world = s.world if sharded else 1
    if sharded:
        # DeepSpeed keeps up to stage3_max_live_parameters (default 1e9) gathered, and with
        # the default reuse distance a model below that stays gathered through the step.
        weights = s.weight_bytes / world + min(s.params, DS_MAX_LIVE) * s.compute_bytes
    else:
        weights = s.weight_bytes
    # fp32 gradient partitions + the reduce bucket (reduce_bucket_size, default 5e8
    # elements, allocated whole with contiguous_gradients).
    grads = s.trainable * 4 / world + min(DS_REDUCE_BUCKET, s.params) * s.compute_bytes
    # fp32 Adam states + the fp32 master partition (kept even for fp32 models).
    optimizer = s.trainable * 12 / world
    # DeepSpeed: each gradient exists at full size until it is reduced into its partition.
    buffers = s.trainable * s.compute_bytes if (s.on_host and sharded) else 0.0
    return Memory(weights, grads, optimizer, buffers, DS_CPU_RUNTIME)


BACKENDS = {
    "single": Backend("single", multi_rank=False, autocast=True),
    "ddp": Backend("ddp", autocast=True),
    "fsdp2": Backend("fsdp2", sharded=True, gather_in_compute_dtype=True, meta_load=True,
                     streamed_export=True, memory=_fsdp2),
    "zero3": Backend("zero3", sharded=True, own_masters=True, partitioned_load=True,
                     quantized_weights=False, compiles=False, memory=_zero3),
}
DEFAULT = "single"  # one plain process
DEFAULT_MULTI = "fsdp2"  # what the planner suggests when one device is not enough
PLANNED = ("single", "fsdp2", "zero3")  # `netft plan --table` rows (ddp's memory is single's)


def backend(name: str) -> Backend:
    return BACKENDS[name]


# ------------------------------------------------ a parameter, whatever holds it
def local_part(p):
    """The part of a parameter this rank holds: a ZeRO-3 partition, an FSDP2 DTensor's local
    shard, or the tensor itself."""
    t = p.ds_tensor if hasattr(p, "ds_tensor") else p
    return t.to_local() if hasattr(t, "to_local") else t


def is_sharded(t) -> bool:
    """Whether t is already an FSDP2 shard (a DTensor)."""
    return hasattr(t, "to_local")


def full_tensor(t):
    """The whole tensor (collective for a DTensor: every rank must call it)."""
    return t.full_tensor() if hasattr(t, "full_tensor") else t


def full_numel(p) -> int:
    """Elements the parameter stands for on all ranks (a ZeRO-3 placeholder holds none)."""
    return p.ds_numel if hasattr(p, "ds_numel") else p.numel()
