/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Calibration for the end-to-end benchmark: the CPU time one thread wake-up costs on this machine.
 *
 * Two threads pass a token through eventfds (poll, read, write: what a GLib main loop and paho's
 * threads do per message). Back to back, a wake-up finds the other CPU busy; with a pause between
 * round trips (--gap-us, e.g. 40000 as at 25 records/s), every wake-up leaves an idle CPU, which on
 * virtual machines costs several times more. The benchmark prints both, because at 1 pen x 25
 * records/s the daemon's cost is a handful of such wake-ups per record, not the work it does.
 * Prints "wakeup_us GAP_US US_PER_WAKEUP".
 */
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <unistd.h>

static int to_peer, to_main;

static int
wait_token(int fd)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	uint64_t v;

	if (poll(&p, 1, -1) != 1)
		return -1;
	return read(fd, &v, sizeof(v)) == sizeof(v) ? 0 : -1;
}

static int
pass_token(int fd)
{
	uint64_t v = 1;

	return write(fd, &v, sizeof(v)) == sizeof(v) ? 0 : -1;
}

static void *
peer(void *data)
{
	while (wait_token(to_peer) == 0) {
		if (pass_token(to_main) != 0)
			break;
	}
	return NULL;
}

static double
cpu_us(void)
{
	struct rusage r;

	getrusage(RUSAGE_SELF, &r);
	return (double)(r.ru_utime.tv_sec + r.ru_stime.tv_sec) * 1e6 +
	       (double)(r.ru_utime.tv_usec + r.ru_stime.tv_usec);
}

int
main(int argc, char **argv)
{
	int gap_us = 0;
	int rounds = 1000;
	pthread_t thread;
	double start;

	for (int i = 1; i + 1 < argc; i += 2) {
		if (strcmp(argv[i], "--gap-us") == 0)
			gap_us = atoi(argv[i + 1]);
		else if (strcmp(argv[i], "--rounds") == 0)
			rounds = atoi(argv[i + 1]);
	}
	if (gap_us < 0 || rounds <= 0) {
		fprintf(stderr, "usage: bench-wakeup [--gap-us N] [--rounds N]\n");
		return 2;
	}
	to_peer = eventfd(0, EFD_CLOEXEC);
	to_main = eventfd(0, EFD_CLOEXEC);
	if (to_peer < 0 || to_main < 0 || pthread_create(&thread, NULL, peer, NULL) != 0) {
		perror("bench-wakeup");
		return 1;
	}
	start = cpu_us();
	for (int i = 0; i < rounds; i++) {
		if (pass_token(to_peer) != 0 || wait_token(to_main) != 0) {
			perror("bench-wakeup");
			return 1;
		}
		if (gap_us > 0)
			usleep((useconds_t)gap_us);
	}
	/* per round trip: the peer's wake-up, ours, and (with a gap) the one out of usleep () */
	printf("wakeup_us %d %.1f\n", gap_us, (cpu_us() - start) / rounds / (gap_us > 0 ? 3.0 : 2.0));
	return 0; /* the peer waits in poll (): exiting ends it */
}
