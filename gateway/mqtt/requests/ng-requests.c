/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* MQTT bridge requests (bridge/request/<command>), validated and answered on bridge/response/<command>. */

/*
 * Requests come from the network: anything may arrive. Each is checked completely before it
 * does anything (size, JSON, an object, every field known and of its type, the required ones
 * there) and every failure is answered, so that a dashboard always hears why. ng-mqtt.c hands
 * us requests on the main loop; answers go through the outbox like every other message.
 */

#include "config.h"

#include "ng-requests.h"

#include <json-glib/json-glib.h>
#include <string.h>

#include "ng-errors.h"
#include "ng-json.h"
#include "ng-pairing.h"
#include "np.h"

typedef enum {
	FIELD_STRING,
	FIELD_INT,
	FIELD_BOOL,
	FIELD_PLAN, /* a plan: a JSON object, or a string holding one */
} FieldType;

typedef struct {
	const char *name;
	FieldType type;
	gboolean required;
} Field;

typedef struct _Request Request;

typedef struct {
	const char *command;
	const Field *fields;	 /* NULL-terminated by name */
	gboolean remote_pairing; /* needs [mqtt] allow_remote_pairing */
	void (*run)(Request *request, JsonObject *args);
} Command;

struct _NgRequests {
	const NgConfig *config;
	NgOutbox *outbox;
	NgHub *hub;
	const NgTopics *topics;
	GList *pending; /* Request waiting for an operation */
};

/* One request being answered; outlives NgRequests only as an orphan (requests == NULL). */
struct _Request {
	NgRequests *requests;
	char *command;
	char *reply_topic;
	GBytes *correlation_data; /* MQTT 5: echoed with the answer; or NULL */
	char *transaction;	  /* JSON text, "null" when absent */
	char *subject;		  /* the address or pen the request names */
};

static const NgActor mqtt_actor = NG_ACTOR_MQTT;

/* ---- answers ------------------------------------------------------------------------------------------- */

static void
request_free(Request *r)
{
	if (r->requests != NULL)
		r->requests->pending = g_list_remove(r->requests->pending, r);
	g_free(r->command);
	g_free(r->reply_topic);
	g_clear_pointer(&r->correlation_data, g_bytes_unref);
	g_free(r->transaction);
	g_free(r->subject);
	g_free(r);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Request, request_free)

static void
publish(NgRequests *requests, const char *topic, GBytes *correlation_data, const GString *payload)
{
	g_autoptr(GError) error = NULL;

	if (!ng_outbox_push_response(requests->outbox, topic, payload->str, payload->len, correlation_data,
				     &error))
		g_warning("MQTT request: cannot queue the answer on %s: %s", topic, error->message);
}

/* Takes @r. @data is a JSON object's text. */
static void
reply_ok(Request *r, const char *data)
{
	g_autoptr(Request) owned = r;
	g_autoptr(GString) out = g_string_new("{\"status\":\"ok\",\"data\":");

	if (r->requests == NULL)
		return;
	g_string_append_printf(out, "%s,\"error\":null,\"transaction\":%s}", data, r->transaction);
	publish(r->requests, r->reply_topic, r->correlation_data, out);
}

/* Takes @r. */
static void
reply_error(Request *r, int code, const char *message)
{
	g_autoptr(Request) owned = r;
	g_autoptr(GString) out = g_string_new("{\"status\":\"error\",\"data\":null,\"error\":{\"code\":");

	if (r->requests == NULL)
		return;
	g_debug("MQTT request %s refused: %s", r->command, message);
	ng_json_append_string(out, ng_error_code_to_string(code));
	g_string_append(out, ",\"message\":");
	ng_json_append_string(out, message);
	g_string_append_printf(out, "},\"transaction\":%s}", r->transaction);
	publish(r->requests, r->reply_topic, r->correlation_data, out);
}

static void
reply_gerror(Request *r, const GError *error)
{
	reply_error(r, error->domain == NG_ERROR ? error->code : NG_ERROR_FAILED, error->message);
}

/* {"<key>":"<value>", ...} from pairs of strings, NULL-terminated. */
static char *
data_object(const char *key, ...)
{
	GString *out = g_string_new("{");
	va_list args;

	va_start(args, key);
	for (const char *k = key; k != NULL; k = va_arg(args, const char *)) {
		const char *v = va_arg(args, const char *);
		if (out->len > 1)
			g_string_append_c(out, ',');
		ng_json_append_string(out, k);
		g_string_append_c(out, ':');
		ng_json_append_string(out, v);
	}
	va_end(args);
	g_string_append_c(out, '}');
	return g_string_free(out, FALSE);
}

/* ---- the commands ----------------------------------------------------------------------------------------
 */

