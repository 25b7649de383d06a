/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Pairing pens through BlueZ: the time-limited pairing window, passkey entry, removal of a bond. */

#pragma once

#include <gio/gio.h>

#include "ng-bluez.h"
#include "ng-errors.h"

G_BEGIN_DECLS

#define NG_PAIRING_WINDOW_DEFAULT_S 120u
#define NG_PAIRING_WINDOW_MAX_S	    600u
/* How long the pen's passkey may wait for the technician (bluetoothd's own agent timeout). */
#define NG_PAIRING_PASSKEY_TIMEOUT_S 60u

typedef struct _NgPairing NgPairing;

typedef enum {
	NG_PAIRING_IDLE,
	NG_PAIRING_CONNECTING, /* Device1.Pair sent, the pen has not shown its passkey yet */
	NG_PAIRING_WAITING,    /* the pen shows its passkey: waiting for ng_pairing_pair_async () */
	NG_PAIRING_CHECKING,   /* the passkey went to the pen, which checks it */
} NgPairingState;

/* "idle", "connecting", "waiting-for-passkey", "pairing". */
const char *ng_pairing_state_to_string(NgPairingState state);

/* Called on the main loop whenever the window or the pairing state changes. */
typedef void (*NgPairingChangedFunc)(NgPairing *pairing, gpointer user_data);

/* Registers the BlueZ agent on @bus; @bluez gives the adapter. Nothing scans until a window opens. */
NgPairing *ng_pairing_new(GDBusConnection *bus, NgBluez *bluez, GError **error);
/* Stops discovery and cancels a pairing in progress (pending calls fail with Canceled). */
void ng_pairing_free(NgPairing *pairing);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(NgPairing, ng_pairing_free)

void ng_pairing_set_changed_func(NgPairing *pairing, NgPairingChangedFunc func, gpointer user_data);

/* Opens or extends the window to @seconds from now (0: the default; more than the maximum is
 * refused with NG_ERROR_INVALID_ARGS) and scans for pens until then. */
gboolean ng_pairing_open_window(NgPairing *pairing, guint seconds, GError **error);
/* Closes it now: discovery stops, a pairing in progress is cancelled. */
void ng_pairing_close_window(NgPairing *pairing);
gboolean ng_pairing_window_is_open(NgPairing *pairing);
/* Unix time in ms when the window closes, 0 when closed. */
gint64 ng_pairing_get_window_end_ms(NgPairing *pairing);
NgPairingState ng_pairing_get_state(NgPairing *pairing);
/* The address being paired, NULL when idle. */
const char *ng_pairing_get_address(NgPairing *pairing);

/* Unbonded pens BlueZ knows on the adapter that advertise the session service: aa{sv}
 * ("address", "name", "rssi" when known, "paired", "connected"). Only while the window is open. */
void ng_pairing_list_discovered_async(NgPairing *pairing, GAsyncReadyCallback callback, gpointer user_data);
GVariant *ng_pairing_list_discovered_finish(NgPairing *pairing, GAsyncResult *result, GError **error);

/* Starts pairing @address; completes when the pen shows its passkey. */
void ng_pairing_start_async(NgPairing *pairing, const char *address, GAsyncReadyCallback callback,
			    gpointer user_data);
gboolean ng_pairing_start_finish(NgPairing *pairing, GAsyncResult *result, GError **error);

/* Gives @passkey for @address (starting the pairing first if needed); completes when the pen is
 * bonded, returning its BlueZ device object path. A failed attempt removes the device from BlueZ. */
void ng_pairing_pair_async(NgPairing *pairing, const char *address, guint32 passkey,
			   GAsyncReadyCallback callback, gpointer user_data);
char *ng_pairing_pair_finish(NgPairing *pairing, GAsyncResult *result, GError **error);

/* Cancels the pairing of @address (NULL or "": whichever runs). */
gboolean ng_pairing_cancel(NgPairing *pairing, const char *address, GError **error);

/* Unbonds @device_path (a BlueZ device object) with Adapter1.RemoveDevice. */
void ng_pairing_remove_device_async(NgPairing *pairing, const char *device_path, GAsyncReadyCallback callback,
				    gpointer user_data);
gboolean ng_pairing_remove_device_finish(NgPairing *pairing, GAsyncResult *result, GError **error);

/* "AA:BB:CC:DD:EE:FF" in upper case from any case; FALSE (with NG_ERROR_INVALID_ARGS naming
 * @what) for anything else. */
gboolean ng_pairing_normalize_address(const char *address, char out[18], const char *what, GError **error);

G_END_DECLS
