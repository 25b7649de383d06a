/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The durable outbox: an in-memory queue mirrored to the store's outbox table, batched per commit.
 *
 * Every message lives in memory (the queue the MQTT client sends from, so sending never queries
 * the database) and, unless the broker acknowledged it first, as one row of the outbox table.
 * Rows are written and deleted in the store's pre-commit hook, i.e. in the same transaction as
 * whatever else the daemon wrote in that ~10 ms window (the pens' last sequence numbers): a
 * message pushed and acknowledged within one window never touches the disk, and what a power cut
 * rolls back, it rolls back together. Deletes are batched into ranges of consecutive row ids.
 *
 * Order: messages are sent in push order; after a reconnect what was in flight goes first, in its
 * order, then the rest. So each topic's messages reach the broker in order (QoS 1 duplicates
 * aside). Row ids follow push order too, so a restart resends in the same order.
 */
#include "config.h"

#include "ng-outbox.h"

#include <string.h>

struct _NgOutboxMessage {
	GList link;    /* in outbox->pending or outbox->in_flight (see queue) */
	GList tlink;   /* in outbox->telemetry, TELEMETRY only: oldest first, for dropping */
	GQueue *queue; /* the queue link is in, or NULL */
	guint64 serial;
	gint64 row_id; /* 0: not on disk (not yet, or never for a republish) */
	guint8 kind;   /* NgOutboxKind */
	guint8 qos;
	guint8 retain : 1;
	guint8 is_volatile : 1;	  /* a republish of remembered state: never written to disk */
	guint8 state_waiting : 1; /* it is outbox->state_waiting[topic] */
	gsize payload_len;
	char *topic;	   /* points into data, after the payload */
	char *correlation; /* MQTT 5 correlation data: into data, after the topic; or NULL */
	gsize correlation_len;
	char data[]; /* payload, NUL, topic, NUL, correlation data */
};

typedef struct {
	GBytes *payload;
	int qos;
	gboolean retain;
} NgOutboxState;

struct _NgOutbox {
	NgStore *store;
	guint hooks_id;
	guint64 max_messages;
	guint64 next_serial;
	NgOutboxCounters counters;
	GQueue pending;		   /* waiting to be sent, in send order */
	GQueue in_flight;	   /* handed to the client, in send order */
	GQueue telemetry;	   /* every TELEMETRY message, oldest first */
	GHashTable *by_serial;	   /* serial -> message, all of them */
	GArray *unsaved;	   /* serials pushed since the last commit (guint64) */
	GArray *delete_ids;	   /* row ids to delete at the next commit (gint64) */
	GHashTable *state_latest;  /* topic -> NgOutboxState: the last pushed state, to republish */
	GHashTable *state_waiting; /* topic -> the pending (not in flight) message of that STATE topic */
	gboolean rewrite_all;	   /* a commit failed: rewrite the whole table from memory */
	gboolean dropping;	   /* currently full and dropping telemetry (log once per episode) */
	sqlite3_stmt *stmt_insert;
	sqlite3_stmt *stmt_delete_range;
	NgOutboxReadyFunc ready_func;
	gpointer ready_data;
	NgOutboxSyncFunc sync_func;
	gpointer sync_data;
};

/* Telemetry may wait this long for its commit (ng_store_touch_within ()), events and state ~10 ms.
 * A crash can lose telemetry pushed in that window, but never for good: the pen keeps the records
 * and the session's last sequence number (saved at most this often too, see ng-session.c) is
 * rolled back with them, so they are fetched again. Meanwhile the broker acknowledges them (well
 * under a millisecond on a LAN) and they never touch the disk: at low rates the window saves a
 * commit (a WAL append, a few locks, a wake-up) per record. */
#define NG_OUTBOX_TELEMETRY_COMMIT_MS 250

/* MQTT's limit for a whole packet is 256 MiB; the payload of a gateway message is far below */
#define NG_OUTBOX_MAX_PAYLOAD (16 * 1024 * 1024)
/* MQTT 5 binary data (the correlation data) has a two-byte length */
#define NG_OUTBOX_MAX_CORRELATION 65535