static void
run_permit_pairing(Request *r, JsonObject *args)
{
	g_autoptr(GError) error = NULL;
	gboolean value = json_object_get_boolean_member(args, "value");
	gint64 time_s = json_object_get_int_member_with_default(args, "time", NG_PAIRING_WINDOW_DEFAULT_S);
	g_autofree char *data = NULL;

	if (!value) {
		ng_hub_close_pairing_window(r->requests->hub, &mqtt_actor);
		reply_ok(r, "{\"value\":false}");
		return;
	}
	if (time_s < 1 || time_s > NG_PAIRING_WINDOW_MAX_S) {
		g_autofree char *msg = g_strdup_printf("time: %" G_GINT64_FORMAT " is not 1 to %u seconds",
						       time_s, NG_PAIRING_WINDOW_MAX_S);
		reply_error(r, NG_ERROR_INVALID_ARGS, msg);
		return;
	}
	if (!ng_hub_open_pairing_window(r->requests->hub, (guint)time_s, &mqtt_actor, &error)) {
		reply_gerror(r, error);
		return;
	}
	data = g_strdup_printf("{\"value\":true,\"time\":%" G_GINT64_FORMAT "}", time_s);
	reply_ok(r, data);
}

static void
paired_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	Request *r = user_data;
	g_autoptr(GError) error = NULL;
	g_autofree char *address = ng_hub_pair_finish(NULL, res, &error);
	g_autofree char *path = NULL;
	g_autofree char *data = NULL;

	if (address == NULL) {
		reply_gerror(r, error);
		return;
	}
	path = ng_hub_pen_object_path(address);
	data = data_object("address", r->subject, "state", "paired", "object", path, NULL);
	reply_ok(r, data);
}

static void
pairing_started_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	Request *r = user_data;
	g_autoptr(GError) error = NULL;
	g_autofree char *data = NULL;

	if (!ng_hub_start_pairing_finish(NULL, res, &error)) {
		reply_gerror(r, error);
		return;
	}
	data = data_object("address", r->subject, "state", "waiting_for_passkey", NULL);
	reply_ok(r, data);
}

static void
run_pair(Request *r, JsonObject *args)
{
	gint64 passkey = json_object_get_int_member_with_default(args, "passkey", -1);

	r->subject = g_strdup(json_object_get_string_member(args, "address"));
	if (!json_object_has_member(args, "passkey")) {
		ng_hub_start_pairing_async(r->requests->hub, r->subject, &mqtt_actor, pairing_started_cb, r);
		return;
	}
	if (passkey < 0 || passkey > 999999) {
		reply_error(r, NG_ERROR_INVALID_ARGS,
			    "passkey: not a passkey (0 to 999999, the 6 digits the pen shows)");
		return;
	}
	ng_hub_pair_async(r->requests->hub, r->subject, (guint32)passkey, &mqtt_actor, paired_cb, r);
}

static void
pen_done_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	Request *r = user_data;
	g_autoptr(GError) error = NULL;
	g_autofree char *data = NULL;
	gboolean ok = g_str_equal(r->command, "remove") ? ng_hub_remove_finish(NULL, res, NULL, &error)
							: ng_hub_pen_request_finish(NULL, res, &error);

	if (!ok) {
		reply_gerror(r, error);
		return;
	}
	data = data_object("pen", r->subject, NULL);
	reply_ok(r, data);
}

static void
run_remove(Request *r, JsonObject *args)
{
	r->subject = g_strdup(json_object_get_string_member(args, "pen"));
	ng_hub_remove_async(r->requests->hub, r->subject, &mqtt_actor, pen_done_cb, r);
}

static void
run_identify(Request *r, JsonObject *args)
{
	r->subject = g_strdup(json_object_get_string_member(args, "pen"));
	ng_hub_pen_request_async(r->requests->hub, r->subject, NP_OP_IDENTIFY, &mqtt_actor, pen_done_cb, r);
}

static void
run_stop_session(Request *r, JsonObject *args)
{
	r->subject = g_strdup(json_object_get_string_member(args, "pen"));
	ng_hub_pen_request_async(r->requests->hub, r->subject, NP_OP_STOP_SESSION, &mqtt_actor, pen_done_cb,
				 r);
}

/* Takes @r: the plan operations answer at once. */
static void
reply_plan(Request *r, gboolean ok, const char *serial, const char *plan_id, const GError *error)
{
	g_autoptr(GString) data = g_string_new("{");

	if (!ok) {
		reply_gerror(r, error);
		return;
	}
	ng_json_member_string(data, "pen", serial);
	ng_json_member_string(data, "plan_id", plan_id);
	g_string_append_c(data, '}');
	reply_ok(r, data->str);
}

