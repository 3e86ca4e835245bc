"""Helpers every analysis script shares: reading results files, formatting numbers, the plot style.

Not a program: the scripts import it (`import fmcommon as fc`; they run from analysis/, so it is on
their path). Three parts:
  - results files (docs/schema.md): text of an attribute, the resolved /config YAML parsed into the
    keys a script asks for, the root-attribute checks (kind fleetmerge-results, env.kind), the
    /eval scores of a policy, BC losses, per-robot statistics;
  - formatting: percentages, fixed decimals, mean [min-max] over seeds, seeds, the machine and the
    date of a report;
  - figures: the colours and markers of the policies and a savefig that writes a temporary name and
    renames it, so an interrupted report never leaves half a PNG where a good one was.
Errors: die(msg) prints "PROG: msg" and exits 2 (PROG = the script, set by it); stop(msg) exits 1 with the
message as is (the older scripts' way); the readers take either as fail.
"""
import datetime
import math
import os
import platform
import re
import sys

import numpy as np

PROG = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else "fleetmerge"  # the scripts may set it
LOWER_BETTER = ("cost", "shortfall", "distance")  # scores whose worst task is the highest
COLOR = {"average": "#7f7f7f", "git_rebasin": "#1f77b4", "sinkhorn_rebasin": "#ff7f0e",
         "fleet_merge": "#d62728", "local": "#2ca02c", "pooled": "#9467bd", "expert": "#8c564b",
         "task_specific": "#17becf"}
MARKER = {"average": "s", "git_rebasin": "^", "sinkhorn_rebasin": "X", "fleet_merge": "o", "pooled": "D",
          "task_specific": "P", "local": "v", "expert": "*"}


# ---------------------------------------------------------------- errors

def die(msg):
    """Report msg as PROG: msg on stderr and exit 2 (bad input)."""
    print(f"{PROG}: {msg}", file=sys.stderr)
    sys.exit(2)


def stop(msg):
    """Exit 1 with msg on stderr, as is."""
    raise SystemExit(msg)


# ---------------------------------------------------------------- results files

def text(v):
    """An HDF5 string attribute or dataset value (bytes or str) as str."""
    return v.decode() if isinstance(v, bytes) else str(v)


def attr_value(v):
    """An attribute value as plain Python: bytes as str, a 0-d array or a NumPy scalar as its item; others as is."""
    if isinstance(v, bytes):
        return v.decode()
    if isinstance(v, np.ndarray) and v.shape == ():
        return attr_value(v[()])
    if isinstance(v, np.generic):
        return v.item()
    return v


def flag(v):
    """A YAML boolean, parsed or as text."""
    return v if isinstance(v, bool) else str(v).strip().lower() in ("true", "yes", "on", "1")


def parse_config(config_text, want):
    """The keys want = {(section, key): type} of the resolved /config YAML as {key: value} (None when absent;
    type list: a list of str). Without python3-yaml the dump is read with regular expressions."""
    out = {}
    try:
        import yaml
        cfg = yaml.safe_load(config_text) or {}
        for (sec, key), typ in want.items():
            v = (cfg.get(sec) or {}).get(key)
            out[key] = [text(m) for m in v] if typ is list and v is not None else \
                (typ(v) if v is not None else None)
    except ImportError:  # the dump is simple enough for regular expressions
        section = None
        for line in config_text.splitlines():
            m = re.match(r"^(\w+):\s*$", line)
            if m:
                section = m.group(1)
                continue
            m = re.match(r"^  (\w+): *(.*?)\s*(#.*)?$", line)
            if m and (section, m.group(1)) in want:
                typ, v = want[(section, m.group(1))], m.group(2)
                if typ is list:
                    out[m.group(1)] = [x.strip() for x in v.strip("[]").split(",") if x.strip()]
                else:
                    out[m.group(1)] = typ(v.strip('"'))
    return out


def check_results(f, path, env=None, fail=stop, hint=""):
    """The root attribute env of the open results file f; fail(msg) if f is not a fleetmerge results file or,
    with env given, of another env.kind (hint is appended to that message)."""
    if text(f.attrs.get("kind", "")) != "fleetmerge-results":
        fail(f"{path}: not a fleetmerge results file")
    got = text(f.attrs.get("env", "?"))
    if env is not None and got != env:
        fail(f"{path}: env is {got}, not {env}{hint}")
    return got


def eval_scores(f, pol, keys):
    """{key: /eval/<pol>/<key>} as float arrays [K]; for `local` ([N, K]) the mean over the robots per task."""
    s = {k: np.array(f[f"eval/{pol}/{k}"], dtype=float) for k in keys}
    if pol == "local":
        s = {k: v.mean(axis=0) for k, v in s.items()}
    return s


def merged_loss(f, pol):
    """The bc_loss attribute of /models/merged/<pol> (the merged policy on all the fleet's data); NaN if absent."""
    g = f.get(f"models/merged/{pol}")
    return float(g.attrs["bc_loss"]) if g is not None and "bc_loss" in g.attrs else math.nan


