/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A connected pen's link quality: RSSI to 0-255, which readings are worth publishing, weak links. */

#pragma once

#include <glib.h>

G_BEGIN_DECLS

/*
 * The hub reads the RSSI of each connected pen's LE connection every
 * [bluetooth] link_quality_interval seconds (ble/ng-hci.c) and feeds every
 * reading here. This file decides, without any I/O, what a reading means:
 *
 * - linkquality: linear from NG_LINK_QUALITY_FLOOR_DBM (0) to
 *   NG_LINK_QUALITY_CEILING_DBM (255), clamped, rounded to the nearest;
 * - what is published: a reading replaces the published value only when it
 *   differs from it by more than NG_LINK_QUALITY_CHANGE_DB, or when the value
 *   becomes known or unknown (a retained pens/<id>/state message every few
 *   seconds for a pen that moves its hand would be noise);
 * - a weak link: every reading below weak_dbm for at least weak_seconds gives
 *   one NG_LINK_QUALITY_WEAK; it fires again only after a reading at or above
 *   weak_dbm, or a new connection. An unknown reading breaks the streak.
 */
#define NG_LINK_QUALITY_FLOOR_DBM   (-100)
#define NG_LINK_QUALITY_CEILING_DBM (-40)
#define NG_LINK_QUALITY_CHANGE_DB   5

/* RSSI in dBm -> 0 (-100 dBm or less) to 255 (-40 dBm or more). */
guint8 ng_link_quality_from_dbm(int dbm);

typedef struct {
	/* settings */
	int weak_dbm;
	gint64 weak_ms; /* 0: no weak-link events */
	/* what is published */
	gboolean known;
	int dbm;
	/* the weak-link detector */
	gint64 below_since_ms; /* -1: the last reading was not below weak_dbm */
	gboolean weak_fired;   /* fired in this streak; re-armed by a reading at or above weak_dbm */
} NgLinkQuality;

typedef enum {
	NG_LINK_QUALITY_NEWS_NONE = 0,
	NG_LINK_QUALITY_NEWS_CHANGED = 1 << 0, /* the published value changed: publish the pen's state */
	NG_LINK_QUALITY_NEWS_WEAK = 1 << 1,    /* below weak_dbm for weak_seconds: one weak_link event */
} NgLinkQualityNews;

/* Nothing known yet; @weak_seconds 0: no weak-link events. */
void ng_link_quality_init(NgLinkQuality *lq, int weak_dbm, guint weak_seconds);
/* One reading at @now_ms (monotonic): @known FALSE when the read failed. */
NgLinkQualityNews ng_link_quality_reading(NgLinkQuality *lq, gboolean known, int dbm, gint64 now_ms);
/* The link went down: nothing known, the detector re-armed. CHANGED if a value was published. */
NgLinkQualityNews ng_link_quality_reset(NgLinkQuality *lq);
/* The published value: FALSE while unknown. */
gboolean ng_link_quality_get(const NgLinkQuality *lq, int *dbm);

G_END_DECLS