G_DEFINE_QUARK(ng_outbox_error_quark, ng_outbox_error)

#define NG_OUTBOX_SCHEMA                                                                                     \
	"CREATE TABLE IF NOT EXISTS outbox ("                                                                \
	"  id INTEGER PRIMARY KEY,"                                                                          \
	"  kind INTEGER NOT NULL,"                                                                           \
	"  topic TEXT NOT NULL,"                                                                             \
	"  payload BLOB NOT NULL,"                                                                           \
	"  qos INTEGER NOT NULL,"                                                                            \
	"  retain INTEGER NOT NULL);"

/* Version 2: the MQTT 5 correlation data of a response (NULL when none). Run on an empty database
 * too: the CREATE above makes the version 1 table, which this completes. */
#define NG_OUTBOX_SCHEMA_V2 NG_OUTBOX_SCHEMA "ALTER TABLE outbox ADD COLUMN correlation BLOB;"

const char *
ng_outbox_message_get_topic(const NgOutboxMessage *msg)
{
	return msg->topic;
}

const void *
ng_outbox_message_get_payload(const NgOutboxMessage *msg, gsize *len)
{
	if (len != NULL)
		*len = msg->payload_len;
	return msg->data;
}

int
ng_outbox_message_get_qos(const NgOutboxMessage *msg)
{
	return msg->qos;
}

gboolean
ng_outbox_message_get_retain(const NgOutboxMessage *msg)
{
	return msg->retain;
}

guint64
ng_outbox_message_get_serial(const NgOutboxMessage *msg)
{
	return msg->serial;
}

const void *
ng_outbox_message_get_correlation_data(const NgOutboxMessage *msg, gsize *len)
{
	if (len != NULL)
		*len = msg->correlation_len;
	return msg->correlation;
}

/* @correlation (@correlation_len bytes) may be NULL: no correlation data. */
static NgOutboxMessage *
ng_outbox_message_new(NgOutbox *outbox, NgOutboxKind kind, const char *topic, const void *payload,
		      gsize payload_len, int qos, gboolean retain, const void *correlation,
		      gsize correlation_len)
{
	gsize topic_len = strlen(topic);
	gsize extra = correlation != NULL ? correlation_len : 0;
	NgOutboxMessage *msg = g_malloc(sizeof(NgOutboxMessage) + payload_len + 1 + topic_len + 1 + extra);

	memset(msg, 0, sizeof(*msg));
	msg->link.data = msg;
	msg->tlink.data = msg;
	msg->serial = ++outbox->next_serial;
	msg->kind = kind;
	msg->qos = qos;
	msg->retain = retain ? 1 : 0;
	msg->payload_len = payload_len;
	if (payload_len > 0)
		memcpy(msg->data, payload, payload_len);
	msg->data[payload_len] = '\0';
	msg->topic = msg->data + payload_len + 1;
	memcpy(msg->topic, topic, topic_len + 1);
	if (correlation != NULL) {
		msg->correlation = msg->topic + topic_len + 1;
		msg->correlation_len = correlation_len;
		if (correlation_len > 0)
			memcpy(msg->correlation, correlation, correlation_len);
	}
	return msg;
}

static void
ng_outbox_state_free(gpointer data)
{
	NgOutboxState *state = data;

	g_bytes_unref(state->payload);
	g_free(state);
}

static void
ng_outbox_remember_state(NgOutbox *outbox, NgOutboxMessage *msg)
{
	NgOutboxState *state = g_new0(NgOutboxState, 1);

	state->payload = g_bytes_new(msg->data, msg->payload_len);
	state->qos = msg->qos;
	state->retain = msg->retain;
	g_hash_table_replace(outbox->state_latest, g_strdup(msg->topic), state);
}

