/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* BlueZ as seen from the gateway: the adapter, the bonded pens on it, bluetoothd coming and going. */

#pragma once

#include <gio/gio.h>

#include "ng-pen.h"

G_BEGIN_DECLS

typedef struct _NgBluez NgBluez;

/* What the owner (the hub) hears; every callback may be NULL. */
typedef struct {
	/* A pen is served now (bonded, offering the session service); @paired_now: its bond was made
	 * while we run (needlectl pair, bluetoothctl). */
	void (*pen_added)(NgBluez *bluez, NgPen *pen, gboolean paired_now, gpointer user_data);
	/* A pen is no longer served (unbonded, removed, its adapter gone); it is freed afterwards. */
	void (*pen_removed)(NgBluez *bluez, NgPen *pen, const char *why, gpointer user_data);
	/* The adapter was found or lost, bluetoothd came or went. */
	void (*changed)(NgBluez *bluez, gpointer user_data);
} NgBluezListener;

/* Follows org.bluez on env->bus; nothing happens before the main loop runs. */
NgBluez *ng_bluez_new(NgPenEnv *env, const NgBluezListener *listener, gpointer user_data, GError **error);
void ng_bluez_free(NgBluez *bluez);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(NgBluez, ng_bluez_free)

/* The pens served now: object path -> NgPen (owned by the table). The registry a D-Bus API
 * of the daemon exposes later. */
GHashTable *ng_bluez_get_pens(NgBluez *bluez);
/* The pen with this serial number, or NULL. */
NgPen *ng_bluez_find_pen(NgBluez *bluez, const char *serial);

/* "hci0" once the adapter is found, else NULL. */
const char *ng_bluez_get_adapter_name(NgBluez *bluez);
const char *ng_bluez_get_adapter_address(NgBluez *bluez);
/* Whether bluetoothd is on the bus now. */
gboolean ng_bluez_is_running(NgBluez *bluez);
guint ng_bluez_count_connected(NgBluez *bluez);

G_END_DECLS
