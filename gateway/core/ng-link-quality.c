/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A connected pen's link quality: RSSI to 0-255, which readings are worth publishing, weak links. */

#include "ng-link-quality.h"

#include <stdlib.h>

guint8
ng_link_quality_from_dbm(int dbm)
{
	const int span = NG_LINK_QUALITY_CEILING_DBM - NG_LINK_QUALITY_FLOOR_DBM;

	if (dbm <= NG_LINK_QUALITY_FLOOR_DBM)
		return 0;
	if (dbm >= NG_LINK_QUALITY_CEILING_DBM)
		return 255;
	/* (dbm - floor) * 255 / span, rounded to the nearest: both terms are positive here */
	return (guint8)(((dbm - NG_LINK_QUALITY_FLOOR_DBM) * 255 + span / 2) / span);
}

void
ng_link_quality_init(NgLinkQuality *lq, int weak_dbm, guint weak_seconds)
{
	g_return_if_fail(lq != NULL);

	*lq = (NgLinkQuality){
	    .weak_dbm = weak_dbm,
	    .weak_ms = (gint64)weak_seconds * 1000,
	    .below_since_ms = -1,
	};
}

static NgLinkQualityNews
update_published(NgLinkQuality *lq, gboolean known, int dbm)
{
	if (known == lq->known && (!known || abs(dbm - lq->dbm) <= NG_LINK_QUALITY_CHANGE_DB))
		return NG_LINK_QUALITY_NEWS_NONE;
	lq->known = known;
	lq->dbm = known ? dbm : 0;
	return NG_LINK_QUALITY_NEWS_CHANGED;
}

static NgLinkQualityNews
update_weak(NgLinkQuality *lq, gboolean known, int dbm, gint64 now_ms)
{
	if (!known) {
		lq->below_since_ms = -1; /* the streak is not proven: start it again */
		return NG_LINK_QUALITY_NEWS_NONE;
	}
	if (dbm >= lq->weak_dbm) {
		lq->below_since_ms = -1;
		lq->weak_fired = FALSE;
		return NG_LINK_QUALITY_NEWS_NONE;
	}
	if (lq->below_since_ms < 0)
		lq->below_since_ms = now_ms;
	if (lq->weak_ms == 0 || lq->weak_fired || now_ms - lq->below_since_ms < lq->weak_ms)
		return NG_LINK_QUALITY_NEWS_NONE;
	lq->weak_fired = TRUE;
	return NG_LINK_QUALITY_NEWS_WEAK;
}

NgLinkQualityNews
ng_link_quality_reading(NgLinkQuality *lq, gboolean known, int dbm, gint64 now_ms)
{
	g_return_val_if_fail(lq != NULL, NG_LINK_QUALITY_NEWS_NONE);

	return update_published(lq, known, dbm) | update_weak(lq, known, dbm, now_ms);
}

NgLinkQualityNews
ng_link_quality_reset(NgLinkQuality *lq)
{
	g_return_val_if_fail(lq != NULL, NG_LINK_QUALITY_NEWS_NONE);

	lq->below_since_ms = -1;
	lq->weak_fired = FALSE;
	return update_published(lq, FALSE, 0);
}

gboolean
ng_link_quality_get(const NgLinkQuality *lq, int *dbm)
{
	g_return_val_if_fail(lq != NULL, FALSE);

	if (dbm != NULL)
		*dbm = lq->dbm;
	return lq->known;
}
