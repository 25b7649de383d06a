/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The MQTT client: paho-c MQTTAsync driven from the GLib main loop, draining the outbox.
 *
 * THREADS. paho-c calls every callback (connect success/failure, connection lost, publish
 * acknowledged/failed, message arrived) from its own threads. None of those callbacks touches
 * gateway state: each one only fills a freshly allocated NgMqttEvent (or the one it was given as
 * context) and posts it with ng_mqtt_post () to a GAsyncQueue, waking the GLib main context. The
 * main loop drains the queue in ng_mqtt_dispatch () and does all the work there: the outbox, the
 * handlers, the reconnect timer. The main thread calls paho (connect, sendMessage, subscribe,
 * disconnect), which paho allows from any thread.
 *
 * Flow: the outbox's ready handler (deferred to the end of the main loop iteration, so that the
 * messages of one wake-up reach paho together) and every acknowledgement call ng_mqtt_drain (),
 * which hands waiting messages to paho while fewer than NG_MQTT_WINDOW are in flight. A message leaves the
 * outbox on its acknowledgement (PUBACK for QoS 1, written for QoS 0). When the connection is
 * lost, everything in flight goes back to the outbox queue and is sent again after the reconnect
 * (clean session; QoS 1 duplicates possible, losses not).
 *
 * Two paho behaviours shape this file: (1) paho keeps publish commands it had not written yet
 * across a connection loss and sends them after the reconnect, behind our back; so each connection
 * attempt gets a fresh MQTTAsync handle and the outbox alone decides what is resent. (2) When more
 * publishes are queued than the broker's Receive Maximum (mosquitto: 20), paho's send thread only
 * picks up the rest once a second; so the window never exceeds the Receive Maximum from CONNACK.
 */
#include "config.h"

#include "ng-mqtt.h"

#include <MQTTAsync.h>
#include <gio/gio.h>
#include <errno.h>
#include <string.h>

#define NG_MQTT_WINDOW	      512 /* messages handed to paho and not yet acknowledged */
#define NG_MQTT_BACKOFF_MIN_S 1
#define NG_MQTT_BACKOFF_MAX_S 30
/* While a reconnection waits longer than this, a TCP connect to the broker every this often
 * (cheap: no TLS, no MQTT; refused at once while it is down) tells when it is back, and the
 * reconnection starts at once. */
#define NG_MQTT_PROBE_MS	  1000
#define NG_MQTT_HOLD_MS		  200 /* pause after paho refused a send synchronously */
#define NG_MQTT_CONNECT_TIMEOUT_S 10
#define NG_MQTT_SHUTDOWN_MS	  1500 /* how long ng_mqtt_free () waits for acknowledgements */
/* Acknowledgements are applied at the next wake-up, at most this late, or when this many wait. */
#define NG_MQTT_ACK_DELAY_MS 100
#define NG_MQTT_ACK_BATCH    64
/* A SUBSCRIBED event's serial: the subscription of ng_mqtt_read_retained_async () */
#define NG_MQTT_RETAINED_READ 1

typedef enum {
	NG_MQTT_EVENT_CONNECTED,
	NG_MQTT_EVENT_CONNECT_FAILED,
	NG_MQTT_EVENT_LOST,
	NG_MQTT_EVENT_ACKED,
	NG_MQTT_EVENT_SEND_FAILED,
	NG_MQTT_EVENT_MESSAGE,
	NG_MQTT_EVENT_SUBSCRIBED,
	NG_MQTT_EVENT_SUBSCRIBE_FAILED,
	NG_MQTT_EVENT_DISCONNECTED,
} NgMqttEventType;

typedef enum {
	NG_MQTT_STATE_IDLE, /* not started, or waiting for the reconnect timer */
	NG_MQTT_STATE_CONNECTING,
	NG_MQTT_STATE_CONNECTED,
} NgMqttState;

/* One event from a paho thread to the main loop. Events given to paho as a callback context are
 * also linked in mqtt->outstanding (main thread only) so that none leaks if paho never calls back. */
typedef struct {
	GList link;
	gboolean outstanding;
	NgMqtt *mqtt;
	NgMqttEventType type;
	guint generation;  /* of the connection the request was made on */
	guint64 serial;	   /* outbox message, for ACKED / SEND_FAILED */
	int code;	   /* paho return code */
	int reason;	   /* MQTT 5 reason code, 0 if none */
	char *text;	   /* failure text, or the topic of a MESSAGE */
	GBytes *payload;   /* MESSAGE: the payload plus a NUL */
	gboolean retained; /* MESSAGE: a retained message (sent on subscribing) */
	char *response_topic;
	GBytes *correlation_data;
} NgMqttEvent;

typedef struct {
	GSource source;
	NgMqtt *mqtt;
} NgMqttSource;

struct _NgMqtt {
	MQTTAsync client;
	NgOutbox *outbox;
	GMainContext *context;
	GSource *source;
	GAsyncQueue *events;
	GQueue backlog;	    /* events taken off @events by ng_mqtt_sync_cb () but not handled yet, in order */
	GQueue outstanding; /* NgMqttEvent given to paho as context */
	gboolean drain_wanted; /* messages wait, or acknowledgements made room: send at the next dispatch */
	struct {
		GTask *task; /* NULL: no read runs */
		char *prefix;
		GHashTable *found; /* topic -> GBytes */
		guint timer_id;
		guint generation;
	} retained; /* ng_mqtt_read_retained_async () */
	NgMqttState state;
	guint generation;
	guint window;	   /* in-flight limit of this connection: min (NG_MQTT_WINDOW, Receive Maximum) */
	gint ack_wake_len; /* atomic: an acknowledgement wakes the main loop when this many events wait */
	guint backoff_s;
	GSource *reconnect_source;
	GSource *probe_source;
	GCancellable *probe_cancel; /* the probe's connect in flight */
	GSource *hold_source;
	gboolean logged_failure; /* the current outage was logged above debug */
	gboolean client_used;	 /* the handle has connected once: the next attempt needs a fresh one */
	guint64 rejected_logged;
	/* configuration (copied) */
	char *server_uri;  /* tcp://host:port or ssl://host:port, for paho */
	char *display_url; /* for logs: no credentials */
	char *host;	   /* the broker, for the probe */
	guint16 port;
	gboolean tls;
	int mqtt_version;
	int keepalive_s;
	char *client_id;
	char *username;
	char *password;
	char *ca_file;
	char *cert_file;
	char *key_file;
	char *will_topic;
	char *will_payload;
	char *request_topic_filter;
	NgMqttConnectionFunc connection_func;
	gpointer connection_data;
	NgMqttRequestFunc request_func;
	gpointer request_data;
};

G_DEFINE_QUARK(ng_mqtt_error_quark, ng_mqtt_error)

static void ng_mqtt_schedule_reconnect(NgMqtt *mqtt);
static void ng_mqtt_retained_done(NgMqtt *mqtt, GError *error);

static void
ng_mqtt_source_destroy(GSource *source)
{
	g_source_destroy(source);
	g_source_unref(source);
}
static void ng_mqtt_drain(NgMqtt *mqtt);

/* ---- events: the only thing paho's threads touch -------------------------------------------- */

static NgMqttEvent *
ng_mqtt_event_new(NgMqtt *mqtt, NgMqttEventType type)
{
	NgMqttEvent *ev = g_new0(NgMqttEvent, 1);

	ev->link.data = ev;
	ev->mqtt = mqtt;
	ev->type = type;
	ev->generation = mqtt->generation;
	return ev;
}

/* Main thread: an event used as a paho callback context. */
static NgMqttEvent *
ng_mqtt_event_new_outstanding(NgMqtt *mqtt, NgMqttEventType type)
{
	NgMqttEvent *ev = ng_mqtt_event_new(mqtt, type);

	g_queue_push_tail_link(&mqtt->outstanding, &ev->link);
	ev->outstanding = TRUE;
	return ev;
}