static void
run_plan_assign(Request *r, JsonObject *args)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *serial = NULL;
	g_autofree char *plan_id = NULL;
	JsonNode *plan = json_object_get_member(args, "plan");
	g_autofree char *text =
	    JSON_NODE_HOLDS_OBJECT(plan) ? json_to_string(plan, FALSE) : g_strdup(json_node_get_string(plan));
	gboolean ok = ng_hub_assign_plan(r->requests->hub, json_object_get_string_member(args, "pen"), text,
					 &mqtt_actor, &serial, &plan_id, &error);

	reply_plan(r, ok, serial, plan_id, error);
}

static void
run_plan_clear(Request *r, JsonObject *args)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *serial = NULL;
	g_autofree char *plan_id = NULL;
	gboolean ok = ng_hub_clear_plan(r->requests->hub, json_object_get_string_member(args, "pen"),
					&mqtt_actor, &serial, &plan_id, &error);

	reply_plan(r, ok, serial, plan_id, error);
}

static const Field permit_pairing_fields[] = {
    {"value", FIELD_BOOL, TRUE},
    {"time", FIELD_INT, FALSE},
    {NULL},
};
static const Field pair_fields[] = {
    {"address", FIELD_STRING, TRUE},
    {"passkey", FIELD_INT, FALSE},
    {NULL},
};
static const Field pen_fields[] = {
    {"pen", FIELD_STRING, TRUE},
    {NULL},
};

static const Field plan_fields[] = {
    {"pen", FIELD_STRING, TRUE},
    {"plan", FIELD_PLAN, TRUE},
    {NULL},
};

static const Command commands[] = {
    {"permit_pairing", permit_pairing_fields, TRUE, run_permit_pairing},
    {"pair", pair_fields, TRUE, run_pair},
    {"remove", pen_fields, TRUE, run_remove},
    {"identify", pen_fields, FALSE, run_identify},
    {"stop_session", pen_fields, FALSE, run_stop_session},
    {"plan/assign", plan_fields, FALSE, run_plan_assign},
    {"plan/clear", pen_fields, FALSE, run_plan_clear},
};

/* ---- validation -------------------------------------------------------------------------------------------
 */

static const char *
type_name(FieldType type)
{
	switch (type) {
	case FIELD_STRING:
		return "a string";
	case FIELD_INT:
		return "a whole number";
	case FIELD_BOOL:
		return "true or false";
	case FIELD_PLAN:
		return "a plan (a JSON object, or a string holding one)";
	}
	return "?";
}

static gboolean
has_type(JsonNode *node, FieldType type)
{
	GType value_type = JSON_NODE_HOLDS_VALUE(node) ? json_node_get_value_type(node) : G_TYPE_INVALID;

	switch (type) {
	case FIELD_STRING:
		return value_type == G_TYPE_STRING;
	case FIELD_INT:
		return value_type == G_TYPE_INT64;
	case FIELD_BOOL:
		return value_type == G_TYPE_BOOLEAN;
	case FIELD_PLAN:
		return JSON_NODE_HOLDS_OBJECT(node) || value_type == G_TYPE_STRING;
	}
	return FALSE;
}

static const Field *
find_field(const Field *fields, const char *name)
{
	for (const Field *f = fields; f->name != NULL; f++) {
		if (g_str_equal(f->name, name))
			return f;
	}
	return NULL;
}

static gboolean
validate(JsonObject *args, const Field *fields, GError **error)
{
	g_autoptr(GList) members = json_object_get_members(args);

	for (GList *l = members; l != NULL; l = l->next) {
		const char *name = l->data;
		const Field *f = find_field(fields, name);

		if (g_str_equal(name, "transaction"))
			continue;
		if (f == NULL) {
			g_set_error(error, NG_ERROR, NG_ERROR_INVALID_ARGS, "%s: unknown field", name);
			return FALSE;
		}
		if (!has_type(json_object_get_member(args, name), f->type)) {
			g_set_error(error, NG_ERROR, NG_ERROR_INVALID_ARGS, "%s: must be %s", name,
				    type_name(f->type));
			return FALSE;
		}
	}
	for (const Field *f = fields; f->name != NULL; f++) {
		if (f->required && !json_object_has_member(args, f->name)) {
			g_set_error(error, NG_ERROR, NG_ERROR_INVALID_ARGS, "%s: missing (required)",
				    f->name);
			return FALSE;
		}
	}
	return TRUE;
}

