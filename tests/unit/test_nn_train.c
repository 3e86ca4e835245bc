#define _POSIX_C_SOURCE 200809L
/* test_nn_train.c - behavior cloning of neural policies on a fixed synthetic problem, the
 * minibatch sampler, and saving/loading models in HDF5. */
#include <math.h>
#include <mpi.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/cfg.h"
#include "fleet/fleet_model.h"
#include "nn/train.h"
#include "tap.h"

/* Teacher: a_t = sin(y_t) + 0.5 y_{t-1} on scalar inputs: needs one step of memory. */
static void teacher_demos(fm_demos *d, int n, int T, fm_rng *r)
{
    fm_demos_alloc(d, n, T, 1, 1, NULL);
    for (int i = 0; i < n; i++) {
        d->length[i] = T - (i % 4); /* variable lengths */
        double prev = 0.0;
        for (int t = 0; t < d->length[i]; t++) {
            double y = 1.5 * fm_rng_normal(r);
            d->obs[(size_t)i * T + t] = y;
            d->act[(size_t)i * T + t] = sin(y) + 0.5 * prev;
            prev = y;
        }
    }
}

static void make_model(fm_model *m, int arch, const fm_demos *d, uint64_t seed)
{
    fm_nn_spec s = {.arch = arch, .act = FM_NN_TANH, .in_dim = 1, .out_dim = 1, .nhidden = 2,
                    .hidden = {16, 16}};
    fm_model_create(m, &s, NULL);
    fm_rng r;
    fm_rng_seed(&r, seed, 0, FM_STREAM_INIT);
    fm_model_init(m, &r);
    double sums[5] = {0};
    fm_nn_norm_sums(&s, d, sums);
    fm_nn_norm_set(m, sums);
}

static void test_training(void)
{
    fm_rng r;
    fm_rng_seed(&r, 3, 0, 0);
    fm_demos d;
    teacher_demos(&d, 64, 20, &r);
    fm_nn_train_opts o = {.epochs = 150, .batch = 16, .optimizer = FM_OPT_ADAM, .lr = 0.01, .grad_clip = 1.0};
    fm_model rnn, mlp, again;
    make_model(&rnn, FM_NN_RNN, &d, 1);
    make_model(&mlp, FM_NN_MLP, &d, 1);
    make_model(&again, FM_NN_RNN, &d, 1);
    double l0 = 0, l_rnn = 0, l_mlp = 0, l_again = 0;
    fm_err err;
    fm_err_clear(&err);
    fm_nn_eval_loss(&rnn, &d, -1, NULL, &l0, &err);
    fm_rng tr;
    fm_rng_seed(&tr, 3, 0, FM_STREAM_TRAIN);
    ok(fm_nn_train(&rnn, &d, &o, NULL, &tr, &l_rnn, &err) == FM_OK, "RNN trains (%s)", err.msg);
    ok(l_rnn < 0.02, "RNN loss %.4f < 0.02 (from %.3f): it can use the previous input", l_rnn, l0);
    fm_rng_seed(&tr, 3, 0, FM_STREAM_TRAIN);
    fm_nn_train(&mlp, &d, &o, NULL, &tr, &l_mlp, &err);
    ok(l_mlp > 5 * l_rnn, "a single-frame MLP cannot (loss %.4f vs %.4f)", l_mlp, l_rnn);
    fm_rng_seed(&tr, 3, 0, FM_STREAM_TRAIN);
    fm_nn_train(&again, &d, &o, NULL, &tr, &l_again, &err);
    ok(memcmp(rnn.w, again.w, sizeof(float) * rnn.layout.total) == 0, "training is deterministic");
    /* windows: truncated BPTT still learns a one-step memory */
    fm_model win;
    make_model(&win, FM_NN_RNN, &d, 1);
    fm_nn_train_opts ow = o;
    ow.window = 6;
    double l_win = 0;
    fm_rng_seed(&tr, 3, 0, FM_STREAM_TRAIN);
    ok(fm_nn_train(&win, &d, &ow, NULL, &tr, &l_win, &err) == FM_OK && l_win < 0.05,
       "window-6 training reaches loss %.4f < 0.05", l_win);
    fm_model_free(&win);
    fm_model_free(&rnn), fm_model_free(&mlp), fm_model_free(&again);
    fm_demos_free(&d);
}

