#ifndef PURGEWATCH_CPROCESS_H
#define PURGEWATCH_CPROCESS_H

/// prctl(2) is variadic and not in Swift's Glibc module, nor is <malloc.h>: these calls are all
/// purgewatch needs of either.

/// prctl(PR_SET_DUMPABLE, 0): no core dumps, no ptrace or /proc/PID/mem by other users.
int purgewatch_set_nondumpable(void);

/// prctl(PR_GET_DUMPABLE): 0 when the process is not dumpable.
int purgewatch_get_dumpable(void);

/// mallopt(M_ARENA_MAX, arenas): at most this many malloc arenas (glibc makes 8 per core).
int purgewatch_limit_malloc_arenas(int arenas);

/// mallopt(M_MMAP_THRESHOLD, mmapBytes) and mallopt(M_TRIM_THRESHOLD, trimBytes): allocations of
/// `mmapBytes` or more get their own mapping, given back to the kernel when freed, and the heap's
/// top is returned once `trimBytes` of it are free. Setting either fixes both: glibc otherwise
/// raises the mmap threshold to the size of each large block freed (up to 32 MiB), so that the
/// next large arrays come from the heap and leave holes the size of a comparison in it.
/// Returns 1 when both were accepted.
int purgewatch_fix_malloc_thresholds(int mmapBytes, int trimBytes);

/// malloc_trim(0): return the free pages of every arena to the system; 1 if any was returned.
int purgewatch_release_free_memory(void);

#endif
