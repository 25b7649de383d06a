/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The MQTT client (paho-c MQTTAsync): drains the outbox to the broker, reconnects, receives requests. */
#pragma once

#include <gio/gio.h>

#include "ng-outbox.h"

G_BEGIN_DECLS

#define NG_MQTT_ERROR (ng_mqtt_error_quark())
GQuark ng_mqtt_error_quark(void);

typedef enum {
	NG_MQTT_ERROR_INVALID_CONFIG, /* the message names the field: "mqtt.url: ..." */
	NG_MQTT_ERROR_FAILED,	      /* paho refused to create the client, or the broker a subscription */
	NG_MQTT_ERROR_NOT_CONNECTED,  /* not connected to the broker now, or the connection was lost */
	NG_MQTT_ERROR_BUSY,	      /* another ng_mqtt_read_retained_async () runs */
} NgMqttError;

typedef struct {
	const char *url;	  /* mqtt://host[:port] (1883) or mqtts://host[:port] (8883); required */
	const char *client_id;	  /* required, non-empty */
	const char *username;	  /* or NULL */
	const char *password;	  /* or NULL; never logged */
	const char *ca_file;	  /* mqtts:// only; NULL = the system trust store; must be readable */
	const char *cert_file;	  /* mqtts:// only; client certificate (PEM), or NULL */
	const char *key_file;	  /* mqtts:// only; its key (PEM), or NULL = in cert_file */
	int mqtt_version;	  /* 5 (0 means 5) or 4 (MQTT 3.1.1) */
	int keepalive_s;	  /* 0 means 30 */
	const char *will_topic;	  /* or NULL; published retained at QoS 1 by the broker if we vanish */
	const char *will_payload; /* e.g. {"state":"offline"} */
	const char *request_topic_filter; /* subscribed (QoS 1) after every connect, e.g.
					     base/bridge/request/#; or NULL */
} NgMqttConfig;

typedef struct _NgMqtt NgMqtt;

/* Validates @config (errors name the field: "mqtt.url: unsupported scheme 'http', use mqtt:// or
 * mqtts://", "mqtt.ca_file: ...") and creates the client; nothing connects before ng_mqtt_start ().
 * @config is copied. @outbox must outlive the client. Call on the main loop's thread. */
NgMqtt *ng_mqtt_new(const NgMqttConfig *config, NgOutbox *outbox, GError **error);
/* Connects (in the background); on failure or loss, reconnects with backoff 1 s .. 60 s, jittered. */
void ng_mqtt_start(NgMqtt *mqtt);
/* Disconnects and frees: waits up to ~1.5 s for in-flight acknowledgements (what is still unacked
 * stays in the outbox for the next run) and has the will published (MQTT 5: DISCONNECT with will;
 * 3.1.1: publishes it), so dashboards see "offline" on a clean stop too; unless the will topic's
 * latest STATE in the outbox already is the will payload and the broker acknowledged it (the
 * daemon said "offline" itself): then the will would only repeat it. Blocks the caller. */
void ng_mqtt_free(NgMqtt *mqtt);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(NgMqtt, ng_mqtt_free)

gboolean ng_mqtt_is_connected(NgMqtt *mqtt);

/* Called on the main loop after each connect (TRUE; the request filter is subscribed and the
 * retained state already queued for republishing) and each loss of the connection (FALSE). */
typedef void (*NgMqttConnectionFunc)(NgMqtt *mqtt, gboolean connected, gpointer user_data);
void ng_mqtt_set_connection_handler(NgMqtt *mqtt, NgMqttConnectionFunc func, gpointer user_data);

/* Called on the main loop for each message on request_topic_filter. @payload has @len bytes and a
 * NUL after them (so JSON parsers may take it as a string). @response_topic / @correlation_data are the
 * MQTT 5 properties, NULL when absent (always with 3.1.1). Answer by ng_outbox_push_response (). */
typedef void (*NgMqttRequestFunc)(NgMqtt *mqtt, const char *topic, const char *payload, gsize len,
				  const char *response_topic, GBytes *correlation_data, gpointer user_data);
void ng_mqtt_set_request_handler(NgMqtt *mqtt, NgMqttRequestFunc func, gpointer user_data);

/* Reads what the broker retains under @prefix (a topic ending in '/'): subscribes to @prefix#,
 * collects the retained messages that arrive within @wait_ms of the subscription's
 * acknowledgement, unsubscribes. One read at a time. The result: topic -> GBytes payload (with a
 * NUL after it) of every retained message, empty ones left out. */
void ng_mqtt_read_retained_async(NgMqtt *mqtt, const char *prefix, guint wait_ms,
				 GAsyncReadyCallback callback, gpointer user_data);
GHashTable *ng_mqtt_read_retained_finish(NgMqtt *mqtt, GAsyncResult *result, GError **error);

G_END_DECLS
