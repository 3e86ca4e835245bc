#!/usr/bin/python3
"""appendix_f_report.py - the paper's Figure 7 analogs (Appendix F) from supervised results files.

usage: analysis/appendix_f_report.py RESULTS.h5... [--md FILE] [--png FILE]

Reads env.kind supervised results files (pipelines/appendix_f.sh writes them) and sorts each into a
panel by its experiment name, <config>_<panel>_<point>_s<seed>:
  alpha    accuracy of every merge vs fleet.alpha (Figure 7 a-c; one panel per config: MLP, CNN)
  nmodels  accuracy vs the number of clients N = fleet.robots (Figure 7 d; the RNN's is 7 f)
  ablation accuracy of fleet_merge's ablations and sinkhorn_data (Figure 7 e)
  barrier  loss and accuracy barriers along the line between two models of one dataset, before and
           after each alignment (the literature's anchor: weight matching removes most of it)
Every accuracy is the mean over the tasks (classes, or groups of books) of /eval/<policy>/accuracy;
next to the merges stand the trivial answers: the clients' own models (mean = a random pick),
robot 0's, the best client's, and joint (pooled) training. Numbers are mean [min-max] over seeds.
Exit 2 for a missing file, a file of another env.kind, a name outside the scheme or a seed twice.
"""
import argparse
import math
import os
import re
import sys

import h5py
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fmcommon as fr  # noqa: E402  (shared helpers: text, pct, mean_range, machine, colors)

fr.PROG = "appendix_f_report.py"
NAME = re.compile(r"^(?P<cfg>.+?)_(?P<panel>alpha|nmodels|ablation|barrier)(?:_(?P<point>[^_]+))?_s(?P<seed>\d+)$")
FIXED = ("pooled", "expert", "local")
TRIVIAL = ("own (mean)", "robot 0", "best client", "pooled")
ORDER = ("average", "git_rebasin", "sinkhorn_rebasin", "sinkhorn_data", "fleet_merge", "fleet_merge_soft",
         "fleet_merge_simplex", "fleet_merge_average")
PANEL_TITLE = {"alpha": "accuracy vs alpha", "nmodels": "accuracy vs N clients", "ablation": "ablations",
               "barrier": "barrier"}


def read_run(path):
    if not os.path.isfile(path):
        fr.die(f"{path}: no such file")
    with h5py.File(path, "r") as f:
        fr.check_results(f, path, "supervised", fail=fr.die)
        import yaml
        cfg = yaml.safe_load(fr.text(f["/config"][()])) or {}
        name = (cfg.get("experiment") or {}).get("name", "")
        m = NAME.match(name)
        if not m:
            fr.die(f"{path}: experiment name '{name}' is not <config>_<alpha|nmodels|ablation|barrier>_<point>_s<seed>")
        pol = {}
        for g in f["/eval"]:
            if g == "local":
                loc = f["/eval/local/accuracy"][()].mean(axis=1)  # [N] each client's own, mean over tasks
                pol["own (mean)"], pol["robot 0"], pol["best client"] = loc.mean(), loc[0], loc.max()
            elif g != "expert":
                pol[g] = float(f[f"/eval/{g}/accuracy"][()].mean())
        bar = {}
        if "/barrier" in f:
            for meth in f["/barrier"]:
                loss, acc = f[f"/barrier/{meth}/loss"][()], f[f"/barrier/{meth}/accuracy"][()]
                bar[meth] = (float(np.max(loss - 0.5 * (loss[0] + loss[-1]))),
                             float(np.max(0.5 * (acc[0] + acc[-1]) - acc)))
        env_cfg, pcfg = cfg.get("env") or {}, cfg.get("policy") or {}
        return {"path": path, "mtime": os.path.getmtime(path), "cfg": m.group("cfg"), "panel": m.group("panel"),
                "seed": int(m.group("seed")), "alpha": float((cfg.get("fleet") or {}).get("alpha", 1)),
                "N": int(f["/eval/local/accuracy"].shape[0]), "arch": str(pcfg.get("arch")),
                "text": env_cfg.get("sv_kind") == "text", "pol": pol, "bar": bar,
                "width": pcfg.get("width"), "train": env_cfg.get("sv_train")}


