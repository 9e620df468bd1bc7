"""ResourceMonitor: samples the executor's whole process tree off the event loop.

A daemon thread wakes every ``interval`` seconds, measures, and hands the sample to the
event loop with ``call_soon_threadsafe``; the loop adds the executor's own counts and
records it, so records are appended on one thread only.

- CPU of the tree is computed from CPU-time deltas per process (a process seen for the
  first time contributes all the CPU time it used since it started), so no reading ever
  depends on psutil's unprimed first ``cpu_percent`` call; 100 = one core.
- RSS is summed over the tree (pages shared between processes count once per process).
- Processes that exit while a sample is taken are skipped.
- GPU through nvidia-ml-py when it is installed and finds a device; otherwise NaN and
  one log line. Each device is read on its own (:class:`DeviceReading`, a row of its own
  in the resources frame); the sample's ``gpu_*`` fields are their mean utilisation and
  summed memory.
- ``sample_cost_ms`` is the CPU time the sampling thread spent on that sample.
"""

from __future__ import annotations

import logging
import math
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import psutil

__all__ = ["ResourceMonitor", "Sample", "GpuProbe", "DeviceReading", "machine_devices", "nvml_device_count"]

log = logging.getLogger("swarmlab")
NAN = math.nan
_GONE = (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess)


@dataclass(frozen=True, slots=True)
class DeviceReading:
    """One GPU device in one sample: its index (NVML's, PCI bus order), utilisation %,
    memory used (MB) and the memory the executor's processes hold on it (NaN where NVML
    does not say)."""

    index: int
    util_pct: float
    mem_mb: float
    tree_mem_mb: float


@dataclass(slots=True)
class Sample:
    """One measurement, on the monotonic clock ``t`` (``time.monotonic``)."""

    t: float
    cpu_pct: float
    rss_mb: float
    n_procs: int
    sys_cpu_pct: float
    sys_mem_pct: float
    net_sent_bytes: float
    net_recv_bytes: float
    disk_read_bytes: float
    disk_write_bytes: float
    gpu_util_pct: float
    gpu_mem_mb: float
    gpu_tree_mem_mb: float
    sample_cost_ms: float
    rss_by_pid: dict[int, float] = field(default_factory=dict)
    gpus: list[DeviceReading] = field(default_factory=list)  # each device NVML sees


def nvml_device_count() -> int:
    """The NVIDIA devices NVML sees on this machine (0 without nvidia-ml-py or a driver).
    NVML numbers them in PCI bus order, which is CUDA's with ``CUDA_DEVICE_ORDER=PCI_BUS_ID``
    (set in every PROCESS worker that holds devices)."""
    try:
        import pynvml
    except ImportError:
        return 0
    try:
        pynvml.nvmlInit()
        return int(pynvml.nvmlDeviceGetCount())
    except pynvml.NVMLError:
        return 0


def machine_devices(environ: dict | None = None, nvml_count: Callable[[], int] = nvml_device_count
                    ) -> tuple[int | None, str]:
    """How many GPU devices this run's table holds, and the words that name them in errors.

    ``CUDA_VISIBLE_DEVICES`` set by the user: the devices it lists, renumbered 0..k-1 as
    CUDA in this process sees them (a worker's own value is mapped back through it, see
    :func:`swarmlab.core.devices.visible_value`); NVML's count caps it where NVML sees any.
    Else NVML's devices. None when neither says (no GPU: CI, a laptop): the table is then
    the indices the agents declare."""
    env = os.environ if environ is None else environ
    n = nvml_count()
    vis = env.get("CUDA_VISIBLE_DEVICES")
    if vis is not None:
        k = len([e for e in vis.split(",") if e.strip()])
        if n:
            k = min(k, n)
        return k, f"the machine (CUDA_VISIBLE_DEVICES={vis!r}, renumbered 0..{k - 1})"
    return (n, "the machine") if n else (None, "the machine")


class GpuProbe:
    """NVIDIA GPUs through nvidia-ml-py; ``available`` False when there is none."""

    def __init__(self) -> None:
        self.available = False
        self._nvml = None
        self._handles: list = []
        try:
            import pynvml
        except ImportError:
            log.info("swarmlab: no GPU sampling (nvidia-ml-py is not installed: pip install 'swarmlab[gpu]')")
            return
        try:
            pynvml.nvmlInit()
            n = pynvml.nvmlDeviceGetCount()
            self._handles = [pynvml.nvmlDeviceGetHandleByIndex(i) for i in range(n)]
        except pynvml.NVMLError as e:
            log.info("swarmlab: no GPU sampling (NVML: %s)", e)
            return
        if not self._handles:
            log.info("swarmlab: no GPU sampling (NVML finds no device)")
            return
        self._nvml = pynvml
        self.available = True

    def devices(self, pids: set[int]) -> list[DeviceReading]:
        """Each device's reading (a device NVML fails to read is left out); the memory
        of the processes ``pids`` on it is NaN where NVML lists no process."""
        if not self.available:
            return []
        nv = self._nvml
        out = []
        for i, h in enumerate(self._handles):
            try:
                util = nv.nvmlDeviceGetUtilizationRates(h).gpu
                mem = nv.nvmlDeviceGetMemoryInfo(h).used / 2**20
                tree, tree_known = 0.0, False
                for p in nv.nvmlDeviceGetComputeRunningProcesses(h):
                    tree_known = True
                    if p.pid in pids and p.usedGpuMemory is not None:
                        tree += p.usedGpuMemory / 2**20
            except nv.NVMLError:
                continue
            out.append(DeviceReading(i, float(util), mem, tree if tree_known else NAN))
        return out

    def read(self, pids: set[int]) -> tuple[float, float, float]:
        """Mean utilisation %, memory used (MB) over every GPU, and the memory the
        processes ``pids`` hold on them (NaN where NVML does not say)."""
        return totals(self.devices(pids))


