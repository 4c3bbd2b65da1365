#ifndef PURGEWATCH_CPROCESS_H
#define PURGEWATCH_CPROCESS_H

/// prctl(2) is variadic and not in Swift's Glibc module: these two calls are all purgewatch needs.

/// prctl(PR_SET_DUMPABLE, 0): no core dumps, no ptrace or /proc/PID/mem by other users.
int purgewatch_set_nondumpable(void);

/// prctl(PR_GET_DUMPABLE): 0 when the process is not dumpable.
int purgewatch_get_dumpable(void);

#endif