/* Main thread only. */
static void
ng_mqtt_event_free(NgMqttEvent *ev)
{
	if (ev->outstanding)
		g_queue_unlink(&ev->mqtt->outstanding, &ev->link);
	g_free(ev->text);
	g_free(ev->response_topic);
	g_clear_pointer(&ev->payload, g_bytes_unref);
	g_clear_pointer(&ev->correlation_data, g_bytes_unref);
	g_free(ev);
}

/* Main thread: the next event paho posted, if any. Once posted, paho no longer holds it. */
static NgMqttEvent *
ng_mqtt_pop_posted(NgMqtt *mqtt, guint64 timeout_us)
{
	NgMqttEvent *ev = timeout_us > 0 ? g_async_queue_timeout_pop(mqtt->events, timeout_us)
					 : g_async_queue_try_pop(mqtt->events);

	if (ev != NULL && ev->outstanding) {
		g_queue_unlink(&mqtt->outstanding, &ev->link);
		ev->outstanding = FALSE;
	}
	return ev;
}

/* Main thread: the next event to handle, in the order paho posted them. */
static NgMqttEvent *
ng_mqtt_take_event(NgMqtt *mqtt, guint64 timeout_us)
{
	if (mqtt->backlog.head != NULL)
		return g_queue_pop_head_link(&mqtt->backlog)->data;
	return ng_mqtt_pop_posted(mqtt, timeout_us);
}

/* Main thread: how many acknowledgements may wait before one wakes the main loop. Normally many
 * (the next wake-up or commit applies them, see ng_mqtt_post ()); while messages may wait for room
 * in the window, every one (waiting for several stalled bursts by tens of ms in the benchmark). */
static void
ng_mqtt_set_ack_wake(NgMqtt *mqtt, gboolean window_full)
{
	g_atomic_int_set(&mqtt->ack_wake_len, window_full ? 1 : NG_MQTT_ACK_BATCH);
}

/* Any thread: hands @ev to the main loop; wakes it only if the queue was empty. */
static void
ng_mqtt_post(NgMqtt *mqtt, NgMqttEvent *ev)
{
	/* read before the push: from then on the main thread may free @ev at any time */
	gboolean is_ack = ev->type == NG_MQTT_EVENT_ACKED;
	gboolean wake;
	gint len;

	g_async_queue_lock(mqtt->events);
	g_async_queue_push_unlocked(mqtt->events, ev);
	len = g_async_queue_length_unlocked(mqtt->events);
	g_async_queue_unlock(mqtt->events);
	/* An acknowledgement need not wake the main loop: the broker has the message already. It is
	 * picked up at the next wake-up (the next notification, the store's commit, which applies
	 * them before writing anything, or at most NG_MQTT_ACK_DELAY_MS later), saving a wake-up per
	 * message; unless messages wait for room in the window (see ng_mqtt_set_ack_wake ()). */
	if (is_ack)
		wake = len >= g_atomic_int_get(&mqtt->ack_wake_len);
	else
		wake = TRUE;
	if (wake)
		g_main_context_wakeup(mqtt->context);
}

/* paho thread */
static void
ng_mqtt_on_connect(void *context, MQTTAsync_successData *response)
{
	NgMqttEvent *ev = context;

	ng_mqtt_post(ev->mqtt, ev);
}

/* paho thread */
static void
ng_mqtt_on_connect5(void *context, MQTTAsync_successData5 *response)
{
	NgMqttEvent *ev = context;

	if (response != NULL &&
	    MQTTProperties_hasProperty(&response->properties, MQTTPROPERTY_CODE_RECEIVE_MAXIMUM))
		ev->code =
		    MQTTProperties_getNumericValue(&response->properties, MQTTPROPERTY_CODE_RECEIVE_MAXIMUM);
	ng_mqtt_post(ev->mqtt, ev);
}

/* paho thread */
static void
ng_mqtt_on_connect_failure(void *context, MQTTAsync_failureData *response)
{
	NgMqttEvent *ev = context;

	ev->type = NG_MQTT_EVENT_CONNECT_FAILED;
	if (response != NULL) {
		ev->code = response->code;
		ev->text = g_strdup(response->message);
	}
	ng_mqtt_post(ev->mqtt, ev);
}

/* paho thread */
static void
ng_mqtt_on_connect_failure5(void *context, MQTTAsync_failureData5 *response)
{
	NgMqttEvent *ev = context;

	ev->type = NG_MQTT_EVENT_CONNECT_FAILED;
	if (response != NULL) {
		ev->code = response->code;
		ev->reason = response->reasonCode;
		ev->text = g_strdup(response->message);
	}
	ng_mqtt_post(ev->mqtt, ev);
}

/* paho thread: publish, subscribe and disconnect results share these (the event type says which) */
static void
ng_mqtt_on_success(void *context, MQTTAsync_successData *response)
{
	NgMqttEvent *ev = context;

	ng_mqtt_post(ev->mqtt, ev);
}

/* paho thread */
static void
ng_mqtt_on_success5(void *context, MQTTAsync_successData5 *response)
{
	NgMqttEvent *ev = context;

	ng_mqtt_post(ev->mqtt, ev);
}

static NgMqttEventType
ng_mqtt_failure_type(NgMqttEventType type)
{
	switch (type) {
	case NG_MQTT_EVENT_ACKED:
		return NG_MQTT_EVENT_SEND_FAILED;
	case NG_MQTT_EVENT_SUBSCRIBED:
		return NG_MQTT_EVENT_SUBSCRIBE_FAILED;
	case NG_MQTT_EVENT_CONNECTED:
		return NG_MQTT_EVENT_CONNECT_FAILED;
	case NG_MQTT_EVENT_CONNECT_FAILED:
	case NG_MQTT_EVENT_LOST:
	case NG_MQTT_EVENT_SEND_FAILED:
	case NG_MQTT_EVENT_MESSAGE:
	case NG_MQTT_EVENT_SUBSCRIBE_FAILED:
	case NG_MQTT_EVENT_DISCONNECTED:
		return type;
	}
	return type;
}

/* paho thread */
static void
ng_mqtt_on_failure(void *context, MQTTAsync_failureData *response)
{
	NgMqttEvent *ev = context;

	ev->type = ng_mqtt_failure_type(ev->type);
	if (response != NULL) {
		ev->code = response->code;
		ev->text = g_strdup(response->message);
	}
	ng_mqtt_post(ev->mqtt, ev);
}

/* paho thread */
static void
ng_mqtt_on_failure5(void *context, MQTTAsync_failureData5 *response)
{
	NgMqttEvent *ev = context;

	ev->type = ng_mqtt_failure_type(ev->type);
	if (response != NULL) {
		ev->code = response->code;
		ev->reason = response->reasonCode;
		ev->text = g_strdup(response->message);
	}
	ng_mqtt_post(ev->mqtt, ev);
}

/* paho thread */
static void
ng_mqtt_on_connection_lost(void *context, char *cause)
{
	NgMqtt *mqtt = context;
	NgMqttEvent *ev = ng_mqtt_event_new(mqtt, NG_MQTT_EVENT_LOST);

	ev->text = g_strdup(cause);
	ng_mqtt_post(mqtt, ev);
}

static char *
ng_mqtt_property_string(MQTTProperties *props, enum MQTTPropertyCodes code, gsize *len)
{
	MQTTProperty *prop = MQTTProperties_getProperty(props, code);

	if (prop == NULL || prop->value.data.data == NULL)
		return NULL;
	*len = prop->value.data.len;
	return prop->value.data.data;
}

/* paho thread: copies everything out of paho's message and hands it over */
static int
ng_mqtt_on_message(void *context, char *topic, int topic_len, MQTTAsync_message *message)
{
	NgMqtt *mqtt = context;
	NgMqttEvent *ev = ng_mqtt_event_new(mqtt, NG_MQTT_EVENT_MESSAGE);
	gsize len = message->payloadlen > 0 ? (gsize)message->payloadlen : 0;
	char *payload = g_malloc(len + 1);
	const char *prop;
	gsize prop_len = 0;

	ev->text = topic_len > 0 ? g_strndup(topic, topic_len) : g_strdup(topic);
	if (len > 0)
		memcpy(payload, message->payload, len);
	payload[len] = '\0';
	ev->payload = g_bytes_new_take(payload, len + 1);
	ev->retained = message->retained != 0;
	prop = ng_mqtt_property_string(&message->properties, MQTTPROPERTY_CODE_RESPONSE_TOPIC, &prop_len);
	if (prop != NULL)
		ev->response_topic = g_strndup(prop, prop_len);
	prop = ng_mqtt_property_string(&message->properties, MQTTPROPERTY_CODE_CORRELATION_DATA, &prop_len);
	if (prop != NULL)
		ev->correlation_data = g_bytes_new(prop, prop_len);
	MQTTAsync_freeMessage(&message);
	MQTTAsync_free(topic);
	ng_mqtt_post(mqtt, ev);
	return 1;
}