/* train.lr_schedule: the closed forms of fm_lr_at, and schedules reach the optimizer: a step
 * schedule whose decay is ~0 freezes the model after half the steps, so 4 epochs of it must end
 * where 2 constant epochs end (to float resolution), and a cosine schedule must not. */
static void test_lr_schedule(void)
{
    is_close(fm_lr_at(FM_LR_CONSTANT, 0.3, 0.1, 7, 10), 0.3, 0, 0, "constant");
    is_close(fm_lr_at(FM_LR_COSINE, 0.3, 0.1, 0, 10), 0.3, 1e-15, 0, "cosine at t = 0");
    is_close(fm_lr_at(FM_LR_COSINE, 0.3, 0.1, 5, 10), 0.15, 1e-15, 0, "cosine at half way: lr / 2");
    is_close(fm_lr_at(FM_LR_COSINE, 0.3, 0.1, 9, 10), 0.3 * 0.5 * (1 + cos(0.9 * 3.14159265358979323846)), 1e-15, 0,
             "cosine at the last step");
    is_close(fm_lr_at(FM_LR_STEP, 0.3, 0.1, 4, 10), 0.3, 0, 0, "step before 1/2");
    is_close(fm_lr_at(FM_LR_STEP, 0.3, 0.1, 5, 10), 0.03, 1e-16, 0, "step from 1/2: lr decay");
    is_close(fm_lr_at(FM_LR_STEP, 0.3, 0.1, 7, 8), 0.003, 1e-16, 0, "step from 3/4: lr decay^2");
    is_close(fm_lr_at(FM_LR_STEP, 0.3, 0.1, 3, 8), 0.3, 0, 0, "step at 3/8: lr");
    is_close(fm_lr_at(FM_LR_STEP, 0.3, 0.1, 4, 8), 0.03, 1e-16, 0, "step at exactly 1/2: lr decay");
    is_close(fm_lr_at(FM_LR_STEP, 0.3, 0.1, 5, 8), 0.03, 1e-16, 0, "step at 5/8: lr decay");
    is_close(fm_lr_at(FM_LR_STEP, 0.3, 0.1, 6, 8), 0.003, 1e-16, 0, "step at exactly 3/4: lr decay^2");
    is_close(fm_lr_at(FM_LR_COSINE, 0.3, 0.1, 3, 0), 0.3, 0, 0, "no steps: lr");

    fm_rng r;
    fm_rng_seed(&r, 4, 0, 0);
    fm_demos d;
    teacher_demos(&d, 16, 10, &r);
    fm_nn_train_opts o = {.epochs = 2, .batch = 8, .optimizer = FM_OPT_ADAM, .lr = 0.01};
    fm_model half, frozen, cosine;
    make_model(&half, FM_NN_RNN, &d, 2);
    make_model(&frozen, FM_NN_RNN, &d, 2);
    make_model(&cosine, FM_NN_RNN, &d, 2);
    fm_err err;
    fm_err_clear(&err);
    double l = 0;
    fm_rng tr;
    fm_rng_seed(&tr, 4, 0, FM_STREAM_TRAIN);
    fm_nn_train(&half, &d, &o, NULL, &tr, &l, &err);
    fm_nn_train_opts of = o;
    of.epochs = 4, of.lr_schedule = FM_LR_STEP, of.lr_decay = 1e-30;
    fm_rng_seed(&tr, 4, 0, FM_STREAM_TRAIN);
    ok(fm_nn_train(&frozen, &d, &of, NULL, &tr, &l, &err) == FM_OK, "step schedule trains (%s)", err.msg);
    fm_nn_train_opts oc = o;
    oc.epochs = 4, oc.lr_schedule = FM_LR_COSINE;
    fm_rng_seed(&tr, 4, 0, FM_STREAM_TRAIN);
    fm_nn_train(&cosine, &d, &oc, NULL, &tr, &l, &err);
    double dmax = 0, dcos = 0;
    for (size_t j = 0; j < half.layout.total; j++) {
        dmax = fmax(dmax, fabs((double)half.w[j] - frozen.w[j]));
        dcos = fmax(dcos, fabs((double)half.w[j] - cosine.w[j]));
    }
    ok(dmax < 1e-20, "4 epochs with lr x 1e-30 from the half = 2 constant epochs (max diff %.3g)", dmax);
    ok(dcos > 1e-4, "4 cosine epochs end elsewhere (max diff %.3g)", dcos);
    fm_model_free(&half), fm_model_free(&frozen), fm_model_free(&cosine);
    fm_demos_free(&d);
}

