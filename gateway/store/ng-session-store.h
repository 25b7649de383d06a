/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A pen's sequence tracker (core/ng-session.c) saved in the store and restored at start. */

#pragma once

#include "ng-session.h"
#include "ng-store.h"

G_BEGIN_DECLS

/*
 * The tracker's state is one row of pen_sessions per pen. It is written in the store's
 * pre-commit hook, when every message pushed so far is either acknowledged or in the same
 * transaction, so saving is always safe; the only question is how often. A row rewritten at
 * every commit would cost a WAL write per notification at low rates, where the outbox itself
 * writes nothing (the broker acknowledges within the commit window). So: a new session's start
 * or end is saved at the next commit; a mere new sequence number rides along with any commit
 * that writes anyway, and is saved on its own at most every 250 ms. A crash may then repeat
 * that much (as replayed records), never miss anything.
 */
typedef struct _NgSessionStore NgSessionStore;

/* Restores @session's saved state from @store and saves it from now on (@session outlives it). */
NgSessionStore *ng_session_store_new(NgStore *store, NgSession *session, GError **error);
/* Saves what changed and stops following the tracker. */
void ng_session_store_free(NgSessionStore *ss);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(NgSessionStore, ng_session_store_free)

/* Writes the state now if it changed (the pre-commit hook does this on every commit). */
gboolean ng_session_store_save(NgSessionStore *ss, GError **error);

G_END_DECLS
