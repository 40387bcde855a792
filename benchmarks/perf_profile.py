"""Where a workload's training epochs spend their time, down to fastnn's kernels.

    python benchmarks/perf_profile.py tab-small
    python benchmarks/perf_profile.py mnist-like --threads 1 --seconds 10 --top 40
    python benchmarks/perf_profile.py tab-small --annotate multiply_derivative
    python benchmarks/perf_profile.py tab-small --params activation=gelu

Trains fastnn on one workload of ``workloads.py`` (one ``partial_fit`` per
epoch, as ``compare.py`` times it) while Linux ``perf`` samples the process,
and prints the share of the samples that fell in each function.

``perf`` finds no symbols in code that Numba compiled in memory; it reads
them from ``/tmp/perf-<pid>.map`` if the process writes one.  This script
writes that map: it keeps the object code of every kernel as Numba loads it
(from the on-disk cache) or compiles it, reads the ELF symbol table, and so
names every function of a kernel, including the helpers that LLVM did not
inline (``_forward``, ``multiply_derivative``, ...).  ``--annotate NAME``
prints the hottest instructions of the functions whose symbol contains
``NAME``, disassembled from that object code (needs ``objdump``).

Linux only, and ``perf`` must be allowed to attach (``perf_event_paranoid``
<= 1, or root).
"""

import argparse
import collections
import gc
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import time

import numba.core.codegen as _codegen

# Keep the object code of every library loaded from Numba's cache: loading
# hands it to LLVM and drops it.  Must be in place before fastnn compiles or
# loads anything.
_OBJECTS = {}
_set_compiled_object = _codegen.CPUCodeLibrary._set_compiled_object


def _keep_object(library, value):
    _OBJECTS[id(library)] = (library, value)
    return _set_compiled_object(library, value)


_codegen.CPUCodeLibrary._set_compiled_object = _keep_object

import numpy as np  # noqa: E402
from numba.core.registry import CPUDispatcher  # noqa: E402
from numba.core.runtime import rtsys  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchmarks.workloads import WORKLOADS, make_data, make_estimator  # noqa: E402
from compare import parse_variant  # noqa: E402

_STT_FUNC = 2
_STB_GLOBAL = 1


