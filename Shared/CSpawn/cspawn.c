#define _GNU_SOURCE
#include "cspawn.h"

#include <errno.h>
#include <grp.h>
#include <linux/capability.h>
#include <stdint.h>
#include <sys/stat.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

struct child_failure {
    int error;
    int step;
};

static const char *const steps[] = {"fork", "pipe", "prctl", "sched_setaffinity", "chdir", "dup2", "open /dev/null", "exec",
                                    "setgroups", "setresgid", "setresuid", "capset", "raise ambient capability", "no_new_privs",
                                    "join cgroup", "setpriority", "setrlimit RLIMIT_DATA"};
enum { STEP_FORK, STEP_PIPE, STEP_PRCTL, STEP_AFFINITY, STEP_CHDIR, STEP_DUP2, STEP_DEVNULL, STEP_EXEC,
       STEP_SETGROUPS, STEP_SETRESGID, STEP_SETRESUID, STEP_CAPSET, STEP_AMBIENT, STEP_NO_NEW_PRIVS,
       STEP_CGROUP, STEP_NICE, STEP_RLIMIT };

static void fail_in_child(int report_fd, int step) {
    struct child_failure failure = {errno, step};
    ssize_t ignored = write(report_fd, &failure, sizeof failure);
    (void)ignored;
    _exit(127);
}

static void mark_descriptors_cloexec(void) {
    if (syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC) == 0) return;
    long max = sysconf(_SC_OPEN_MAX);
    if (max < 0 || max > 65536) max = 65536;
    for (int fd = 3; fd < max; fd++) fcntl(fd, F_SETFD, FD_CLOEXEC);
}

/* Drops the child to the node's user, keeping `capabilities` as ambient capabilities (which
 * survive execve for an unprivileged user) and nothing else. Returns the failed step, or -1. */
static int drop_privileges(const zm_spawn_options *options) {
    if (setgroups(0, NULL) != 0) return STEP_SETGROUPS;
    if (options->capabilities != 0 && prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) != 0) return STEP_PRCTL;
    if (setresgid(options->gid, options->gid, options->gid) != 0) return STEP_SETRESGID;
    if (setresuid(options->uid, options->uid, options->uid) != 0) return STEP_SETRESUID;
    struct __user_cap_header_struct header = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct data[2];
    memset(data, 0, sizeof data);
    for (int index = 0; index < 2; index++) {
        uint32_t bits = (uint32_t)(options->capabilities >> (32 * index));
        data[index].effective = bits;
        data[index].permitted = bits;
        data[index].inheritable = bits;
    }
    /* Also with no capabilities to keep: a root-owned uid switch keeps none, but say so. */
    if (syscall(SYS_capset, &header, data) != 0) return STEP_CAPSET;
    for (int capability = 0; capability < 64; capability++) {
        if ((options->capabilities >> capability) & 1ULL) {
            if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, capability, 0, 0) != 0) return STEP_AMBIENT;
        }
    }
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return STEP_NO_NEW_PRIVS;
    return -1;
}

int zm_spawn(const zm_spawn_options *options, pid_t *pid_out, const char **failed_step) {
    int report[2];
    if (pipe2(report, O_CLOEXEC) != 0) {
        *failed_step = steps[STEP_PIPE];
        return errno;
    }
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        int error = errno;
        close(report[0]);
        close(report[1]);
        *failed_step = steps[STEP_FORK];
        return error;
    }
    if (pid == 0) {
        setpgid(0, 0);
        if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) fail_in_child(report[1], STEP_PRCTL);
        if (getppid() != parent) _exit(127); /* the parent died before prctl took effect */

        sigset_t all;
        sigfillset(&all);
        sigprocmask(SIG_UNBLOCK, &all, NULL);
        for (int signal_number = 1; signal_number < NSIG; signal_number++) {
            if (signal_number != SIGKILL && signal_number != SIGSTOP) signal(signal_number, SIG_DFL);
        }

        /* Into its cgroup first: whatever it allocates from here on counts against its limit. */
        if (options->cgroup_procs_fd >= 0) {
            ssize_t written;
            do {
                written = write(options->cgroup_procs_fd, "0\n", 2);
            } while (written < 0 && errno == EINTR);
            if (written != 2) fail_in_child(report[1], STEP_CGROUP);
        }
        if (options->set_nice) {
            errno = 0;
            if (setpriority(PRIO_PROCESS, 0, options->nice) != 0) fail_in_child(report[1], STEP_NICE);
        }
        if (options->memory_max > 0) {
            struct rlimit limit = {(rlim_t)options->memory_max, (rlim_t)options->memory_max};
            if (setrlimit(RLIMIT_DATA, &limit) != 0) fail_in_child(report[1], STEP_RLIMIT);
        }
        if (options->cpu >= 0 || options->cpus != NULL) {
            cpu_set_t set;
            CPU_ZERO(&set);
            if (options->cpu >= 0) {
                CPU_SET(options->cpu, &set);
            } else {
                for (int index = 0; index < options->cpu_count; index++) {
                    if (options->cpus[index] >= 0 && options->cpus[index] < CPU_SETSIZE) CPU_SET(options->cpus[index], &set);
                }
            }
            if (sched_setaffinity(0, sizeof set, &set) != 0) fail_in_child(report[1], STEP_AFFINITY);
        }
        if (options->umask >= 0) umask((mode_t)options->umask);
        if (options->switch_user) {
            int failed = drop_privileges(options);
            if (failed >= 0) fail_in_child(report[1], failed);
            /* A change of user clears the death signal. */
            if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) fail_in_child(report[1], STEP_PRCTL);
            if (getppid() != parent) _exit(127);
        }
        if (options->directory != NULL && chdir(options->directory) != 0) fail_in_child(report[1], STEP_CHDIR);

        int null_fd = open("/dev/null", O_RDONLY);
        if (null_fd < 0) fail_in_child(report[1], STEP_DEVNULL);
        if (dup2(null_fd, STDIN_FILENO) < 0) fail_in_child(report[1], STEP_DUP2);
        if (dup2(options->stdout_fd, STDOUT_FILENO) < 0) fail_in_child(report[1], STEP_DUP2);
        if (dup2(options->stderr_fd, STDERR_FILENO) < 0) fail_in_child(report[1], STEP_DUP2);
        mark_descriptors_cloexec();

        execve(options->path, options->argv, options->envp);
        fail_in_child(report[1], STEP_EXEC);
    }

    close(report[1]);
    struct child_failure failure;
    ssize_t received;
    do {
        received = read(report[0], &failure, sizeof failure);
    } while (received < 0 && errno == EINTR);
    close(report[0]);
    if (received == (ssize_t)sizeof failure) {
        waitpid(pid, NULL, 0);
        *failed_step = steps[failure.step];
        return failure.error;
    }
    *pid_out = pid;
    return 0;
}

int zm_pipe_cloexec(int fds[2]) {
    return pipe2(fds, O_CLOEXEC);
}

int zm_allowed_cpus(int *cpus, int capacity) {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof set, &set) != 0) return -1;
    int count = 0;
    for (int cpu = 0; cpu < CPU_SETSIZE && count < capacity; cpu++) {
        if (CPU_ISSET(cpu, &set)) cpus[count++] = cpu;
    }
    return count;
}
