#!/usr/bin/python3
"""make_corpus.py - (re)create the committed seed corpora and dictionaries of the fuzz harnesses.

usage: /usr/bin/python3 tests/fuzz/make_corpus.py [--fleet build/fleet] [--out tests/fuzz/corpus]

Writes, replacing what is there:
  corpus/fuzz_config/  every configs/**/*.yaml plus hand-written YAML (sweeps, zip groups, matrices,
                       anchors, tags, flow style, errors of every kind);
  corpus/fuzz_demos/   demonstrations files made by `fleet gen` on tiny configs (real_*) and h5py
                       variants of them (wrong dtypes, ranks, shapes, huge declared dims on tiny
                       files, bad offsets, NaN, missing or mistyped attributes, odd HDF5 storage);
  corpus/fuzz_ckpt/    a checkpoint made by `fleet run` (real_*) and h5py variants (rounds_done
                       out of range, wrong kind, NaN Adam step, wrong row counts, ...);
  fuzz_config.dict     libFuzzer dictionary: config keys and enum names from src/config/cfg*.c, YAML tokens;
  hdf5.dict            libFuzzer dictionary: HDF5 signatures, message types, our object names.
Needs Debian's python3-h5py (run /usr/bin/python3) and a built `fleet` (make all) with mpirun.
Deterministic: HDF5 stores a modification time in every object header; it is set to a fixed value,
so the same sources give the same bytes. Inputs that make a harness fail are not seeds: they go
to tests/fuzz/crashes/<harness>/ (see README.md).
"""
import argparse
import glob
import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import tempfile

import h5py
import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIXED_MTIME = 1_000_000_000  # 2001-09-09: any constant will do
HUGE = 2**31 - 1             # largest dimension the readers accept (INT_MAX)


# ----------------------------------------------------------------------------- HDF5 helpers

def normalize_mtimes(path):
    """Set every v1 object header's modification time message (type 0x12) to FIXED_MTIME."""
    data = bytearray(open(path, "rb").read())
    pat = re.compile(rb"\x12\x00\x08\x00.\x00\x00\x00\x01\x00\x00\x00(....)", re.S)
    for m in pat.finditer(bytes(data)):
        data[m.start(1):m.end(1)] = struct.pack("<I", FIXED_MTIME)
    open(path, "wb").write(bytes(data))


def fixed_str(s):
    """A fixed-length string attribute value, as fleet writes them."""
    return np.bytes_(s.encode() if isinstance(s, str) else s)


def read_tree(path):
    """{'attrs': {...}, 'datasets': {name: ndarray}} of a file (root attributes, every dataset)."""
    tree = {"attrs": {}, "datasets": {}}
    with h5py.File(path, "r") as f:
        for k, v in f.attrs.items():
            tree["attrs"][k] = v
        def visit(name, obj):
            if isinstance(obj, h5py.Dataset):
                tree["datasets"]["/" + name] = obj[()]
        f.visititems(visit)
    return tree


def write_tree(path, attrs, datasets, extra=None, libver="earliest", **dset_kw):
    """An HDF5 file with root attributes and datasets (None values are left out); extra(f) may add
    more (links, groups, unallocated datasets). Modification times are normalized. libver: h5py's
    default ("earliest", as users' files) or ("v108", "v108"), the checksummed format fleetmerge
    writes and requires of checkpoints."""
    with h5py.File(path, "w", libver=libver) as f:
        for k, v in attrs.items():
            if v is not None:
                f.attrs[k] = v
        for name, v in datasets.items():
            if v is None:
                continue
            if isinstance(v, (bytes, np.bytes_)):
                f.create_dataset(name, data=np.bytes_(v), track_times=False)
            elif np.ndim(v) == 0:
                f.create_dataset(name, data=v, track_times=False)
            else:
                f.create_dataset(name, data=v, track_times=False, **dset_kw)
        if extra:
            extra(f)
    normalize_mtimes(path)


def unallocated(name, shape, dtype="f8", chunks=None):
    """extra(): a dataset declared with `shape` whose storage is never written (a tiny file)."""
    def add(f):
        if name in f:
            del f[name]
        f.create_dataset(name, shape=shape, dtype=dtype, chunks=chunks, track_times=False)
    return add