/* ---- main loop side ------------------------------------------------------------------------- */

static void
ng_mqtt_set_callbacks(MQTTAsync_responseOptions *opts, NgMqtt *mqtt, NgMqttEvent *ev)
{
	opts->context = ev;
	if (mqtt->mqtt_version == MQTTVERSION_5) {
		opts->onSuccess5 = ng_mqtt_on_success5;
		opts->onFailure5 = ng_mqtt_on_failure5;
	} else {
		opts->onSuccess = ng_mqtt_on_success;
		opts->onFailure = ng_mqtt_on_failure;
	}
}

static gboolean
ng_mqtt_hold_cb(gpointer user_data)
{
	NgMqtt *mqtt = user_data;

	g_clear_pointer(&mqtt->hold_source, g_source_unref);
	ng_mqtt_drain(mqtt);
	return G_SOURCE_REMOVE;
}

/* paho refused a send synchronously (its buffers are full, or the connection just went):
 * try again shortly rather than in a hot loop */
static void
ng_mqtt_hold(NgMqtt *mqtt)
{
	if (mqtt->hold_source != NULL)
		return;
	mqtt->hold_source = g_timeout_source_new(NG_MQTT_HOLD_MS);
	g_source_set_static_name(mqtt->hold_source, "ng-mqtt-hold");
	g_source_set_callback(mqtt->hold_source, ng_mqtt_hold_cb, mqtt, NULL);
	g_source_attach(mqtt->hold_source, mqtt->context);
}

/* A response echoes its request's correlation data (MQTT 5 only: 3.1.1 has no properties). */
static void
ng_mqtt_add_correlation(NgMqtt *mqtt, NgOutboxMessage *msg, MQTTProperties *props)
{
	MQTTProperty prop = {.identifier = MQTTPROPERTY_CODE_CORRELATION_DATA};
	gsize len = 0;
	const void *data = ng_outbox_message_get_correlation_data(msg, &len);

	if (data == NULL || mqtt->mqtt_version != MQTTVERSION_5)
		return;
	prop.value.data.data = (char *)data;
	prop.value.data.len = (int)len;
	if (MQTTProperties_add(props, &prop) != 0)
		g_warning("MQTT: cannot add the correlation data to the answer on %s",
			  ng_outbox_message_get_topic(msg));
}

static gboolean
ng_mqtt_send(NgMqtt *mqtt, NgOutboxMessage *msg)
{
	MQTTAsync_responseOptions opts = MQTTAsync_responseOptions_initializer;
	MQTTAsync_message pubmsg = MQTTAsync_message_initializer;
	NgMqttEvent *ev = ng_mqtt_event_new_outstanding(mqtt, NG_MQTT_EVENT_ACKED);
	gsize len = 0;
	int rc;

	ev->serial = ng_outbox_message_get_serial(msg);
	ng_mqtt_set_callbacks(&opts, mqtt, ev);
	pubmsg.payload = (void *)ng_outbox_message_get_payload(msg, &len);
	pubmsg.payloadlen = (int)len;
	pubmsg.qos = ng_outbox_message_get_qos(msg);
	pubmsg.retained = ng_outbox_message_get_retain(msg);
	ng_mqtt_add_correlation(mqtt, msg, &pubmsg.properties);
	rc = MQTTAsync_sendMessage(mqtt->client, ng_outbox_message_get_topic(msg), &pubmsg, &opts);
	/* paho copied the properties into its own command */
	MQTTProperties_free(&pubmsg.properties);
	if (rc != MQTTASYNC_SUCCESS) {
		g_debug("MQTT: send to %s refused: %s", ng_outbox_message_get_topic(msg),
			MQTTAsync_strerror(rc));
		ng_mqtt_event_free(ev);
		ng_outbox_send_failed(mqtt->outbox, ng_outbox_message_get_serial(msg));
		ng_mqtt_hold(mqtt);
		return FALSE;
	}
	return TRUE;
}

static void
ng_mqtt_drain(NgMqtt *mqtt)
{
	if (mqtt->state != NG_MQTT_STATE_CONNECTED || mqtt->hold_source != NULL)
		return;
	while (ng_outbox_get_in_flight(mqtt->outbox) < mqtt->window) {
		NgOutboxMessage *msg = ng_outbox_take_next(mqtt->outbox);
		if (msg == NULL || !ng_mqtt_send(mqtt, msg)) {
			ng_mqtt_set_ack_wake(mqtt, FALSE);
			return;
		}
	}
	ng_mqtt_set_ack_wake(mqtt, TRUE);
}

/* Messages wait: send them once this main loop iteration is over (ng_mqtt_source_dispatch () in the
 * next one, without blocking), so that what every pen's notification of this wake-up produced
 * reaches paho in one burst, and its send thread wakes once for all of them. */
static void
ng_mqtt_outbox_ready_cb(NgOutbox *outbox, gpointer user_data)
{
	NgMqtt *mqtt = user_data;

	mqtt->drain_wanted = TRUE;
}

/* The store is about to commit: apply the acknowledgements paho posted, so that messages the broker
 * has are never written. Only those: anything else waits, in order, for ng_mqtt_source_dispatch ()
 * (a commit hook must not run handlers); sending what now fits waits for it too. */
static void
ng_mqtt_sync_cb(NgOutbox *outbox, gpointer user_data)
{
	NgMqtt *mqtt = user_data;
	NgMqttEvent *ev;

	while ((ev = ng_mqtt_pop_posted(mqtt, 0)) != NULL) {
		if (ev->type != NG_MQTT_EVENT_ACKED) {
			g_queue_push_tail_link(&mqtt->backlog, &ev->link);
			continue;
		}
		ng_outbox_acked(mqtt->outbox, ev->serial);
		mqtt->drain_wanted = TRUE;
		ng_mqtt_event_free(ev);
	}
}

static void
ng_mqtt_subscribe_requests(NgMqtt *mqtt)
{
	MQTTAsync_responseOptions opts = MQTTAsync_responseOptions_initializer;
	NgMqttEvent *ev;
	int rc;

	if (mqtt->request_topic_filter == NULL)
		return;
	ev = ng_mqtt_event_new_outstanding(mqtt, NG_MQTT_EVENT_SUBSCRIBED);
	ng_mqtt_set_callbacks(&opts, mqtt, ev);
	rc = MQTTAsync_subscribe(mqtt->client, mqtt->request_topic_filter, 1, &opts);
	if (rc != MQTTASYNC_SUCCESS) {
		g_message("MQTT: cannot subscribe to %s: %s", mqtt->request_topic_filter,
			  MQTTAsync_strerror(rc));
		ng_mqtt_event_free(ev);
	}
}

static void
ng_mqtt_handle_connected(NgMqtt *mqtt, NgMqttEvent *ev)
{
	if (ev->generation != mqtt->generation || mqtt->state != NG_MQTT_STATE_CONNECTING)
		return;
	mqtt->state = NG_MQTT_STATE_CONNECTED;
	mqtt->window = ev->code > 0 ? MIN(NG_MQTT_WINDOW, (guint)ev->code) : NG_MQTT_WINDOW;
	g_debug("MQTT: in-flight window %u", mqtt->window);
	mqtt->backoff_s = NG_MQTT_BACKOFF_MIN_S;
	mqtt->logged_failure = FALSE;
	g_message("MQTT: connected to %s (MQTT %s)", mqtt->display_url,
		  mqtt->mqtt_version == MQTTVERSION_5 ? "5" : "3.1.1");
	ng_mqtt_subscribe_requests(mqtt);
	ng_outbox_republish_state(mqtt->outbox);
	if (mqtt->connection_func != NULL)
		mqtt->connection_func(mqtt, TRUE, mqtt->connection_data);
	ng_mqtt_drain(mqtt);
}

