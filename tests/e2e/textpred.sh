#!/usr/bin/env bash
# textpred.sh - env.kind supervised with env.sv_kind text (issue 16, paper Appendix F f): next-character
# prediction with an RNN, clients holding task-Dirichlet shares of the windows of a corpus of documents
# in the format `bible -f` prints. The fixture written here has four documents, each one periodic
# pattern (so a trained RNN must predict the character after a test window almost always, and an
# untrained one cannot); the grouping of documents into tasks, the test windows, the vocabulary and
# the split are recomputed here in Python from the format's rules and compared. Then a slice of the
# King James Bible when Debian's bible-kjv is installed, errors, and determinism.
source "$(dirname "$0")/lib.bash"

# four documents of two verses each; a document's verses continue its pattern
run_cmd "$PYTHON" - corpus.txt <<'PY'
import sys
pats = {"Ab": "abcd", "Cd": "efg", "Ef": "hijkl", "Gh": "mnop"}
with open(sys.argv[1], "w") as out:
    for doc, p in pats.items():
        text = (p * 400)[:1000]
        # two verses; the joining space is part of the text the model sees
        out.write(f"{doc}1:1 {text[:500]}\n{doc}1:2 {text[500:]}\n\n")
PY
check_rc "fixture corpus written" 0

write_config tx.yaml experiment.name=tx experiment.seed=5 'experiment.output_dir="."' \
    env.kind=supervised env.sv_kind=text 'env.sv_data="corpus.txt"' env.sv_window=12 env.num_tasks=2 \
    env.sv_train=100000 fleet.alpha=1 policy.arch=rnn policy.layers=1 policy.width=24 policy.activation=tanh \
    train.epochs=40 train.batch_size=8 train.lr=0.01 'merge.methods=[average, git_rebasin]' eval.rollouts=20

run_fleet 3 run tx.yaml --output a.h5
check_rc "a 3-client next-character run on the fixture" 0
check_contains "it says how the data were split" "$OUT" "training windows of corpus.txt split by task (group of documents)"
check_contains "the summary explains the score" "$OUT" "the character after a test window of 12"

h5check "groups, test windows, vocabulary and shards follow the documented rules" a.h5 <<'PY'
import re
docs, text = [], []
for line in open("corpus.txt"):
    line = line.rstrip("\n")
    if not line:
        continue
    ref, verse = line.split(" ", 1)
    name = re.match(r"(.+?)\d+:\d+$", ref).group(1)
    if not docs or docs[-1][0] != name:
        if text:
            text.append(" ")
        docs.append((name, len("".join(text))))
    else:
        text.append(" ")
    text.append(verse)
text = "".join(text)
K, W = 2, 12
gs, g = [0], 0
ends = [s for _, s in docs[1:]] + [len(text)]
for d in range(1, len(docs)):
    mid = 0.5 * (docs[d][1] + ends[d])
    q = min(g + 1, int(K * mid / len(text)))
    if len(docs) - d <= K - 1 - g:
        q = g + 1
    if q > g and g < K - 1:
        gs.append(docs[d][1]); g += 1