/* Adds @msg to a queue, at the tail or (a resend) at the head, keeping the STATE bookkeeping. */
static void
ng_outbox_enqueue(NgOutbox *outbox, NgOutboxMessage *msg, GQueue *queue, gboolean at_head)
{
	if (at_head)
		g_queue_push_head_link(queue, &msg->link);
	else
		g_queue_push_tail_link(queue, &msg->link);
	msg->queue = queue;
	if (msg->kind == NG_OUTBOX_KIND_STATE && queue == &outbox->pending) {
		g_hash_table_insert(outbox->state_waiting, msg->topic, msg);
		msg->state_waiting = 1;
	}
}

static void
ng_outbox_dequeue(NgOutbox *outbox, NgOutboxMessage *msg)
{
	if (msg->queue != NULL)
		g_queue_unlink(msg->queue, &msg->link);
	msg->queue = NULL;
	if (msg->state_waiting) {
		g_hash_table_remove(outbox->state_waiting, msg->topic);
		msg->state_waiting = 0;
	}
}

/* The message leaves the outbox for good (acknowledged, dropped, replaced or rejected). */
static void
ng_outbox_remove(NgOutbox *outbox, NgOutboxMessage *msg)
{
	ng_outbox_dequeue(outbox, msg);
	if (msg->kind == NG_OUTBOX_KIND_TELEMETRY)
		g_queue_unlink(&outbox->telemetry, &msg->tlink);
	g_hash_table_remove(outbox->by_serial, &msg->serial);
	if (msg->row_id != 0) {
		/* a row left behind is sent again after a crash: a QoS 1 duplicate, not a loss */
		g_array_append_val(outbox->delete_ids, msg->row_id);
		ng_store_touch_within(outbox->store, NG_OUTBOX_TELEMETRY_COMMIT_MS);
	}
	g_free(msg);
}

static void
ng_outbox_add(NgOutbox *outbox, NgOutboxMessage *msg)
{
	NgOutboxMessage *older;

	if (msg->kind == NG_OUTBOX_KIND_STATE) {
		older = g_hash_table_lookup(outbox->state_waiting, msg->topic);
		if (older != NULL) {
			ng_outbox_remove(outbox, older);
			outbox->counters.replaced_state++;
		}
	}
	if (msg->kind == NG_OUTBOX_KIND_TELEMETRY)
		g_queue_push_tail_link(&outbox->telemetry, &msg->tlink);
	g_hash_table_insert(outbox->by_serial, &msg->serial, msg);
	ng_outbox_enqueue(outbox, msg, &outbox->pending, FALSE);
}

/* Drops the oldest telemetry that is not in flight (what is in flight may already be delivered). */
static gboolean
ng_outbox_drop_oldest_telemetry(NgOutbox *outbox)
{
	for (GList *l = outbox->telemetry.head; l != NULL; l = l->next) {
		NgOutboxMessage *msg = l->data;
		if (msg->queue == &outbox->in_flight)
			continue;
		ng_outbox_remove(outbox, msg);
		outbox->counters.dropped_telemetry++;
		return TRUE;
	}
	return FALSE;
}

/* Makes room for one more message; FALSE if @kind is telemetry and no older telemetry can go. */
static gboolean
ng_outbox_make_room(NgOutbox *outbox, NgOutboxKind kind)
{
	guint64 queued = g_hash_table_size(outbox->by_serial);

	if (queued < outbox->max_messages) {
		if (outbox->dropping && queued < outbox->max_messages - outbox->max_messages / 10)
			outbox->dropping = FALSE;
		return TRUE;
	}
	if (!outbox->dropping) {
		g_message("outbox full (%" G_GUINT64_FORMAT " messages): dropping the oldest telemetry",
			  outbox->max_messages);
		outbox->dropping = TRUE;
	}
	if (ng_outbox_drop_oldest_telemetry(outbox))
		return TRUE;
	return kind != NG_OUTBOX_KIND_TELEMETRY;
}

