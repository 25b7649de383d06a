/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The RSSI of a pen's LE connection, asked of the adapter over a raw HCI socket (libbluetooth). */

#pragma once

#include <glib.h>

G_BEGIN_DECLS

/*
 * BlueZ's Device1.RSSI exists only while discovering: a connected pen's
 * signal comes from the controller itself, with the HCI command Read RSSI
 * (OGF 0x05 status parameters, OCF 0x0005) on the connection's handle.
 *
 * What it takes from the kernel (net/bluetooth/hci_sock.c), none of it a
 * capability: socket(AF_BLUETOOTH, SOCK_RAW, BTPROTO_HCI) and bind to
 * HCI_CHANNEL_RAW (only the initial network namespace: elsewhere the socket
 * fails with EAFNOSUPPORT, as on a kernel without Bluetooth); the ioctls
 * HCIGETDEVLIST, HCIGETDEVINFO (hci_devid) and HCIGETCONNINFO (the LE
 * connection's handle); the HCI_FILTER socket option (an unprivileged
 * socket's filter is ANDed with hci_sec_filter, which lets Command Complete
 * and Command Status through); and sending Read RSSI, which hci_sec_filter
 * allows without CAP_NET_RAW (its OGF 0x05 mask 0x000000ea has bit 5 set).
 * The systemd unit therefore keeps an empty CapabilityBoundingSet and only
 * adds AF_BLUETOOTH to RestrictAddressFamilies (docs/daemon.md).
 *
 * NgHciRssi is the daemon's path: one socket per adapter, opened when first
 * needed, the command written without waiting and the Command Complete
 * event read from the main loop (a GSource on the socket): a controller that
 * does not answer never blocks the loop; a request unanswered after
 * NG_HCI_RSSI_TIMEOUT_MS fails. ng_hci_read_rssi () is the same read,
 * blocking, for checks on real hardware (tests/ble/hci-rssi).
 */

#define NG_HCI_RSSI_TIMEOUT_MS 2000

#define NG_HCI_ERROR (ng_hci_error_quark())
GQuark ng_hci_error_quark(void);

/* Why there is no reading; the hub logs each kind once. */
typedef enum {
	NG_HCI_ERROR_UNAVAILABLE,   /* no HCI access at all: no Bluetooth in the kernel, refused, not built */
	NG_HCI_ERROR_NO_ADAPTER,    /* the adapter is no HCI device here (a simulated one), or it is down */
	NG_HCI_ERROR_NO_CONNECTION, /* the adapter has no LE connection to that address */
	NG_HCI_ERROR_FAILED,	    /* the controller refused, did not answer, or knows no RSSI (127) */
} NgHciError;

typedef struct _NgHciRssi NgHciRssi;

/* An answer, from the main loop: @error NULL and @rssi_dbm, or why there is none. */
typedef void (*NgHciRssiFunc)(const char *address, int rssi_dbm, const GError *error, gpointer user_data);

NgHciRssi *ng_hci_rssi_new(NgHciRssiFunc func, gpointer user_data);
/* Requests still unanswered are dropped without an answer. */
void ng_hci_rssi_free(NgHciRssi *hci);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(NgHciRssi, ng_hci_rssi_free)

/*
 * Asks the adapter (@adapter_address "AA:BB:…" if known, else @adapter_name
 * "hciN") for the RSSI of its LE connection to @address. TRUE: the answer
 * comes to the function later (one per request; none if a request for that
 * connection is still waiting). FALSE with @error: nothing was sent.
 */
gboolean ng_hci_rssi_request(NgHciRssi *hci, const char *adapter_name, const char *adapter_address,
			     const char *address, GError **error);

/* The same read, blocking up to @timeout_ms (hci_read_rssi ()): for tests on real hardware. */
gboolean ng_hci_read_rssi(const char *adapter, const char *address, int timeout_ms, int *rssi_dbm,
			  GError **error);

/*
 * One packet read from the raw HCI socket: TRUE if it is a Command Complete
 * event of Read RSSI, with its status, connection handle and RSSI (dBm;
 * 127: the controller has none). Pure: every length is checked.
 */
gboolean ng_hci_parse_read_rssi(const guint8 *buf, gsize len, guint8 *status, guint16 *handle, int *rssi_dbm);
/* TRUE if it is a Command Status event of Read RSSI with an error @status: the controller refused
 * the command (0x01: it does not know it, as BlueZ's LE-only emulated controller) and no Command
 * Complete follows. It names no handle: the oldest request waiting is the one refused. */
gboolean ng_hci_parse_read_rssi_refused(const guint8 *buf, gsize len, guint8 *status);

G_END_DECLS
