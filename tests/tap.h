/* tap.h - a tiny TAP producer for fleetmerge's C tests (run through prove).
 * Failed checks print got / want / difference and file:line as TAP diagnostics.
 * A test program that runs no check, or any failing check, exits non-zero. */
#ifndef FM_TAP_H
#define FM_TAP_H

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static int tap_count_, tap_failed_;

static int tap_ok_(int cond, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5), unused));
static int tap_ok_(int cond, const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    tap_count_++;
    printf("%s %d - ", cond ? "ok" : "not ok", tap_count_);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    if (!cond) {
        tap_failed_++;
        printf("#   failed at %s:%d\n", file, line);
    }
    fflush(stdout);
    return cond;
}

#define ok(cond, ...) tap_ok_(!!(cond), __FILE__, __LINE__, __VA_ARGS__)

/* |got - want| <= atol + rtol * max(|got|, |want|) */
#define is_close(got, want, atol, rtol, ...)                                                   \
    do {                                                                                       \
        double g_ = (double)(got), w_ = (double)(want);                                        \
        double tol_ = (atol) + (rtol) * fmax(fabs(g_), fabs(w_));                              \
        if (!tap_ok_(isfinite(g_) && isfinite(w_) && fabs(g_ - w_) <= tol_, __FILE__, __LINE__, \
                     __VA_ARGS__))                                                             \
            printf("#   got %.17g\n#  want %.17g\n#  diff %.3g (tol %.3g)\n", g_, w_,             \
                   fabs(g_ - w_), tol_);                                                       \
    } while (0)

#define is_int(got, want, ...)                                                  \
    do {                                                                        \
        long long g_ = (long long)(got), w_ = (long long)(want);                \
        if (!tap_ok_(g_ == w_, __FILE__, __LINE__, __VA_ARGS__))                \
            printf("#   got %lld\n#  want %lld\n", g_, w_);                     \
    } while (0)

#define is_str(got, want, ...)                                                  \
    do {                                                                        \
        const char *g_ = (got), *w_ = (want);                                   \
        if (!tap_ok_(g_ && w_ && strcmp(g_, w_) == 0, __FILE__, __LINE__, __VA_ARGS__)) \
            printf("#   got '%s'\n#  want '%s'\n", g_ ? g_ : "(null)", w_ ? w_ : "(null)"); \
    } while (0)

/* Substring check for error messages. */
#define has_str(hay, needle, ...)                                               \
    do {                                                                        \
        const char *h_ = (hay), *n_ = (needle);                                 \
        if (!tap_ok_(h_ && n_ && strstr(h_, n_) != NULL, __FILE__, __LINE__, __VA_ARGS__)) \
            printf("#   got '%s'\n#  want substring '%s'\n", h_ ? h_ : "(null)", n_ ? n_ : "(null)"); \
    } while (0)

static int done_testing(void) __attribute__((unused));
static int done_testing(void)
{
    printf("1..%d\n", tap_count_);
    if (tap_count_ == 0) {
        printf("# no checks ran\n");
        return 1;
    }
    return tap_failed_ ? 1 : 0;
}

#endif