def xval(r):
    return r["alpha"] if r["panel"] == "alpha" else r["N"] if r["panel"] == "nmodels" else 0


def groups(runs):
    """{(cfg, panel): {x: [runs]}} with a seed at most once per point."""
    out = {}
    for r in runs:
        pts = out.setdefault((r["cfg"], r["panel"]), {}).setdefault(xval(r), [])
        if any(q["seed"] == r["seed"] for q in pts):
            fr.die(f"{r['path']}: seed {r['seed']} twice at {r['cfg']} {r['panel']} {xval(r):g}")
        pts.append(r)
    return out


def policies(runs):
    seen = {p for r in runs for p in r["pol"]}
    return [p for p in ORDER if p in seen] + [p for p in TRIVIAL if p in seen]


def panel_label(cfg, runs):
    r = runs[0]
    what = "next character, RNN" if r["text"] else f"Fashion-MNIST, {r['arch'].upper()}"
    return f"{cfg} ({what} {r['width']} wide, {r['train']} training {'windows' if r['text'] else 'examples'})"


def table(cfg, panel, pts):
    xs = sorted(pts)
    runs = [r for x in xs for r in pts[x]]
    head = {"alpha": "alpha", "nmodels": "N", "ablation": ""}[panel]
    lines = [f"### {PANEL_TITLE[panel]}: {panel_label(cfg, runs)}", ""]
    if panel == "ablation":
        lines += ["| policy | accuracy |", "|---|---|"]
        for p in policies(runs):
            lines.append(f"| {p} | {fr.mean_range([r['pol'].get(p, math.nan) for r in runs], fr.pct)} |")
    else:
        lines += ["| policy | " + " | ".join(f"{head} = {x:g}" for x in xs) + " |",
                  "|---|" + "---|" * len(xs)]
        for p in policies(runs):
            cells = [fr.mean_range([r["pol"].get(p, math.nan) for r in pts[x]], fr.pct) for x in xs]
            lines.append(f"| {p} | " + " | ".join(cells) + " |")
    seeds = sorted({r["seed"] for r in runs})
    lines += ["", f"Seeds: {', '.join(map(str, seeds))}; mean [min-max].", ""]
    return lines


def barrier_table(cfg, pts):
    runs = [r for x in pts for r in pts[x]]
    meths = [m for m in ORDER if any(m in r["bar"] for r in runs)]
    lines = [f"### barrier: {panel_label(cfg, runs)}", "",
             "Two models trained from independent initializations on one client's data (fleet.shared_data); "
             "interpolated after each method's alignment (average = none: plain interpolation).", "",
             "| alignment | loss barrier | accuracy barrier |", "|---|---|---|"]
    for m in meths:
        lb = [r["bar"][m][0] for r in runs if m in r["bar"]]
        ab = [r["bar"][m][1] for r in runs if m in r["bar"]]
        lines.append(f"| {m} | {fr.mean_range(lb, lambda v: f'{v:.4f}')} | "
                     f"{fr.mean_range(ab, lambda v: f'{100 * v:.1f} points')} |")
    return lines + [""]


def findings(gs):
    """Sentences comparing the merges with the trivial answers, computed from the numbers."""
    out = []
    for (cfg, panel), pts in sorted(gs.items()):
        if panel == "barrier":
            continue
        for x in sorted(pts):
            runs = pts[x]
            mean = {p: np.mean([r["pol"][p] for r in runs if p in r["pol"]]) for p in policies(runs)}
            merges = [p for p in ORDER if p in mean]
            if not merges or "best client" not in mean:
                continue
            best = max(merges, key=lambda p: mean[p])
            where = f"{cfg}, " + ("ablations" if panel == "ablation" else f"{'alpha' if panel == 'alpha' else 'N'} = {x:g}")
            verdict = "above" if mean[best] > mean["best client"] else "not above"
            out.append(f"- {where}: best merge {best} {fr.pct(mean[best])}, {verdict} the best client's own "
                       f"{fr.pct(mean['best client'])} (own mean {fr.pct(mean['own (mean)'])}, joint "
                       f"{fr.pct(mean.get('pooled', math.nan))})")
    return out