/* train.batch_unit: steps. One SGD step whose minibatch is every recorded step once must move
 * the weights by lr times the gradient of the mean per-step loss over the data, taken here by
 * central differences of fm_nn_eval_loss (whole padded trajectories: another path); a sampler
 * that repeats or skips steps, or averages over padding, fails. Then the step counts: epochs x
 * ceil(recorded steps / batch), or train.nn_steps exactly; and an RNN refuses single steps. */
static void test_step_batches(void)
{
    fm_rng r;
    fm_rng_seed(&r, 5, 0, 0);
    fm_demos d;
    teacher_demos(&d, 6, 9, &r);
    int S = 0;
    for (int i = 0; i < d.n_traj; i++)
        S += d.length[i];
    fm_model m, m0;
    make_model(&m, FM_NN_MLP, &d, 3);
    make_model(&m0, FM_NN_MLP, &d, 3);
    const double lr = 0.05;
    fm_nn_train_opts o = {.epochs = 1, .unit = FM_BATCH_STEPS, .batch = S, .optimizer = FM_OPT_SGD, .lr = lr};
    fm_err err;
    fm_err_clear(&err);
    double l = 0;
    fm_rng tr;
    fm_rng_seed(&tr, 5, 0, FM_STREAM_TRAIN);
    ok(fm_nn_train(&m, &d, &o, NULL, &tr, &l, &err) == FM_OK, "single-step minibatches train an MLP (%s)", err.msg);
    double worst = 0, gmax = 0;
    for (size_t j = 0; j < m0.layout.total; j += 7) {
        float w0 = m0.w[j];
        double lp = 0, lm = 0, h = 1e-2;
        m0.w[j] = (float)(w0 + h);
        fm_nn_eval_loss(&m0, &d, -1, NULL, &lp, &err);
        m0.w[j] = (float)(w0 - h);
        fm_nn_eval_loss(&m0, &d, -1, NULL, &lm, &err);
        m0.w[j] = w0;
        double fd = (lp - lm) / (2 * h), step = ((double)w0 - m.w[j]) / lr;
        worst = fmax(worst, fabs(step - fd));
        gmax = fmax(gmax, fabs(fd));
    }
    ok(worst < 2e-3 * fmax(gmax, 1.0), "one full-data SGD step = lr x the mean per-step gradient (max error %.2g, "
       "largest gradient %.2g)", worst, gmax);
    long total = 0;
    o.epochs = 3, o.batch = 10;
    ok(fm_nn_train_steps(&d, &o, NULL, &total, &err) == FM_OK && total == 3 * ((S + 9) / 10),
       "3 epochs of %d recorded steps in batches of 10: %ld optimizer steps", S, total);
    fm_adam adam;
    fm_adam_create(&adam, m.layout.total, &err);
    o.optimizer = FM_OPT_ADAM, o.steps = 7, o.epochs = 50;
    fm_status st = fm_nn_train_with(&m, &d, &o, NULL, &tr, &adam, &l, &err);
    ok(st == FM_OK && adam.t == 7,
       "train.nn_steps 7: exactly 7 Adam steps (epochs ignored), got %ld", adam.t);
    fm_adam_free(&adam);
    fm_model rnn;
    make_model(&rnn, FM_NN_RNN, &d, 3);
    fm_err_clear(&err);
    ok(fm_nn_train(&rnn, &d, &o, NULL, &tr, &l, &err) == FM_EINVAL &&
           strstr(err.msg, "need a feed-forward policy, mlp or cnn"),
       "an RNN refuses single-step minibatches: %s", err.msg);
    fm_model_free(&rnn), fm_model_free(&m), fm_model_free(&m0);
    fm_demos_free(&d);
}

