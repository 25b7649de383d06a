/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* One simulated NeedlePen: sessions, telemetry, events, stored records and the Control Point. */

#pragma once

#include <glib.h>

#include "np.h"

G_BEGIN_DECLS

/* The pen's characteristics, in GATT table order. */
typedef enum {
	SIM_CHR_MANUFACTURER,
	SIM_CHR_MODEL,
	SIM_CHR_SERIAL,
	SIM_CHR_FIRMWARE,
	SIM_CHR_BATTERY_LEVEL,
	SIM_CHR_FEATURES,
	SIM_CHR_TELEMETRY,
	SIM_CHR_SESSION_EVENT,
	SIM_CHR_CONTROL_POINT,
	SIM_CHR_PEN_STATUS,
	SIM_CHR_SERVICE_CHANGED, /* Generic Attribute service; the pen never sends it */
	SIM_CHR_COUNT,
} SimChr;

typedef struct {
	char *serial;
	char *address;
	char *manufacturer;
	char *model;
	char *firmware;
	guint8 model_code;
	guint16 features;  /* NP_FEATURE_* */
	guint8 rate_hz;	   /* records per second */
	guint16 capacity;  /* stored records */
	guint16 max_depth; /* 0.01 mm */
	guint8 battery;	   /* % */
	gboolean paired;   /* bonded when the simulator starts */
	gboolean autorun;  /* runs sessions on its own */
	guint32 first_seq;
	guint session_s;     /* autorun: session length */
	guint idle_s;	     /* autorun: pause between sessions */
	GArray *areas;	     /* guint8 area codes, autorun visits them in turn */
	guint16 depth;	     /* 0.01 mm, target */
	guint16 speed;	     /* 0.1 Hz, target */
	guint16 depth_noise; /* 0.01 mm, standard deviation */
	guint16 speed_noise; /* 0.1 Hz, standard deviation */
	gint16 rssi;
	guint32 seed;
	guint16 mtu;
} SimPenConfig;

void sim_pen_config_init(SimPenConfig *cfg, guint index);
void sim_pen_config_clear(SimPenConfig *cfg);

/* How a pen reaches the link: the device layer decides whether a
 * characteristic is subscribed and the link is up; the pen only says what
 * it would send. */
typedef struct {
	gboolean (*can_notify)(gpointer user_data, SimChr chr);
	void (*notify)(gpointer user_data, SimChr chr, const guint8 *value, gsize len);
	void (*state_changed)(gpointer user_data); /* for the control interface */
} SimPenSink;

typedef struct _SimPen SimPen;

SimPen *sim_pen_new(const SimPenConfig *cfg, const SimPenSink *sink, gpointer sink_data);
void sim_pen_free(SimPen *pen);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(SimPen, sim_pen_free)

const SimPenConfig *sim_pen_get_config(SimPen *pen);
/* "NeedlePen-XXXX": the last four hex digits of the serial number. */
const char *sim_pen_get_name(SimPen *pen);

/* Value of a readable characteristic (DIS strings, battery, features, status). */
GBytes *sim_pen_read(SimPen *pen, SimChr chr);
/* A Control Point write. Returns 0 or the ATT error the pen answers with;
 * the response comes later as an indication. */
guint8 sim_pen_control_write(SimPen *pen, const guint8 *value, gsize len);
/* The link's ATT MTU: notifications carry at most MTU - 3 bytes. */
void sim_pen_set_mtu(SimPen *pen, guint16 mtu);
/* The link went down or came up: an unfinished request is forgotten. */
void sim_pen_link_changed(SimPen *pen, gboolean up);

/* Treatment, driven by the scenario or the control interface. */
gboolean sim_pen_start_session(SimPen *pen, GError **error);
gboolean sim_pen_stop_session(SimPen *pen, guint8 reason, GError **error);
/* Sessions end on their own ("stopped on the pen") after this many records; 0: no limit. */
void sim_pen_set_session_limit(SimPen *pen, guint64 records);
void sim_pen_set_area(SimPen *pen, guint8 area);
void sim_pen_set_depth(SimPen *pen, guint16 depth);
void sim_pen_set_speed(SimPen *pen, guint16 speed);
void sim_pen_insert_cartridge(SimPen *pen, guint32 id, guint8 needles, guint16 use_count);
void sim_pen_remove_cartridge(SimPen *pen);
void sim_pen_raise_error(SimPen *pen, guint16 code);
void sim_pen_clear_error(SimPen *pen);
void sim_pen_set_battery(SimPen *pen, guint8 percent);
/* On the charger (state "charging") or off it; not during a session. */
gboolean sim_pen_set_charging(SimPen *pen, gboolean charging, GError **error);
void sim_pen_set_autorun(SimPen *pen, gboolean autorun);
/* TRUE: Control Point writes succeed and are never answered. */
void sim_pen_set_cp_silent(SimPen *pen, gboolean silent);
void sim_pen_set_rate(SimPen *pen, guint rate_hz);
/* Sends bytes as they are on a notify/indicate characteristic. */
void sim_pen_send_raw(SimPen *pen, SimChr chr, const guint8 *value, gsize len);

/* State for the control interface and tests. */
guint8 sim_pen_get_state(SimPen *pen);
guint16 sim_pen_get_session_id(SimPen *pen);
guint32 sim_pen_get_next_seq(SimPen *pen);
guint sim_pen_get_stored_count(SimPen *pen);
guint8 sim_pen_get_area(SimPen *pen);
guint8 sim_pen_get_battery(SimPen *pen);
guint32 sim_pen_get_cartridge_id(SimPen *pen);
guint16 sim_pen_get_error(SimPen *pen);
guint64 sim_pen_get_records_generated(SimPen *pen);
gboolean sim_pen_get_identifying(SimPen *pen);
gboolean sim_pen_get_clock_set(SimPen *pen);
gboolean sim_pen_get_limits(SimPen *pen, NpLimits *limits);

G_END_DECLS
