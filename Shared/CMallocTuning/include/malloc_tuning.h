#ifndef ZEEK_MGMT_MALLOC_TUNING_H
#define ZEEK_MGMT_MALLOC_TUNING_H

/// How many malloc arenas a process linking this module uses (set before `main` runs).
#define ZM_MALLOC_ARENAS 1

#endif
