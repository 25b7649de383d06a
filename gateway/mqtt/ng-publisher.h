/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What the gateway says on MQTT: topics and payloads of bridge/… and pens/<pen_id>/…, into the outbox. */

#pragma once

#include <glib.h>

#include "ng-config.h"
#include "ng-outbox.h"
#include "ng-pen.h"
#include "np.h"

G_BEGIN_DECLS

/* Gateway-wide counters for bridge/info. */
typedef struct {
	guint64 records;    /* telemetry records published */
	guint64 replayed;   /* of those, replayed */
	guint64 duplicates; /* dropped */
	guint64 malformed;  /* malformed notifications (records, events, responses, status) */
	guint64 lost;	    /* records lost for good (telemetry_gap) */
	guint64 events;	    /* session events published */
	guint64 publish_errors;
} NgBridgeCounters;

/* Per pen topic names, made once when the pen's serial is known: no allocation per record. */
typedef struct {
	char *telemetry;
	char *session;
	char *state;
	char *alert;
	char *event;
	char *last_state; /* the last pens/<id>/state sent, without its time: unchanged state is not resent */
} NgPenTopics;

void ng_pen_topics_init(NgPenTopics *topics, NgBridge *bridge, const char *serial);
void ng_pen_topics_clear(NgPenTopics *topics);

/* outbox may be NULL: the bridge then only counts (unit tests). */
NgBridge *ng_bridge_new(const NgConfig *config, NgOutbox *outbox);
void ng_bridge_free(NgBridge *bridge);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(NgBridge, ng_bridge_free)

const char *ng_bridge_get_prefix(NgBridge *bridge);
/* bridge/state: the last will's topic and the two payloads. */
char *ng_bridge_dup_state_topic(NgBridge *bridge);
const char *ng_bridge_offline_payload(void);

/* Where the adapter and pen counts for bridge/info and bridge/devices come from. */
typedef struct _NgBluez NgBluez;
void ng_bridge_set_bluez(NgBridge *bridge, NgBluez *bluez);

NgBridgeCounters *ng_bridge_get_counters(NgBridge *bridge);

/* bridge/state online / offline (retained). */
void ng_bridge_publish_online(NgBridge *bridge, gboolean online);
/* bridge/info (retained): version, hub, adapter, uptime, counters. */
void ng_bridge_publish_info(NgBridge *bridge);
/* bridge/devices (retained): every pen served and its last known state. */
void ng_bridge_publish_devices(NgBridge *bridge);
/* bridge/event: "discovered", "connected", "disconnected", "removed", "refused". */
void ng_bridge_publish_bridge_event(NgBridge *bridge, NgPen *pen, const char *event, const char *detail);

/* The hot path: one record, its time on the gateway clock. With [mqtt] telemetry_batch > 1 the
 * record joins a batch that ng_bridge_flush_telemetry () sends: call it after each notification. */
void ng_bridge_publish_telemetry(NgBridge *bridge, const NgPenTopics *topics, const char *serial,
				 const NpTelemetryRecord *rec, gint64 t_ms);
void ng_bridge_flush_telemetry(NgBridge *bridge);
/* pens/<id>/session for started and ended (retained), pens/<id>/event for every event.
 * @plan_id: the session's plan (NULL: none). @ended_fields: for an ended event, the summary fields
 * (ng_check_get_ended_fields (): duration_s, reason, summary, alerts, aftercare, course, ...),
 * or NULL for the bare duration_s and reason. */
void ng_bridge_publish_session_event(NgBridge *bridge, NgPen *pen, const NgPenTopics *topics,
				     const NpSessionEvent *ev, gint64 t_ms, const char *plan_id,
				     const char *ended_fields);
/* pens/<id>/session "ended" for a session whose end event was lost: reason "unknown",
 * end_event_lost true, duration_s from the session's start on the gateway's clock; plan_id and
 * ended_fields as above. */
void ng_bridge_publish_lost_session_end(NgBridge *bridge, NgPen *pen, const NgPenTopics *topics,
					guint16 session_id, gint64 start_ms, gint64 t_ms, const char *plan_id,
					const char *ended_fields);
/* pens/<id>/alert: one rule engine finding (ng_rules_alert_to_json ()), QoS 1, never dropped. */
void ng_bridge_publish_alert(NgBridge *bridge, const char *topic, const char *payload, gsize len);
/* pens/<id>/state (retained). */
void ng_bridge_publish_pen_state(NgBridge *bridge, NgPen *pen, NgPenTopics *topics);
/* pens/<id>/alert telemetry_gap: the records first..last are lost for good. */
void ng_bridge_publish_gap_alert(NgBridge *bridge, NgPen *pen, const NgPenTopics *topics, guint16 session_id,
				 guint32 first, guint32 last, gint64 t_ms);

G_END_DECLS
