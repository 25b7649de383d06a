/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What the gateway says on MQTT: the payloads of bridge/… and pens/<pen_id>/…, into the outbox. */

#pragma once

#include <glib.h>

#include "ng-config.h"
#include "ng-outbox.h"
#include "ng-rules.h"
#include "ng-snapshot.h"
#include "ng-topics.h"
#include "np.h"

G_BEGIN_DECLS

/*
 * The publisher writes every payload of the MQTT contract (docs/mqtt-api.md, "MQTT
 * topics") from snapshots and structs: it knows no pen object, no BlueZ, no
 * plan store. The hub decides what is said and when; this file decides how.
 * Every payload is written into one reused buffer: no allocation per record.
 */
typedef struct _NgPublisher NgPublisher;

/* Gateway-wide counters for bridge/info, kept by the hub. */
typedef struct {
	guint64 records;    /* telemetry records published */
	guint64 replayed;   /* of those, replayed */
	guint64 duplicates; /* dropped */
	guint64 malformed;  /* malformed notifications (records, events, responses, status) */
	guint64 lost;	    /* records lost for good (telemetry_gap) */
	guint64 events;	    /* session events published */
	guint64 publish_errors;
} NgPublisherCounters;

/* @outbox may be NULL: payloads are written, then dropped (unit tests read them with
 * ng_publisher_set_tap ()). */
NgPublisher *ng_publisher_new(const NgConfig *config, const NgTopics *topics, NgOutbox *outbox);
void ng_publisher_free(NgPublisher *pub);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(NgPublisher, ng_publisher_free)

/* Every message handed to the outbox, also to @func (tests: golden payloads). */
typedef void (*NgPublisherTapFunc)(const char *topic, const char *payload, gsize len, int qos,
				   gboolean retain, gpointer user_data);
void ng_publisher_set_tap(NgPublisher *pub, NgPublisherTapFunc func, gpointer user_data);

NgPublisherCounters *ng_publisher_get_counters(NgPublisher *pub);
/* {"state":"offline"}: the last will's payload. */
const char *ng_publisher_offline_payload(void);

/* bridge/state online / offline (retained). */
void ng_publisher_online(NgPublisher *pub, gboolean online);
/* bridge/info (retained): version, hub, adapter, uptime, counters. */
void ng_publisher_info(NgPublisher *pub, const NgHubSnapshot *hub);
/* bridge/devices (retained): every pen served whose serial is known. */
void ng_publisher_devices(NgPublisher *pub, const NgPenSnapshot *pens, guint n_pens);
/* bridge/event: "paired", "connected", "disconnected", "removed", "refused"; @detail may be NULL. */
void ng_publisher_bridge_event(NgPublisher *pub, const char *event, const char *serial, const char *address,
			       const char *detail);
/* bridge/event "weak_link": the pen's RSSI stayed below [bluetooth] weak_link_dbm for weak_link_seconds;
 * @rssi_dbm the last reading, @detail a sentence for a person. */
void ng_publisher_weak_link(NgPublisher *pub, const char *serial, const char *address, int rssi_dbm,
			    const char *detail);
/* pens/<id>/state (retained); unchanged state is not sent again. @last_state keeps what was sent. */
void ng_publisher_pen_state(NgPublisher *pub, const NgPenTopics *topics, const NgPenSnapshot *pen,
			    char **last_state);
/* Empty retained payloads on pens/<id>/state and pens/<id>/session: the pen is gone from the hub. */
void ng_publisher_clear_pen(NgPublisher *pub, const NgPenTopics *topics);
/* An empty retained payload on @topic: the broker forgets what it retained there. */
void ng_publisher_clear_retained(NgPublisher *pub, const char *topic);

/* The hot path: one record, its time on the gateway clock. With [mqtt] telemetry_batch notification
 * (the default) the record joins the batch that ng_publisher_flush_telemetry () sends as one message:
 * call it after each notification. A record of another pen or session starts a new batch. */
void ng_publisher_telemetry(NgPublisher *pub, const NgPenTopics *topics, const char *serial,
			    const NpTelemetryRecord *rec, gint64 t_ms);
void ng_publisher_flush_telemetry(NgPublisher *pub);

/* How a session ended, for pens/<id>/session "ended". */
typedef struct {
	guint16 session_id;
	gint64 seq;		  /* the ended event's, -1: none (its end event was lost, or removed) */
	gint64 t_ms;		  /* gateway time of the end */
	guint64 pen_clock_ms;	  /* 0: unknown or never set */
	gint64 duration_ms;	  /* -1: unknown */
	const char *reason;	  /* "stopped", ..., "unknown", "removed" */
	gboolean end_event_lost;  /* the pen's ended event never came */
	guint8 area;		  /* where the pen was */
	const char *plan_id;	  /* NULL: none */
	const char *ended_fields; /* the summary's fields (ng_summary_json_append_ended_fields ()), or NULL */
} NgSessionEnd;

/* pens/<id>/session "started" (retained) and pens/<id>/event for every session event. */
void ng_publisher_session_started(NgPublisher *pub, const NgPenTopics *topics, const char *serial,
				  const NpSessionEvent *ev, gint64 t_ms, const char *plan_id);
void ng_publisher_session_ended(NgPublisher *pub, const NgPenTopics *topics, const char *serial,
				const NgSessionEnd *end);
void ng_publisher_pen_event(NgPublisher *pub, const NgPenTopics *topics, const char *serial,
			    const NpSessionEvent *ev, gint64 t_ms);
/* pens/<id>/alert: one rule engine finding, QoS 1, never dropped. A telemetry_gap alert names its
 * records with first_seq and last_seq. */
void ng_publisher_alert(NgPublisher *pub, const NgPenTopics *topics, const char *serial,
			const NgAlert *alert);

/* An alert as its JSON object (@pen NULL leaves "pen" out), and a list of them (the journal's). */
void ng_publisher_append_alert(GString *out, const NgAlert *alert, const char *pen);
char *ng_publisher_alerts_to_json(const NgAlert *alerts, guint n_alerts);

G_END_DECLS
