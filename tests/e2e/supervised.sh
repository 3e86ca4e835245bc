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
check_contains "a config error" "$ERR" "policy.arch: got rnn, expected mlp or cnn with env.kind supervised"
run_fleet 1 run sv.yaml --output c.h5 --set eval.val_demos=4
check_contains "held-out demonstrations do not apply" "$ERR" "eval.val_demos: got 4, expected 0 with env.kind supervised"
printf 'garbage' | gzip > data/bad.gz
cp -r data bad && cp data/bad.gz bad/t10k-labels-idx1-ubyte.gz
run_fleet 1 run sv.yaml --output c.h5 --set 'env.sv_data="bad"'
check_rc "a damaged labels file: exit 1" 1
check_contains "naming it" "$ERR" "bad/t10k-labels-idx1-ubyte.gz"
check_absent "no results from a failed run" c.h5

# policy.arch cnn on the 4x4 fixture: conv 4 (3x3) -> pool 2x2 -> conv 4 -> pool 1x1 -> 16 -> 4 logits
run_fleet 3 run sv.yaml --output cnn.h5 --set policy.arch=cnn --set 'policy.conv_channels=[4, 4]' \
    --set policy.conv_kernel=3 --set 'merge.methods=[average, git_rebasin, fleet_merge]'
check_rc "a 3-client cnn run on the fixture" 0
check_contains "the summary names the conv part" "$OUT" "cnn conv 4,4 k3 + 1x16"
h5check "cnn: separates the classes; the spec and layout record the conv part and its blocks" cnn.h5 <<'PY'
import numpy as np
pooled = f["/eval/pooled/accuracy"][()]
check(pooled.min() >= 0.9, "pooled cnn accuracy >= 90%% on every class: %s" % pooled)
for m in ("git_rebasin", "fleet_merge"):
    acc = f["/eval/%s/accuracy" % m][()].mean()
    check(acc >= 0.5, "%s merged cnn accuracy %.3f well above chance (25%%)" % (m, acc))
def text(a):
    return a.decode() if isinstance(a, bytes) else a
spec, layout = text(f["/models/pooled"].attrs["spec"]), text(f["/models/pooled"].attrs["layout"])
check(spec.startswith("arch=cnn ") and " conv=4,4 kernel=3 image=1x4x4 loss=xent" in spec, "spec: %s" % spec)
check("conv1.w [4 x 36] groups (1, 0) blocks (1, 9)" in layout, "conv1.w's input channels in blocks of 9: %s" % layout)
check("head0.w [16 x 4] groups (2, 1)\n" in layout, "head0.w reads a 1x1 map: block 1, no blocks text: %s" % layout)
check(f["/models/pooled/params"].shape[0] == 4 * 9 + 4 + 4 * 36 + 4 + 16 * 4 + 16 + 4 * 16 + 4, "parameter count")
PY
run_cmd "$FLEET" merge cnn.h5 --method git_rebasin -o cnn_m.h5
check_rc "fleet merge reads the saved cnn models back (spec and layout)" 0
run_cmd h5diff cnn.h5 cnn_m.h5 /models/merged/git_rebasin/params /models/merged/git_rebasin/params
check_rc "and its offline git_rebasin merge equals the run's bit for bit" 0
run_fleet 3 run sv.yaml --output cnn2.h5 --set policy.arch=cnn --set 'policy.conv_channels=[4, 4]' \
    --set policy.conv_kernel=3 --set 'merge.methods=[average, git_rebasin, fleet_merge]'
run_cmd h5diff cnn.h5 cnn2.h5 /eval /eval
check_rc "cnn: same config, seed and ranks: /eval identical" 0
run_fleet 1 run sv.yaml --output c.h5 --set policy.arch=cnn --set 'policy.conv_channels=[4, 4, 4]' --set policy.conv_kernel=3
check_rc "a conv stack deeper than the 4x4 images allow: exit 2 (settings that do not fit the data)" 2
check_contains "naming the layer" "$ERR" "conv layer 2's map is 1 x 1, too small for 2x2 pooling"
run_fleet 1 run sv.yaml --output c.h5 --set policy.arch=cnn --set policy.conv_kernel=4
check_rc "an even kernel: exit 2" 2
check_contains "a config error naming the key" "$ERR" "policy.conv_kernel: got 4, expected an odd size"
run_fleet 1 run sv.yaml --output c.h5 --set policy.arch=cnn --set 'policy.conv_channels=[4, 0]'
check_rc "a zero channel count: exit 2" 2
check_contains "naming the key and entry" "$ERR" "policy.conv_channels: entry 2: got 0, expected a value in [1, 1024]"
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