static gboolean
ng_outbox_validate(const char *topic, int qos, GError **error)
{
	if (topic == NULL || topic[0] == '\0') {
		g_set_error_literal(error, NG_OUTBOX_ERROR, NG_OUTBOX_ERROR_INVALID_ARGS, "topic: empty");
		return FALSE;
	}
	if (strpbrk(topic, "+#") != NULL) {
		g_set_error(error, NG_OUTBOX_ERROR, NG_OUTBOX_ERROR_INVALID_ARGS,
			    "topic: wildcards (+, #) are not allowed in a topic name: '%s'", topic);
		return FALSE;
	}
	if (!g_utf8_validate(topic, -1, NULL)) {
		g_set_error_literal(error, NG_OUTBOX_ERROR, NG_OUTBOX_ERROR_INVALID_ARGS,
				    "topic: not valid UTF-8");
		return FALSE;
	}
	if (qos != 0 && qos != 1) {
		g_set_error(error, NG_OUTBOX_ERROR, NG_OUTBOX_ERROR_INVALID_ARGS,
			    "qos: must be 0 or 1, got %d", qos);
		return FALSE;
	}
	return TRUE;
}

static gboolean
ng_outbox_push_full(NgOutbox *outbox, NgOutboxKind kind, const char *topic, const char *payload,
		    gsize payload_len, int qos, gboolean retain, const void *correlation,
		    gsize correlation_len, GError **error)
{
	NgOutboxMessage *msg;
	gboolean was_idle;

	if (!ng_outbox_validate(topic, qos, error))
		return FALSE;
	if (payload_len > NG_OUTBOX_MAX_PAYLOAD) {
		g_set_error(error, NG_OUTBOX_ERROR, NG_OUTBOX_ERROR_INVALID_ARGS,
			    "payload: %" G_GSIZE_FORMAT " bytes, more than MQTT allows", payload_len);
		return FALSE;
	}
	if (!ng_outbox_make_room(outbox, kind)) {
		outbox->counters.dropped_telemetry++;
		return TRUE;
	}
	was_idle = outbox->pending.length == 0;
	msg = ng_outbox_message_new(outbox, kind, topic, payload, payload_len, qos, retain, correlation,
				    correlation_len);
	if (kind == NG_OUTBOX_KIND_STATE)
		ng_outbox_remember_state(outbox, msg);
	ng_outbox_add(outbox, msg);
	g_array_append_val(outbox->unsaved, msg->serial);
	outbox->counters.pushed++;
	if (kind == NG_OUTBOX_KIND_TELEMETRY)
		ng_store_touch_within(outbox->store, NG_OUTBOX_TELEMETRY_COMMIT_MS);
	else
		ng_store_touch(outbox->store);
	if (was_idle && outbox->ready_func != NULL)
		outbox->ready_func(outbox, outbox->ready_data);
	return TRUE;
}

gboolean
ng_outbox_push(NgOutbox *outbox, NgOutboxKind kind, const char *topic, const char *payload, gsize payload_len,
	       int qos, gboolean retain, GError **error)
{
	g_return_val_if_fail(outbox != NULL, FALSE);
	g_return_val_if_fail(kind <= NG_OUTBOX_KIND_STATE, FALSE);
	g_return_val_if_fail(payload != NULL || payload_len == 0, FALSE);

	return ng_outbox_push_full(outbox, kind, topic, payload, payload_len, qos, retain, NULL, 0, error);
}

gboolean
ng_outbox_push_response(NgOutbox *outbox, const char *topic, const char *payload, gsize payload_len,
			GBytes *correlation_data, GError **error)
{
	const void *correlation = NULL;
	gsize correlation_len = 0;

	g_return_val_if_fail(outbox != NULL, FALSE);
	g_return_val_if_fail(payload != NULL || payload_len == 0, FALSE);

	if (correlation_data != NULL) {
		correlation = g_bytes_get_data(correlation_data, &correlation_len);
		/* empty GBytes may have no data pointer: still "present", with zero bytes */
		if (correlation == NULL)
			correlation = "";
	}
	if (correlation_len > NG_OUTBOX_MAX_CORRELATION) {
		g_set_error(error, NG_OUTBOX_ERROR, NG_OUTBOX_ERROR_INVALID_ARGS,
			    "correlation_data: %" G_GSIZE_FORMAT " bytes, MQTT allows at most %d",
			    correlation_len, NG_OUTBOX_MAX_CORRELATION);
		return FALSE;
	}
	return ng_outbox_push_full(outbox, NG_OUTBOX_KIND_EVENT, topic, payload, payload_len, 1, FALSE,
				   correlation, correlation_len, error);
}