static void test_batch_fill(void)
{
    fm_demos d;
    fm_demos_alloc(&d, 2, 5, 1, 1, NULL);
    d.length[0] = 5, d.length[1] = 3;
    for (int i = 0; i < 10; i++)
        d.obs[i] = i, d.act[i] = -i;
    fm_nn_batch b;
    fm_nn_batch_create(&b, 4, 3, 1, 1, NULL);
    int idx[2] = {1, 0}, start[2] = {1, 2};
    fm_nn_batch_fill(&b, &d, idx, start, 2);
    /* row t*B + j: trajectory idx[j] at step start[j] + t */
    ok(b.obs[0] == 6 && b.obs[1] == 2 && b.mask[2] == 0, "step 0: traj 1 from step 1, traj 0 from step 2, row 3 padded");
    ok(b.mask[1 * 3 + 0] == 1 && b.mask[2 * 3 + 0] == 0, "traj 1 (length 3) ends after its step 2");
    ok(b.obs[2 * 3 + 1] == 4 && b.mask[3 * 3 + 1] == 0 && b.act[2 * 3 + 1] == -4, "traj 0 steps 2..4 then padding");
    fm_nn_batch_free(&b);
    fm_demos_free(&d);
}

static void test_save_load(void)
{
    fm_rng r;
    fm_rng_seed(&r, 4, 0, 0);
    fm_demos d;
    teacher_demos(&d, 8, 10, &r);
    fm_model m, back, other;
    make_model(&m, FM_NN_RNN, &d, 7);
    char path[] = "/tmp/fm_test_model_XXXXXX";
    int fd = mkstemp(path);
    close(fd);
    fm_err err;
    fm_err_clear(&err);
    fm_h5 *h = NULL;
    ok(fm_h5_create(MPI_COMM_WORLD, path, &h, &err) == FM_OK, "create results file");
    ok(fm_model_save(h, "/models/one", &m, &err) == FM_OK, "save a model (%s)", err.msg);
    ok(fm_model_save_rows(h, "/models/rows", &m, &err) == FM_OK, "save as rows");
    fm_h5_close(h, 1, &err);
    ok(fm_model_load(path, "/models/one", -1, &back, &err) == FM_OK, "load it back (%s)", err.msg);
    ok(back.layout.total == m.layout.total && memcmp(back.w, m.w, sizeof(float) * m.layout.total) == 0 &&
           memcmp(back.obs_std, m.obs_std, sizeof(float)) == 0 && back.act_mean[0] == m.act_mean[0],
       "round trip is exact (parameters and normalization)");
    fm_model_free(&back);
    ok(fm_model_load(path, "/models/rows", 0, &back, &err) == FM_OK &&
           memcmp(back.w, m.w, sizeof(float) * m.layout.total) == 0, "row 0 of a rows group");
    fm_model_free(&back);
    fm_nn_spec s = m.spec;
    s.hidden[1] = 8;
    fm_model_create(&other, &s, NULL);
    fm_err_clear(&err);
    ok(fm_model_load_into(path, "/models/one", -1, &other, &err) == FM_EDATA, "loading into another layout fails");
    has_str(err.msg, "another parameter layout", "and says why");
    has_str(err.msg, "head1.w [8 x 16]", "showing the expected layout");
    fm_err_clear(&err);
    ok(fm_model_load(path, "/models/missing", -1, &back, &err) != FM_OK, "a missing group is an error");
    has_str(err.msg, path, "naming the file");
    fm_nn_spec parsed;
    char text[256];
    fm_nn_spec_format(&m.spec, text, sizeof text);
    is_str(text, "arch=rnn act=tanh in=1 out=1 hidden=16,16 points=0 channels=0 enc=", "spec text");
    fm_err_clear(&err);
    ok(fm_nn_spec_parse("arch=gru act=tanh in=1 out=1 hidden=4 points=0 channels=0 enc=", &parsed, &err) == FM_EDATA,
       "unknown arch in a spec is rejected");
    unlink(path);
    fm_model_free(&m), fm_model_free(&other);
    fm_demos_free(&d);
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    test_training();
    test_lr_schedule();
    test_batch_fill();
    test_step_batches();
    test_save_load();
    MPI_Finalize();
    return done_testing();
}
