/* core.c - error context, allocation, logging. */
#define _POSIX_C_SOURCE 200809L
#include "core.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void fm_err_clear(fm_err *err)
{
    if (!err)
        return;
    err->code = FM_OK;
    err->msg[0] = '\0';
    err->trace[0] = '\0';
}

fm_status fm_fail(fm_err *err, fm_status code, const char *fmt, ...)
{
    if (err && err->code == FM_OK) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
        err->code = code;
    }
    return code;
}

void fm_err_at(fm_err *err, const char *file, int line)
{
    if (!err)
        return;
    const char *base = strrchr(file, '/');
    base = base ? base + 1 : file;
    size_t len = strlen(err->trace);
    if (len + 2 >= sizeof err->trace)
        return;
    snprintf(err->trace + len, sizeof err->trace - len, "%s%s:%d", len ? " <- " : "", base, line);
}

const char *fm_status_name(fm_status code)
{
    static const char *names[FM_STATUS_COUNT] = {
        "ok", "invalid argument", "invalid configuration", "I/O error",
        "out of memory", "numerical failure", "MPI failure", "invalid data", "incomplete sweep",
        "usage error",
    };
    if ((int)code < 0 || code >= FM_STATUS_COUNT)
        return "unknown status";
    return names[code];
}

int fm_exit_code(fm_status code)
{
    if (code == FM_OK)
        return 0;
    if (code == FM_ECONFIG || code == FM_EINVAL)
        return 2;
    if (code == FM_EPARTIAL)
        return 3;
    if (code == FM_EUSAGE)
        return 64; /* EX_USAGE of sysexits.h */
    return 1;
}

fm_status fm_calloc(void *out, size_t n, size_t size, fm_err *err)
{
    void **p = (void **)out;
    *p = NULL;
    if (n == 0)
        n = 1;
    if (size && n > SIZE_MAX / size)
        return fm_fail(err, FM_ENOMEM, "allocation of %zu x %zu bytes overflows", n, size);
    *p = calloc(n, size);
    if (!*p)
        return fm_fail(err, FM_ENOMEM, "out of memory allocating %zu bytes", n * size);
    return FM_OK;
}

double fm_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void fm_logf(FILE *f, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("[fleet] ", f);
    vfprintf(f, fmt, ap);
    va_end(ap);
    fflush(f);
}

static fm_status serial_sum(void *ctx, double *buf, size_t n, fm_err *err)
{
    (void)ctx, (void)buf, (void)n, (void)err;
    return FM_OK;
}

static fm_status serial_mean_f32(void *ctx, const double *partial, float *out, size_t n, double divisor,
                                 fm_err *err)
{
    (void)ctx, (void)err;
    for (size_t j = 0; j < n; j++)
        out[j] = (float)(partial[j] / divisor);
    return FM_OK;
}

static fm_status serial_bcast(void *ctx, void *buf, size_t bytes, int owner, fm_err *err)
{
    (void)ctx, (void)buf, (void)bytes, (void)owner, (void)err;
    return FM_OK;
}

static fm_status serial_gather_f32(void *ctx, float *all, size_t n, fm_err *err)
{
    (void)ctx, (void)all, (void)n, (void)err;
    return FM_OK;
}

fm_reducer fm_reducer_serial(int n)
{
    return (fm_reducer){.sum = serial_sum, .mean_f32 = serial_mean_f32, .bcast = serial_bcast,
                        .gather_f32 = serial_gather_f32, .ctx = NULL, .nglobal = n, .nlocal = n, .offset = 0};
}

fm_status fm_reduce_sum(const fm_reducer *r, double *buf, size_t n, fm_err *err)
{
    return r->sum(r->ctx, buf, n, err);
}

fm_status fm_reduce_mean_f32(const fm_reducer *r, const double *partial, float *out, size_t n, double divisor,
                             fm_err *err)
{
    return r->mean_f32(r->ctx, partial, out, n, divisor, err);
}

fm_status fm_reduce_bcast(const fm_reducer *r, void *buf, size_t bytes, int owner, fm_err *err)
{
    if (owner < 0 || owner >= r->nglobal)
        return fm_fail(err, FM_EINVAL, "reducer: broadcast from model %d of %d", owner, r->nglobal);
    return r->bcast(r->ctx, buf, bytes, owner, err);
}

fm_status fm_reduce_bcast_f32(const fm_reducer *r, float *buf, size_t n, int owner, fm_err *err)
{
    return fm_reduce_bcast(r, buf, n * sizeof(float), owner, err);
}

fm_status fm_reduce_gather_f32(const fm_reducer *r, float *all, size_t n, fm_err *err)
{
    return r->gather_f32(r->ctx, all, n, err);
}

uint64_t fm_fnv1a(uint64_t h, const void *data, size_t n)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 0x100000001b3ULL;
    return h;
}