void
ng_outbox_get_counters(NgOutbox *outbox, NgOutboxCounters *counters)
{
	g_return_if_fail(outbox != NULL);
	*counters = outbox->counters;
	counters->queued = g_hash_table_size(outbox->by_serial);
}

guint64
ng_outbox_get_max_messages(NgOutbox *outbox)
{
	return outbox->max_messages;
}

void
ng_outbox_set_ready_handler(NgOutbox *outbox, NgOutboxReadyFunc func, gpointer user_data)
{
	outbox->ready_func = func;
	outbox->ready_data = user_data;
}

void
ng_outbox_set_sync_handler(NgOutbox *outbox, NgOutboxSyncFunc func, gpointer user_data)
{
	outbox->sync_func = func;
	outbox->sync_data = user_data;
}

gboolean
ng_outbox_state_is_delivered(NgOutbox *outbox, const char *topic, const char *payload)
{
	NgOutboxState *state = g_hash_table_lookup(outbox->state_latest, topic);
	gsize len = 0;
	const void *data;

	if (state == NULL || g_hash_table_contains(outbox->state_waiting, topic))
		return FALSE;
	data = g_bytes_get_data(state->payload, &len);
	if (len != strlen(payload) || memcmp(data, payload, len) != 0)
		return FALSE;
	for (GList *l = outbox->in_flight.head; l != NULL; l = l->next) {
		if (strcmp(((NgOutboxMessage *)l->data)->topic, topic) == 0)
			return FALSE;
	}
	return TRUE;
}

NgOutboxMessage *
ng_outbox_take_next(NgOutbox *outbox)
{
	NgOutboxMessage *msg;

	if (outbox->pending.head == NULL)
		return NULL;
	msg = outbox->pending.head->data;
	ng_outbox_dequeue(outbox, msg);
	ng_outbox_enqueue(outbox, msg, &outbox->in_flight, FALSE);
	outbox->counters.published++;
	return msg;
}

guint
ng_outbox_get_in_flight(NgOutbox *outbox)
{
	return outbox->in_flight.length;
}

void
ng_outbox_acked(NgOutbox *outbox, guint64 serial)
{
	NgOutboxMessage *msg = g_hash_table_lookup(outbox->by_serial, &serial);

	if (msg == NULL)
		return;
	ng_outbox_remove(outbox, msg);
	outbox->counters.acked++;
}

void
ng_outbox_rejected(NgOutbox *outbox, guint64 serial)
{
	NgOutboxMessage *msg = g_hash_table_lookup(outbox->by_serial, &serial);

	if (msg == NULL)
		return;
	ng_outbox_remove(outbox, msg);
	outbox->counters.rejected++;
}

/* Puts an in-flight message back at the head of the waiting ones; superseded state just goes. */
static void
ng_outbox_unsend(NgOutbox *outbox, NgOutboxMessage *msg)
{
	ng_outbox_dequeue(outbox, msg);
	if (msg->kind == NG_OUTBOX_KIND_STATE && g_hash_table_contains(outbox->state_waiting, msg->topic)) {
		ng_outbox_remove(outbox, msg);
		outbox->counters.replaced_state++;
		return;
	}
	ng_outbox_enqueue(outbox, msg, &outbox->pending, TRUE);
}

void
ng_outbox_send_failed(NgOutbox *outbox, guint64 serial)
{
	NgOutboxMessage *msg = g_hash_table_lookup(outbox->by_serial, &serial);

	if (msg == NULL || msg->queue != &outbox->in_flight)
		return;
	ng_outbox_unsend(outbox, msg);
}

