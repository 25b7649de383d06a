/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Unit tests of the link quality: RSSI to 0-255, which readings are published, the weak-link detector. */

#include "config.h"

#include "ng-link-quality.h"

static void
test_mapping(void)
{
	static const struct {
		int dbm;
		guint8 quality;
	} cases[] = {
	    {-127, 0},	{-101, 0},  {-100, 0},	{-99, 4},   {-85, 64}, {-70, 128},
	    {-61, 166}, {-41, 251}, {-40, 255}, {-39, 255}, {0, 255},  {20, 255},
	};
	int last = -1;

	for (gsize i = 0; i < G_N_ELEMENTS(cases); i++)
		g_assert_cmpuint(ng_link_quality_from_dbm(cases[i].dbm), ==, cases[i].quality);
	/* monotonic, every step at most 5 (255 / 60 rounded up) */
	for (int dbm = -127; dbm <= 20; dbm++) {
		int q = ng_link_quality_from_dbm(dbm);
		g_assert_cmpint(q, >=, last);
		g_assert_cmpint(q - MAX(last, 0), <=, 5);
		last = q;
	}
}

static void
test_rate_limit(void)
{
	NgLinkQuality lq;
	int dbm = 0;

	ng_link_quality_init(&lq, -85, 60);
	g_assert_false(ng_link_quality_get(&lq, &dbm));
	/* unknown -> unknown: nothing to say */
	g_assert_cmpint(ng_link_quality_reading(&lq, FALSE, 0, 0), ==, NG_LINK_QUALITY_NEWS_NONE);
	/* null -> value */
	g_assert_cmpint(ng_link_quality_reading(&lq, TRUE, -60, 1000), ==, NG_LINK_QUALITY_NEWS_CHANGED);
	g_assert_true(ng_link_quality_get(&lq, &dbm));
	g_assert_cmpint(dbm, ==, -60);
	/* within 5 dB of what was published: kept, not published */
	g_assert_cmpint(ng_link_quality_reading(&lq, TRUE, -65, 2000), ==, NG_LINK_QUALITY_NEWS_NONE);
	g_assert_cmpint(ng_link_quality_reading(&lq, TRUE, -55, 3000), ==, NG_LINK_QUALITY_NEWS_NONE);
	g_assert_true(ng_link_quality_get(&lq, &dbm));
	g_assert_cmpint(dbm, ==, -60);
	/* more than 5 dB: published, and the new value is the reference */
	g_assert_cmpint(ng_link_quality_reading(&lq, TRUE, -66, 4000), ==, NG_LINK_QUALITY_NEWS_CHANGED);
	g_assert_true(ng_link_quality_get(&lq, &dbm));
	g_assert_cmpint(dbm, ==, -66);
	/* a slow drift is published once it adds up to more than 5 dB */
	g_assert_cmpint(ng_link_quality_reading(&lq, TRUE, -69, 5000), ==, NG_LINK_QUALITY_NEWS_NONE);
	g_assert_cmpint(ng_link_quality_reading(&lq, TRUE, -71, 6000), ==, NG_LINK_QUALITY_NEWS_NONE);
	g_assert_cmpint(ng_link_quality_reading(&lq, TRUE, -72, 7000), ==, NG_LINK_QUALITY_NEWS_CHANGED);
	/* value -> null, null -> value */
	g_assert_cmpint(ng_link_quality_reading(&lq, FALSE, 0, 8000), ==, NG_LINK_QUALITY_NEWS_CHANGED);
	g_assert_false(ng_link_quality_get(&lq, &dbm));
	g_assert_cmpint(ng_link_quality_reading(&lq, TRUE, -72, 9000), ==, NG_LINK_QUALITY_NEWS_CHANGED);
	/* the link goes down: published once, then nothing */
	g_assert_cmpint(ng_link_quality_reset(&lq), ==, NG_LINK_QUALITY_NEWS_CHANGED);
	g_assert_cmpint(ng_link_quality_reset(&lq), ==, NG_LINK_QUALITY_NEWS_NONE);
	g_assert_false(ng_link_quality_get(&lq, NULL));
}

/* Readings every 10 s; returns how many weak-link events @n readings of @dbm gave from @t_ms on. */
static guint
feed(NgLinkQuality *lq, gint64 *t_ms, int dbm, guint n)
{
	guint weak = 0;

	for (guint i = 0; i < n; i++, *t_ms += 10000) {
		if (ng_link_quality_reading(lq, TRUE, dbm, *t_ms) & NG_LINK_QUALITY_NEWS_WEAK)
			weak++;
	}
	return weak;
}

static void
test_weak_link(void)
{
	NgLinkQuality lq;
	gint64 t = 0;

	ng_link_quality_init(&lq, -85, 60);
	g_assert_cmpuint(feed(&lq, &t, -70, 10), ==, 0);
	/* below from t0; 50 s later (6 readings) not yet, the 7th (60 s) fires, then never again */
	g_assert_cmpuint(feed(&lq, &t, -90, 6), ==, 0);
	g_assert_cmpint(ng_link_quality_reading(&lq, TRUE, -91, t), ==, NG_LINK_QUALITY_NEWS_WEAK);
	t += 10000;
	g_assert_cmpuint(feed(&lq, &t, -95, 30), ==, 0);
	/* exactly at the threshold is not below: re-armed; below again for 60 s: one more */
	g_assert_cmpuint(feed(&lq, &t, -85, 1), ==, 0);
	g_assert_cmpuint(feed(&lq, &t, -86, 7), ==, 1);
	/* a short dip does not count */
	g_assert_cmpuint(feed(&lq, &t, -60, 1), ==, 0);
	g_assert_cmpuint(feed(&lq, &t, -100, 3), ==, 0);
	g_assert_cmpuint(feed(&lq, &t, -60, 1), ==, 0);
	g_assert_cmpuint(feed(&lq, &t, -100, 3), ==, 0);
	/* an unknown reading breaks the streak but does not re-arm */
	g_assert_cmpuint(feed(&lq, &t, -100, 5), ==, 1);
	g_assert_cmpint(ng_link_quality_reading(&lq, FALSE, 0, t) & NG_LINK_QUALITY_NEWS_WEAK, ==, 0);
	t += 10000;
	g_assert_cmpuint(feed(&lq, &t, -100, 20), ==, 0);
	/* a new connection re-arms */
	ng_link_quality_reset(&lq);
	g_assert_cmpuint(feed(&lq, &t, -100, 7), ==, 1);
}

static void
test_weak_link_off(void)
{
	NgLinkQuality lq;
	gint64 t = 0;

	ng_link_quality_init(&lq, -85, 0);
	g_assert_cmpuint(feed(&lq, &t, -120, 100), ==, 0);
	/* weak_link_seconds 1 with readings every 10 s: the second reading below */
	ng_link_quality_init(&lq, -85, 1);
	g_assert_cmpuint(feed(&lq, &t, -120, 1), ==, 0);
	g_assert_cmpuint(feed(&lq, &t, -120, 1), ==, 1);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/link-quality/mapping", test_mapping);
	g_test_add_func("/link-quality/rate-limit", test_rate_limit);
	g_test_add_func("/link-quality/weak-link", test_weak_link);
	g_test_add_func("/link-quality/weak-link-off", test_weak_link_off);
	return g_test_run();
}
