#ifndef ZEEK_MGMT_CSPAWN_H
#define ZEEK_MGMT_CSPAWN_H

#include <sys/types.h>

/// How to start one supervised child.
typedef struct {
    /// Absolute path of the program.
    const char *path;
    /// NULL-terminated argument vector (argv[0] included).
    char *const *argv;
    /// NULL-terminated environment.
    char *const *envp;
    /// Working directory, or NULL to inherit.
    const char *directory;
    /// Descriptors that become the child's stdout and stderr.
    int stdout_fd;
    int stderr_fd;
    /// CPU to pin the child to, or -1.
    int cpu;
    /// File mode creation mask of the child, or -1 to inherit.
    int umask;
    /// Nonzero: the child drops to `uid`/`gid` (no supplementary groups, no new privileges)
    /// before it execs, keeping only `capabilities` (a mask of CAP_* bits) as ambient
    /// capabilities. Needs a parent with CAP_SETUID, CAP_SETGID and those capabilities.
    int switch_user;
    uid_t uid;
    gid_t gid;
    unsigned long long capabilities;
    /// Nonzero: the child's nice level becomes `nice` (a level below 0 needs CAP_SYS_NICE,
    /// which the child then gives up with the switch of user).
    int set_nice;
    int nice;
    /// Nonzero: the child's data segment (RLIMIT_DATA, soft and hard) is limited to this many
    /// bytes, so its allocations fail past it.
    unsigned long long memory_max;
    /// The CPUs the child may run on (`cpu_count` of them), or NULL; `cpu` then pins it to
    /// one of them.
    const int *cpus;
    int cpu_count;
    /// An open `cgroup.procs` of the cgroup the child joins before anything else, or -1.
    int cgroup_procs_fd;
} zm_spawn_options;

/// Forks and execs a child that dies with its parent (PR_SET_PDEATHSIG = SIGKILL), runs in its
/// own process group, starts with default signal dispositions and an empty signal mask, and
/// inherits no descriptors but stdin (/dev/null), stdout and stderr.
///
/// The child first joins its cgroup and takes its limits (nice level, data limit, CPUs), then,
/// with `switch_user`, the node's identity (see ``zm_spawn_options``); the death signal is set
/// again after the switch, which clears it.
///
/// Returns 0 and stores the pid, or returns an errno value and stores which step failed
/// ("fork", "chdir", "sched_setaffinity", "exec", ...). Failures after the fork are reported
/// synchronously through a close-on-exec pipe, so a missing program is an error here, not a
/// child that exits at once.
///
/// The death signal is tied to the *thread* that calls this: call it from a thread that lives
/// as long as the process.
int zm_spawn(const zm_spawn_options *options, pid_t *pid, const char **failed_step);

/// pipe2(O_CLOEXEC), which Swift's Glibc module does not expose: our pipe ends never leak
/// into other children.
int zm_pipe_cloexec(int fds[2]);

/// The CPUs this process may run on (sched_getaffinity), at most `capacity` of them, in
/// order; returns how many, or -1 with errno set.
int zm_allowed_cpus(int *cpus, int capacity);

#endif
