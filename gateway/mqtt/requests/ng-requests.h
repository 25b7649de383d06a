/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* MQTT bridge requests (bridge/request/<command>), validated and answered on bridge/response/<command>. */

#pragma once

#include <glib.h>

#include "ng-hub.h"
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
 * Commands: permit_pairing, pair, remove, identify, stop_session, plan/assign, plan/clear
 * (docs/mqtt-api.md: "MQTT bridge requests"). plan/assign and plan/clear follow the same rules as D-Bus.
 * permit_pairing, pair and remove only with [mqtt] allow_remote_pairing=true.
 */
#define NG_REQUESTS_MAX_SIZE 4096u
/* A request's "transaction", echoed in its answer: a number, or a string of at most this many bytes. */
#define NG_REQUESTS_MAX_TRANSACTION 256u

typedef struct _NgRequests NgRequests;

/* Every command is one hub operation (hub/ng-hub.h); answers go into @outbox. */
NgRequests *ng_requests_new(const NgConfig *config, NgOutbox *outbox, NgHub *hub);
/* Answers still pending (a pairing) are dropped. */
void ng_requests_free(NgRequests *requests);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(NgRequests, ng_requests_free)

/* For ng_mqtt_set_request_handler (): @topic is the full topic; answers go to the outbox. */
void ng_requests_handle(NgRequests *requests, const char *topic, const char *payload, gsize len,
			const char *response_topic, GBytes *correlation_data);

G_END_DECLS
