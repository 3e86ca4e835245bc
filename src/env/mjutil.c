/* mjutil.c - shared MuJoCo helpers (mjutil.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "env/mjutil.h"

mjModel *fm_mj_load_xml(const char *xml, char *errbuf, int errsz)
{
    mjVFS *vfs = malloc(sizeof *vfs);
    if (!vfs) {
        snprintf(errbuf, (size_t)errsz, "out of memory");
        return NULL;
    }
    mj_defaultVFS(vfs);
    int len = (int)strlen(xml);
    mjModel *m = NULL;
    if (mj_makeEmptyFileVFS(vfs, "scene.xml", len) == 0) {
        int i = mj_findFileVFS(vfs, "scene.xml");
        memcpy(vfs->filedata[i], xml, (size_t)len);
        m = mj_loadXML("scene.xml", vfs, errbuf, errsz);
    } else {
        snprintf(errbuf, (size_t)errsz, "cannot create the in-memory MJCF file");
    }
    mj_deleteVFS(vfs);
    free(vfs);
    return m;
}

static void warning_ignore(const char *msg) { (void)msg; }

void fm_mj_quiet_warnings(void) { mju_user_warning = warning_ignore; }

int fm_mj_unstable(const mjData *d)
{
    const mjWarningStat *w = d->warning;
    return w[mjWARN_BADQACC].number > 0 || w[mjWARN_BADQPOS].number > 0 || w[mjWARN_BADQVEL].number > 0;
}
