/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libFuzzer target for the plan parser: any bytes, no crash, and every accepted plan round-trips. */

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "ng-plan.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A refused plan must say where and why; an accepted one must survive its own canonical JSON. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(NgPlan) plan = ng_plan_parse((const char *)data, (gssize)size, &error);
	g_autoptr(NgPlan) again = NULL;
	g_autofree char *json = NULL;

	if (plan == NULL) {
		g_assert_nonnull(error);
		g_assert_true(error->domain == NG_PLAN_ERROR);
		g_assert_true(g_str_has_prefix(error->message, "$"));
		g_assert_nonnull(strstr(error->message, ": "));
		return 0;
	}
	g_assert_null(error);
	json = ng_plan_to_json(plan);
	again = ng_plan_parse(json, -1, &error);
	g_assert_no_error(error);
	g_assert_true(ng_plan_equal(plan, again));
	return 0;
}