def robot_stat(f, column):
    """The column of /fleet/robot_stats [N] as floats; None without the dataset or the column."""
    if "fleet/robot_stats" not in f:
        return None
    rs = f["fleet/robot_stats"]
    cols = text(rs.attrs.get("columns", "")).split(",")
    return np.array(rs[:, cols.index(column)], dtype=float) if column in cols else None


def score(r, pol, key="success", part=None, worst=False):
    """One run's score of pol: the mean over the tasks (of those labelled part in r["part"], if given), or the
    worst task (the highest for LOWER_BETTER keys); NaN if the run has no such policy. Tasks scored NaN
    (task_specific: no robot has data of the task) are left out."""
    s = r["scores"].get(pol)
    if s is None:
        return math.nan
    v = s[key]
    if part is not None:
        v = v[r["part"] == part]
    v = v[~np.isnan(v)]
    if v.size == 0:
        return math.nan
    if worst:
        return float(v.max() if key in LOWER_BETTER else v.min())
    return float(v.mean())


# ---------------------------------------------------------------- formatting

def pct(v):
    """A rate as a percentage with one decimal; n/a for None or NaN."""
    return "n/a" if v is None or math.isnan(v) else f"{100 * v:.1f}%"


def num(v, d=3):
    """A number with d decimals; n/a for None or NaN."""
    return "n/a" if v is None or math.isnan(v) else f"{v:.{d}f}"


def fa(a):
    """An alpha (or any swept value) as short as it goes: 0.1, 1, 10."""
    return f"{a:g}"


def mean_range(vals, fmt, short=True, same=""):
    """'mean [min-max]' of the values that are not NaN, each through fmt; 'n/a' when none is left. short: a
    single value as itself; same (a text, e.g. ' (all seeds)'): equal values as their value and that text."""
    v = np.array([x for x in vals if not math.isnan(x)])
    if v.size == 0:
        return "n/a"
    if short and v.size == 1:
        return fmt(float(v[0]))
    if same and v.min() == v.max():
        return fmt(v.mean()) + same
    return f"{fmt(v.mean())} [{fmt(v.min())}-{fmt(v.max())}]"


def mean_or_nan(vals):
    """The mean of the values that are not NaN; NaN when none is left."""
    v = [x for x in vals if not math.isnan(x)]
    return float(np.mean(v)) if v else math.nan


def seeds_text(seeds):
    return " ".join(str(s) for s in seeds)


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            info = f.read()
    except OSError:
        return "unknown (no /proc/cpuinfo)"
    model = re.search(r"^model name\s*:\s*(.*)$", info, re.M)
    n = len(re.findall(r"^processor\s*:", info, re.M))
    return f"{model.group(1).strip() if model else 'unknown'} ({n} logical CPUs)"


def machine_markdown(runs):
    """The report's "Machine, date, seeds" section; runs carry "seed" and "mtime" (the file's)."""
    u = platform.uname()
    seeds = sorted({r["seed"] for r in runs})
    t0 = datetime.datetime.fromtimestamp(min(r["mtime"] for r in runs)).strftime("%Y-%m-%d %H:%M")
    t1 = datetime.datetime.fromtimestamp(max(r["mtime"] for r in runs)).strftime("%Y-%m-%d %H:%M")
    return ["## Machine, date, seeds", "",
            f"- machine: `{u.system} {u.node} {u.release} {u.version} {u.machine}`",
            f"- CPU: {cpu_model()}",
            f"- report written: {datetime.datetime.now().strftime('%Y-%m-%d %H:%M')}; results files written "
            f"{t0} to {t1}",
            f"- seeds: {seeds_text(seeds)}",
            ""]


# ---------------------------------------------------------------- command lines and figures

def argparser(doc, **kw):
    """An argparse parser: description = doc's first line, the --help epilog = the rest of doc as written."""
    import argparse
    return argparse.ArgumentParser(description=doc.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter,
                                   epilog="\n".join(doc.splitlines()[1:]), **kw)


def png_md_args(doc, argv=None, results_help=None, png_help=None, md_help=None):
    """The command line of the one-figure reports: RESULTS.h5 ... --png OUT.png --md OUT.md (both required);
    description = doc's first line. argv None: sys.argv."""
    import argparse
    ap = argparse.ArgumentParser(description=doc.splitlines()[0])
    ap.add_argument("results", nargs="+", help=results_help)
    ap.add_argument("--png", required=True, help=png_help)
    ap.add_argument("--md", required=True, help=md_help)
    return ap.parse_args(argv)


def pyplot():
    """matplotlib.pyplot on the Agg backend (no display)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def savefig(fig, path, close=True, **kw):
    """fig to path (format from its ending) through path + '.tmp' and a rename; kw go to fig.savefig."""
    tmp = path + ".tmp"
    fig.savefig(tmp, format=os.path.splitext(path)[1][1:] or "png", **kw)
    os.replace(tmp, path)
    if close:
        import matplotlib.pyplot as plt
        plt.close(fig)


def write_text(path, content):
    """content to path through path + '.tmp' and a rename (never a half-written report)."""
    tmp = path + ".tmp"
    with open(tmp, "w") as out:
        out.write(content)
    os.replace(tmp, path)