def plot(gs, path):
    plt = fr.pyplot()
    keys = sorted(gs)
    cols = min(3, len(keys))
    rows = (len(keys) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(5.2 * cols, 4.0 * rows), squeeze=False)
    for ax, (cfg, panel) in zip(axes.flat, keys):
        pts = gs[(cfg, panel)]
        runs = [r for x in pts for r in pts[x]]
        if panel == "barrier":
            meths = [m for m in ORDER if any(m in r["bar"] for r in runs)]
            vals = [np.mean([r["bar"][m][0] for r in runs if m in r["bar"]]) for m in meths]
            ax.bar(range(len(meths)), vals, color=[fr.COLOR.get(m, "#444444") for m in meths])
            ax.set_xticks(range(len(meths)), meths, rotation=20)
            ax.set_ylabel("loss barrier")
        elif panel == "ablation":
            ps = policies(runs)
            vals = [np.mean([r["pol"][p] for r in runs if p in r["pol"]]) for p in ps]
            errs = [np.std([r["pol"][p] for r in runs if p in r["pol"]]) for p in ps]
            ax.barh(range(len(ps)), vals, xerr=errs, color=[fr.COLOR.get(p, "#bbbbbb") for p in ps])
            ax.set_yticks(range(len(ps)), ps, fontsize=8)
            ax.set_xlabel("accuracy")
        else:
            xs = sorted(pts)
            for p in policies(runs):
                if p in ("robot 0",):
                    continue
                m = [np.mean([r["pol"].get(p, math.nan) for r in pts[x]]) for x in xs]
                s = [np.std([r["pol"].get(p, math.nan) for r in pts[x]]) for x in xs]
                style = "--" if p in TRIVIAL else "-"
                ax.errorbar(xs, m, yerr=s, fmt=style, marker=fr.MARKER.get(p, "."), capsize=3, label=p,
                            color=fr.COLOR.get(p, {"best client": "#2ca02c", "own (mean)": "#98df8a"}.get(p)))
            if panel == "alpha":
                ax.set_xscale("log")
            ax.set_xticks(xs, [f"{x:g}" for x in xs])
            ax.set_xlabel("alpha" if panel == "alpha" else "N clients")
            ax.set_ylabel("accuracy")
            ax.legend(fontsize=7)
        ax.set_title(f"{cfg}: {PANEL_TITLE[panel]}", fontsize=10)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(keys):]:
        ax.axis("off")
    fig.tight_layout()
    fr.savefig(fig, path, dpi=90)


def main(argv):
    ap = argparse.ArgumentParser(prog=fr.PROG, description=__doc__.split("\n\n")[0])
    ap.add_argument("files", nargs="+", help="results.h5 files")
    ap.add_argument("--md", help="write the Markdown report here")
    ap.add_argument("--png", help="write the figure here")
    a = ap.parse_args(argv)
    runs = [read_run(p) for p in a.files]
    gs = groups(runs)
    lines = ["# Appendix F analogs (Figure 7): one-shot merges of supervised clients", "",
             "Every accuracy is the mean over tasks on held-out data. Methods: average, git_rebasin (MergeMany "
             "weight matching), sinkhorn_rebasin, sinkhorn_data, fleet_merge (Algorithm 1) and its ablations. "
             "Trivial answers: own (mean) = a random client's model, robot 0, best client, pooled = joint "
             "training on all data.", ""]
    for (cfg, panel), pts in sorted(gs.items()):
        lines += barrier_table(cfg, pts) if panel == "barrier" else table(cfg, panel, pts)
    lines += ["## Merges against the trivial answers", ""] + findings(gs) + [""]
    lines += fr.machine_markdown(runs)
    md = "\n".join(lines) + "\n"
    if a.md:
        fr.write_text(a.md, md)
    else:
        sys.stdout.write(md)
    if a.png:
        plot(gs, a.png)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