void
ng_outbox_requeue_in_flight(NgOutbox *outbox)
{
	/* from the newest back, each to the head: the pending queue ends up in the original order */
	while (outbox->in_flight.tail != NULL)
		ng_outbox_unsend(outbox, outbox->in_flight.tail->data);
}

void
ng_outbox_republish_state(NgOutbox *outbox)
{
	GHashTableIter iter;
	gpointer key, value;

	g_hash_table_iter_init(&iter, outbox->state_latest);
	while (g_hash_table_iter_next(&iter, &key, &value)) {
		const char *topic = key;
		NgOutboxState *state = value;
		NgOutboxMessage *msg;
		gsize len = 0;
		const void *data;

		if (g_hash_table_contains(outbox->state_waiting, topic))
			continue;
		data = g_bytes_get_data(state->payload, &len);
		msg = ng_outbox_message_new(outbox, NG_OUTBOX_KIND_STATE, topic, data, len, state->qos,
					    state->retain, NULL, 0);
		msg->is_volatile = 1;
		g_hash_table_insert(outbox->by_serial, &msg->serial, msg);
		ng_outbox_enqueue(outbox, msg, &outbox->pending, TRUE);
	}
}

/* ---- persistence ---------------------------------------------------------------------------- */

static gint
ng_outbox_cmp_row_id(gconstpointer a, gconstpointer b)
{
	gint64 x = *(const gint64 *)a;
	gint64 y = *(const gint64 *)b;

	return x < y ? -1 : x > y;
}

/* Deletes acknowledged rows in runs of consecutive ids: acks mostly come in order, so few statements. */
static gboolean
ng_outbox_write_deletes(NgOutbox *outbox)
{
	GArray *ids = outbox->delete_ids;
	guint i = 0;

	g_array_sort(ids, ng_outbox_cmp_row_id);
	while (i < ids->len) {
		gint64 first = g_array_index(ids, gint64, i);
		gint64 last = first;
		int rc;

		for (i++; i < ids->len && g_array_index(ids, gint64, i) == last + 1; i++)
			last++;
		sqlite3_bind_int64(outbox->stmt_delete_range, 1, first);
		sqlite3_bind_int64(outbox->stmt_delete_range, 2, last);
		rc = sqlite3_step(outbox->stmt_delete_range);
		sqlite3_reset(outbox->stmt_delete_range);
		if (rc != SQLITE_DONE)
			return FALSE;
	}
	g_array_set_size(ids, 0);
	return TRUE;
}

static gboolean
ng_outbox_write_row(NgOutbox *outbox, NgOutboxMessage *msg)
{
	sqlite3_stmt *stmt = outbox->stmt_insert;
	int rc;

	sqlite3_bind_int(stmt, 1, msg->kind);
	sqlite3_bind_text(stmt, 2, msg->topic, -1, SQLITE_STATIC);
	sqlite3_bind_blob(stmt, 3, msg->data, (int)msg->payload_len, SQLITE_STATIC);
	sqlite3_bind_int(stmt, 4, msg->qos);
	sqlite3_bind_int(stmt, 5, msg->retain);
	if (msg->correlation != NULL)
		sqlite3_bind_blob(stmt, 6, msg->correlation, (int)msg->correlation_len, SQLITE_STATIC);
	else
		sqlite3_bind_null(stmt, 6);
	rc = sqlite3_step(stmt);
	sqlite3_reset(stmt);
	if (rc != SQLITE_DONE)
		return FALSE;
	msg->row_id = sqlite3_last_insert_rowid(ng_store_get_db(outbox->store));
	return TRUE;
}

static gboolean
ng_outbox_write_inserts(NgOutbox *outbox)
{
	for (guint i = 0; i < outbox->unsaved->len; i++) {
		guint64 serial = g_array_index(outbox->unsaved, guint64, i);
		NgOutboxMessage *msg = g_hash_table_lookup(outbox->by_serial, &serial);

		/* gone already (acknowledged, dropped, replaced): it never touches the disk */
		if (msg == NULL || msg->row_id != 0 || msg->is_volatile)
			continue;
		if (!ng_outbox_write_row(outbox, msg))
			return FALSE;
	}
	g_array_set_size(outbox->unsaved, 0);
	return TRUE;
}