def run(cmd, cwd, check=True):
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
               OMPI_MCA_rmaps_base_oversubscribe="1", OPENBLAS_NUM_THREADS="1")
    r = subprocess.run(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if check and r.returncode != 0:
        sys.exit("make_corpus.py: %s failed (%d):\n%s" % (" ".join(cmd), r.returncode, r.stdout))
    return r


def mpirun(np_, fleet, args, cwd, check=True):
    return run(["mpirun", "--allow-run-as-root", "--oversubscribe", "-np", str(np_), fleet] + args, cwd, check)


# ----------------------------------------------------------------------------- config seeds

CONFIG_SEEDS = {
    "minimal.yaml": "experiment: {name: m}\n",
    "empty.yaml": "",
    "comments_only.yaml": "# nothing\n---\n",
    "custom_matrices.yaml": """\
experiment: {name: custom, seed: 7}
env:
  kind: lqg
  system: custom
  obs: projected
  obs_dim: 2
  A: [[1.01, 0.1], [0, 0.98]]
  B: [[0], [1]]
  C: [[1, 0], [0.5, 1e-3]]
  num_tasks: 3
  horizon: 20
policy: {arch: dynamic_linear, hidden_dim: 2}
merge: {methods: [average, linear_perm, linear_gl], gl_start: identity}
""",
    "sweep_zip.yaml": """\
experiment: {name: z, seed: 1}
fleet: {rounds: 5, local_epochs: 1}
policy: {arch: mlp}
sweep:
  fleet.alpha: [0.1, 1, 10]
  seeds: [1, 2]
  zip:
    - {fleet.rounds: [50, 10, 5], fleet.local_epochs: [1, 5, 10]}
    - {train.steps: [10, 20], train.lr: [0.1, 0.2]}
""",
    "sweep_errors.yaml": """\
experiment: {name: bad}
sweep:
  fleet.alpha: []
  nosuch.key: [1]
  fleet.robots: [1, x, -3]
  seeds: 3
  zip:
    - {fleet.rounds: [1, 2], fleet.local_epochs: [1]}
    - [not, a, mapping]
  fleet.alpha: [2]
""",
    "sweep_big.yaml": """\
experiment: {name: big}
sweep:
  seeds: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]
  fleet.alpha: [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1]
  train.lr: [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1]
  train.steps: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]
""",
    "anchors.yaml": """\
base: &b {name: anchored, seed: 3}
experiment: *b
env: &e
  kind: cartpole
  num_tasks: 2
fleet:
  <<: {alpha: 0.5}
  demos_per_robot: 4
policy: {arch: rnn, layers: 1, width: 8, activation: relu}
""",
    "tags_and_scalars.yaml": """\
%YAML 1.1
---
experiment: {name: !!str 123, seed: 0x1F, description: "tab\\there \\u00e9 \\x41"}
env: {kind: lqg, process_noise: 1e-3, init_std: .5, obs_noise: +.inf, horizon: 0o17}
fleet: {shared_init: yes, shared_data: off, alpha: .nan, sign_flip_fraction: -0.0}
train: {lr: !!float "0.01", steps: ~, grad_clip: null}
...
""",
    "block_scalars.yaml": """\
experiment:
  name: |
    multi
    line
  description: >-
    folded
    text
  output_dir: 'single ''quoted'' dir'
""",
    "errors.yaml": """\
experiment: {name: e, seed: -1, unknown: 1}
env: {kind: nosuch, num_tasks: 0, horizon: 1e99, A: [[1, 2], [3]], B: 5}
fleet: {robots: -1, alpha: 0, participation: 2, rounds: 3.5}
policy: {arch: [mlp], width: 99999999999999999999}
merge: {methods: [average, average, nosuch], fm_tau: -1}
bogus_section: {}
""",
    "dup_keys.yaml": "experiment: {name: a, name: b}\nexperiment: {seed: 1}\n",
    "not_a_mapping.yaml": "- experiment\n- env\n",
    "multi_doc.yaml": "experiment: {name: a}\n---\nexperiment: {name: b}\n",
    "bad_yaml.yaml": "experiment: {name: [unclosed\n  env: : :\n\t- tab\n",
    "complex_key.yaml": "? [experiment]\n: {name: x}\n? {a: b}\n: c\n",
    "nested_lists.yaml": "experiment: {name: n}\nenv:\n  A: " + "[" * 40 + "1" + "]" * 40 + "\n",
    "long_string.yaml": "experiment: {name: '" + "x" * 300 + "', description: \"" + "y" * 300 + "\"}\n",
    "tooluse_small.yaml": """\
experiment: {name: tu}
env: {kind: tooluse, tu_points: 16, tu_point_noise: 0.001, tu_proprio: false}
policy: {arch: mlp, enc_layers: 1, enc_width: 8}
fleet: {rounds: 2, local_epochs: 1, participation: 0.5, reset_optimizer: true}
merge: {methods: [fleet_merge_soft], fm_init: 1}
eval: {barrier_points: 3, finetune_demos: 2, task_specific: true}
""",
    "utf8_bom.yaml": "\ufeffexperiment: {name: bom}\n",
    # deep nesting (the loader must bound it, not recurse or loop without end)
    "deep_flow.yaml": "experiment: {name: d}\nenv:\n  A: " + "[" * 1000 + "]" * 1000 + "\n",
    "deep_map.yaml": "sweep:\n  zip: " + "{a: " * 500 + "1" + "}" * 500 + "\n",
    "deep_block.yaml": "experiment:\n" + "".join(" " * (i + 1) + "- \n" for i in range(100)),
    "deep_unclosed.yaml": "env: " + "[" * 3000 + "\n",
}


def config_dict(out):
    # the loader's sources: keys from the schema table (cfg_schema.c), words from every message
    src = "".join(open(p).read() for p in sorted(glob.glob(os.path.join(ROOT, "src/config/cfg*.c"))))
    keys = sorted(set(re.findall(r'CFG_[A-Z]+\("([a-z_]+\.[a-z_0-9]+)"', src)))
    words = set()
    for k in keys:
        s, n = k.split(".")
        words.update([s, n])
    words.update(re.findall(r'"([a-z][a-z_0-9]{2,30})"', src))
    tokens = ["sweep", "seeds", "zip", "---", "...", "%YAML 1.1", "%TAG ! tag:x,2000:", "&a ", "*a", "<<: ", "!!str ",
              "!!float ", "!!map", "!!seq", "? ", ": ", "- ", "{", "}", "[", "]", "|", ">-", "'", "\"", "#", "\\u00e9",
              "\t", "\r\n", ".inf", "-.inf", ".nan", "~", "null", "true", "false", "yes", "no", "0x", "0o", "1e308",
              "1e-320", "-0", "2147483648", "9223372036854775808", "\ufeff"]
    lines = ["# fuzz_config.dict - made by tests/fuzz/make_corpus.py from src/config/cfg*.c; do not edit"]
    for w in sorted(words) + keys + tokens:
        lines.append('"%s"' % "".join(c if 32 <= ord(c) < 127 and c not in '"\\' else "\\x%02X" % b
                                      for c in w for b in c.encode()))
    open(out, "w").write("\n".join(lines) + "\n")


def make_config_seeds(out):
    for p in sorted(glob.glob(os.path.join(ROOT, "configs/*.yaml"))):
        shutil.copy(p, os.path.join(out, "cfg_" + os.path.basename(p)))
    for p in sorted(glob.glob(os.path.join(ROOT, "configs/sweeps/*.yaml"))):
        shutil.copy(p, os.path.join(out, "sweep_" + os.path.basename(p)))
    for name, text in CONFIG_SEEDS.items():
        open(os.path.join(out, "hand_" + name), "wb").write(text.encode())


# ----------------------------------------------------------------------------- demonstrations

TINY_GEN = {
    # name: (ranks, config)
    "lqr2": (2, "experiment: {name: fz_lqr, seed: 1}\n"
                "env: {kind: lqg, system: mild_unstable, obs: state, num_tasks: 2, horizon: 4}\n"
                "fleet: {demos_per_robot: 2}\npolicy: {arch: static_linear}\nmerge: {methods: [average]}\n"),
    "lqg1": (1, "experiment: {name: fz_lqg, seed: 2}\n"
                "env: {kind: lqg, system: odd_unstable, obs: projected, obs_dim: 2, num_tasks: 3, horizon: 3}\n"
                "fleet: {demos_per_robot: 3}\npolicy: {arch: dynamic_linear}\nmerge: {methods: [average]}\n"),
    "cartpole1": (1, "experiment: {name: fz_cp, seed: 3}\nenv: {kind: cartpole, num_tasks: 2, horizon: 3}\n"
                     "fleet: {demos_per_robot: 2}\npolicy: {arch: mlp, layers: 1, width: 4}\n"
                     "merge: {methods: [average]}\n"),
}


def demos_base(robots=2):
    """A valid demonstrations file's content (the schema of src/io/h5io.h), small."""
    n_per = [1, 3] if robots == 2 else [1] * robots  # 2 robots: 4 trajectories
    off = np.concatenate([[0], np.cumsum(n_per)]).astype("<i8")
    N, T, p, m, K = int(off[-1]), 3, 2, 1, 2
    rng = np.random.default_rng(1)
    attrs = {"format_version": np.int64(1), "kind": fixed_str("fleetmerge-demos"), "env": fixed_str("lqg"),
             "num_robots": np.int64(robots), "num_tasks": np.int64(K)}
    ds = {"/demos/obs": rng.standard_normal((N, T, p)).round(3).astype("<f8"),
          "/demos/actions": rng.standard_normal((N, T, m)).round(3).astype("<f8"),
          "/demos/task": (np.arange(N) % K).astype("<i4"),
          "/demos/length": np.full(N, T, "<i4"),
          "/demos/robot_offsets": off,
          "/demos/mixture": np.full((robots, K), 1.0 / K, "<f8")}
    return attrs, ds


def demos_variants(real):
    """{name: (attrs, datasets, extra, dataset keywords)}: the h5py seeds of fuzz_demos."""
    v = {}
    for robots in (1, 2):
        a, d = demos_base(robots)
        v["valid_r%d" % robots] = (a, d, None, {})
    a0, d0 = demos_base(2)
    a1, d1 = demos_base(1)

    def var(name, base=2, attrs=None, ds=None, extra=None, **kw):
        a, d = (a0, d0) if base == 2 else (a1, d1)
        a, d = dict(a), dict(d)
        a.update(attrs or {})
        d.update(ds or {})
        v[name] = (a, d, extra, kw)

    # attributes: missing, mistyped, out of range
    for k in a0:
        var("attr_missing_" + k, attrs={k: None})
    var("attr_version_2", attrs={"format_version": np.int64(2)})
    var("attr_version_str", attrs={"format_version": fixed_str("1")})
    var("attr_version_f", attrs={"format_version": np.float64(1.0)})
    var("attr_version_nan", attrs={"format_version": np.float64("nan")})
    var("attr_version_arr", attrs={"format_version": np.array([1, 1], "<i8")})
    var("attr_kind_int", attrs={"kind": np.int64(7)})
    var("attr_kind_vlen", attrs={"kind": "fleetmerge-demos"})
    var("attr_kind_other", attrs={"kind": fixed_str("fleetmerge-checkpoint")})
    var("attr_kind_empty", attrs={"kind": fixed_str("")})
    var("attr_env_long", attrs={"env": fixed_str("e" * 200)})
    var("attr_env_nul", attrs={"env": fixed_str(b"lq\x00g")})
    var("attr_robots_0", attrs={"num_robots": np.int64(0)})
    var("attr_robots_neg", attrs={"num_robots": np.int64(-1)})
    var("attr_robots_huge", attrs={"num_robots": np.int64(2**40)})
    var("attr_robots_intmax", attrs={"num_robots": np.int64(HUGE)})
    var("attr_robots_u64", attrs={"num_robots": np.uint64(2**64 - 1)})
    var("attr_robots_3", attrs={"num_robots": np.int64(3)})
    var("attr_tasks_0", attrs={"num_tasks": np.int64(0)})
    var("attr_tasks_huge", attrs={"num_tasks": np.int64(HUGE)})
    var("attr_tasks_f", attrs={"num_tasks": np.float64(2.5)})
    # dtypes and ranks
    var("obs_f32", ds={"/demos/obs": d0["/demos/obs"].astype("<f4")})
    var("obs_be", ds={"/demos/obs": d0["/demos/obs"].astype(">f8")})
    var("obs_int", ds={"/demos/obs": d0["/demos/obs"].astype("<i4")})
    var("obs_f16", ds={"/demos/obs": d0["/demos/obs"].astype("<f2")})
    var("obs_rank2", ds={"/demos/obs": d0["/demos/obs"][:, :, 0]})
    var("obs_rank4", ds={"/demos/obs": d0["/demos/obs"][..., None]})
    var("obs_scalar", ds={"/demos/obs": np.float64(1)})
    var("obs_string", ds={"/demos/obs": b"not numbers"})
    var("task_float", ds={"/demos/task": d0["/demos/task"].astype("<f8")})
    var("task_i8", ds={"/demos/task": d0["/demos/task"].astype("i1")})
    var("task_u64_big", ds={"/demos/task": np.full(4, 2**63 + 5, "<u8")})
    var("length_i64_big", ds={"/demos/length": np.full(4, 2**40, "<i8")})
    var("offsets_u64", ds={"/demos/robot_offsets": np.array([0, 1, 2**64 - 1], "<u8")})
    var("offsets_f8", ds={"/demos/robot_offsets": np.array([0, 1.5, 4], "<f8")})
    var("offsets_i8", ds={"/demos/robot_offsets": np.array([0, 1, 4], "i1")})
    var("mixture_int", ds={"/demos/mixture": np.ones((2, 2), "<i4")})
    var("mixture_rank1", ds={"/demos/mixture": np.ones(4, "<f8")})
    # shapes
    var("actions_shape", ds={"/demos/actions": np.zeros((4, 2, 1))})
    var("actions_traj", ds={"/demos/actions": np.zeros((3, 3, 1))})
    var("task_short", ds={"/demos/task": np.zeros(3, "<i4")})
    var("length_long", ds={"/demos/length": np.full(5, 3, "<i4")})
    var("offsets_short", ds={"/demos/robot_offsets": np.array([0, 4], "<i8")})
    var("mixture_shape", ds={"/demos/mixture": np.ones((2, 3))})
    var("empty_traj", ds={"/demos/obs": np.zeros((0, 3, 2)), "/demos/actions": np.zeros((0, 3, 1)),
                          "/demos/task": np.zeros(0, "<i4"), "/demos/length": np.zeros(0, "<i4"),
                          "/demos/robot_offsets": np.zeros(3, "<i8")})
    var("horizon_0", ds={"/demos/obs": np.zeros((4, 0, 2)), "/demos/actions": np.zeros((4, 0, 1))})
    var("obsdim_0", ds={"/demos/obs": np.zeros((4, 3, 0))})
    # offsets and values
    var("offsets_neg", ds={"/demos/robot_offsets": np.array([0, -1, 4], "<i8")})
    var("offsets_start", ds={"/demos/robot_offsets": np.array([1, 2, 4], "<i8")})
    var("offsets_decr", ds={"/demos/robot_offsets": np.array([0, 3, 2], "<i8")})
    var("offsets_end", ds={"/demos/robot_offsets": np.array([0, 1, 5], "<i8")})
    var("offsets_int64min", ds={"/demos/robot_offsets": np.array([0, -2**63, 4], "<i8")})
    var("offsets_gap", ds={"/demos/robot_offsets": np.array([0, 2**31 + 1, 4], "<i8")})
    var("length_0", ds={"/demos/length": np.array([3, 0, 3, 3], "<i4")})
    var("length_big", ds={"/demos/length": np.array([3, 4, 3, 3], "<i4")})
    var("task_neg", ds={"/demos/task": np.array([0, -1, 0, 1], "<i4")})
    var("task_big", ds={"/demos/task": np.array([0, 2, 0, 1], "<i4")})
    nan_obs = d0["/demos/obs"].copy()
    nan_obs[1, 2, 1] = np.nan
    var("obs_nan", ds={"/demos/obs": nan_obs})
    inf_act = d0["/demos/actions"].copy()
    inf_act[3, 0, 0] = -np.inf
    var("actions_inf", ds={"/demos/actions": inf_act})
    var("mixture_nan", ds={"/demos/mixture": np.array([[0.5, np.nan], [1, 0]])})
    var("mixture_neg", ds={"/demos/mixture": np.array([[0.5, 0.5], [2, -1]])})
    var("r1_obs_nan", base=1, ds={"/demos/obs": np.full((1, 3, 2), np.nan)})
    # huge declared dims on tiny files (storage never written; the reader allocates what is declared)
    var("huge_horizon", extra=lambda f: (unallocated("/demos/obs", (4, HUGE, 2))(f),
                                         unallocated("/demos/actions", (4, HUGE, 1))(f)))
    var("huge_obsdim", extra=unallocated("/demos/obs", (4, 3, HUGE)))
    var("huge_actdim_chunked", extra=unallocated("/demos/actions", (4, 3, HUGE), chunks=(1, 1, 1024)))
    var("huge_traj", ds={"/demos/robot_offsets": np.array([0, 1, HUGE], "<i8")},
        extra=lambda f: [unallocated(n, (HUGE,) + s, t)(f) for n, s, t in
                         [("/demos/obs", (3, 2), "f8"), ("/demos/actions", (3, 1), "f8"),
                          ("/demos/task", (), "i4"), ("/demos/length", (), "i4")]])
    var("huge_mixture", attrs={"num_tasks": np.int64(HUGE)}, extra=unallocated("/demos/mixture", (2, HUGE)))
    var("r1_unallocated", base=1, extra=unallocated("/demos/obs", (1, 3, 2)))
    # HDF5 storage features: chunks, filters, links, wrong object kinds
    var("chunked_gzip", chunks=True, compression="gzip", compression_opts=1, shuffle=True, fletcher32=True)
    var("r1_chunked_lzf", base=1, chunks=True, compression="lzf")
    var("obs_group", ds={"/demos/obs": None}, extra=lambda f: f.create_group("/demos/obs"))
    var("obs_softlink", ds={"/demos/obs": None}, extra=lambda f: f.__setitem__("/demos/obs", h5py.SoftLink("/nowhere")))
    var("obs_extlink", ds={"/demos/obs": None},
        extra=lambda f: f.__setitem__("/demos/obs", h5py.ExternalLink("missing.h5", "/demos/obs")))
    var("obs_hardlink_loop", ds={"/demos/obs": None},
        extra=lambda f: (f.create_group("/demos/g"), f["/demos/g"].__setitem__("loop", f["/demos/g"]),
                         f.__setitem__("/demos/obs", h5py.SoftLink("/demos/g/loop/loop/loop"))))
    var("demos_dataset", ds={k: None for k in d0}, extra=lambda f: f.create_dataset("/demos", data=1))
    var("compound_obs", ds={"/demos/obs": np.zeros((4, 3, 2), dtype=[("a", "<f8"), ("b", "<i4")])})
    var("vlen_offsets", ds={"/demos/robot_offsets": None},
        extra=lambda f: f.create_dataset("/demos/robot_offsets", (3,), dtype=h5py.vlen_dtype("<i8")))
    var("attr_on_dataset", extra=lambda f: f["/demos/obs"].attrs.__setitem__("x", np.arange(100)))
    v["empty_file_h5"] = ({}, {}, None, {})
    for name, tree in real.items():  # the real files rewritten by h5py (another writer's layout)
        v["rewritten_" + name] = (tree["attrs"], tree["datasets"], None, {})
    return v


def make_demos_seeds(out, fleet, tmp):
    real = {}
    for name, (ranks, text) in TINY_GEN.items():
        open(os.path.join(tmp, name + ".yaml"), "w").write(text)
        mpirun(ranks, fleet, ["gen", name + ".yaml", "-o", name + ".h5"], tmp)
        path = os.path.join(out, "real_%s.h5" % name)
        shutil.copy(os.path.join(tmp, name + ".h5"), path)
        normalize_mtimes(path)
        real[name] = read_tree(path)
    for name, (attrs, ds, extra, kw) in demos_variants(real).items():
        write_tree(os.path.join(out, name + ".h5"), attrs, ds, extra, **kw)
    # byte-level damage of a real file
    blob = open(os.path.join(out, "real_lqr2.h5"), "rb").read()
    for name, b in {"trunc_half": blob[:len(blob) // 2], "trunc_super": blob[:100],
                    "super_eof_small": blob[:40] + b"\x00" * 8 + blob[48:],
                    "super_root_ff": blob[:64] + b"\xff" * 8 + blob[72:],
                    "magic_only": blob[:8], "not_hdf5": b"plain text, not HDF5\n" * 4}.items():
        open(os.path.join(out, name + ".h5"), "wb").write(b)


# ----------------------------------------------------------------------------- checkpoints

CKPT_CONFIG = """\
experiment: {name: fz_ckpt, seed: 1, output_dir: "."}
env: {kind: cartpole, num_tasks: 2, horizon: 8}
fleet: {demos_per_robot: 2, rounds: 3, local_epochs: 1}
policy: {arch: mlp, layers: 1, width: 3}
train: {batch_size: 2}
merge: {methods: [average]}
eval: {rollouts: 1, round_rollouts: 1}
"""


def real_checkpoint(fleet, tmp, path):
    """A checkpoint after all rounds: the results file cannot be created (a directory holds its
    temporary name), so the run fails at the end and leaves its checkpoint. The measured
    seconds column of /rounds is set to fixed values."""
    open(os.path.join(tmp, "ck.yaml"), "w").write(CKPT_CONFIG)
    os.makedirs(os.path.join(tmp, "ck.h5.tmp"), exist_ok=True)
    mpirun(2, fleet, ["run", "ck.yaml", "--output", "ck.h5", "--quiet"], tmp, check=False)
    src = os.path.join(tmp, "ck.h5.ckpt")
    if not os.path.exists(src):
        sys.exit("make_corpus.py: `fleet run` left no checkpoint in %s" % tmp)
    shutil.copy(src, path)
    with h5py.File(path, "r+") as f:
        rd = f["/rounds"][()]
        rd.reshape(3, -1)[:, 5] = [1.0, 2.0, 3.0]  # ROUND_SECONDS (src/fleet/fleet_nn_internal.h)
        f["/rounds"][...] = rd
    normalize_mtimes(path)


def ckpt_variants(t):
    a0, d0 = t["attrs"], t["datasets"]
    v = {}

    def var(name, attrs=None, ds=None, extra=None, **kw):
        a, d = dict(a0), dict(d0)
        a.update(attrs or {})
        d.update(ds or {})
        v[name] = (a, d, extra, kw)

    P = d0["/merged"].shape[0]
    R = d0["/rounds"].shape[0] // 6
    var("rewritten")
    d0 = dict(d0)
    d0["/config"] = b"experiment: {name: fz_ckpt}\n"  # the variants: short (the harness takes the file's)
    for k in a0:
        var("attr_missing_" + k, attrs={k: None})
    for k in d0:
        var("missing_" + k.strip("/").replace("/", "_"), ds={k: None})
    for x, tag in [(-1, "neg"), (0, "0"), (R + 1, "beyond"), (2**40, "2p40"), (2**63 - 1, "i64max")]:
        var("rounds_done_" + tag, attrs={"rounds_done": np.int64(x)})
    for x, tag in [(np.nan, "nan"), (np.inf, "inf"), (1.5, "frac"), (2.0, "f2"), (-0.0, "negzero"), (1e300, "1e300")]:
        var("rounds_done_" + tag, attrs={"rounds_done": np.float64(x)})
    var("rounds_done_str", attrs={"rounds_done": fixed_str("2")})
    var("rounds_done_u64", attrs={"rounds_done": np.uint64(2**64 - 1)})
    var("rounds_done_1", attrs={"rounds_done": np.int64(1)})
    var("kind_other", attrs={"kind": fixed_str("fleetmerge-demos")})
    var("kind_int", attrs={"kind": np.int64(1)})
    var("kind_vlen", attrs={"kind": "fleetmerge-checkpoint"})
    var("kind_prefix", attrs={"kind": fixed_str("fleetmerge-checkpoint-x")})
    var("version_2", attrs={"format_version": np.int64(2)})
    var("version_nan", attrs={"format_version": np.float64("nan")})
    var("ranks_3", attrs={"ranks": np.int64(3)})
    var("ranks_0", attrs={"ranks": np.int64(0)})
    var("ranks_huge", attrs={"ranks": np.int64(2**40)})
    var("ranks_arr", attrs={"ranks": np.array([2, 2], "<i8")})
    cfg = d0["/config"]
    var("config_vlen", ds={"/config": None}, extra=lambda f: f.create_dataset(
        "/config", data=cfg.decode(errors="replace") if isinstance(cfg, bytes) else str(cfg),
        dtype=h5py.string_dtype(), track_times=False))
    var("config_other", ds={"/config": b"experiment: {name: other}\n"})
    var("config_empty", ds={"/config": b""})
    var("config_array", ds={"/config": np.array([b"a", b"b"])})
    var("config_int", ds={"/config": np.int64(5)})

    def rows(name, fn):
        x = d0[name].copy()
        fn(x)
        return x
    for x, tag in [(np.nan, "nan"), (-1.0, "neg"), (1.5, "frac"), (2.0**63, "2p63"), (2.0**53 + 1, "2p53"),
                   (np.inf, "inf"), (-0.0, "negzero")]:
        var("adam_t_" + tag, ds={"/robot/adam_t": np.full(d0["/robot/adam_t"].shape, x)})
    var("adam_t_3ranks", ds={"/robot/adam_t": np.zeros((3, 1))})
    var("adam_t_1d", ds={"/robot/adam_t": np.zeros(2)})
    var("params_nan", ds={"/robot/params": rows("/robot/params", lambda x: x.__setitem__((1, P - 1), np.nan))})
    var("params_inf", ds={"/robot/params": rows("/robot/params", lambda x: x.__setitem__((0, 0), np.inf))})
    var("adam_v_neg", ds={"/robot/adam_v": rows("/robot/adam_v", lambda x: x.__setitem__((1, 2), -1e-3))})
    var("adam_m_nan", ds={"/robot/adam_m": rows("/robot/adam_m", lambda x: x.__setitem__((0, 1), np.nan))})
    var("comm_neg", ds={"/robot/comm": rows("/robot/comm", lambda x: x.__setitem__((1, 0), -5))})
    var("comm_nan", ds={"/robot/comm": rows("/robot/comm", lambda x: x.__setitem__((0, 3 * R - 1), np.nan))})
    var("merged_nan", ds={"/merged": rows("/merged", lambda x: x.__setitem__(0, np.nan))})
    var("rounds_nan_loss", ds={"/rounds": rows("/rounds", lambda x: x.__setitem__(1, np.nan))})
    var("rounds_nan_score", ds={"/rounds": rows("/rounds", lambda x: x.__setitem__(2, np.nan))})
    var("rounds_participants_big", ds={"/rounds": rows("/rounds", lambda x: x.__setitem__(6, 3))})
    var("rounds_participants_frac", ds={"/rounds": rows("/rounds", lambda x: x.__setitem__(0, 0.5))})
    var("rounds_participants_neg", ds={"/rounds": rows("/rounds", lambda x: x.__setitem__(0, -1))})
    var("rounds_late_nan", attrs={"rounds_done": np.int64(1)},
        ds={"/rounds": rows("/rounds", lambda x: x.__setitem__(slice(6, None), np.nan))})
    for name in ("/robot/params", "/robot/adam_m", "/robot/adam_v"):
        short = name.split("/")[-1]
        var(short + "_3ranks", ds={name: np.zeros((3, P), "<f4")})
        var(short + "_1rank", ds={name: np.zeros((1, P), "<f4")})
        var(short + "_P1", ds={name: np.zeros((2, P + 1), "<f4")})
        var(short + "_1d", ds={name: np.zeros(2 * P, "<f4")})
        var(short + "_3d", ds={name: np.zeros((2, P, 1), "<f4")})
        var(short + "_f64", ds={name: d0[name].astype("<f8")})
        var(short + "_int", ds={name: d0[name].astype("<i4")})
        var(short + "_huge", ds={name: None}, extra=unallocated(name, (2, HUGE), "f4"))
    var("comm_short", ds={"/robot/comm": np.zeros((2, 3 * R - 1))})
    var("comm_R1", ds={"/robot/comm": np.zeros((2, 3))})
    var("merged_2d", ds={"/merged": np.zeros((1, P), "<f4")})
    var("merged_short", ds={"/merged": np.zeros(P - 1, "<f4")})
    var("rounds_short", ds={"/rounds": np.zeros(6 * R - 1)})
    var("rounds_2d", ds={"/rounds": d0["/rounds"].reshape(R, 6)})
    var("rounds_huge", ds={"/rounds": None}, extra=unallocated("/rounds", (HUGE,)))
    var("merged_huge_chunked", ds={"/merged": None}, extra=unallocated("/merged", (2**40,), "f4", chunks=(4096,)))
    var("params_group", ds={"/robot/params": None}, extra=lambda f: f.create_group("/robot/params"))
    var("robot_dataset", ds={k: None for k in d0 if k.startswith("/robot/")},
        extra=lambda f: f.create_dataset("/robot", data=0))
    var("params_softlink", ds={"/robot/params": None},
        extra=lambda f: f.__setitem__("/robot/params", h5py.SoftLink("/merged")))
    var("chunked_gzip", chunks=True, compression="gzip", shuffle=True, fletcher32=True)
    var("compound_params", ds={"/robot/params": np.zeros((2, P), dtype=[("a", "<f4"), ("b", "<f4")])})
    return v


def make_ckpt_seeds(out, fleet, tmp):
    path = os.path.join(out, "real_ckpt.h5")
    real_checkpoint(fleet, tmp, path)
    for name, (attrs, ds, extra, kw) in ckpt_variants(read_tree(path)).items():
        write_tree(os.path.join(out, name + ".h5"), attrs, ds, extra, libver=("v108", "v108"), **kw)
    write_tree(os.path.join(out, "format_earliest.h5"), *read_tree(path).values())  # refused: no checksums
    blob = open(path, "rb").read()
    for name, b in {"trunc_half": blob[:len(blob) // 2], "trunc_3q": blob[:3 * len(blob) // 4]}.items():
        open(os.path.join(out, name + ".h5"), "wb").write(b)


# ----------------------------------------------------------------------------- HDF5 dictionary

def hdf5_dict(out):
    entries = [
        b"\x89HDF\r\n\x1a\n", b"OHDR", b"OCHK", b"TREE", b"HEAP", b"SNOD", b"GCOL", b"FRHP", b"FHDB", b"FHIB",
        b"FSHD", b"FSSE", b"BTHD", b"BTIN", b"BTLF", b"SMTB", b"SMLI", b"EAHD", b"EAIB", b"EASB", b"EADB",
        b"FAHD", b"FADB",
        b"\xff\xff\xff\xff\xff\xff\xff\xff",   # undefined address
        b"\x00\x00\x00\x00\x00\x00\xf8\x7f",   # NaN (float64)
        b"\x00\x00\x00\x00\x00\x00\xf0\x7f",   # +inf
        b"\x00\x00\xc0\x7f",                   # NaN (float32)
        b"\xff\xff\xff\x7f", b"\x00\x00\x00\x80", b"\xff\xff\xff\xff\xff\xff\xff\x7f",
        b"\x00\x00\x00\x00\x00\x00\x00\x80",
        # v1 object header message headers: type, size (dataspace, datatype, fill, layout, attribute, mtime)
        b"\x01\x00", b"\x03\x00", b"\x05\x00", b"\x08\x00", b"\x0b\x00", b"\x0c\x00", b"\x10\x00", b"\x11\x00",
        b"\x12\x00",
        b"\x01\x08\x00\x00", b"\x11\x08\x00\x00",  # datatype class+version: fixed-point / float, 8 bytes
        b"\x13\x00\x00\x00",                       # string datatype
    ]
    words = ["demos", "obs", "actions", "task", "length", "robot_offsets", "mixture", "format_version", "kind",
             "env", "num_robots", "num_tasks", "fleetmerge-demos", "fleetmerge-checkpoint", "rounds_done", "ranks",
             "config", "robot", "params", "adam_m", "adam_v", "adam_t", "comm", "merged", "rounds", "lqg",
             "cartpole", "tooluse"]
    lines = ["# hdf5.dict - made by tests/fuzz/make_corpus.py; HDF5 signatures and fleetmerge names; do not edit"]
    for e in entries + [w.encode() for w in words]:
        lines.append('"%s"' % "".join(chr(b) if 32 <= b < 127 and b not in b'"\\' else "\\x%02X" % b for b in e))
    open(out, "w").write("\n".join(lines) + "\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                 usage="/usr/bin/python3 tests/fuzz/make_corpus.py [--fleet FLEET] [--out DIR]")
    ap.add_argument("--fleet", default=os.path.join(ROOT, "build/fleet"), help="fleet binary (default build/fleet)")
    ap.add_argument("--out", default=os.path.join(ROOT, "tests/fuzz/corpus"), help="corpus root")
    args = ap.parse_args()
    fleet = os.path.abspath(args.fleet)
    if not os.access(fleet, os.X_OK):
        sys.exit("make_corpus.py: %s not found; run `make all` or pass --fleet" % fleet)
    here = os.path.dirname(os.path.abspath(__file__))
    config_dict(os.path.join(here, "fuzz_config.dict"))
    hdf5_dict(os.path.join(here, "hdf5.dict"))
    makers = {"fuzz_config": lambda o, t: make_config_seeds(o),
              "fuzz_demos": lambda o, t: make_demos_seeds(o, fleet, t),
              "fuzz_ckpt": lambda o, t: make_ckpt_seeds(o, fleet, t)}
    for harness, make in makers.items():
        out = os.path.join(args.out, harness)
        shutil.rmtree(out, ignore_errors=True)
        os.makedirs(out)
        with tempfile.TemporaryDirectory() as tmp:
            make(out, tmp)
        # fixed crash reproducers stay in the corpus as regression seeds (crashes/README.md)
        fixed = os.path.join(here, "regressions", harness)
        for f in sorted(os.listdir(fixed)) if os.path.isdir(fixed) else []:
            shutil.copy(os.path.join(fixed, f), os.path.join(out, "regression_" + f))
        files = os.listdir(out)
        total = sum(os.path.getsize(os.path.join(out, f)) for f in files)
        print("%s: %d seeds, %d bytes" % (out, len(files), total))


if __name__ == "__main__":
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    main()
