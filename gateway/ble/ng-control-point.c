/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A pen's Control Point: one request at a time, each answered by its indication, a timeout, or the link's
 * end. */

#include "ng-control-point.h"

typedef struct {
	guint id;
	guint8 op;
	guint8 buf[NP_CONTROL_REQUEST_MAX_SIZE];
	gsize len;
	GTask *task;
} Request;

struct _NgControlPoint {
	char *label;
	NgControlPointWriteFunc write_func;
	NgControlPointHookFunc before_answer;
	gpointer user_data;
	gboolean ready;
	GQueue queue;
	Request *current;
	guint timeout_id;
	guint next_id;
};

static void next(NgControlPoint *cp);

static void
request_fail(Request *req, gint code, const char *message)
{
	g_task_return_new_error(req->task, G_IO_ERROR, code, "%s", message);
	g_object_unref(req->task);
	g_free(req);
}

NgControlPoint *
ng_control_point_new(const char *label, NgControlPointWriteFunc write_func,
		     NgControlPointHookFunc before_answer, gpointer user_data)
{
	NgControlPoint *cp = g_new0(NgControlPoint, 1);

	cp->label = g_strdup(label);
	cp->write_func = write_func;
	cp->before_answer = before_answer;
	cp->user_data = user_data;
	g_queue_init(&cp->queue);
	return cp;
}

void
ng_control_point_reset(NgControlPoint *cp)
{
	Request *req;

	cp->ready = FALSE;
	g_clear_handle_id(&cp->timeout_id, g_source_remove);
	if (cp->current != NULL)
		request_fail(g_steal_pointer(&cp->current), G_IO_ERROR_NOT_CONNECTED,
			     "the pen disconnected before it answered");
	while ((req = g_queue_pop_head(&cp->queue)) != NULL)
		request_fail(req, G_IO_ERROR_NOT_CONNECTED, "the pen disconnected before it answered");
}

void
ng_control_point_free(NgControlPoint *cp)
{
	if (cp == NULL)
		return;
	ng_control_point_reset(cp);
	g_free(cp->label);
	g_free(cp);
}

void
ng_control_point_set_label(NgControlPoint *cp, const char *label)
{
	g_free(cp->label);
	cp->label = g_strdup(label);
}

void
ng_control_point_set_ready(NgControlPoint *cp, gboolean ready)
{
	cp->ready = ready;
	next(cp);
}

/* Answers the current request: with @resp, or with the error @code. */
static void
finish(NgControlPoint *cp, const NpControlResponse *resp, gint code, const char *message)
{
	g_autofree Request *req = g_steal_pointer(&cp->current);
	g_autoptr(GTask) task = req->task;

	g_clear_handle_id(&cp->timeout_id, g_source_remove);
	if (cp->before_answer != NULL)
		cp->before_answer(cp->user_data);
	if (resp != NULL)
		g_task_return_pointer(task, g_memdup2(resp, sizeof(*resp)), g_free);
	else
		g_task_return_new_error(task, G_IO_ERROR, code, "%s", message);
	next(cp);
}

static gboolean
timeout_cb(gpointer user_data)
{
	NgControlPoint *cp = user_data;

	cp->timeout_id = 0;
	g_message("pen %s: no answer to %s on the Control Point within %d s", cp->label,
		  np_op_code_to_string(cp->current->op), NG_CONTROL_POINT_TIMEOUT_S);
	finish(cp, NULL, G_IO_ERROR_TIMED_OUT, "the pen did not answer the request");
	return G_SOURCE_REMOVE;
}

static void
next(NgControlPoint *cp)
{
	if (!cp->ready || cp->current != NULL || g_queue_is_empty(&cp->queue))
		return;
	cp->current = g_queue_pop_head(&cp->queue);
	cp->timeout_id = g_timeout_add_seconds(NG_CONTROL_POINT_TIMEOUT_S, timeout_cb, cp);
	cp->write_func(cp, cp->current->id, cp->current->buf, cp->current->len, cp->user_data);
}

void
ng_control_point_submit_async(NgControlPoint *cp, const NpControlRequest *request,
			      GAsyncReadyCallback callback, gpointer user_data)
{
	g_autofree Request *req = g_new0(Request, 1);
	NpStatus st = np_control_request_encode(request, req->buf, sizeof(req->buf), &req->len);

	req->task = g_task_new(NULL, NULL, callback, user_data);
	if (st != NP_OK) {
		request_fail(g_steal_pointer(&req), G_IO_ERROR_INVALID_ARGUMENT, np_status_describe(st));
		return;
	}
	req->id = ++cp->next_id;
	req->op = request->op;
	g_queue_push_tail(&cp->queue, g_steal_pointer(&req));
	next(cp);
}

gboolean
ng_control_point_submit_finish(GAsyncResult *result, NpControlResponse *response, GError **error)
{
	g_autofree NpControlResponse *resp = g_task_propagate_pointer(G_TASK(result), error);

	if (resp == NULL)
		return FALSE;
	*response = *resp;
	return TRUE;
}

gboolean
ng_control_point_indication(NgControlPoint *cp, const guint8 *data, gsize len, NpStatus *status,
			    size_t *offset)
{
	NpControlResponse resp;

	*offset = 0;
	*status = np_control_response_decode(data, len, &resp, offset);
	if (*status != NP_OK)
		return FALSE;
	if (cp->current == NULL || cp->current->op != resp.request_op) {
		g_debug("pen %s: unexpected Control Point answer to %s", cp->label,
			np_op_code_to_string(resp.request_op));
		return TRUE;
	}
	finish(cp, &resp, 0, NULL);
	return TRUE;
}

void
ng_control_point_write_failed(NgControlPoint *cp, guint id, const char *message)
{
	g_autofree char *why = NULL;

	if (cp->current == NULL || cp->current->id != id)
		return;
	g_message("pen %s: writing %s to the Control Point failed: %s", cp->label,
		  np_op_code_to_string(cp->current->op), message);
	why = g_strdup_printf("writing the request failed: %s", message);
	finish(cp, NULL, G_IO_ERROR_FAILED, why);
}

guint8
ng_control_point_get_current_op(NgControlPoint *cp)
{
	return cp->current != NULL ? cp->current->op : 0;
}

void
ng_control_point_extend(NgControlPoint *cp)
{
	if (cp->current == NULL)
		return;
	g_clear_handle_id(&cp->timeout_id, g_source_remove);
	cp->timeout_id = g_timeout_add_seconds(NG_CONTROL_POINT_TIMEOUT_S, timeout_cb, cp);
}
