/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Peripheral mode: one simulated pen served through the real bluetoothd (GattManager1,
 * LEAdvertisingManager1). */

#pragma once

#include <gio/gio.h>

#include "sim-pen.h"

G_BEGIN_DECLS

typedef struct {
	const char *adapter;	  /* "hci1" */
	const char *control;	  /* FIFO of commands, created if missing; NULL for none */
	const char *passkey_file; /* each displayed passkey is written here too; NULL for none */
} SimPeripheralOptions;

typedef struct _SimPeripheral SimPeripheral;

/* Powers the adapter, registers the DisplayOnly default agent, then the GATT
 * application and the advertisement (asynchronously: "ready" is printed once
 * bluetoothd accepted both). quit_loop ends on "quit" or a registration
 * failure; sim_peripheral_failed() then says which. */
SimPeripheral *sim_peripheral_new(GDBusConnection *connection, const SimPenConfig *cfg,
				  const SimPeripheralOptions *opt, GMainLoop *quit_loop, GError **error);
void sim_peripheral_free(SimPeripheral *per);
gboolean sim_peripheral_failed(SimPeripheral *per);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(SimPeripheral, sim_peripheral_free)

G_END_DECLS
