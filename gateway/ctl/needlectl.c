/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* needlectl, the technician's command-line tool: global options and the dispatch to one command. */

#include "config.h"

#include <locale.h>
#include <stdio.h>
#include <string.h>

#include "ng-ctl.h"

/* Every command but decode talks to needlegated over D-Bus (ctl-client.c): one entry here each. */
static const NgCtlCommand *const commands[] = {
    &ng_ctl_command_scan,     &ng_ctl_command_pair,	  &ng_ctl_command_list,	  &ng_ctl_command_status,
    &ng_ctl_command_identify, &ng_ctl_command_stop,	  &ng_ctl_command_remove, &ng_ctl_command_plan,
    &ng_ctl_command_sessions, &ng_ctl_command_forget_hub, &ng_ctl_command_decode,
};

static const NgCtlCommand *
find_command(const char *name)
{
	for (gsize i = 0; i < G_N_ELEMENTS(commands); i++) {
		if (g_strcmp0(commands[i]->name, name) == 0)
			return commands[i];
	}
	return NULL;
}

void
ng_ctl_usage_error(const char *command, const char *format, ...)
{
	g_autofree char *msg = NULL;
	va_list args;

	va_start(args, format);
	msg = g_strdup_vprintf(format, args);
	va_end(args);
	fflush(stdout);
	if (command != NULL) {
		fprintf(stderr, "needlectl: %s: %s\n", command, msg);
		fprintf(stderr, "Try 'needlectl %s --help'.\n", command);
	} else {
		fprintf(stderr, "needlectl: %s\n", msg);
		fprintf(stderr, "Try 'needlectl --help'.\n");
	}
}

void
ng_ctl_print_command_help(const NgCtlCommand *cmd)
{
	printf("Usage: needlectl %s %s\n\n%s\n\n%s", cmd->name, cmd->synopsis, cmd->summary, cmd->help);
}

static void
print_main_help(void)
{
	printf("Usage: needlectl [--help] [--version] COMMAND [ARGUMENTS...]\n"
	       "\n"
	       "The technician's tool for needlegate, the Bluetooth LE gateway for\n"
	       "microneedling pens.\n"
	       "\n"
	       "Commands:\n");
	for (gsize i = 0; i < G_N_ELEMENTS(commands); i++)
		printf("  %-11s %s\n", commands[i]->name, commands[i]->summary);
	printf("  %-11s %s\n", "help", "Show the help of a command: needlectl help COMMAND");
	printf("\n"
	       "Options:\n"
	       "  -h, --help     Show this help\n"
	       "  --version      Show the version\n"
	       "\n"
	       "PEN is a pen's serial number (NP5EED0001) or Bluetooth address\n"
	       "(C0:4E:50:5E:00:01). --json gives machine-readable output.\n"
	       "Talks to needlegated on the D-Bus system bus (DBUS_SYSTEM_BUS_ADDRESS).\n"
	       "\n"
	       "Exit status:\n"
	       "  0  success\n"
	       "  1  the command failed: the gateway refused it or it did not work (the\n"
	       "     message says what to do); for decode: the bytes are malformed\n"
	       "  2  usage error\n"
	       "  3  needlegated or the D-Bus system bus cannot be reached\n"
	       "  4  not allowed: only root and the group needlegate may change the gateway\n"
	       "\n"
	       "See 'needlectl help COMMAND' for the arguments and examples of each command.\n");
}

static int
run_help(int argc, char **argv)
{
	const NgCtlCommand *cmd;

	if (argc < 2) {
		print_main_help();
		return NG_CTL_EXIT_OK;
	}
	if (argc > 2) {
		ng_ctl_usage_error("help", "expected one command name, got %d arguments", argc - 1);
		return NG_CTL_EXIT_USAGE;
	}
	cmd = find_command(argv[1]);
	if (cmd == NULL) {
		ng_ctl_usage_error(NULL, "unknown command '%s'", argv[1]);
		return NG_CTL_EXIT_USAGE;
	}
	ng_ctl_print_command_help(cmd);
	return NG_CTL_EXIT_OK;
}

int
main(int argc, char **argv)
{
	const NgCtlCommand *cmd;

	setlocale(LC_ALL, "");
	if (argc < 2) {
		ng_ctl_usage_error(NULL, "no command given");
		return NG_CTL_EXIT_USAGE;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		print_main_help();
		return NG_CTL_EXIT_OK;
	}
	if (strcmp(argv[1], "--version") == 0) {
		printf("needlectl %s\n", PACKAGE_VERSION);
		return NG_CTL_EXIT_OK;
	}
	if (strcmp(argv[1], "help") == 0)
		return run_help(argc - 1, argv + 1);
	if (argv[1][0] == '-') {
		ng_ctl_usage_error(NULL, "unknown option '%s'", argv[1]);
		return NG_CTL_EXIT_USAGE;
	}
	cmd = find_command(argv[1]);
	if (cmd == NULL) {
		ng_ctl_usage_error(NULL, "unknown command '%s'", argv[1]);
		return NG_CTL_EXIT_USAGE;
	}
	return cmd->run(argc - 1, argv + 1);
}
