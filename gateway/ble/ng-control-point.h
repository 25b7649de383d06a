/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A pen's Control Point: one request at a time, each answered by its indication, a timeout, or the link's
 * end. */

#pragma once

#include <gio/gio.h>

#include "np.h"

G_BEGIN_DECLS

/*
 * The profile allows one outstanding request: the queue writes the next one
 * only when the current one is answered (its indication, matched by op
 * code), timed out (NG_CONTROL_POINT_TIMEOUT_S, G_IO_ERROR_TIMED_OUT) or
 * failed to be written. Every request, the pen driver's own (Set Time) and
 * the hub's (Report Stored Records, Set Limits, Identify, Stop Session), goes
 * through ng_control_point_submit_async (): one path. When the link drops,
 * ng_control_point_reset () fails every request with G_IO_ERROR_NOT_CONNECTED.
 *
 * The write itself is the owner's (a GATT WriteValue over D-Bus, or a test's
 * fake): @write_func sends @len bytes and later reports a failed write with
 * ng_control_point_write_failed (); @before_answer runs before any answer is
 * delivered (the pen driver reads its telemetry socket there, so that records
 * sent before an answer reach the hub before the answer does).
 */
#define NG_CONTROL_POINT_TIMEOUT_S 5 /* the profile: a gateway waits 5 s for an answer */

typedef struct _NgControlPoint NgControlPoint;

typedef void (*NgControlPointWriteFunc)(NgControlPoint *cp, guint id, const guint8 *data, gsize len,
					gpointer user_data);
typedef void (*NgControlPointHookFunc)(gpointer user_data);

NgControlPoint *ng_control_point_new(const char *label, NgControlPointWriteFunc write_func,
				     NgControlPointHookFunc before_answer, gpointer user_data);
/* Fails what is queued (NOT_CONNECTED). */
void ng_control_point_free(NgControlPoint *cp);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(NgControlPoint, ng_control_point_free)

/* How the pen is named in logs (its serial once known). */
void ng_control_point_set_label(NgControlPoint *cp, const char *label);
/* Writes may start (the Control Point is subscribed) or must wait. */
void ng_control_point_set_ready(NgControlPoint *cp, gboolean ready);

/* Queues @request. Completes with the pen's response (whose result code may still say no), or
 * G_IO_ERROR_NOT_CONNECTED, G_IO_ERROR_TIMED_OUT, G_IO_ERROR_FAILED (the write failed),
 * G_IO_ERROR_INVALID_ARGUMENT (cannot be encoded). */
void ng_control_point_submit_async(NgControlPoint *cp, const NpControlRequest *request,
				   GAsyncReadyCallback callback, gpointer user_data);
gboolean ng_control_point_submit_finish(GAsyncResult *result, NpControlResponse *response, GError **error);

/* An indication of the Control Point. FALSE: malformed (counted by the caller), @status and
 * @offset say why. An answer that matches no request is ignored. */
gboolean ng_control_point_indication(NgControlPoint *cp, const guint8 *data, gsize len, NpStatus *status,
				     size_t *offset);
/* The write of request @id failed (the D-Bus error's message). */
void ng_control_point_write_failed(NgControlPoint *cp, guint id, const char *message);
/* The link is gone: every request fails with NOT_CONNECTED; writes wait for ready again. */
void ng_control_point_reset(NgControlPoint *cp);
/* The op code of the request the pen works on now, 0 when none. */
guint8 ng_control_point_get_current_op(NgControlPoint *cp);
/* The pen shows progress on the current request (a long replay): its timeout starts again. */
void ng_control_point_extend(NgControlPoint *cp);

G_END_DECLS