static void
ng_outbox_append_unsaved(NgOutbox *outbox, GQueue *queue)
{
	for (GList *l = queue->head; l != NULL; l = l->next) {
		NgOutboxMessage *msg = l->data;
		msg->row_id = 0;
		g_array_append_val(outbox->unsaved, msg->serial);
	}
}

/* After a failed commit nobody knows which rows exist: write the table again from memory, in order. */
static gboolean
ng_outbox_rewrite_all(NgOutbox *outbox)
{
	if (sqlite3_exec(ng_store_get_db(outbox->store), "DELETE FROM outbox", NULL, NULL, NULL) != SQLITE_OK)
		return FALSE;
	g_array_set_size(outbox->delete_ids, 0);
	g_array_set_size(outbox->unsaved, 0);
	ng_outbox_append_unsaved(outbox, &outbox->in_flight);
	ng_outbox_append_unsaved(outbox, &outbox->pending);
	outbox->rewrite_all = FALSE;
	return TRUE;
}

static void
ng_outbox_pre_commit_cb(NgStore *store, gpointer user_data)
{
	NgOutbox *outbox = user_data;
	g_autoptr(GError) error = NULL;

	/* acknowledgements that arrived since the last wake-up: those messages need no row */
	if (outbox->sync_func != NULL)
		outbox->sync_func(outbox, outbox->sync_data);
	if (outbox->rewrite_all && !ng_outbox_rewrite_all(outbox)) {
		ng_store_set_error(store, &error, "outbox: rewrite");
		g_warning("%s", error->message);
		return;
	}
	/* deletes first: a freed id may be reused by the next insert */
	if (!ng_outbox_write_deletes(outbox) || !ng_outbox_write_inserts(outbox)) {
		ng_store_set_error(store, &error, "outbox: write");
		g_warning("%s", error->message);
		outbox->rewrite_all = TRUE;
		ng_store_touch(store);
	}
}

static void
ng_outbox_committed_cb(NgStore *store, gboolean committed, gpointer user_data)
{
	NgOutbox *outbox = user_data;

	if (!committed)
		outbox->rewrite_all = TRUE;
}

static NgOutboxKind
ng_outbox_kind_from_db(int kind)
{
	switch (kind) {
	case NG_OUTBOX_KIND_TELEMETRY:
	case NG_OUTBOX_KIND_EVENT:
	case NG_OUTBOX_KIND_STATE:
		return kind;
	default:
		return NG_OUTBOX_KIND_EVENT; /* unknown: keep it, never drop it */
	}
}

static gboolean
ng_outbox_load(NgOutbox *outbox, GError **error)
{
	sqlite3_stmt *stmt = ng_store_prepare(
	    outbox->store,
	    "SELECT id, kind, topic, payload, qos, retain, correlation FROM outbox ORDER BY id", error);
	int rc;

	if (stmt == NULL)
		return FALSE;
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		const char *topic = (const char *)sqlite3_column_text(stmt, 2);
		NgOutboxKind kind = ng_outbox_kind_from_db(sqlite3_column_int(stmt, 1));
		int qos = sqlite3_column_int(stmt, 4) == 0 ? 0 : 1;
		gboolean has_correlation = sqlite3_column_type(stmt, 6) != SQLITE_NULL;
		/* a zero-length blob reads as a NULL pointer: still present, with no bytes */
		const void *correlation = has_correlation ? sqlite3_column_blob(stmt, 6) : NULL;
		gsize correlation_len = has_correlation ? (gsize)sqlite3_column_bytes(stmt, 6) : 0;
		NgOutboxMessage *msg;

		if (has_correlation && correlation == NULL)
			correlation = "";
		msg = ng_outbox_message_new(outbox, kind, topic != NULL ? topic : "",
					    sqlite3_column_blob(stmt, 3), sqlite3_column_bytes(stmt, 3), qos,
					    sqlite3_column_int(stmt, 5), correlation,
					    MIN(correlation_len, NG_OUTBOX_MAX_CORRELATION));
		msg->row_id = sqlite3_column_int64(stmt, 0);
		if (kind == NG_OUTBOX_KIND_STATE)
			ng_outbox_remember_state(outbox, msg);
		ng_outbox_add(outbox, msg);
	}
	sqlite3_finalize(stmt);
	if (rc != SQLITE_DONE) {
		ng_store_set_error(outbox->store, error, "outbox: load");
		return FALSE;
	}
	while (g_hash_table_size(outbox->by_serial) > outbox->max_messages &&
	       ng_outbox_drop_oldest_telemetry(outbox))
		;
	return TRUE;
}

