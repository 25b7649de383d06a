/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* needlectl's command table: each command is a name, its help and a function, so adding one is one entry. */

#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Exit statuses, the same for every command (documented in --help). */
#define NG_CTL_EXIT_OK		0 /* done */
#define NG_CTL_EXIT_FAILURE	1 /* the command ran and failed: malformed data, daemon refused */
#define NG_CTL_EXIT_USAGE	2 /* the command line is wrong */
#define NG_CTL_EXIT_UNAVAILABLE 3 /* needlegated (or the D-Bus system bus) cannot be reached */
#define NG_CTL_EXIT_DENIED	4 /* the caller may not do this (not root nor in the group needlegate) */

typedef struct {
	const char *name;
	const char *synopsis; /* arguments after the name, for the usage line */
	const char *summary;  /* one line for the command list */
	const char *help;     /* the rest of "needlectl help NAME": description, options, examples */
	/* argv[0] is the command's name; returns an NG_CTL_EXIT_* status. */
	int (*run)(int argc, char **argv);
} NgCtlCommand;

/* Prints "needlectl: " and the message to stderr, then the hint to see --help. */
void ng_ctl_usage_error(const char *command, const char *format, ...) G_GNUC_PRINTF(2, 3);
/* Prints the full help of one command to stdout. */
void ng_ctl_print_command_help(const NgCtlCommand *cmd);

/* The commands, one per file. */
extern const NgCtlCommand ng_ctl_command_decode;
extern const NgCtlCommand ng_ctl_command_scan;
extern const NgCtlCommand ng_ctl_command_pair;
extern const NgCtlCommand ng_ctl_command_list;
extern const NgCtlCommand ng_ctl_command_status;
extern const NgCtlCommand ng_ctl_command_identify;
extern const NgCtlCommand ng_ctl_command_stop;
extern const NgCtlCommand ng_ctl_command_remove;
extern const NgCtlCommand ng_ctl_command_forget_hub;
extern const NgCtlCommand ng_ctl_command_plan;
extern const NgCtlCommand ng_ctl_command_sessions;

G_END_DECLS