/* The payload as a JSON object; the transaction is taken out first, even from a bad request. */
static JsonObject *
parse(Request *r, const char *payload, gsize len, GError **error)
{
	g_autoptr(JsonParser) parser = json_parser_new_immutable();
	JsonNode *root;
	JsonNode *transaction;

	if (len > NG_REQUESTS_MAX_SIZE) {
		g_set_error(error, NG_ERROR, NG_ERROR_INVALID_ARGS,
			    "the request has %" G_GSIZE_FORMAT " bytes, more than the %u a request may have",
			    len, NG_REQUESTS_MAX_SIZE);
		return NULL;
	}
	if (!g_utf8_validate(payload, (gssize)len, NULL) ||
	    !json_parser_load_from_data(parser, payload, (gssize)len, NULL)) {
		g_set_error_literal(error, NG_ERROR, NG_ERROR_INVALID_ARGS, "the request is not JSON");
		return NULL;
	}
	root = json_parser_get_root(parser);
	if (root == NULL || !JSON_NODE_HOLDS_OBJECT(root)) {
		g_set_error_literal(error, NG_ERROR, NG_ERROR_INVALID_ARGS,
				    "the request is not a JSON object");
		return NULL;
	}
	transaction = json_object_get_member(json_node_get_object(root), "transaction");
	if (transaction != NULL && !JSON_NODE_HOLDS_NULL(transaction)) {
		/* echoed as it came: a string (bounded) or a number, as zigbee2mqtt takes it */
		GType type = JSON_NODE_HOLDS_VALUE(transaction) ? json_node_get_value_type(transaction) : 0;

		if (type == G_TYPE_STRING &&
		    strlen(json_node_get_string(transaction)) > NG_REQUESTS_MAX_TRANSACTION) {
			g_set_error(error, NG_ERROR, NG_ERROR_INVALID_ARGS,
				    "transaction: longer than %u bytes", NG_REQUESTS_MAX_TRANSACTION);
			return NULL;
		}
		if (type != G_TYPE_STRING && type != G_TYPE_INT64 && type != G_TYPE_DOUBLE) {
			g_set_error_literal(error, NG_ERROR, NG_ERROR_INVALID_ARGS,
					    "transaction: expected a string or a number");
			return NULL;
		}
		g_free(r->transaction);
		r->transaction = json_to_string(transaction, FALSE);
	}
	return json_object_ref(json_node_get_object(root));
}

/* ---- dispatch
 * -------------------------------------------------------------------------------------------------- */

static const Command *
find_command(const char *name)
{
	for (gsize i = 0; i < G_N_ELEMENTS(commands); i++) {
		if (g_str_equal(commands[i].command, name))
			return &commands[i];
	}
	return NULL;
}

static Request *
request_new(NgRequests *requests, const char *command, const char *response_topic, GBytes *correlation_data)
{
	Request *r = g_new0(Request, 1);

	r->requests = requests;
	r->command = g_strdup(command);
	r->reply_topic = ng_topics_dup_response(requests->topics, command, response_topic);
	r->correlation_data = correlation_data != NULL ? g_bytes_ref(correlation_data) : NULL;
	r->transaction = g_strdup("null");
	requests->pending = g_list_prepend(requests->pending, r);
	return r;
}

void
ng_requests_handle(NgRequests *requests, const char *topic, const char *payload, gsize len,
		   const char *response_topic, GBytes *correlation_data)
{
	const char *name;
	const Command *cmd;
	Request *r;
	g_autoptr(GError) error = NULL;
	g_autoptr(JsonObject) args = NULL;

	if (!g_str_has_prefix(topic, requests->topics->request_prefix))
		return;
	name = topic + strlen(requests->topics->request_prefix);
	r = request_new(requests, name, response_topic, correlation_data);
	args = parse(r, payload, len, &error);
	cmd = find_command(name);
	if (cmd == NULL) {
		g_autofree char *msg =
		    g_strdup_printf("unknown command '%s': use permit_pairing, pair, remove, "
				    "identify, stop_session, plan/assign or plan/clear",
				    name);
		reply_error(r, NG_ERROR_NOT_SUPPORTED, msg);
		return;
	}
	if (args == NULL || !validate(args, cmd->fields, &error)) {
		reply_gerror(r, error);
		return;
	}
	if (cmd->remote_pairing && !requests->config->allow_remote_pairing) {
		reply_error(
		    r, NG_ERROR_NOT_PERMITTED,
		    "pairing and removing pens over MQTT is off on this hub: use needlectl on the hub, or "
		    "set [mqtt] allow_remote_pairing=true in needlegated.conf");
		return;
	}
	g_info("MQTT request %s", name);
	cmd->run(r, args);
}

/* ---- life -------------------------------------------------------------------------------------------------
 */

NgRequests *
ng_requests_new(const NgConfig *config, NgOutbox *outbox, NgHub *hub)
{
	NgRequests *requests = g_new0(NgRequests, 1);

	(void)ng_error_quark();
	requests->config = config;
	requests->outbox = outbox;
	requests->hub = hub;
	requests->topics = ng_hub_get_topics(hub);
	return requests;
}

void
ng_requests_free(NgRequests *requests)
{
	if (requests == NULL)
		return;
	/* Operations still running answer into the void. */
	for (GList *l = requests->pending; l != NULL; l = l->next)
		((Request *)l->data)->requests = NULL;
	g_list_free(requests->pending);
	g_free(requests);
}
