#include <malloc.h>

#include "malloc_tuning.h"

/// glibc gives threads their own malloc arena, up to eight per core, and an arena keeps the pages
/// of what its threads freed. A control-plane process has a dozen threads (librdkafka's, its poll
/// loops, Swift's cooperative pool) that each allocate a little now and then, so every one of them
/// ends up holding an arena of mostly free pages: about a megabyte per busy thread in an agent
/// after a few deploys. These processes allocate at a few hundred requests per second at most, so
/// contention on a single arena costs nothing measurable, while one arena keeps the resident set
/// of every service (and of each of the many `cluster-node` processes on a host) small.
///
/// It runs as a constructor because arenas are handed out on a thread's first allocation: by the
/// time Swift code runs, the runtime's threads have already taken theirs.
__attribute__((constructor))
static void zm_use_single_malloc_arena(void) {
    mallopt(M_ARENA_MAX, ZM_MALLOC_ARENAS);
}