NgOutbox *
ng_outbox_new(NgStore *store, guint64 max_messages, GError **error)
{
	g_autoptr(NgOutbox) outbox = NULL;

	g_return_val_if_fail(store != NULL, NULL);

	if (max_messages == 0) {
		g_set_error_literal(error, NG_OUTBOX_ERROR, NG_OUTBOX_ERROR_INVALID_ARGS,
				    "max_messages: must be at least 1");
		return NULL;
	}
	outbox = g_new0(NgOutbox, 1);

	outbox->store = store;
	outbox->max_messages = max_messages;
	g_queue_init(&outbox->pending);
	g_queue_init(&outbox->in_flight);
	g_queue_init(&outbox->telemetry);
	outbox->by_serial = g_hash_table_new(g_int64_hash, g_int64_equal);
	outbox->unsaved = g_array_new(FALSE, FALSE, sizeof(guint64));
	outbox->delete_ids = g_array_new(FALSE, FALSE, sizeof(gint64));
	outbox->state_latest = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, ng_outbox_state_free);
	outbox->state_waiting = g_hash_table_new(g_str_hash, g_str_equal);

	if (!ng_store_ensure_schema(store, "outbox", 2, NG_OUTBOX_SCHEMA_V2, error))
		return NULL;
	outbox->stmt_insert = ng_store_prepare(
	    store,
	    "INSERT INTO outbox (kind, topic, payload, qos, retain, correlation) VALUES (?, ?, ?, ?, ?, ?)",
	    error);
	if (outbox->stmt_insert == NULL)
		return NULL;
	outbox->stmt_delete_range =
	    ng_store_prepare(store, "DELETE FROM outbox WHERE id BETWEEN ? AND ?", error);
	if (outbox->stmt_delete_range == NULL)
		return NULL;
	if (!ng_outbox_load(outbox, error))
		return NULL;
	outbox->hooks_id = ng_store_add_hooks(store, ng_outbox_pre_commit_cb, ng_outbox_committed_cb, outbox);
	if (g_hash_table_size(outbox->by_serial) > 0)
		g_info("outbox: %u messages left from the last run will be sent",
		       g_hash_table_size(outbox->by_serial));
	return g_steal_pointer(&outbox);
}

void
ng_outbox_free(NgOutbox *outbox)
{
	g_autoptr(GError) error = NULL;
	GHashTableIter iter;
	gpointer value;

	if (outbox == NULL)
		return;
	if (outbox->hooks_id != 0) {
		/* what was pushed since the last commit must reach the disk */
		if (!ng_store_flush(outbox->store, &error))
			g_warning("outbox: %s", error->message);
		ng_store_remove_hooks(outbox->store, outbox->hooks_id);
	}
	sqlite3_finalize(outbox->stmt_insert);
	sqlite3_finalize(outbox->stmt_delete_range);
	g_hash_table_iter_init(&iter, outbox->by_serial);
	while (g_hash_table_iter_next(&iter, NULL, &value))
		g_free(value);
	g_hash_table_unref(outbox->by_serial);
	g_hash_table_unref(outbox->state_waiting);
	g_hash_table_unref(outbox->state_latest);
	g_array_unref(outbox->unsaved);
	g_array_unref(outbox->delete_ids);
	g_free(outbox);
}