gs.append(len(text))
t = f["/system/tasks"]
cols = t.attrs["columns"]
cols = cols.decode() if isinstance(cols, bytes) else cols
check(cols == "task,test_windows,first_char,chars", "columns: %s" % cols)
rows = t[()]
check(list(rows[:, 2]) == gs[:-1], "group starts %s, expected %s" % (rows[:, 2], gs[:-1]))
check(list(rows[:, 3]) == [gs[h + 1] - gs[h] for h in range(K)], "group sizes %s" % rows[:, 3])
nw = [(gs[h + 1] - gs[h] - 1) // W for h in range(K)]
check(list(rows[:, 1]) == [n // 10 for n in nw], "test windows %s, expected %s" % (rows[:, 1], [n // 10 for n in nw]))
voc = t.attrs["vocabulary"]
voc = voc.decode() if isinstance(voc, bytes) else voc
check(voc == "".join(sorted(set(text))), "vocabulary %r" % voc)
stats = f["/fleet/robot_stats"][()]
ntrain = sum(n - n // 10 for n in nw)
check(stats[:, 0].sum() == ntrain, "every training window on exactly one client: %s, expected %d" % (stats[:, 0], ntrain))
spec = f["/models/pooled"].attrs["spec"]
spec = spec.decode() if isinstance(spec, bytes) else spec
check("loss=xent" in spec and ("in=%d out=%d" % (len(voc), len(voc))) in spec, "spec: one-hot in, logits out: %s" % spec)
acc = f["/eval/pooled/accuracy"][()]
check(acc.min() >= 0.95, "pooled next-character accuracy >= 95%% on periodic text: %s" % acc)
check(f["/eval/expert/accuracy"][()].min() == 1.0, "the next character itself scores 1")
PY

run_fleet 3 run tx.yaml --output b.h5
for g in /eval /models /fleet; do
    run_cmd h5diff a.h5 b.h5 "$g" "$g"
    check_rc "same config, seed and ranks: $g identical" 0
done

# an untrained policy cannot do it: one epoch at a tiny rate stays far below
run_fleet 1 run tx.yaml --output u.h5 --set train.epochs=1 --set train.lr=0.00001 --set 'merge.methods=[average]'
check_rc "a barely trained run" 0
h5check "a barely trained RNN predicts the next character far less often" u.h5 <<'PY'
acc = f["/eval/pooled/accuracy"][()].mean()
check(acc < 0.6, "accuracy %.3f" % acc)
PY

# the Figure 7 report over runs named as pipelines/appendix_f.sh names them
for n in 2 3; do
    run_fleet $n run tx.yaml --output "n$n.h5" --set experiment.name=tx_nmodels_n${n}_s1 --set train.epochs=3 --quiet
done
run_cmd "$PYTHON" "$ROOT/analysis/appendix_f_report.py" n2.h5 n3.h5 --md af.md --png af.png
check_rc "appendix_f_report.py over an N sweep" 0
check_matches "a table with a column per N" af.md "^\| policy \| N = 2 \| N = 3 \|$"
check_matches "the merges next to the trivial answers" af.md "^\| best client \| "
check_contains "and the comparison spelled out" af.md "tx, N = 3: best merge"
check_exists "and a figure" af.png
run_cmd "$PYTHON" "$ROOT/analysis/appendix_f_report.py" a.h5
check_rc "a run outside the naming scheme: exit 2" 2
check_contains "naming it" "$ERR" "experiment name 'tx' is not"
run_cmd "$PYTHON" "$ROOT/analysis/appendix_f_report.py" n2.h5 n2.h5
check_rc "the same seed twice at one point: exit 2" 2

# errors
printf 'Ab1:1 abc\nno reference here\n' > bad.txt
run_fleet 1 run tx.yaml --output c.h5 --set 'env.sv_data="bad.txt"'
check_rc "a line without a reference: exit 1" 1
check_contains "naming the file and line" "$ERR" "bad.txt:2: expected '<book><chapter>:<verse> <text>'"
run_fleet 1 run tx.yaml --output c.h5 --set env.num_tasks=5
check_rc "more tasks than documents: exit 2" 2
check_contains "naming both" "$ERR" "env.num_tasks is 5 but the corpus has 4 documents"
run_fleet 1 run tx.yaml --output c.h5 --set policy.arch=mlp
check_rc "an MLP on text: exit 2" 2
check_contains "a config error" "$ERR" "policy.arch: got mlp, expected rnn with env.kind supervised (text)"
run_fleet 1 run tx.yaml --output c.h5 --set env.sv_window=400
check_rc "windows longer than a task's text: exit 1" 1
check_contains "saying why" "$ERR" "at least 10 are needed"
check_absent "no results from a failed run" c.h5

# the King James Bible (Debian's bible-kjv), three books
if command -v bible >/dev/null; then
    bible -f "Gen1:1-Gen10:32" "Mat1:1-Mat10:42" "Rev1:1-Rev10:11" > kjv.txt
    write_config kj.yaml experiment.name=kj 'experiment.output_dir="."' env.kind=supervised env.sv_kind=text \
        'env.sv_data="kjv.txt"' env.num_tasks=3 env.sv_train=600 env.sv_window=40 policy.arch=rnn \
        policy.layers=1 policy.width=64 train.epochs=6 train.batch_size=16 train.lr=0.005 \
        'merge.methods=[average]' eval.rollouts=60
    run_fleet 2 run kj.yaml --output kj.h5
    check_rc "a 2-client King James slice runs" 0
    h5check "pooled accuracy beats always guessing the most frequent character" kj.h5 <<'PY'
from collections import Counter
text = open("kjv.txt").read()
top = Counter(c for c in text if c != "\n").most_common(1)[0][1] / sum(1 for c in text if c != "\n")
acc = f["/eval/pooled/accuracy"][()].mean()
check(acc > top + 0.05, "pooled accuracy %.3f, most frequent character %.3f" % (acc, top))
PY
else
    pass "# SKIP bible-kjv not installed"
fi
finish
