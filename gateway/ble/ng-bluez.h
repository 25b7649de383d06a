/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* BlueZ as seen from the gateway: the adapter, the bonded pens on it, bluetoothd coming and going. */

#pragma once

#include <gio/gio.h>

#include "ng-pen.h"

G_BEGIN_DECLS

typedef struct _NgBluez NgBluez;

/* Follows org.bluez on env->bus; nothing happens before the main loop runs. */
NgBluez *ng_bluez_new(NgPenEnv *env, GError **error);
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