static void
ng_mqtt_handle_connect_failed(NgMqtt *mqtt, NgMqttEvent *ev)
{
	if (ev->generation != mqtt->generation || mqtt->state != NG_MQTT_STATE_CONNECTING)
		return;
	mqtt->state = NG_MQTT_STATE_IDLE;
	if (!mqtt->logged_failure) {
		g_message("MQTT: cannot connect to %s: %s (%d); retrying with backoff", mqtt->display_url,
			  ev->text != NULL ? ev->text : MQTTAsync_strerror(ev->code),
			  ev->reason != 0 ? ev->reason : ev->code);
		mqtt->logged_failure = TRUE;
	} else {
		g_debug("MQTT: connect to %s failed again: %s", mqtt->display_url,
			ev->text != NULL ? ev->text : MQTTAsync_strerror(ev->code));
	}
	ng_mqtt_schedule_reconnect(mqtt);
}

static void ng_mqtt_destroy_client(NgMqtt *mqtt);

/* The connection is gone (or unusable): everything in flight goes back, in order, for the next one. */
static void
ng_mqtt_connection_lost(NgMqtt *mqtt, const char *why)
{
	if (mqtt->state != NG_MQTT_STATE_CONNECTED)
		return;
	mqtt->state = NG_MQTT_STATE_IDLE;
	mqtt->generation++;
	g_clear_pointer(&mqtt->hold_source, ng_mqtt_source_destroy);
	ng_outbox_requeue_in_flight(mqtt->outbox);
	ng_mqtt_retained_done(mqtt, g_error_new(NG_MQTT_ERROR, NG_MQTT_ERROR_NOT_CONNECTED,
						"the connection to the broker was lost: try again"));
	g_message("MQTT: lost the connection to %s: %s; reconnecting", mqtt->display_url, why);
	mqtt->logged_failure = TRUE;
	if (mqtt->connection_func != NULL)
		mqtt->connection_func(mqtt, FALSE, mqtt->connection_data);
	ng_mqtt_schedule_reconnect(mqtt);
}

static void
ng_mqtt_handle_lost(NgMqtt *mqtt, NgMqttEvent *ev)
{
	ng_mqtt_connection_lost(mqtt, ev->text != NULL ? ev->text : "connection closed");
}

static void
ng_mqtt_handle_send_failed(NgMqtt *mqtt, NgMqttEvent *ev)
{
	if (ev->reason >= 0x80) {
		/* the broker refused this message (MQTT 5 PUBACK): resending cannot help */
		if (mqtt->rejected_logged++ == 0)
			g_warning("MQTT: the broker refused a message (reason 0x%02x); such messages are "
				  "counted as rejected",
				  ev->reason);
		ng_outbox_rejected(mqtt->outbox, ev->serial);
		ng_mqtt_drain(mqtt);
		return;
	}
	/* a send interrupted by a lost connection is already back in the queue */
	if (ev->generation != mqtt->generation || mqtt->state != NG_MQTT_STATE_CONNECTED)
		return;
	/* paho gives up on a publish when the connection is going (e.g. the broker shuts down), often
	 * before it reports the loss. Resending on that connection could overtake: drop the handle,
	 * with everything it still queued, and start again in order on a new connection. */
	g_debug("MQTT: send failed (%s)", MQTTAsync_strerror(ev->code));
	ng_mqtt_connection_lost(mqtt, "a publish failed");
	ng_mqtt_destroy_client(mqtt);
}

/* Ends the read of retained messages: with what came (@error NULL) or @error. */
static void
ng_mqtt_retained_done(NgMqtt *mqtt, GError *error)
{
	g_autoptr(GTask) task = g_steal_pointer(&mqtt->retained.task);
	g_autofree char *filter = NULL;

	if (task == NULL) {
		g_clear_error(&error);
		return;
	}
	g_clear_handle_id(&mqtt->retained.timer_id, g_source_remove);
	filter = g_strconcat(mqtt->retained.prefix, "#", NULL);
	if (mqtt->client != NULL && mqtt->state == NG_MQTT_STATE_CONNECTED &&
	    mqtt->retained.generation == mqtt->generation)
		MQTTAsync_unsubscribe(mqtt->client, filter, NULL);
	g_clear_pointer(&mqtt->retained.prefix, g_free);
	if (error != NULL) {
		g_clear_pointer(&mqtt->retained.found, g_hash_table_unref);
		g_task_return_error(task, error);
		return;
	}
	g_task_return_pointer(task, g_steal_pointer(&mqtt->retained.found),
			      (GDestroyNotify)g_hash_table_unref);
}

static gboolean
ng_mqtt_retained_timer_cb(gpointer user_data)
{
	NgMqtt *mqtt = user_data;

	mqtt->retained.timer_id = 0;
	ng_mqtt_retained_done(mqtt, NULL);
	return G_SOURCE_REMOVE;
}

void
ng_mqtt_read_retained_async(NgMqtt *mqtt, const char *prefix, guint wait_ms, GAsyncReadyCallback callback,
			    gpointer user_data)
{
	g_autoptr(GTask) task = g_task_new(NULL, NULL, callback, user_data);
	MQTTAsync_responseOptions opts = MQTTAsync_responseOptions_initializer;
	g_autofree char *filter = g_strconcat(prefix, "#", NULL);
	NgMqttEvent *ev;
	int rc;

	g_task_set_source_tag(task, ng_mqtt_read_retained_async);
	g_task_set_task_data(task, GUINT_TO_POINTER(wait_ms), NULL);
	if (mqtt->state != NG_MQTT_STATE_CONNECTED) {
		g_task_return_new_error(
		    task, NG_MQTT_ERROR, NG_MQTT_ERROR_NOT_CONNECTED,
		    "the hub is not connected to the broker (%s) now: try again when it is",
		    mqtt->display_url);
		return;
	}
	if (mqtt->retained.task != NULL) {
		g_task_return_new_error(task, NG_MQTT_ERROR, NG_MQTT_ERROR_BUSY,
					"another read of the broker's retained messages runs: try again");
		return;
	}
	ev = ng_mqtt_event_new_outstanding(mqtt, NG_MQTT_EVENT_SUBSCRIBED);
	ev->serial = NG_MQTT_RETAINED_READ;
	ng_mqtt_set_callbacks(&opts, mqtt, ev);
	rc = MQTTAsync_subscribe(mqtt->client, filter, 1, &opts);
	if (rc != MQTTASYNC_SUCCESS) {
		ng_mqtt_event_free(ev);
		g_task_return_new_error(task, NG_MQTT_ERROR, NG_MQTT_ERROR_FAILED,
					"cannot subscribe to %s: %s", filter, MQTTAsync_strerror(rc));
		return;
	}
	mqtt->retained.task = g_steal_pointer(&task);
	mqtt->retained.prefix = g_strdup(prefix);
	mqtt->retained.found =
	    g_hash_table_new_full(g_str_hash, g_str_equal, g_free, (GDestroyNotify)g_bytes_unref);
	mqtt->retained.generation = mqtt->generation;
}

GHashTable *
ng_mqtt_read_retained_finish(NgMqtt *mqtt, GAsyncResult *result, GError **error)
{
	return g_task_propagate_pointer(G_TASK(result), error);
}

/* The subscription of the read is acknowledged: the broker sends the retained messages now. */
static void
ng_mqtt_handle_retained_subscribed(NgMqtt *mqtt, NgMqttEvent *ev, gboolean ok)
{
	if (mqtt->retained.task == NULL || ev->generation != mqtt->retained.generation)
		return;
	if (!ok) {
		ng_mqtt_retained_done(mqtt, g_error_new(NG_MQTT_ERROR, NG_MQTT_ERROR_FAILED,
							"the broker refused the subscription to %s# (%d)",
							mqtt->retained.prefix,
							ev->reason != 0 ? ev->reason : ev->code));
		return;
	}
	mqtt->retained.timer_id = g_timeout_add(GPOINTER_TO_UINT(g_task_get_task_data(mqtt->retained.task)),
						ng_mqtt_retained_timer_cb, mqtt);
}

