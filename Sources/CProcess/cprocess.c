#include "cprocess.h"

#include <malloc.h>
#include <sys/prctl.h>

int purgewatch_set_nondumpable(void) { return prctl(PR_SET_DUMPABLE, 0, 0, 0, 0); }

int purgewatch_get_dumpable(void) { return prctl(PR_GET_DUMPABLE, 0, 0, 0, 0); }

int purgewatch_limit_malloc_arenas(int arenas) { return mallopt(M_ARENA_MAX, arenas); }

int purgewatch_fix_malloc_thresholds(int mmapBytes, int trimBytes) {
    int mmapSet = mallopt(M_MMAP_THRESHOLD, mmapBytes);
    int trimSet = mallopt(M_TRIM_THRESHOLD, trimBytes);
    return mmapSet && trimSet;
}

int purgewatch_release_free_memory(void) { return malloc_trim(0); }
