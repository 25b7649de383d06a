/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* One bonded pen's BLE connection: connect, read, subscribe, the Control Point, and its records. */

#pragma once

#include <gio/gio.h>

#include "ng-config.h"
#include "np.h"

G_BEGIN_DECLS

typedef struct _NgPen NgPen;

/*
 * The pen driver reports through a listener, as BlueZ's bt_gatt_client hands
 * notifications to registered callbacks: it decodes, it does not decide. The
 * hub (hub/ng-hub.c) is the listener. Every callback may be NULL.
 */
typedef struct {
	/* Device Information was read: the serial is known (ng_pen_get_serial ()). FALSE with @error
	 * refuses the connection (it is dropped and tried again later). */
	gboolean (*identified)(NgPen *pen, gpointer user_data, GError **error);
	/* The link state changed: READY (streaming), or from READY to anything else (the link is
	 * gone; ng_pen_get_state () says where it went). */
	void (*state_changed)(NgPen *pen, int old_state, gpointer user_data);
	/* One Telemetry notification's records, decoded, in the order sent. */
	void (*records)(NgPen *pen, const NpTelemetryRecord *records, guint n_records, gpointer user_data);
	/* One Session Event; the telemetry socket was read first (records sent before it came first). */
	void (*event)(NgPen *pen, const NpSessionEvent *event, gpointer user_data);
	/* Battery Level or Pen Status changed while streaming. */
	void (*status_changed)(NgPen *pen, gpointer user_data);
	/* A notification that does not decode (counted by the pen too; logged once per kind). */
	void (*malformed)(NgPen *pen, gpointer user_data);
	/* The pen speaks a protocol this gateway does not know, or gives an unusable serial. */
	void (*refused)(NgPen *pen, const char *why, gpointer user_data);
} NgPenListener;

/* What every pen shares: set up once by its owner, outlives every pen. */
typedef struct {
	const NgConfig *config;
	GDBusConnection *bus;
	const NgPenListener *listener;
	gpointer listener_data;
} NgPenEnv;

typedef enum {
	NG_PEN_STATE_IDLE,	 /* not connected; waiting for the reconnect delay */
	NG_PEN_STATE_WAITING,	 /* wants to connect: waits for the connection scheduler */
	NG_PEN_STATE_CONNECTING, /* Device1.Connect in progress */
	NG_PEN_STATE_RESOLVING,	 /* connected, waiting for ServicesResolved */
	NG_PEN_STATE_SETUP,	 /* reading Device Information and Pen Features, subscribing */
	NG_PEN_STATE_READY,	 /* streaming */
	NG_PEN_STATE_REFUSED,	 /* speaks a protocol version the gateway does not know */
} NgPenState;

const char *ng_pen_state_to_string(NgPenState state);

/* Malformed input, by the characteristic it came from; counted and logged once per pen and kind. */
typedef enum {
	NG_MALFORMED_TELEMETRY,
	NG_MALFORMED_SESSION_EVENT,
	NG_MALFORMED_CONTROL_POINT,
	NG_MALFORMED_PEN_STATUS,
	NG_MALFORMED_BATTERY,
	NG_MALFORMED_KIND_COUNT,
} NgMalformedKind;

typedef struct {
	guint64 notifications;
	guint64 records;    /* published */
	guint64 replayed;   /* published with replayed true */
	guint64 duplicates; /* dropped */
	guint64 malformed[NG_MALFORMED_KIND_COUNT];
	guint64 connects;
	guint64 connect_failures;
	guint64 disconnects;
} NgPenCounters;

/* Called whenever the pen's state changes: the connection scheduler in ng-bluez.c. */
typedef void (*NgPenStateFunc)(NgPen *pen, NgPenState old_state, gpointer user_data);

/* device is the Device1 proxy from the object manager, which also finds the pen's GATT objects. */
NgPen *ng_pen_new(NgPenEnv *env, GDBusObjectManager *manager, GDBusProxy *device, NgPenStateFunc state_func,
		  gpointer state_data);
/* The device is going away (removed, unbonded, bluetoothd gone): tells the listener if it was
 * connected, and stops everything. Call before ng_pen_free (). */
void ng_pen_detach(NgPen *pen);
/* Frees without a word to BlueZ (it may be gone). */
void ng_pen_free(NgPen *pen);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(NgPen, ng_pen_free)

/* The scheduler's go: only in NG_PEN_STATE_WAITING. */
void ng_pen_connect(NgPen *pen);
/* From the object manager: Device1 properties changed. */
void ng_pen_device_changed(NgPen *pen, GVariant *changed);
/* From the object manager: a GattCharacteristic1 under this device changed (Value). */
void ng_pen_characteristic_changed(NgPen *pen, const char *path, GVariant *changed);

NgPenState ng_pen_get_state(NgPen *pen);
/* Monotonic time the pen entered NG_PEN_STATE_WAITING: the scheduler serves the oldest first. */
gint64 ng_pen_get_waiting_since(NgPen *pen);
const char *ng_pen_get_object_path(NgPen *pen);
const char *ng_pen_get_address(NgPen *pen);
/* The serial number (pen_id), NULL before Device Information was read once. */
const char *ng_pen_get_serial(NgPen *pen);
const char *ng_pen_get_name(NgPen *pen);
const char *ng_pen_get_model(NgPen *pen);
const char *ng_pen_get_firmware(NgPen *pen);
gboolean ng_pen_is_connected(NgPen *pen);
/* -1: unknown. */
int ng_pen_get_battery(NgPen *pen);
int ng_pen_get_rssi(NgPen *pen);
/* FALSE if the pen's features or status were never read. */
gboolean ng_pen_get_features(NgPen *pen, NpPenFeatures *features);
gboolean ng_pen_get_status(NgPen *pen, NpPenStatus *status);
/* The owner's data (the hub's runtime of this pen). */
void ng_pen_set_user_data(NgPen *pen, gpointer data);
gpointer ng_pen_get_user_data(NgPen *pen);
gboolean ng_pen_uses_acquire_notify(NgPen *pen);
void ng_pen_get_counters(NgPen *pen, NgPenCounters *counters);

/* One Control Point request (ng-control-point.h): fails with G_IO_ERROR_NOT_CONNECTED unless the pen
 * is ready or when the link drops first, G_IO_ERROR_TIMED_OUT when the pen does not answer.
 * Otherwise returns the pen's response (its result code may still say no). */
void ng_pen_request_async(NgPen *pen, const NpControlRequest *request, GAsyncReadyCallback callback,
			  gpointer user_data);
gboolean ng_pen_request_finish(GAsyncResult *result, NpControlResponse *response, GError **error);

G_END_DECLS
