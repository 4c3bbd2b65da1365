#include "cprocess.h"

#include <sys/prctl.h>

int purgewatch_set_nondumpable(void) { return prctl(PR_SET_DUMPABLE, 0, 0, 0, 0); }

int purgewatch_get_dumpable(void) { return prctl(PR_GET_DUMPABLE, 0, 0, 0, 0); }
