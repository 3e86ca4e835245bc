/* version.c - the binary's version: `git describe --always --dirty` of the source tree at build
 * time (the Makefile passes it as FM_VERSION and rebuilds this file when it changes), "unknown"
 * outside a git checkout. Recorded in results and checkpoints (fingerprints, docs/schema.md). */
#include "core/core.h"

#ifndef FM_VERSION
#define FM_VERSION "unknown"
#endif

const char *fm_version(void) { return FM_VERSION; }
