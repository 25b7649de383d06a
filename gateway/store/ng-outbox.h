/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The durable outbox: every message that must not be lost waits here until the broker acknowledged it. */
#pragma once

#include <glib.h>

#include "ng-store.h"

G_BEGIN_DECLS

#define NG_OUTBOX_ERROR (ng_outbox_error_quark())
GQuark ng_outbox_error_quark(void);

typedef enum {
	NG_OUTBOX_ERROR_FAILED,	      /* SQLite failure */
	NG_OUTBOX_ERROR_INVALID_ARGS, /* bad topic / qos; the message names the argument */
} NgOutboxError;

typedef enum {
	NG_OUTBOX_KIND_TELEMETRY, /* may be dropped (oldest first) when the outbox is full */
	NG_OUTBOX_KIND_EVENT,	  /* never dropped: session events, alerts, bridge events, responses */
	NG_OUTBOX_KIND_STATE, /* retained state: latest per topic wins, republished after each reconnect */
} NgOutboxKind;

typedef struct {
	guint64 queued;		   /* messages in the outbox now (waiting or in flight) */
	guint64 pushed;		   /* accepted by ng_outbox_push () since start */
	guint64 dropped_telemetry; /* telemetry dropped because the outbox was full, since start */
	guint64 replaced_state;	   /* unsent STATE messages superseded by a newer one for the same topic */
	guint64 published;	   /* handed to the MQTT client (resends after a reconnect count again) */
	guint64 acked;		   /* left the outbox: PUBACK for QoS 1, written to the socket for QoS 0 */
	guint64 rejected; /* refused by the broker (MQTT 5 PUBACK reason >= 0x80, e.g. not authorized) */
} NgOutboxCounters;

typedef struct _NgOutbox NgOutbox;

/*
 * Opens the outbox on @store (creates its table; loads the messages a previous run left, in
 * order, so they are sent again). @max_messages bounds the outbox: when full, the oldest
 * TELEMETRY is dropped (and counted); EVENT and STATE messages are never dropped, so the outbox
 * exceeds the bound only when nothing but events and state remain.
 */
NgOutbox *ng_outbox_new(NgStore *store, guint64 max_messages, GError **error);
void ng_outbox_free(NgOutbox *outbox);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(NgOutbox, ng_outbox_free)

/*
 * Queues one message. It is sent as soon as the MQTT client is connected (it need not wait for
 * the commit), and written to disk in the store's next transaction unless it was acknowledged
 * before that: a message the broker acknowledged within the ~10 ms commit window never touches
 * the disk. Order is kept per topic. @payload is copied. @qos is 0 or 1.
 * Durability: write your own state that depends on this message (e.g. a pen's last sequence
 * number) in the same store transaction (i.e. before the next main loop iteration) and call
 * ng_store_touch (); ng_outbox_push () touches the store itself.
 */
gboolean ng_outbox_push(NgOutbox *outbox, NgOutboxKind kind, const char *topic, const char *payload,
			gsize payload_len, int qos, gboolean retain, GError **error);

/* A response to an MQTT 5 request: an EVENT at QoS 1, not retained, carrying the request's
 * @correlation_data (copied; NULL: none, e.g. MQTT 3.1.1) so the requester can match it. The
 * correlation data is kept with the message (on disk too) and sent only over MQTT 5. */
gboolean ng_outbox_push_response(NgOutbox *outbox, const char *topic, const char *payload, gsize payload_len,
				 GBytes *correlation_data, GError **error);

void ng_outbox_get_counters(NgOutbox *outbox, NgOutboxCounters *counters);
guint64 ng_outbox_get_max_messages(NgOutbox *outbox);

/* ---- transport side: used by ng-mqtt.c, not by the rest of the daemon -------------------- */

typedef struct _NgOutboxMessage NgOutboxMessage;

const char *ng_outbox_message_get_topic(const NgOutboxMessage *msg);
const void *ng_outbox_message_get_payload(const NgOutboxMessage *msg, gsize *len);
int ng_outbox_message_get_qos(const NgOutboxMessage *msg);
gboolean ng_outbox_message_get_retain(const NgOutboxMessage *msg);
/* Unique for the outbox's lifetime; the transport's key for acknowledgements. */
guint64 ng_outbox_message_get_serial(const NgOutboxMessage *msg);
/* The MQTT 5 correlation data (@len bytes), or NULL if the message has none. */
const void *ng_outbox_message_get_correlation_data(const NgOutboxMessage *msg, gsize *len);

/* Called (on the main loop) when a message was queued and nothing was waiting before. */
typedef void (*NgOutboxReadyFunc)(NgOutbox *outbox, gpointer user_data);
void ng_outbox_set_ready_handler(NgOutbox *outbox, NgOutboxReadyFunc func, gpointer user_data);

/* Called (on the main loop) at each commit, before the outbox writes its rows: the transport
 * applies the acknowledgements it has received (ng_outbox_acked () only: no other call into the
 * outbox or the store from there), so that what the broker already has is never written. */
typedef void (*NgOutboxSyncFunc)(NgOutbox *outbox, gpointer user_data);
void ng_outbox_set_sync_handler(NgOutbox *outbox, NgOutboxSyncFunc func, gpointer user_data);

/* TRUE if the latest STATE pushed on @topic is @payload and the broker acknowledged it (nothing on
 * @topic waits or is in flight). E.g. a clean stop that published "offline" needs no last will. */
gboolean ng_outbox_state_is_delivered(NgOutbox *outbox, const char *topic, const char *payload);

/* The next message to send, moved to "in flight"; NULL if none waits. Owned by the outbox, valid
 * until it is acknowledged, or returned by ng_outbox_requeue_in_flight ()/ng_outbox_send_failed (). */
NgOutboxMessage *ng_outbox_take_next(NgOutbox *outbox);
guint ng_outbox_get_in_flight(NgOutbox *outbox);
/* The broker acknowledged message @serial: it leaves the outbox. Unknown serials are ignored. */
void ng_outbox_acked(NgOutbox *outbox, guint64 serial);
/* The broker refused message @serial (MQTT 5 PUBACK with an error reason): resending cannot help,
 * it leaves the outbox and is counted as rejected. */
void ng_outbox_rejected(NgOutbox *outbox, guint64 serial);
/* The send of @serial failed on a live connection: it goes back to the head of the queue. */
void ng_outbox_send_failed(NgOutbox *outbox, guint64 serial);
/* The connection was lost: everything in flight goes back, in order, ahead of the waiting ones. */
void ng_outbox_requeue_in_flight(NgOutbox *outbox);
/* A (re)connection is up: queue the latest message of every STATE topic that is not already
 * waiting, ahead of the others (retained state is republished after every reconnect). */
void ng_outbox_republish_state(NgOutbox *outbox);

G_END_DECLS
