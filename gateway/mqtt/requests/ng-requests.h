/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* MQTT bridge requests (bridge/request/<command>), validated and answered on bridge/response/<command>. */

#pragma once

#include <glib.h>

#include "ng-dbus-service.h"
#include "ng-config.h"
#include "ng-outbox.h"

G_BEGIN_DECLS

/*
 * Following zigbee2mqtt: a request is a JSON object on <prefix>/bridge/request/<command>, the
 * answer goes to <prefix>/bridge/response/<command> (or to the MQTT 5 response topic when the
 * request has one, echoing its MQTT 5 correlation data):
 *   {"status":"ok","data":{…},"error":null,"transaction":…}
 *   {"status":"error","data":null,"error":{"code":"invalid_args","message":"…"},"transaction":…}
 * "transaction" is echoed as given (any JSON value; null when absent or not JSON). Every bad
 * request gets an error answer naming the field: not JSON, not an object, unknown fields, missing
 * fields, wrong types, more than NG_REQUESTS_MAX_SIZE bytes, unknown command.
 *
 * Commands here: permit_pairing, pair, remove, identify (README: "MQTT bridge requests").
 * permit_pairing, pair and remove only with [mqtt] allow_remote_pairing=true.
 */
#define NG_REQUESTS_MAX_SIZE 4096u

typedef struct _NgRequests NgRequests;

/* @prefix is "<base_topic>/<hub_id>". @outbox takes the answers and must outlive the requests. */
NgRequests *ng_requests_new(const NgConfig *config, NgOutbox *outbox, const char *prefix);
/* Answers still pending (a pairing) are dropped. */
void ng_requests_free(NgRequests *requests);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(NgRequests, ng_requests_free)

/* The D-Bus API's operations serve the commands; until it is set (or after NULL) they are answered
 * "the gateway is starting". */
void ng_requests_set_api(NgRequests *requests, NgApi *api);

/*
 * The registration point for commands handled elsewhere (plan/assign, plan/clear in
 * ng-assign.c): @func gets the raw payload and returns the whole response payload (the format
 * above), or NULL if it does not know @command. When @audit_action is not NULL and the answer's
 * status is "ok", the change is audited (ng-audit.h) with data.pen and "mqtt" as who asked.
 */
typedef char *(*NgRequestsFunc)(const char *command, const char *payload, gsize len, gpointer user_data);
void ng_requests_register(NgRequests *requests, const char *command, NgRequestsFunc func, gpointer user_data,
			  const char *audit_action);

/* For ng_mqtt_set_request_handler (): @topic is the full topic; answers go to the outbox. */
void ng_requests_handle(NgRequests *requests, const char *topic, const char *payload, gsize len,
			const char *response_topic, GBytes *correlation_data);

G_END_DECLS
