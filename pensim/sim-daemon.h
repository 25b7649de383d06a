/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The bluetoothd stand-in: adapter, agents, devices and their GATT objects, shared between its files. */

#pragma once

#include <gio/gio.h>

#include "sim-bus.h"
#include "sim-pen.h"

G_BEGIN_DECLS

#define SIM_ADAPTER_PATH	"/org/bluez/hci0"
#define SIM_AGENT_MANAGER_PATH	"/org/bluez"
#define SIM_TEMPORARY_TIMEOUT_S 30u   /* bluetoothd's TemporaryTimeout default */
#define SIM_AGENT_TIMEOUT_MS	60000 /* bluetoothd's agent request timeout */

typedef struct _SimDaemon SimDaemon;
typedef struct _SimDevice SimDevice;

typedef struct {
	char *sender;
	char *path;
	char *capability;
} SimAgent;

/* Timing knobs, so that tests need not wait for radio time-outs. */
typedef struct {
	guint connect_delay_ms;	   /* a successful connection and service discovery */
	guint connect_timeout_ms;  /* Connect to a pen out of range fails after this */
	guint att_timeout_ms;	   /* a request to a pen that stopped answering */
	guint temporary_timeout_s; /* unpaired devices vanish after discovery */
	guint adv_interval_ms;	   /* advertising reports while discovering */
} SimTiming;

struct _SimDaemon {
	SimBus *bus;
	SimTiming timing;
	GPtrArray *devices; /* SimDevice, in pen order */

	/* Adapter1 */
	char *address;
	char *alias;
	gboolean powered;
	gboolean discoverable;
	gboolean pairable;
	guint32 discoverable_timeout;
	guint32 pairable_timeout;
	GHashTable *discovery; /* sender -> (unused) */
	GHashTable *filters;   /* sender -> a{sv} */
	guint adv_timer_id;

	/* AgentManager1 */
	GPtrArray *agents;	   /* SimAgent */
	GPtrArray *default_agents; /* SimAgent, borrowed; the last one is the default */

	/* the control interface asks to hear about pen changes */
	void (*pen_changed)(SimDevice *device, gpointer user_data);
	gpointer pen_changed_data;
};

/* Per characteristic, what bluetoothd tracks for its clients. */
typedef struct {
	GPtrArray *clients; /* unique names with a StartNotify session */
	int acquired_fd;    /* our end of the AcquireNotify socket, -1 if none */
	char *acquired_sender;
	guint acquired_watch;
	GBytes *value; /* cached Value: NULL until read or notified */
	gboolean notifying;
	GBytes *ccc_value; /* cached Value of the CCC descriptor */
	guint64 dropped;   /* notifications the acquired socket could not take */
} SimChrState;

struct _SimDevice {
	SimDaemon *daemon;
	SimPen *pen;
	char *path;
	guint index;

	gboolean exported;
	gboolean paired;
	gboolean bonded;
	gboolean trusted;
	gboolean blocked;
	char *alias;
	gboolean connected;
	gboolean services_resolved;
	gboolean gatt_exported;
	gboolean ever_resolved;
	gboolean rssi_valid;
	gint16 rssi;
	gboolean present;    /* in range and advertising */
	gboolean responsive; /* answers ATT requests */

	GDBusMethodInvocation *connect_inv;
	guint connect_timer_id;
	GDBusMethodInvocation *pair_inv;
	SimAgent *pair_agent;
	GCancellable *pair_cancellable;
	gboolean pair_connected_link;
	guint32 passkey; /* shown on the pen's display, 0..999999 */
	gboolean passkey_shown;
	guint temp_timer_id;
	GPtrArray *pending; /* GDBusMethodInvocation waiting on an unresponsive pen */
	guint att_timer_id;

	SimChrState chr[SIM_CHR_COUNT];
	GPtrArray *gatt_attrs; /* owners of the exported GATT objects */
};

/* sim-adapter.c */
SimDaemon *sim_daemon_new(GDBusConnection *connection, const SimTiming *timing, GError **error);
void sim_daemon_free(SimDaemon *daemon);
SimDevice *sim_daemon_add_pen(SimDaemon *daemon, const SimPenConfig *cfg, GError **error);
SimDevice *sim_daemon_find_device(SimDaemon *daemon, const char *path_or_serial);
SimAgent *sim_daemon_find_agent(SimDaemon *daemon, const char *sender);
gboolean sim_daemon_device_matches_filters(SimDaemon *daemon, SimDevice *device);
gboolean sim_daemon_is_discovering(SimDaemon *daemon);
void sim_daemon_pen_changed(SimDaemon *daemon, SimDevice *device);

/* sim-device.c */
SimDevice *sim_device_new(SimDaemon *daemon, const SimPenConfig *cfg, guint index);
void sim_device_free(SimDevice *device);
gboolean sim_device_export(SimDevice *device, GError **error);
void sim_device_unexport(SimDevice *device);
void sim_device_advertise(SimDevice *device);
void sim_device_discovery_stopped(SimDevice *device);
void sim_device_set_paired(SimDevice *device, gboolean paired);
void sim_device_drop_link(SimDevice *device, const char *why);
void sim_device_set_present(SimDevice *device, gboolean present);
void sim_device_set_responsive(SimDevice *device, gboolean responsive);
void sim_device_request_pending(SimDevice *device, GDBusMethodInvocation *inv);
void sim_device_client_vanished(SimDevice *device, const char *sender);
void sim_device_agent_gone(SimDevice *device, SimAgent *agent);

/* sim-gatt.c */
gboolean sim_gatt_export(SimDevice *device, GError **error);
void sim_gatt_unexport(SimDevice *device);
void sim_gatt_link_down(SimDevice *device);
void sim_gatt_link_up(SimDevice *device);
void sim_gatt_client_vanished(SimDevice *device, const char *sender);
gboolean sim_gatt_can_notify(SimDevice *device, SimChr chr);
void sim_gatt_notify(SimDevice *device, SimChr chr, const guint8 *value, gsize len);
const char *sim_gatt_chr_uuid(SimChr chr);
gboolean sim_gatt_chr_is_secure(SimChr chr);
void sim_chr_state_init(SimChrState *state);
void sim_chr_state_clear(SimChrState *state);
void sim_gatt_fail_pending(SimDevice *device);

G_END_DECLS
