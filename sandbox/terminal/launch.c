/*
 * The terminal's launcher: how every kubectl of a student's terminal starts.
 *
 *     terminal-launch [-j FILE]... [-l NAME=VALUE]... [-u ID] -- PROGRAM [ARG]...
 *
 * In this order, then exec PROGRAM (an absolute path; no PATH search, no shell):
 *   -j FILE       write "0" (the writer itself) into a cgroup's `tasks` or `cgroup.procs` file:
 *                 joins the student's group in that hierarchy. If any write fails it stops with
 *                 status 126 and one sentence, rather than run outside the group.
 *   -l NAME=VAL   set a resource limit, soft and hard: core, nofile, data, fsize, nproc.
 *   -u ID         drop every group, then become user ID and group ID (real, effective, saved).
 * Last, the parent-death signal is set to SIGKILL (after the change of ids, which would clear
 * it), so a web server killed outright takes its kubectl with it; a parent already gone by then
 * means the launcher exits instead.
 *
 * Why a program of its own: the same steps through /bin/sh, util-linux setpriv and prlimit cost
 * three executions of dynamically linked programs, about 2.4 ms per line on the project's 2-core
 * host; this static program is one (see sandbox/terminal/ceiling.py). A preexec function in the
 * web server would do the same but is unsafe in a threaded server and forbids the fast vfork.
 * Every failure exits non-zero before PROGRAM runs: nothing runs with fewer limits than asked.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#define NO_GROUP 126
#define USAGE 125
#define CANNOT_EXEC 127

static void fail(int status, const char *what, const char *detail) {
    /* One line on the terminal's stderr: the student sees it. */
    if (detail)
        fprintf(stderr, "%s: %s\n", what, detail);
    else
        fprintf(stderr, "%s\n", what);
    exit(status);
}

static int parse_number(const char *text, unsigned long long *out) {
    char *end = NULL;
    if (text[0] < '0' || text[0] > '9')
        return -1;
    errno = 0;
    *out = strtoull(text, &end, 10);
    return (errno || *end != '\0') ? -1 : 0;
}

static int limit_resource(const char *name) {
    static const struct {
        const char *name;
        int resource;
    } known[] = {
        {"core", RLIMIT_CORE}, {"nofile", RLIMIT_NOFILE}, {"data", RLIMIT_DATA},
        {"fsize", RLIMIT_FSIZE}, {"nproc", RLIMIT_NPROC},
    };
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (strcmp(known[i].name, name) == 0)
            return known[i].resource;
    return -1;
}

static void join(const char *file) {
    int fd = open(file, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0 || write(fd, "0\n", 2) != 2 || close(fd) != 0)
        fail(NO_GROUP, "could not enter the resource group; try again", NULL);
}

static void set_limit(char *spec) {
    char *equals = strchr(spec, '=');
    unsigned long long value;
    if (!equals)
        fail(USAGE, "terminal-launch: -l wants NAME=VALUE", spec);
    *equals = '\0';
    int resource = limit_resource(spec);
    if (resource < 0 || parse_number(equals + 1, &value) != 0)
        fail(USAGE, "terminal-launch: unknown limit or bad value", spec);
    struct rlimit limit = {.rlim_cur = (rlim_t)value, .rlim_max = (rlim_t)value};
    if (setrlimit(resource, &limit) != 0)
        fail(USAGE, "terminal-launch: could not set a limit", strerror(errno));
}

static void become(const char *text) {
    unsigned long long id;
    if (parse_number(text, &id) != 0 || id == 0 || id >= (unsigned long long)UINT_MAX)
        fail(USAGE, "terminal-launch: -u wants a user id other than 0", text);
    if (setgroups(0, NULL) != 0 || setresgid((gid_t)id, (gid_t)id, (gid_t)id) != 0 ||
        setresuid((uid_t)id, (uid_t)id, (uid_t)id) != 0)
        fail(USAGE, "terminal-launch: could not change to the session's user", strerror(errno));
    /* Never run the command with any privilege left. */
    if (setresuid(0, 0, 0) == 0 || getuid() != (uid_t)id || geteuid() != (uid_t)id ||
        getgid() != (gid_t)id || getegid() != (gid_t)id)
        fail(USAGE, "terminal-launch: the change of user did not hold", NULL);
}

int main(int argc, char **argv) {
    pid_t parent = getppid();
    const char *user = NULL;
    int i = 1;
    for (; i < argc; i++) {
        const char *flag = argv[i];
        if (strcmp(flag, "--") == 0) {
            i++;
            break;
        }
        if (i + 1 >= argc)
            fail(USAGE, "terminal-launch: an option without its value", flag);
        if (strcmp(flag, "-j") == 0)
            join(argv[++i]);
        else if (strcmp(flag, "-l") == 0)
            set_limit(argv[++i]);
        else if (strcmp(flag, "-u") == 0)
            user = argv[++i];
        else
            fail(USAGE, "terminal-launch: unknown option", flag);
    }
    if (i >= argc || argv[i][0] != '/')
        fail(USAGE, "terminal-launch: the command must follow -- as an absolute path", NULL);
    if (user)
        become(user);
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0)
        fail(USAGE, "terminal-launch: could not tie the command to the server", strerror(errno));
    if (getppid() != parent)
        return USAGE; /* the server died while we started: nobody wants the output */
    execv(argv[i], &argv[i]);
    fail(CANNOT_EXEC, argv[i], strerror(errno));
    return CANNOT_EXEC;
}
