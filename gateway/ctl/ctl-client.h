/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What needlectl's daemon commands share: the bus, the Gateway1 proxy, pens by name, options, errors, tables.
 */

#pragma once

#include <gio/gio.h>
#include <json-glib/json-glib.h>

#include "ng-ctl.h"
#include "ng-dbus-generated.h"

G_BEGIN_DECLS

typedef struct {
	GDBusConnection *bus;
	NgDbusGateway1 *gateway;
	GDBusObjectManager *manager;
} NgCtlClient;

/* Connects to the system bus (DBUS_SYSTEM_BUS_ADDRESS honoured) and to needlegated;
 * fails with a message that says what to do when the daemon is not running. */
NgCtlClient *ng_ctl_client_new(GError **error);
void ng_ctl_client_free(NgCtlClient *client);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(NgCtlClient, ng_ctl_client_free)

/* Served pens, sorted by address (a list of NgDbusPen1 proxies, owned). */
GList *ng_ctl_client_list_pens(NgCtlClient *client);
/* The pen named by its serial number or its address (any case); NULL with a NotFound error. */
NgDbusPen1 *ng_ctl_client_find_pen(NgCtlClient *client, const char *name, GError **error);

/* Prints "needlectl: COMMAND: message" (the D-Bus error name stripped) and returns the exit
 * status for it: NG_CTL_EXIT_UNAVAILABLE when the daemon cannot be reached,
 * NG_CTL_EXIT_DENIED when the caller may not do it, else NG_CTL_EXIT_FAILURE. */
int ng_ctl_fail(const char *command, GError *error);

/*
 * Parses the command's options (GOption entries, may be NULL) plus -h/--help and --json (if
 * @json is not NULL). Returns -1 after printing help (*status 0) or a usage error (*status 2);
 * otherwise the number of positional arguments left in argc and argv (argv[0] stays the command).
 */
int ng_ctl_parse(const NgCtlCommand *cmd, const GOptionEntry *entries, gboolean *json, int *argc,
		 char ***argv, int *status);

/* A table: the first row is the header; columns padded to their widest cell. */
void ng_ctl_print_table(GPtrArray *rows);
/* A row from NULL-terminated strings (copied). */
GStrv ng_ctl_row(const char *first, ...) G_GNUC_NULL_TERMINATED;

/* Unix ms as "2026-11-24T10:33:48.120Z" (UTC, as on MQTT), or NULL for 0. */
char *ng_ctl_format_time(gint64 unix_ms);

/* Prints a JSON node compactly (scripts) on one line. */
void ng_ctl_print_json(JsonNode *node);

/* One pen as the --json output of list and status: serial, address, name, model, firmware, link,
 * connected, state, error, battery, cartridge {id, needles}, session {id, active}, area, plan,
 * last_seen (ISO 8601 or null), rssi (advertising), rssi_dbm and linkquality (the connection; null when
 * unknown). */
JsonNode *ng_ctl_pen_to_json(NgDbusPen1 *pen);

/* The exit statuses every daemon command shares, for its --help. */
#define NG_CTL_EXIT_STATUS_HELP                                                                              \
	"Exit status:\n"                                                                                     \
	"  0  done\n"                                                                                        \
	"  1  the gateway refused or the operation failed (the message says why)\n"                          \
	"  2  usage error\n"                                                                                 \
	"  3  needlegated or the D-Bus system bus cannot be reached\n"                                       \
	"  4  not allowed: only root and the group needlegate may change the gateway\n"

G_END_DECLS