static void
ng_mqtt_handle_message(NgMqtt *mqtt, NgMqttEvent *ev)
{
	gsize size = 0;
	const char *payload = g_bytes_get_data(ev->payload, &size);

	if (mqtt->retained.prefix != NULL && g_str_has_prefix(ev->text, mqtt->retained.prefix)) {
		if (ev->retained && size > 1 && mqtt->retained.found != NULL)
			g_hash_table_replace(mqtt->retained.found, g_strdup(ev->text),
					     g_bytes_ref(ev->payload));
		return;
	}
	if (mqtt->request_func == NULL)
		return;
	if (!g_utf8_validate(ev->text, -1, NULL)) {
		g_debug("MQTT: ignored a request on a topic that is not UTF-8");
		return;
	}
	if (ev->response_topic != NULL && !g_utf8_validate(ev->response_topic, -1, NULL))
		g_clear_pointer(&ev->response_topic, g_free);
	mqtt->request_func(mqtt, ev->text, payload, size - 1, ev->response_topic, ev->correlation_data,
			   mqtt->request_data);
}

static void
ng_mqtt_handle_subscribe_failed(NgMqtt *mqtt, NgMqttEvent *ev)
{
	/* interrupted by a lost connection: the next connect subscribes again. paho may report the
	 * interruption (operation incomplete, disconnected) before the loss reaches the main loop. */
	if (ev->generation != mqtt->generation || mqtt->state != NG_MQTT_STATE_CONNECTED ||
	    ev->code == MQTTASYNC_OPERATION_INCOMPLETE || ev->code == MQTTASYNC_DISCONNECTED) {
		g_debug("MQTT: subscription to %s interrupted", mqtt->request_topic_filter);
		return;
	}
	g_warning("MQTT: the broker refused the subscription to %s (%d): no requests will arrive",
		  mqtt->request_topic_filter, ev->reason != 0 ? ev->reason : ev->code);
}

static void
ng_mqtt_handle_event(NgMqtt *mqtt, NgMqttEvent *ev)
{
	switch (ev->type) {
	case NG_MQTT_EVENT_CONNECTED:
		ng_mqtt_handle_connected(mqtt, ev);
		break;
	case NG_MQTT_EVENT_CONNECT_FAILED:
		ng_mqtt_handle_connect_failed(mqtt, ev);
		break;
	case NG_MQTT_EVENT_LOST:
		ng_mqtt_handle_lost(mqtt, ev);
		break;
	case NG_MQTT_EVENT_ACKED:
		/* even from an older connection: the broker has it */
		ng_outbox_acked(mqtt->outbox, ev->serial);
		ng_mqtt_drain(mqtt);
		break;
	case NG_MQTT_EVENT_SEND_FAILED:
		ng_mqtt_handle_send_failed(mqtt, ev);
		break;
	case NG_MQTT_EVENT_MESSAGE:
		ng_mqtt_handle_message(mqtt, ev);
		break;
	case NG_MQTT_EVENT_SUBSCRIBED:
		if (ev->serial == NG_MQTT_RETAINED_READ)
			ng_mqtt_handle_retained_subscribed(mqtt, ev, TRUE);
		else
			g_debug("MQTT: subscribed to %s", mqtt->request_topic_filter);
		break;
	case NG_MQTT_EVENT_SUBSCRIBE_FAILED:
		if (ev->serial == NG_MQTT_RETAINED_READ)
			ng_mqtt_handle_retained_subscribed(mqtt, ev, FALSE);
		else
			ng_mqtt_handle_subscribe_failed(mqtt, ev);
		break;
	case NG_MQTT_EVENT_DISCONNECTED:
		break;
	}
}

static gboolean
ng_mqtt_source_ready(GSource *source, gint *timeout)
{
	NgMqttSource *s = (NgMqttSource *)source;

	/* while messages are in flight, acknowledgements may be waiting without a wake-up */
	if (timeout != NULL)
		*timeout = ng_outbox_get_in_flight(s->mqtt->outbox) > 0 ? NG_MQTT_ACK_DELAY_MS : -1;
	return s->mqtt->drain_wanted || s->mqtt->backlog.head != NULL ||
	       g_async_queue_length(s->mqtt->events) > 0;
}

static gboolean
ng_mqtt_source_check(GSource *source)
{
	return ng_mqtt_source_ready(source, NULL);
}

static gboolean
ng_mqtt_source_dispatch(GSource *source, GSourceFunc callback, gpointer user_data)
{
	NgMqtt *mqtt = ((NgMqttSource *)source)->mqtt;
	NgMqttEvent *ev;

	while ((ev = ng_mqtt_take_event(mqtt, 0)) != NULL) {
		ng_mqtt_handle_event(mqtt, ev);
		ng_mqtt_event_free(ev);
	}
	if (mqtt->drain_wanted) {
		mqtt->drain_wanted = FALSE;
		ng_mqtt_drain(mqtt);
	}
	return G_SOURCE_CONTINUE;
}

static GSourceFuncs ng_mqtt_source_funcs = {
    .prepare = ng_mqtt_source_ready,
    .check = ng_mqtt_source_check,
    .dispatch = ng_mqtt_source_dispatch,
};

/* ---- connecting ----------------------------------------------------------------------------- */

static gboolean ng_mqtt_create_client(NgMqtt *mqtt, GError **error);

/* Destroys the paho handle, with whatever it still queued; then applies what it reported and frees
 * what it held: after MQTTAsync_destroy () none of its callbacks can run any more. */
static void
ng_mqtt_destroy_client(NgMqtt *mqtt)
{
	NgMqttEvent *ev;

	if (mqtt->client != NULL)
		MQTTAsync_destroy(&mqtt->client);
	mqtt->client = NULL;
	while ((ev = ng_mqtt_take_event(mqtt, 0)) != NULL) {
		ng_mqtt_handle_event(mqtt, ev);
		ng_mqtt_event_free(ev);
	}
	while (mqtt->outstanding.head != NULL)
		ng_mqtt_event_free(mqtt->outstanding.head->data);
}

/* A fresh handle for each attempt after the first (see the top of the file). */
static gboolean
ng_mqtt_renew_client(NgMqtt *mqtt)
{
	g_autoptr(GError) error = NULL;

	if (!mqtt->client_used)
		return TRUE;
	ng_mqtt_destroy_client(mqtt);
	if (!ng_mqtt_create_client(mqtt, &error)) {
		g_warning("%s", error->message);
		return FALSE;
	}
	mqtt->client_used = FALSE;
	return TRUE;
}

static void
ng_mqtt_fill_ssl(NgMqtt *mqtt, MQTTAsync_SSLOptions *ssl)
{
	ssl->trustStore = mqtt->ca_file;
	ssl->keyStore = mqtt->cert_file;
	ssl->privateKey = mqtt->key_file;
	ssl->enableServerCertAuth = 1;
	ssl->verify = 1; /* check the host name against the certificate */
	ssl->sslVersion = MQTT_SSL_VERSION_TLS_1_2;
}