def elf_functions(obj):
    """``(section index, offset, size, name, global)`` of every function in a
    relocatable ELF64 little-endian object (what Numba compiles to on Linux)."""
    if obj[:4] != b"\x7fELF" or obj[4] != 2 or obj[5] != 1:
        return []
    shoff, = struct.unpack_from("<Q", obj, 0x28)
    shentsize, shnum = struct.unpack_from("<HH", obj, 0x3A)
    sections = [struct.unpack_from("<IIQQQQIIQQ", obj, shoff + i * shentsize) for i in range(shnum)]
    out = []
    for sh_type, sh_offset, sh_size, sh_link, sh_entsize in (
            (s[1], s[4], s[5], s[6], s[9]) for s in sections):
        if sh_type != 2:  # SHT_SYMTAB
            continue
        strtab = sections[sh_link][4]
        for k in range(sh_size // sh_entsize):
            st_name, st_info, _, st_shndx, st_value, st_size = struct.unpack_from(
                "<IBBHQQ", obj, sh_offset + k * sh_entsize)
            if st_info & 0xF != _STT_FUNC or st_shndx == 0:
                continue
            end = obj.index(b"\0", strtab + st_name)
            name = obj[strtab + st_name:end].decode()
            out.append((st_shndx, st_value, st_size, name, st_info >> 4 == _STB_GLOBAL))
    return out


def short_name(symbol):
    """``fastnn._kernels._forward`` from Numba's mangled name,
    ``_ZN6fastnn8_kernels8_forwardB3v22...``."""
    if not symbol.startswith(("_ZN", "cfunc._ZN")):
        return symbol
    rest = symbol[symbol.index("_ZN") + 3:]
    parts = []
    while rest[:1].isdigit():
        m = re.match(r"\d+", rest)
        n = int(m.group())
        parts.append(rest[m.end():m.end() + n])
        rest = rest[m.end() + n:]
    name = ".".join(parts)
    for code, text in (("_3clocals_3e", "<locals>"), ("_3clambda_3e", "<lambda>"),
                       ("_3cdynamic_3e", "<dynamic>")):
        name = name.replace(code, text)
    return ("cfunc " if symbol.startswith("cfunc") else "") + name


def compiled_functions():
    """``(address, size, name, object code, offset)`` of every Numba function in the process."""
    libraries = dict(_OBJECTS)  # id -> (library, object code)
    for obj in gc.get_objects():
        if isinstance(obj, CPUDispatcher):
            for cres in obj.overloads.values():
                lib = cres.library
                code = getattr(lib, "_compiled_object", None)
                if id(lib) not in libraries and code:
                    libraries[id(lib)] = (lib, code)
    functions = []
    for lib, code in libraries.values():
        symbols = elf_functions(code)
        bases = {}
        for shndx, offset, _, name, is_global in symbols:
            if is_global and shndx not in bases:
                try:
                    address = lib.get_pointer_to_function(name)
                except Exception:
                    address = 0
                if address:
                    bases[shndx] = address - offset
        for shndx, offset, size, name, _ in symbols:
            if shndx in bases and size:
                functions.append((bases[shndx] + offset, size, short_name(name), code, offset))
    # Numba's runtime (reference counts) is compiled at start-up, without a cache
    runtime = rtsys.library
    names = [f.name for f in runtime.get_defined_functions()]
    addresses = sorted((runtime.get_pointer_to_function(n), n) for n in names)
    for (address, name), (following, _) in zip(addresses, addresses[1:] + [(0, None)]):
        if address:
            size = following - address if address < following < address + 4096 else 16
            functions.append((address, size, "numba runtime " + name, None, 0))
    return functions


def write_perf_map(functions):
    path = f"/tmp/perf-{os.getpid()}.map"
    with open(path, "w") as f:
        for address, size, name, _, _ in sorted(functions):
            f.write(f"{address:x} {size:x} {name}\n")
    return path


def report(perf_data, top):
    text = subprocess.run(
        ["perf", "report", "-i", perf_data, "--no-children", "--sort", "sym", "--stdio"],
        capture_output=True, text=True, check=True).stdout
    rows = []
    for line in text.splitlines():
        m = re.match(r"\s*([\d.]+)%\s+\[(.)\]\s+(.*)", line)
        if m:
            rows.append((float(m.group(1)), m.group(3).strip()))
    for share, name in rows[:top]:
        print(f"{share:6.2f}%  {name}")


def annotate(perf_data, functions, pattern, top):
    """The hottest instructions of the functions matching ``pattern``."""
    ips = collections.Counter(int(ip, 16) for ip in subprocess.run(
        ["perf", "script", "-i", perf_data, "-F", "ip"],
        capture_output=True, text=True, check=True).stdout.split())
    total = sum(ips.values())
    for address, size, name, code, offset in functions:
        if pattern not in name or code is None:
            continue
        hits = {ip - address + offset: n for ip, n in ips.items() if address <= ip < address + size}
        if not hits:
            continue
        print(f"\n{name}: {100 * sum(hits.values()) / total:.2f}% of the samples")
        with tempfile.NamedTemporaryFile(suffix=".o") as f:
            f.write(code)
            f.flush()
            listing = subprocess.run(
                ["objdump", "-d", "--no-show-raw-insn", "-M", "intel",
                 f"--start-address={offset}", f"--stop-address={offset + size}", f.name],
                capture_output=True, text=True, check=True).stdout
        hot = {off for off, _ in collections.Counter(hits).most_common(top)}
        for line in listing.splitlines():
            m = re.match(r"\s*([0-9a-f]+):\s*(.*)", line)
            if m and any(abs(int(m.group(1), 16) - h) <= 24 for h in hot):
                off = int(m.group(1), 16)
                print(f"{100 * hits.get(off, 0) / total:6.2f}%  {off:6x}  {m.group(2)[:100]}")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("workload", choices=sorted(WORKLOADS))
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="fastnn's n_jobs")
    p.add_argument("--seconds", type=float, default=5.0, help="how long perf samples")
    p.add_argument("--dtype", help="fastnn's dtype (default: the workload's, float32)")
    p.add_argument("--params", default="", metavar="P=V[,P=V...]",
                   help="other fastnn estimator parameters, as compare.py's --variant takes"
                        " them, e.g. activation=gelu")
    p.add_argument("--top", type=int, default=30, help="functions (or instructions) to print")
    p.add_argument("--annotate", metavar="NAME",
                   help="also print the hottest instructions of functions named like NAME")
    args = p.parse_args(argv)
    if args.threads < 1 or args.seconds <= 0 or args.top < 1:
        p.error("--threads and --top must be >= 1, --seconds > 0")
    return args


def main(argv=None):
    args = parse_args(argv)
    for tool in ("perf",) + (("objdump",) if args.annotate else ()):
        if shutil.which(tool) is None:
            sys.exit(f"{tool} is not installed")
    X, _, y, _ = make_data(args.workload)
    classes = np.unique(y)
    est = make_estimator("fastnn", args.workload, max_iter=1,
                         random_state=np.random.RandomState(0), n_jobs=args.threads)
    if args.dtype is not None:
        est.set_params(dtype=args.dtype)
    est.set_params(**parse_variant("params:" + args.params)[1])
    for _ in range(2):  # compile or load every kernel the epochs use
        est.partial_fit(X, y, classes=classes)
    functions = compiled_functions()
    perf_map = write_perf_map(functions)
    with tempfile.TemporaryDirectory() as tmp:
        perf_data = os.path.join(tmp, "perf.data")
        perf = subprocess.Popen(
            ["perf", "record", "-F", "4000", "-p", str(os.getpid()), "-o", perf_data, "-q",
             "--", "sleep", str(args.seconds)],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        time.sleep(0.5)  # perf attaching
        epochs = []
        while perf.poll() is None:
            t0 = time.perf_counter()
            est.partial_fit(X, y, classes=classes)
            epochs.append(time.perf_counter() - t0)
        if perf.returncode != 0 or not os.path.exists(perf_data):
            sys.exit(f"perf record failed: {perf.stderr.read().strip()}")
        print(f"{args.workload}, n_jobs={args.threads}: {len(epochs)} epochs, median "
              f"{1e3 * np.median(epochs):.2f} ms; {len(functions)} compiled functions mapped\n")
        report(perf_data, args.top)
        if args.annotate:
            annotate(perf_data, functions, args.annotate, args.top)
    os.unlink(perf_map)


if __name__ == "__main__":
    main()
