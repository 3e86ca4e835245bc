/* fleet_model.h - neural policies in HDF5 files (docs/schema.md, "Neural policy groups").
 * A model group G holds G/params (float32 [P], or [N, P] for one row per robot),
 * G/obs_mean, G/obs_std, G/act_mean, G/act_std (float32) and the attributes `spec`
 * (the architecture as text) and `layout` (the parameter layout table as text). */
#ifndef FM_FLEET_MODEL_H
#define FM_FLEET_MODEL_H

#include "io/h5io.h"
#include "nn/nn.h"

/* Collective: rank 0's model under `group`. */
fm_status fm_model_save(fm_h5 *h, const char *group, const fm_model *m, fm_err *err);
/* Collective: every rank's model as row `rank` of group/params; normalization from rank 0. */
fm_status fm_model_save_rows(fm_h5 *h, const char *group, const fm_model *m, fm_err *err);
/* The spec as text ("arch=rnn act=tanh in=3 out=1 hidden=64,64 points=0 channels=0 enc=")
 * and back. fm_nn_spec_parse returns FM_EDATA naming the bad field. */
void fm_nn_spec_format(const fm_nn_spec *s, char *buf, size_t cap);
fm_status fm_nn_spec_parse(const char *text, fm_nn_spec *s, fm_err *err);
/* Serial: create *m from group (row >= 0 selects a row of a rows group, -1 a single model). */
fm_status fm_model_load(const char *path, const char *group, int row, fm_model *m, fm_err *err);
/* Serial: load into an existing model; FM_EDATA if the stored layout differs from m's. */
fm_status fm_model_load_into(const char *path, const char *group, int row, fm_model *m, fm_err *err);

#endif