static void
ng_mqtt_connect(NgMqtt *mqtt)
{
	MQTTAsync_connectOptions opts = MQTTAsync_connectOptions_initializer;
	MQTTAsync_connectOptions opts5 = MQTTAsync_connectOptions_initializer5;
	MQTTAsync_willOptions will = MQTTAsync_willOptions_initializer;
	MQTTAsync_SSLOptions ssl = MQTTAsync_SSLOptions_initializer;
	MQTTAsync_connectOptions *o = mqtt->mqtt_version == MQTTVERSION_5 ? &opts5 : &opts;
	NgMqttEvent *ev;
	int rc;

	if (!ng_mqtt_renew_client(mqtt)) {
		ng_mqtt_schedule_reconnect(mqtt);
		return;
	}
	mqtt->client_used = TRUE;
	mqtt->generation++;
	mqtt->state = NG_MQTT_STATE_CONNECTING;
	ev = ng_mqtt_event_new_outstanding(mqtt, NG_MQTT_EVENT_CONNECTED);
	o->keepAliveInterval = mqtt->keepalive_s;
	o->cleansession = mqtt->mqtt_version == MQTTVERSION_5 ? 0 : 1;
	o->cleanstart = mqtt->mqtt_version == MQTTVERSION_5 ? 1 : 0;
	o->connectTimeout = NG_MQTT_CONNECT_TIMEOUT_S;
	o->automaticReconnect = 0; /* ours has jitter and requeues what was in flight */
	o->maxInflight = NG_MQTT_WINDOW;
	o->MQTTVersion = mqtt->mqtt_version;
	o->username = mqtt->username;
	o->password = mqtt->password;
	o->context = ev;
	if (mqtt->mqtt_version == MQTTVERSION_5) {
		o->onSuccess5 = ng_mqtt_on_connect5;
		o->onFailure5 = ng_mqtt_on_connect_failure5;
	} else {
		o->onSuccess = ng_mqtt_on_connect;
		o->onFailure = ng_mqtt_on_connect_failure;
	}
	if (mqtt->will_topic != NULL) {
		will.topicName = mqtt->will_topic;
		will.payload.data = mqtt->will_payload;
		will.payload.len = (int)strlen(mqtt->will_payload);
		will.retained = 1;
		will.qos = 1;
		o->will = &will;
	}
	if (mqtt->tls) {
		ng_mqtt_fill_ssl(mqtt, &ssl);
		o->ssl = &ssl;
	}
	rc = MQTTAsync_connect(mqtt->client, o);
	if (rc != MQTTASYNC_SUCCESS) {
		ev->type = NG_MQTT_EVENT_CONNECT_FAILED;
		ev->code = rc;
		ng_mqtt_handle_connect_failed(mqtt, ev);
		ng_mqtt_event_free(ev);
	}
}

static void
ng_mqtt_stop_probe(NgMqtt *mqtt)
{
	g_clear_pointer(&mqtt->probe_source, ng_mqtt_source_destroy);
	if (mqtt->probe_cancel != NULL)
		g_cancellable_cancel(mqtt->probe_cancel);
	g_clear_object(&mqtt->probe_cancel);
}

static gboolean
ng_mqtt_reconnect_cb(gpointer user_data)
{
	NgMqtt *mqtt = user_data;

	g_clear_pointer(&mqtt->reconnect_source, g_source_unref);
	ng_mqtt_stop_probe(mqtt);
	ng_mqtt_connect(mqtt);
	return G_SOURCE_REMOVE;
}

static void
ng_mqtt_probe_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	NgMqtt *mqtt = user_data;
	g_autoptr(GError) error = NULL;
	g_autoptr(GSocketConnection) conn =
	    g_socket_client_connect_to_host_finish(G_SOCKET_CLIENT(source), res, &error);

	if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
		return; /* mqtt may be gone */
	g_clear_object(&mqtt->probe_cancel);
	if (conn == NULL || mqtt->reconnect_source == NULL)
		return;
	g_io_stream_close(G_IO_STREAM(conn), NULL, NULL);
	g_debug("MQTT: %s answers again: reconnecting now", mqtt->display_url);
	g_clear_pointer(&mqtt->reconnect_source, ng_mqtt_source_destroy);
	ng_mqtt_stop_probe(mqtt);
	ng_mqtt_connect(mqtt);
}

static gboolean
ng_mqtt_probe_timer_cb(gpointer user_data)
{
	NgMqtt *mqtt = user_data;
	g_autoptr(GSocketClient) client = NULL;

	if (mqtt->probe_cancel != NULL)
		return G_SOURCE_CONTINUE; /* the last one still waits */
	client = g_socket_client_new();
	g_socket_client_set_timeout(client, NG_MQTT_PROBE_MS / 1000);
	mqtt->probe_cancel = g_cancellable_new();
	g_socket_client_connect_to_host_async(client, mqtt->host, mqtt->port, mqtt->probe_cancel,
					      ng_mqtt_probe_cb, mqtt);
	return G_SOURCE_CONTINUE;
}

/* Exponential backoff 1 s .. 30 s, each delay jittered by ±20 % so that hubs do not reconnect in step. */
static void
ng_mqtt_schedule_reconnect(NgMqtt *mqtt)
{
	guint delay_ms = (guint)(mqtt->backoff_s * 1000 * g_random_double_range(0.8, 1.2));

	if (mqtt->reconnect_source != NULL)
		return;
	g_debug("MQTT: reconnecting in %u ms", delay_ms);
	mqtt->backoff_s = MIN(mqtt->backoff_s * 2, NG_MQTT_BACKOFF_MAX_S);
	mqtt->reconnect_source = g_timeout_source_new(delay_ms);
	g_source_set_static_name(mqtt->reconnect_source, "ng-mqtt-reconnect");
	g_source_set_callback(mqtt->reconnect_source, ng_mqtt_reconnect_cb, mqtt, NULL);
	g_source_attach(mqtt->reconnect_source, mqtt->context);
	if (delay_ms > NG_MQTT_PROBE_MS && mqtt->host != NULL && mqtt->probe_source == NULL) {
		mqtt->probe_source = g_timeout_source_new(NG_MQTT_PROBE_MS);
		g_source_set_static_name(mqtt->probe_source, "ng-mqtt-probe");
		g_source_set_callback(mqtt->probe_source, ng_mqtt_probe_timer_cb, mqtt, NULL);
		g_source_attach(mqtt->probe_source, mqtt->context);
	}
}

void
ng_mqtt_start(NgMqtt *mqtt)
{
	g_return_if_fail(mqtt != NULL);
	if (mqtt->state != NG_MQTT_STATE_IDLE || mqtt->reconnect_source != NULL)
		return;
	ng_mqtt_connect(mqtt);
}

gboolean
ng_mqtt_is_connected(NgMqtt *mqtt)
{
	g_return_val_if_fail(mqtt != NULL, FALSE);
	return mqtt->state == NG_MQTT_STATE_CONNECTED;
}

void
ng_mqtt_set_connection_handler(NgMqtt *mqtt, NgMqttConnectionFunc func, gpointer user_data)
{
	mqtt->connection_func = func;
	mqtt->connection_data = user_data;
}

void
ng_mqtt_set_request_handler(NgMqtt *mqtt, NgMqttRequestFunc func, gpointer user_data)
{
	mqtt->request_func = func;
	mqtt->request_data = user_data;
}

/* ---- configuration -------------------------------------------------------------------------- */

static gboolean ng_mqtt_invalid(GError **error, const char *field, const char *format, ...)
    G_GNUC_PRINTF(3, 4);

static gboolean
ng_mqtt_invalid(GError **error, const char *field, const char *format, ...)
{
	va_list args;
	g_autofree char *msg = NULL;

	va_start(args, format);
	msg = g_strdup_vprintf(format, args);
	va_end(args);
	g_set_error(error, NG_MQTT_ERROR, NG_MQTT_ERROR_INVALID_CONFIG, "mqtt.%s: %s", field, msg);
	return FALSE;
}

