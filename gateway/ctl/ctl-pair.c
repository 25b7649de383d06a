/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* needlectl pair: pairs a pen, asking for the passkey the pen shows once pairing has begun. */

#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "ctl-client.h"

#define PAIR_TIMEOUT_MS 150000 /* the daemon gives up after 60 s without a passkey, BlueZ later */
/* The daemon's passkey time (NG_PAIRING_PASSKEY_TIMEOUT_S): the prompt ends with it. */
#define PASSKEY_WAIT_S	 60
#define CONNECT_WAIT_S	 30
#define PASSKEY_ATTEMPTS 3

static char *pair_passkey;
static gboolean pair_cancel;

static const GOptionEntry pair_entries[] = {
    {"passkey", 'p', 0, G_OPTION_ARG_STRING, &pair_passkey, NULL, NULL},
    {"cancel", 0, 0, G_OPTION_ARG_NONE, &pair_cancel, NULL, NULL},
    {NULL},
};

static volatile sig_atomic_t interrupted;

static void
on_sigint(int sig)
{
	interrupted = 1;
}

/* 1 to 6 digits, spaces ignored ("123 456"); FALSE for anything else. */
static gboolean
parse_passkey(const char *text, guint32 *passkey)
{
	guint32 value = 0;
	guint digits = 0;

	for (const char *p = text; *p != '\0'; p++) {
		if (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
			continue;
		if (!g_ascii_isdigit(*p) || ++digits > 6)
			return FALSE;
		value = value * 10 + (guint32)(*p - '0');
	}
	*passkey = value;
	return digits > 0;
}

/* One line from the terminal; NULL on end of file, Ctrl-C, or at @deadline_us (monotonic: then
 * *timed_out). */
static char *
read_tty_line(int fd, gint64 deadline_us, gboolean *timed_out)
{
	g_autoptr(GString) line = g_string_new(NULL);
	char c;

	while (!interrupted) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		gint64 left_ms = (deadline_us - g_get_monotonic_time()) / 1000;
		ssize_t n;

		if (left_ms <= 0 || poll(&pfd, 1, (int)MIN(left_ms, G_MAXINT)) == 0) {
			*timed_out = TRUE;
			return NULL;
		}
		n = read(fd, &c, 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return NULL;
		if (c == '\n')
			return g_string_free(g_steal_pointer(&line), FALSE);
		if (line->len < 64)
			g_string_append_c(line, c);
	}
	return NULL;
}

static gboolean
ask_passkey(int tty, const char *address, guint32 *passkey, gboolean *timed_out)
{
	/* NEEDLECTL_PASSKEY_WAIT_S: a shorter wait, for the tests */
	const char *wait_env = g_getenv("NEEDLECTL_PASSKEY_WAIT_S");
	gint64 wait_s =
	    wait_env != NULL ? CLAMP(g_ascii_strtoll(wait_env, NULL, 10), 1, PASSKEY_WAIT_S) : PASSKEY_WAIT_S;
	gint64 deadline = g_get_monotonic_time() + wait_s * G_USEC_PER_SEC;

	for (guint i = 0; i < PASSKEY_ATTEMPTS; i++) {
		g_autofree char *prompt = g_strdup_printf(
		    "Type the passkey pen %s shows (6 digits, within %" G_GINT64_FORMAT " s): ", address,
		    (deadline - g_get_monotonic_time()) / G_USEC_PER_SEC);
		g_autofree char *line = NULL;

		if (write(tty, prompt, strlen(prompt)) < 0)
			return FALSE;
		line = read_tty_line(tty, deadline, timed_out);
		if (line == NULL) {
			if (*timed_out && write(tty, "\n", 1) < 0)
				return FALSE;
			return FALSE;
		}
		if (parse_passkey(line, passkey))
			return TRUE;
		if (write(tty, "That is not a 6-digit passkey.\n", 31) < 0)
			return FALSE;
	}
	return FALSE;
}

/* The pen's object once the daemon serves and has connected it (serial known), or NULL. */
static NgDbusPen1 *
wait_connected(NgCtlClient *client, const char *address)
{
	gint64 end = g_get_monotonic_time() + CONNECT_WAIT_S * G_USEC_PER_SEC;

	while (g_get_monotonic_time() < end && !interrupted) {
		g_autoptr(NgDbusPen1) pen = ng_ctl_client_find_pen(client, address, NULL);
		if (pen != NULL && ng_dbus_pen1_get_connected(pen) && *ng_dbus_pen1_get_serial(pen) != '\0')
			return g_steal_pointer(&pen);
		while (g_main_context_iteration(NULL, FALSE))
			;
		g_usleep(100000);
	}
	return NULL;
}

static int
report_paired(NgCtlClient *client, const char *address, const char *path, gboolean json)
{
	g_autoptr(NgDbusPen1) pen = NULL;
	const char *serial;

	if (!json) {
		printf("Paired %s. Waiting for needlegated to connect to it...\n", address);
		fflush(stdout);
	}
	pen = wait_connected(client, address);
	serial = pen != NULL ? ng_dbus_pen1_get_serial(pen) : NULL;
	if (json) {
		printf("{\"address\":\"%s\",\"object\":\"%s\",\"serial\":%s%s%s,\"connected\":%s}\n", address,
		       path, serial != NULL ? "\"" : "", serial != NULL ? serial : "null",
		       serial != NULL ? "\"" : "", pen != NULL ? "true" : "false");
	} else if (pen != NULL) {
		printf("Pen %s is connected and ready. Assign a plan: needlectl plan assign %s FILE\n",
		       serial, serial);
	} else {
		printf("Pen %s is paired but not connected yet: check 'needlectl status %s' in a moment.\n",
		       address, address);
	}
	return NG_CTL_EXIT_OK;
}

/* StartPairing, the prompt, Pair: the pen shows its passkey only once pairing has begun. */
static gboolean
pair_interactive(NgCtlClient *client, const char *address, char **path, GError **error)
{
	int tty = open("/dev/tty", O_RDWR | O_CLOEXEC | O_NOCTTY);
	guint32 passkey = 0;
	gboolean asked;
	gboolean timed_out = FALSE;

	if (tty < 0) {
		g_set_error_literal(error, G_IO_ERROR, G_IO_ERROR_FAILED,
				    "no terminal to type the passkey on: give it with --passkey N");
		return FALSE;
	}
	if (!ng_dbus_gateway1_call_start_pairing_sync(client->gateway, address, NULL, error)) {
		close(tty);
		return FALSE;
	}
	asked = ask_passkey(tty, address, &passkey, &timed_out);
	close(tty);
	if (!asked) {
		g_autoptr(GError) cancel_error = NULL;
		ng_dbus_gateway1_call_cancel_pairing_sync(client->gateway, address, NULL, &cancel_error);
		if (timed_out)
			g_set_error(error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT,
				    "no passkey was typed in time: the hub gave up on this pairing. Run "
				    "needlectl pair again and type the passkey the pen shows");
		else
			g_set_error_literal(
			    error, G_IO_ERROR, G_IO_ERROR_CANCELLED,
			    "pairing cancelled: no passkey was typed. Run needlectl pair again");
		return FALSE;
	}
	return ng_dbus_gateway1_call_pair_sync(client->gateway, address, passkey, path, NULL, error);
}

static int
run_pair(int argc, char **argv)
{
	gboolean json = FALSE;
	int status = 0;
	int n = ng_ctl_parse(&ng_ctl_command_pair, pair_entries, &json, &argc, &argv, &status);
	g_autoptr(GError) error = NULL;
	g_autoptr(NgCtlClient) client = NULL;
	g_autofree char *path = NULL;
	guint32 passkey = 0;
	struct sigaction sa = {.sa_handler = on_sigint};

	if (n < 0)
		return status;
	if (n != 1) {
		ng_ctl_usage_error("pair",
				   n == 0 ? "no ADDRESS given" : "expected one ADDRESS, got %d arguments", n);
		return NG_CTL_EXIT_USAGE;
	}
	if (pair_passkey != NULL && !parse_passkey(pair_passkey, &passkey)) {
		ng_ctl_usage_error("pair", "--passkey: '%s' is not a passkey (up to 6 digits)", pair_passkey);
		return NG_CTL_EXIT_USAGE;
	}
	client = ng_ctl_client_new(&error);
	if (client == NULL)
		return ng_ctl_fail("pair", error);
	if (pair_cancel) {
		if (!ng_dbus_gateway1_call_cancel_pairing_sync(client->gateway, argv[1], NULL, &error))
			return ng_ctl_fail("pair", error);
		printf("Pairing %s cancelled.\n", argv[1]);
		return NG_CTL_EXIT_OK;
	}
	/* Ctrl-C interrupts the passkey prompt (no SA_RESTART) so that the pairing is cancelled. */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	g_dbus_proxy_set_default_timeout(G_DBUS_PROXY(client->gateway), PAIR_TIMEOUT_MS);
	if (pair_passkey != NULL) {
		if (!ng_dbus_gateway1_call_pair_sync(client->gateway, argv[1], passkey, &path, NULL, &error))
			return ng_ctl_fail("pair", error);
	} else if (!pair_interactive(client, argv[1], &path, &error)) {
		return ng_ctl_fail("pair", error);
	}
	return report_paired(client, argv[1], path != NULL ? path : "", json);
}

const NgCtlCommand ng_ctl_command_pair = {
    .name = "pair",
    .synopsis = "[--passkey N] [--json] ADDRESS | --cancel ADDRESS",
    .summary = "Pair a pen with this hub (the pen shows a passkey to type)",
    .help = "Pairs the pen at ADDRESS (from needlectl scan) with this hub. Open a\n"
	    "pairing window first (needlectl scan). Pairing begins, the pen shows a\n"
	    "6-digit passkey, needlectl asks for it on the terminal; type it within\n"
	    "60 seconds. Once bonded, the hub connects to the pen and serves it.\n"
	    "Ctrl-C cancels. A failed attempt leaves nothing behind: try again.\n"
	    "\n"
	    "Options:\n"
	    "  -p, --passkey N  Answer with N without asking (pens with a fixed passkey,\n"
	    "                   scripts)\n"
	    "  --cancel         Cancel a pairing of ADDRESS in progress\n"
	    "  --json           One JSON object: address, object, serial, connected\n"
	    "  -h, --help       Show this help\n"
	    "\n" NG_CTL_EXIT_STATUS_HELP "\n"
	    "Errors say what to do: a wrong passkey (start again, the pen shows a new\n"
	    "one), a pen not in range, no pairing window, a pairing that timed out.\n"
	    "\n"
	    "Examples:\n"
	    "  needlectl scan\n"
	    "  needlectl pair C0:4E:50:5E:00:03\n",
    .run = run_pair,
};