def totals(gpus: list[DeviceReading]) -> tuple[float, float, float]:
    """The devices' mean utilisation %, summed memory, summed memory of the executor's
    processes (NaN where no device says): the sample's ``gpu_*`` fields."""
    if not gpus:
        return NAN, NAN, NAN
    known = [g.tree_mem_mb for g in gpus if g.tree_mem_mb == g.tree_mem_mb]
    return (sum(g.util_pct for g in gpus) / len(gpus), sum(g.mem_mb for g in gpus),
            sum(known) if known else NAN)


class ResourceMonitor:
    """Samples the process tree of ``pid`` every ``interval`` seconds into ``on_sample``
    (called on ``loop``)."""

    def __init__(self, loop, interval: float, on_sample: Callable[[Sample], None],
                 pid: int | None = None) -> None:
        self.loop = loop
        self.interval = interval
        self.on_sample = on_sample
        self.root = psutil.Process(pid or os.getpid())
        self.gpu = GpuProbe()
        self._procs: dict[int, psutil.Process] = {}
        self._cpu_seen: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._prime()
        self._thread = threading.Thread(target=self._run, name="swarmlab-monitor", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)

    # ------------------------------------------------------------------ sampling
    def _tree(self) -> list[psutil.Process]:
        procs = [self.root]
        try:
            procs += self.root.children(recursive=True)
        except _GONE:
            pass
        return procs

    def _prime(self) -> None:
        """The baseline every later reading is a delta from."""
        self._t = time.monotonic()
        psutil.cpu_percent(interval=None)
        for p in self._tree():
            try:
                t = p.cpu_times()
                self._cpu_seen[p.pid] = t.user + t.system
                self._procs[p.pid] = p
            except _GONE:
                pass
        self._net = psutil.net_io_counters()
        self._disk = psutil.disk_io_counters()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                sample = self.sample()
            except Exception:  # a monitor that fails must not take the run down
                log.exception("swarmlab: resource sampling failed; monitoring stops")
                return
            try:
                self.loop.call_soon_threadsafe(self.on_sample, sample)
            except RuntimeError:  # the loop is closed
                return

    def sample(self) -> Sample:
        c0 = time.thread_time()
        now = time.monotonic()
        cpu_s, rss = 0.0, 0.0
        seen: dict[int, float] = {}
        rss_by_pid: dict[int, float] = {}
        for p in self._tree():
            p = self._procs.setdefault(p.pid, p)  # keep one Process object per pid
            try:
                t = p.cpu_times()
                used = t.user + t.system
                mem = p.memory_info().rss / 2**20
            except _GONE:
                continue
            cpu_s += used - self._cpu_seen.get(p.pid, 0.0)
            seen[p.pid] = used
            rss += mem
            rss_by_pid[p.pid] = mem
        for pid in set(self._procs) - set(seen):
            del self._procs[pid]
        self._cpu_seen = seen
        wall = max(now - self._t, 1e-9)
        self._t = now
        net, disk = psutil.net_io_counters(), psutil.disk_io_counters()
        sent = net.bytes_sent - self._net.bytes_sent if net and self._net else NAN
        recv = net.bytes_recv - self._net.bytes_recv if net and self._net else NAN
        dread = disk.read_bytes - self._disk.read_bytes if disk and self._disk else NAN
        dwrite = disk.write_bytes - self._disk.write_bytes if disk and self._disk else NAN
        self._net, self._disk = net, disk
        gpus = self.gpu.devices(set(seen))
        gpu_util, gpu_mem, gpu_tree = totals(gpus)
        return Sample(
            t=now, cpu_pct=100.0 * cpu_s / wall, rss_mb=rss, n_procs=len(seen),
            sys_cpu_pct=psutil.cpu_percent(interval=None), sys_mem_pct=psutil.virtual_memory().percent,
            net_sent_bytes=sent, net_recv_bytes=recv, disk_read_bytes=dread, disk_write_bytes=dwrite,
            gpu_util_pct=gpu_util, gpu_mem_mb=gpu_mem, gpu_tree_mem_mb=gpu_tree,
            sample_cost_ms=(time.thread_time() - c0) * 1e3, rss_by_pid=rss_by_pid, gpus=gpus,
        )
