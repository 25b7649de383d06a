/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The main loop in unit tests, bounded: runs until a condition or a time, never hangs. */

#pragma once

#include <glib.h>

/* Runs what is ready now (GTask answers come in an idle). */
static inline void
ng_test_pump(void)
{
	while (g_main_context_iteration(NULL, FALSE))
		;
}

static inline gboolean
ng_test_flag_cb(gpointer user_data)
{
	*(gboolean *)user_data = TRUE;
	return G_SOURCE_REMOVE;
}

/* Runs the main loop until @done (@data) holds, at most @cap_ms; returns how long it ran, in ms. */
static inline gint64
ng_test_run_while(gboolean (*done)(gpointer data), gpointer data, guint cap_ms)
{
	gint64 start = g_get_monotonic_time();
	gboolean cap = FALSE;
	guint id = g_timeout_add(cap_ms, ng_test_flag_cb, &cap);

	while (!done(data) && !cap)
		g_main_context_iteration(NULL, TRUE);
	if (!cap)
		g_source_remove(id);
	return (g_get_monotonic_time() - start) / 1000;
}

/* Runs the main loop for @ms (timers due in that time fire). */
static inline void
ng_test_run_for(guint ms)
{
	gboolean done = FALSE;

	g_timeout_add(ms, ng_test_flag_cb, &done);
	while (!done)
		g_main_context_iteration(NULL, TRUE);
}

/* Whether a timer is attached to the main context: one left behind would fire into freed memory. */
static inline gboolean
ng_test_timer_pending(void)
{
	GMainContext *ctx = g_main_context_default();
	GPollFD fds[16];
	gint priority = 0;
	gint timeout = -1;
	gint n;

	ng_test_pump();
	g_assert_true(g_main_context_acquire(ctx));
	g_main_context_prepare(ctx, &priority);
	n = g_main_context_query(ctx, G_MAXINT, &timeout, fds, G_N_ELEMENTS(fds));
	g_main_context_check(ctx, priority, fds, MIN(n, (gint)G_N_ELEMENTS(fds)));
	g_main_context_release(ctx);
	return timeout >= 0;
}