static gboolean
ng_mqtt_parse_url(NgMqtt *mqtt, const char *url, GError **error)
{
	g_autoptr(GError) error_local = NULL;
	g_autoptr(GUri) uri = NULL;
	const char *scheme;
	const char *host;
	const char *path;
	int port;

	if (url == NULL || url[0] == '\0')
		return ng_mqtt_invalid(error, "url", "missing (e.g. mqtt://localhost:1883)");
	uri = g_uri_parse(url, G_URI_FLAGS_NONE, &error_local);
	if (uri == NULL)
		return ng_mqtt_invalid(error, "url", "%s", error_local->message);
	scheme = g_uri_get_scheme(uri);
	if (g_ascii_strcasecmp(scheme, "mqtt") == 0)
		mqtt->tls = FALSE;
	else if (g_ascii_strcasecmp(scheme, "mqtts") == 0)
		mqtt->tls = TRUE;
	else
		return ng_mqtt_invalid(error, "url", "unsupported scheme '%s', use mqtt:// or mqtts://",
				       scheme);
	if (g_uri_get_userinfo(uri) != NULL)
		return ng_mqtt_invalid(error, "url",
				       "no user or password in the URL: use mqtt.username and "
				       "mqtt.password_file");
	host = g_uri_get_host(uri);
	if (host == NULL || host[0] == '\0')
		return ng_mqtt_invalid(error, "url", "no host in '%s'", url);
	path = g_uri_get_path(uri);
	if ((path[0] != '\0' && g_strcmp0(path, "/") != 0) || g_uri_get_query(uri) != NULL ||
	    g_uri_get_fragment(uri) != NULL)
		return ng_mqtt_invalid(error, "url", "unexpected path, query or fragment in '%s'", url);
	port = g_uri_get_port(uri);
	if (port == 0)
		return ng_mqtt_invalid(error, "url", "port 0 is not valid");
	if (port < 0)
		port = mqtt->tls ? 8883 : 1883;
	if (strchr(host, ':') != NULL)
		mqtt->server_uri = g_strdup_printf("%s://[%s]:%d", mqtt->tls ? "ssl" : "tcp", host, port);
	else
		mqtt->server_uri = g_strdup_printf("%s://%s:%d", mqtt->tls ? "ssl" : "tcp", host, port);
	mqtt->display_url = g_strdup_printf("%s://%s:%d", mqtt->tls ? "mqtts" : "mqtt", host, port);
	mqtt->host = g_strdup(host);
	mqtt->port = (guint16)port;
	return TRUE;
}

/* A readable PEM file holding @marker ("CERTIFICATE-----", "PRIVATE KEY-----"). */
static gboolean
ng_mqtt_check_pem(const char *field, const char *path, const char *marker, const char *what, GError **error)
{
	g_autoptr(GError) error_local = NULL;
	g_autofree char *contents = NULL;

	if (path[0] == '\0')
		return ng_mqtt_invalid(error, field, "empty file name");
	if (!g_file_get_contents(path, &contents, NULL, &error_local))
		return ng_mqtt_invalid(error, field, "%s", error_local->message);
	if (strstr(contents, marker) == NULL)
		return ng_mqtt_invalid(error, field, "'%s' holds no PEM %s", path, what);
	return TRUE;
}

static gboolean
ng_mqtt_check_tls(const NgMqttConfig *config, gboolean tls, GError **error)
{
	const struct {
		const char *field;
		const char *value;
	} files[] = {
	    {"ca_file", config->ca_file}, {"cert_file", config->cert_file}, {"key_file", config->key_file}};

	for (guint i = 0; i < G_N_ELEMENTS(files); i++) {
		if (files[i].value != NULL && !tls)
			return ng_mqtt_invalid(error, files[i].field, "set, but mqtt.url is not mqtts://");
	}
	if (config->key_file != NULL && config->cert_file == NULL)
		return ng_mqtt_invalid(error, "key_file", "set without mqtt.cert_file");
	if (config->ca_file != NULL &&
	    !ng_mqtt_check_pem("ca_file", config->ca_file, "-----BEGIN CERTIFICATE-----", "certificate",
			       error))
		return FALSE;
	if (config->cert_file != NULL &&
	    !ng_mqtt_check_pem("cert_file", config->cert_file, "-----BEGIN CERTIFICATE-----", "certificate",
			       error))
		return FALSE;
	if (config->key_file != NULL &&
	    !ng_mqtt_check_pem("key_file", config->key_file, "PRIVATE KEY-----", "private key", error))
		return FALSE;
	return TRUE;
}

/* A topic filter: '+' fills a whole level, '#' only as the whole last level. */
static gboolean
ng_mqtt_check_filter(const char *field, const char *filter, GError **error)
{
	g_auto(GStrv) levels = NULL;
	guint n;

	if (filter[0] == '\0' || !g_utf8_validate(filter, -1, NULL))
		return ng_mqtt_invalid(error, field, "empty or not UTF-8");
	levels = g_strsplit(filter, "/", -1);
	n = g_strv_length(levels);
	for (guint i = 0; i < n; i++) {
		const char *level = levels[i];
		if (strpbrk(level, "+#") == NULL)
			continue;
		if (g_strcmp0(level, "+") == 0 || (g_strcmp0(level, "#") == 0 && i == n - 1))
			continue;
		return ng_mqtt_invalid(error, field,
				       "'%s' is not a valid topic filter ('+' and '#' must "
				       "fill a level, '#' only the last)",
				       filter);
	}
	return TRUE;
}

static gboolean
ng_mqtt_check_config(NgMqtt *mqtt, const NgMqttConfig *config, GError **error)
{
	if (!ng_mqtt_parse_url(mqtt, config->url, error))
		return FALSE;
	if (config->client_id == NULL || config->client_id[0] == '\0' ||
	    !g_utf8_validate(config->client_id, -1, NULL))
		return ng_mqtt_invalid(error, "client_id", "missing, empty or not UTF-8");
	if (config->mqtt_version != 0 && config->mqtt_version != 5 && config->mqtt_version != 4)
		return ng_mqtt_invalid(error, "mqtt_version", "must be 5 or 4 (MQTT 3.1.1), not %d",
				       config->mqtt_version);
	if (config->keepalive_s < 0 || config->keepalive_s > 65535)
		return ng_mqtt_invalid(error, "keepalive", "must be 0 to 65535 seconds, not %d",
				       config->keepalive_s);
	if (config->password != NULL && config->username == NULL && config->mqtt_version == 4)
		return ng_mqtt_invalid(error, "password", "MQTT 3.1.1 needs mqtt.username with a password");
	if (config->will_topic != NULL) {
		if (config->will_topic[0] == '\0' || strpbrk(config->will_topic, "+#") != NULL)
			return ng_mqtt_invalid(error, "will_topic", "'%s' is not a valid topic name",
					       config->will_topic);
		if (config->will_payload == NULL)
			return ng_mqtt_invalid(error, "will_payload", "missing (mqtt.will_topic is set)");
	}
	if (config->request_topic_filter != NULL &&
	    !ng_mqtt_check_filter("request_topic_filter", config->request_topic_filter, error))
		return FALSE;
	return ng_mqtt_check_tls(config, mqtt->tls, error);
}

static void
ng_mqtt_copy_config(NgMqtt *mqtt, const NgMqttConfig *config)
{
	mqtt->mqtt_version = config->mqtt_version == 4 ? MQTTVERSION_3_1_1 : MQTTVERSION_5;
	mqtt->keepalive_s = config->keepalive_s > 0 ? config->keepalive_s : 30;
	mqtt->client_id = g_strdup(config->client_id);
	mqtt->username = g_strdup(config->username);
	mqtt->password = g_strdup(config->password);
	mqtt->ca_file = g_strdup(config->ca_file);
	mqtt->cert_file = g_strdup(config->cert_file);
	mqtt->key_file = g_strdup(config->key_file);
	mqtt->will_topic = g_strdup(config->will_topic);
	mqtt->will_payload = g_strdup(config->will_payload);
	mqtt->request_topic_filter = g_strdup(config->request_topic_filter);
}

