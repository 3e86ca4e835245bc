#!/usr/bin/python3
"""Per-epoch diagnostics of fleet_merge's soft permutations (pipelines/soft_start_widths.sh, issue 12 item 7).

Prints a Markdown table on stdout, per results file (env.kind cartpole, merge.methods with fleet_merge) and
fleet_merge epoch: the mean largest entry per unit of P_soft at the first and last soft step (rowmax_first /
rowmax_last), the hard assignments changed, the mean interpolated BC loss and the BC loss of the epoch's
reference (/merge/fleet_merge/*, docs/schema.md); on each run's first row its policy.width, train.epochs,
merge.fm_start_mass ("?" when the config does not set it), MergeMany sweeps and the balance rates of
fleet_merge, average and the robots' own policies (mean over tasks).

usage: /usr/bin/python3 analysis/soft_start_report.py RESULTS.h5 ...
"""
import sys

import h5py
import numpy as np

import fmcommon as fc

CONFIG = {("policy", "width"): str, ("train", "epochs"): str, ("merge", "fm_start_mass"): str}
DIAG = ("rowmax_first", "rowmax_last", "changed", "interp_loss", "reference_bc_loss")


def rows(path):
    """The table rows of one results file."""
    with h5py.File(path, "r") as f:
        cfg = fc.parse_config(fc.text(f["config"][()]), CONFIG)
        get = lambda k: cfg[k] if cfg[k] is not None else "?"
        g = f["merge/fleet_merge"]
        d = {k: np.array(g[k], dtype=float) for k in DIAG}
        bal = [float(np.mean(f[f"eval/{p}/balance"])) for p in ("fleet_merge", "average", "local")]
        name = fc.text(f.attrs["experiment"])
        out = []
        for e in range(len(d["changed"])):
            head = (f"| {name} | {get('width')} | {get('epochs')} | {get('fm_start_mass')} " if e == 0
                    else "| | | | ")
            tail = (f"| {int(g.attrs.get('mm_sweeps', 0))} | {100 * bal[0]:.1f}% / {100 * bal[1]:.1f}% / "
                    f"{100 * bal[2]:.1f}% |" if e == 0 else "| | |")
            out.append(head + f"| {e + 1} | {d['rowmax_first'][e]:.3f} | {d['rowmax_last'][e]:.3f} | "
                       f"{d['changed'][e]:g} | {d['interp_loss'][e]:.4f} | {d['reference_bc_loss'][e]:.4f} " + tail)
    return out


def main(argv):
    ap = fc.argparser(__doc__)
    ap.add_argument("files", nargs="+", metavar="RESULTS.h5", help="results of pipelines/soft_start_widths.sh")
    args = ap.parse_args(argv)
    print("\n| run | width | train epochs | start mass | fleet_merge epoch | rowmax_first | rowmax_last | changed "
          "| interp BC loss | reference BC loss | MergeMany sweeps | balance: fleet_merge / average / local mean |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for path in args.files:
        print("\n".join(rows(path)))


if __name__ == "__main__":
    main(sys.argv[1:])
