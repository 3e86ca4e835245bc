/* fleet_nn_oneshot.c - the one-shot merge (fleet.rounds = 0): after local training, the fleet's
 * policies are merged once by every merge.methods entry; robots 0 and 1 as aligned by each method
 * are kept for the barriers (fleet_nn_eval.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fleet/fleet_nn_internal.h"

/* For every method j: c->merged[j] on every rank, its BC loss over the fleet's data
 * (c->merged_loss[j]), per-epoch diagnostics (c->mlog[j]), wall time and c->pair's rows. */
fm_status fnn_merge(nn_ctx *c, fm_err *err)
{
    fm_status status = FM_OK;
    fm_merge_nn_opts o;
    fm_fleet_merge_nn_opts(c->cfg, &o);
    c->nmerged = c->cfg->merge.num_methods;
    FM_ALLOC(c->merged, c->nmerged);
    FM_ALLOC(c->merged_loss, c->nmerged);
    FM_ALLOC(c->merge_seconds, c->nmerged);
    FM_ALLOC(c->mlog, c->nmerged);
    FM_TRY(fm_fleet_agree(c->comm, fm_calloc(&c->merge_sent, (size_t)c->nmerged * c->size, sizeof *c->merge_sent,
                                             err), err)); /* before the merges' collectives */
    size_t P = c->local.layout.total;
    float *mine = NULL;
    FM_ALLOC(mine, P);
    FM_ALLOC(c->pair, (size_t)c->nmerged * 2 * P);
    for (int j = 0; j < c->nmerged; j++) {
        int method = c->cfg->merge.methods[j];
        double t0 = fm_now();
        char phase[96]; /* a rank that cannot start the merge says so before its collectives begin */
        snprintf(phase, sizeof phase, "merge %s", fm_cfg_enum_name("merge.methods", method));
        fm_fleet_progress(c->rank, c->opts.quiet, c->t_start, phase);
        phase[5] = ':'; /* the fault-injection point: "merge:<method>" */
        fm_status local = fm_model_create(&c->merged[j], &c->spec, err);
        FM_TRY(fm_fleet_agree(c->comm, local == FM_OK ? fm_fleet_fault(phase, err) : local, err));
        fm_mpi_reducer_ctx mrc; /* its own counters: the payload this robot sends for this merge */
        fm_reducer mred = fm_reducer_mpi(&mrc, c->comm);
        local = fm_merge_nn_aligned(method, &c->local, &c->demos, &o, &mred, (uint64_t)c->cfg->experiment.seed,
                                    &c->merged[j], mine, &c->mlog[j], err);
        FM_TRY(fm_fleet_agree_phase(c->comm, local, err));
        c->merge_seconds[j] = fm_now() - t0;
        c->merge_sent[(size_t)j * c->size + c->rank] = mrc.bytes_sent;
        for (int i = 0; i < 2 && i < c->size; i++) { /* robots 0 and 1 after this alignment, on every rank */
            float *dst = c->pair + ((size_t)j * 2 + (size_t)i) * P;
            if (c->rank == i)
                memcpy(dst, mine, sizeof(float) * P);
            FM_TRY(fm_reduce_bcast_f32(&c->red, dst, P, i, err));
        }
        FM_TRY(fm_nn_eval_loss(&c->merged[j], &c->demos, -1, &c->red, &c->merged_loss[j], err));
    }
    FM_TRY(fm_reduce_sum(&c->red, c->merge_sent, c->nmerged * c->size, err)); /* other ranks' entries are 0 */
cleanup:
    free(mine);
    return status;
}