static gboolean
ng_mqtt_create_client(NgMqtt *mqtt, GError **error)
{
	MQTTAsync_createOptions create = MQTTAsync_createOptions_initializer;
	int rc;

	create.MQTTVersion = mqtt->mqtt_version;
	create.sendWhileDisconnected = 0; /* the outbox buffers, durably */
	/* paho counts what it has not written yet against this even when connected: room for the window */
	create.maxBufferedMessages = NG_MQTT_WINDOW * 4;
	rc = MQTTAsync_createWithOptions(&mqtt->client, mqtt->server_uri, mqtt->client_id,
					 MQTTCLIENT_PERSISTENCE_NONE, NULL, &create);
	if (rc != MQTTASYNC_SUCCESS) {
		mqtt->client = NULL;
		g_set_error(error, NG_MQTT_ERROR, NG_MQTT_ERROR_FAILED, "mqtt: cannot create the client: %s",
			    MQTTAsync_strerror(rc));
		return FALSE;
	}
	/* paho's default trace level records every function entry and exit and formats every packet
	 * into its in-memory trace buffer, under a process-wide mutex that all its threads contend for:
	 * a third of its CPU time per message. Errors are enough, unless someone asked for a trace.
	 * (Set after each create: paho initialises its log with the first client.) */
	if (g_getenv("MQTT_C_CLIENT_TRACE") == NULL && g_getenv("MQTT_C_CLIENT_TRACE_LEVEL") == NULL)
		MQTTAsync_setTraceLevel(MQTTASYNC_TRACE_ERROR);
	rc = MQTTAsync_setCallbacks(mqtt->client, mqtt, ng_mqtt_on_connection_lost, ng_mqtt_on_message, NULL);
	if (rc != MQTTASYNC_SUCCESS) {
		g_set_error(error, NG_MQTT_ERROR, NG_MQTT_ERROR_FAILED, "mqtt: cannot set callbacks: %s",
			    MQTTAsync_strerror(rc));
		return FALSE;
	}
	return TRUE;
}

NgMqtt *
ng_mqtt_new(const NgMqttConfig *config, NgOutbox *outbox, GError **error)
{
	g_autoptr(NgMqtt) mqtt = g_new0(NgMqtt, 1);
	NgMqttSource *source;

	g_return_val_if_fail(config != NULL, NULL);
	g_return_val_if_fail(outbox != NULL, NULL);

	mqtt->outbox = outbox;
	mqtt->context = g_main_context_ref_thread_default();
	mqtt->events = g_async_queue_new();
	mqtt->backoff_s = NG_MQTT_BACKOFF_MIN_S;
	mqtt->ack_wake_len = NG_MQTT_ACK_BATCH;
	g_queue_init(&mqtt->backlog);
	g_queue_init(&mqtt->outstanding);
	if (!ng_mqtt_check_config(mqtt, config, error))
		return NULL;
	ng_mqtt_copy_config(mqtt, config);
	if (!ng_mqtt_create_client(mqtt, error))
		return NULL;
	source = (NgMqttSource *)g_source_new(&ng_mqtt_source_funcs, sizeof(NgMqttSource));
	source->mqtt = mqtt;
	mqtt->source = &source->source;
	g_source_set_static_name(mqtt->source, "ng-mqtt-events");
	/* Default priority, like the pens' sockets: a higher one would have GLib dispatch it alone and
	 * leave a notification that arrived together with an acknowledgement for one more iteration.
	 * The store's commit need not come after it: it applies what paho posted itself (sync_cb). */
	g_source_set_priority(mqtt->source, G_PRIORITY_DEFAULT);
	g_source_attach(mqtt->source, mqtt->context);
	ng_outbox_set_ready_handler(outbox, ng_mqtt_outbox_ready_cb, mqtt);
	ng_outbox_set_sync_handler(outbox, ng_mqtt_sync_cb, mqtt);
	return g_steal_pointer(&mqtt);
}

/* ---- shutdown ------------------------------------------------------------------------------- */

/* MQTT 3.1.1 has no "disconnect with will": publish the will ourselves so dashboards see us go. */
static void
ng_mqtt_publish_will_v4(NgMqtt *mqtt)
{
	MQTTAsync_message pubmsg = MQTTAsync_message_initializer;

	pubmsg.payload = mqtt->will_payload;
	pubmsg.payloadlen = (int)strlen(mqtt->will_payload);
	pubmsg.qos = 1;
	pubmsg.retained = 1;
	MQTTAsync_sendMessage(mqtt->client, mqtt->will_topic, &pubmsg, NULL);
}

/* Disconnects cleanly, applying the acknowledgements that still arrive (fewer duplicates next run). */
static void
ng_mqtt_disconnect(NgMqtt *mqtt)
{
	MQTTAsync_disconnectOptions opts = MQTTAsync_disconnectOptions_initializer;
	MQTTAsync_disconnectOptions opts5 = MQTTAsync_disconnectOptions_initializer5;
	MQTTAsync_disconnectOptions *o = mqtt->mqtt_version == MQTTVERSION_5 ? &opts5 : &opts;
	NgMqttEvent *ev = ng_mqtt_event_new_outstanding(mqtt, NG_MQTT_EVENT_DISCONNECTED);
	gint64 deadline = g_get_monotonic_time() + NG_MQTT_SHUTDOWN_MS * 1000;
	gboolean done = FALSE;
	gboolean will;

	/* The daemon may have said it itself (through the outbox, acknowledged): do not repeat it. */
	ng_mqtt_sync_cb(mqtt->outbox, mqtt);
	will = mqtt->will_topic != NULL &&
	       !ng_outbox_state_is_delivered(mqtt->outbox, mqtt->will_topic, mqtt->will_payload);

	if (will && mqtt->mqtt_version != MQTTVERSION_5)
		ng_mqtt_publish_will_v4(mqtt);
	if (will && mqtt->mqtt_version == MQTTVERSION_5)
		o->reasonCode = MQTTREASONCODE_DISCONNECT_WITH_WILL_MESSAGE;
	o->timeout = NG_MQTT_SHUTDOWN_MS - 500;
	o->context = ev;
	if (mqtt->mqtt_version == MQTTVERSION_5) {
		o->onSuccess5 = ng_mqtt_on_success5;
		o->onFailure5 = ng_mqtt_on_failure5;
	} else {
		o->onSuccess = ng_mqtt_on_success;
		o->onFailure = ng_mqtt_on_failure;
	}
	if (MQTTAsync_disconnect(mqtt->client, o) != MQTTASYNC_SUCCESS) {
		ng_mqtt_event_free(ev);
		return;
	}
	while (!done) {
		gint64 left = deadline - g_get_monotonic_time();
		NgMqttEvent *next = left > 0 ? ng_mqtt_take_event(mqtt, left) : NULL;
		if (next == NULL)
			break;
		if (next == ev)
			done = TRUE;
		else if (next->type == NG_MQTT_EVENT_ACKED)
			ng_outbox_acked(mqtt->outbox, next->serial);
		ng_mqtt_event_free(next);
	}
}

void
ng_mqtt_free(NgMqtt *mqtt)
{
	if (mqtt == NULL)
		return;
	g_clear_pointer(&mqtt->reconnect_source, ng_mqtt_source_destroy);
	ng_mqtt_stop_probe(mqtt);
	g_clear_pointer(&mqtt->hold_source, ng_mqtt_source_destroy);
	if (mqtt->outbox != NULL) {
		ng_outbox_set_ready_handler(mqtt->outbox, NULL, NULL);
		ng_outbox_set_sync_handler(mqtt->outbox, NULL, NULL);
	}
	if (mqtt->client != NULL && mqtt->state == NG_MQTT_STATE_CONNECTED)
		ng_mqtt_disconnect(mqtt);
	/* no handler runs during teardown; acknowledgements still reach the outbox */
	mqtt->state = NG_MQTT_STATE_IDLE;
	mqtt->connection_func = NULL;
	mqtt->request_func = NULL;
	ng_mqtt_retained_done(mqtt,
			      g_error_new(NG_MQTT_ERROR, NG_MQTT_ERROR_NOT_CONNECTED, "the daemon stops"));
	ng_mqtt_destroy_client(mqtt);
	if (mqtt->source != NULL) {
		g_source_destroy(mqtt->source);
		g_source_unref(mqtt->source);
	}
	g_async_queue_unref(mqtt->events);
	g_main_context_unref(mqtt->context);
	g_free(mqtt->server_uri);
	g_free(mqtt->display_url);
	g_free(mqtt->host);
	g_free(mqtt->client_id);
	g_free(mqtt->username);
	if (mqtt->password != NULL)
		memset(mqtt->password, 0, strlen(mqtt->password));
	g_free(mqtt->password);
	g_free(mqtt->ca_file);
	g_free(mqtt->cert_file);
	g_free(mqtt->key_file);
	g_free(mqtt->will_topic);
	g_free(mqtt->will_payload);
	g_free(mqtt->request_topic_filter);
	g_free(mqtt);
}
