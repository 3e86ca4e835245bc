#!/usr/bin/env bash
# supervised.sh - env.kind supervised (issue 16): every rank a client with a class-Dirichlet shard
# of a labelled set, cross-entropy training, merges, accuracy on the test set per class. Data: a
# fixture written here (4 classes of 4x4 images, each class a bright quadrant plus noise: linearly
# separable, so a trained policy must be nearly perfect and an untrained one cannot be), and a
# slice of Debian's Fashion-MNIST when installed. Also: the shards partition the training set, the
# results are deterministic, and bad data or settings are clear errors.
source "$(dirname "$0")/lib.bash"

mkdir -p data
run_cmd "$PYTHON" - data <<'PY'
import gzip, random, struct, sys
d = sys.argv[1]
def write(path, dims, payload, gz=False):
    head = struct.pack(">I", 0x0800 | len(dims)) + b"".join(struct.pack(">I", x) for x in dims)
    (gzip.open if gz else open)(path, "wb").write(head + bytes(payload))
def split(n, seed):
    rng = random.Random(seed)
    px, lab = [], []
    for i in range(n):
        c = i % 4
        img = [rng.randrange(0, 60) for _ in range(16)]
        r0, c0 = 2 * (c // 2), 2 * (c % 2)
        for r in range(r0, r0 + 2):
            for q in range(c0, c0 + 2):
                img[4 * r + q] = rng.randrange(180, 256)
        px += img
        lab.append(c)
    return px, lab
px, lab = split(800, 1)
write(f"{d}/train-images-idx3-ubyte.gz", [800, 4, 4], px, gz=True)
write(f"{d}/train-labels-idx1-ubyte", [800], lab)
px, lab = split(200, 2)
write(f"{d}/t10k-images-idx3-ubyte", [200, 4, 4], px)
write(f"{d}/t10k-labels-idx1-ubyte.gz", [200], lab, gz=True)
PY
check_rc "fixture IDX files written (plain and gzip)" 0

write_config sv.yaml experiment.name=sv experiment.seed=3 'experiment.output_dir="."' \
    env.kind=supervised env.num_tasks=4 'env.sv_data="data"' env.sv_train=800 \
    fleet.alpha=0.5 policy.arch=mlp policy.layers=1 policy.width=16 train.epochs=20 train.batch_size=16 \
    'merge.methods=[average, fleet_merge]' merge.fm_steps=5 merge.fm_epochs=1 eval.rollouts=50

run_fleet 3 run sv.yaml --output a.h5
check_rc "a 3-client run on the fixture" 0
check_contains "it says how the data were split" "$OUT" "data: 800 labelled examples of data split by class, Dirichlet(0.5) shares"
check_contains "the summary names the scores" "$OUT" "accuracy"
h5check "the shards partition the training set; mixtures are class shares; trained policies separate the classes" a.h5 <<'PY'
import numpy as np
stats = f["/fleet/robot_stats"][()]
mix = f["/fleet/mixture"][()]
check(stats[:, 0].sum() == 800, "every training example on exactly one client: %s" % stats[:, 0])
check(np.allclose(mix.sum(1)[stats[:, 0] > 0], 1.0), "mixture rows sum to 1")
pooled = f["/eval/pooled/accuracy"][()]
check(pooled.shape == (4,), "accuracy per class")
check(pooled.min() >= 0.9, "pooled accuracy >= 90%% on every class (separable data): %s" % pooled)
check(f["/eval/expert/accuracy"][()].min() == 1.0, "the label itself scores 1")
xent = f["/eval/pooled/xent"][()]
check(np.all(xent > 0) and np.all(np.isfinite(xent)), "cross-entropy positive and finite")
spec = f["/models/pooled"].attrs["spec"]
spec = spec.decode() if isinstance(spec, bytes) else spec
check("loss=xent" in spec and "in=16 out=4" in spec, "the saved spec: 16 pixels in, 4 logits, loss=xent (%s)" % spec)
PY
run_fleet 3 run sv.yaml --output b.h5
for g in /eval /models /fleet /config; do
    run_cmd h5diff a.h5 b.h5 "$g" "$g"
    check_rc "same config, seed and ranks: $g identical" 0
done

# a sweep over alpha, aggregated: accuracy and cross-entropy columns per policy
cp sv.yaml svs.yaml
printf 'sweep:\n  fleet.alpha: [0.5, 5]\n' >> svs.yaml
sed -i 's/^  name: sv$/  name: svs/' svs.yaml
for i in 0 1; do run_fleet 2 run svs.yaml --sweep-index "$i" --quiet --set train.epochs=5; done
run_cmd "$PYTHON" "$ROOT/analysis/aggregate.py" svs --csv svs.csv --md svs.md --png svs.png
check_rc "aggregate.py over the supervised sweep" 0
check_matches "its CSV has accuracy and xent columns per policy" svs.csv "accuracy_pooled.*xent_pooled|xent_pooled.*accuracy_pooled"
check_exists "and a figure" svs.png

# errors
run_fleet 1 run sv.yaml --output c.h5 --set env.num_tasks=5
check_rc "num_tasks other than the data's classes: exit 2" 2
check_contains "naming both" "$ERR" "env.num_tasks is 5 but the test set has 4 classes"
run_fleet 1 run sv.yaml --output c.h5 --set 'env.sv_data="nowhere"'
check_rc "a missing data directory: exit 1" 1
check_contains "naming the file" "$ERR" "nowhere/t10k-images-idx3-ubyte"
run_fleet 1 run sv.yaml --output c.h5 --set policy.arch=rnn
check_rc "an RNN on images: exit 2" 2
check_contains "a config error" "$ERR" "policy.arch: got rnn, expected mlp with env.kind supervised"
run_fleet 1 run sv.yaml --output c.h5 --set eval.val_demos=4
check_contains "held-out demonstrations do not apply" "$ERR" "eval.val_demos: got 4, expected 0 with env.kind supervised"
printf 'garbage' | gzip > data/bad.gz
cp -r data bad && cp data/bad.gz bad/t10k-labels-idx1-ubyte.gz
run_fleet 1 run sv.yaml --output c.h5 --set 'env.sv_data="bad"'
check_rc "a damaged labels file: exit 1" 1
check_contains "naming it" "$ERR" "bad/t10k-labels-idx1-ubyte.gz"
check_absent "no results from a failed run" c.h5

# Fashion-MNIST itself (Debian's dataset-fashion-mnist), a small slice
if [[ -r /usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz ]]; then
    write_config fm.yaml experiment.name=fm 'experiment.output_dir="."' env.kind=supervised env.num_tasks=10 \
        env.sv_train=2000 policy.arch=mlp policy.layers=1 policy.width=32 train.epochs=3 train.batch_size=64 \
        'merge.methods=[average]' eval.rollouts=20
    run_fleet 2 run fm.yaml --output fm.h5
    check_rc "a 2-client Fashion-MNIST slice runs" 0
    h5check "pooled accuracy on Fashion-MNIST is far above chance (10%)" fm.h5 <<'PY'
acc = f["/eval/pooled/accuracy"][()].mean()
check(acc > 0.5, "pooled accuracy %.3f" % acc)
PY
else
    pass "# SKIP Fashion-MNIST not installed (dataset-fashion-mnist)"
fi
finish
