/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What every fuzz target shares: the libFuzzer entry point and a check that aborts, so the fuzzer sees it. */

#pragma once

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <glib.h>

#include "ng-payload.h"
#include "np.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A property the codec promises; a violation is a bug even without a memory error. */
#define FUZZ_CHECK(cond)                                                                                     \
	do {                                                                                                 \
		if (!(cond)) {                                                                               \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);             \
			abort();                                                                             \
		}                                                                                            \
	} while (0)

/* One reused buffer for the JSON payloads, as the daemon would hold one. */
static inline GString *
fuzz_payload_buffer(void)
{
	static GString *out;

	if (out == NULL)
		out = g_string_sized_new(512);
	g_string_truncate(out, 0);
	return out;
}

/* The payload of any decoded value is text a dashboard can read: valid UTF-8, one object. */
static inline void
fuzz_check_payload(const GString *out)
{
	FUZZ_CHECK(out->len >= 2);
	FUZZ_CHECK(out->str[0] == '{' && out->str[out->len - 1] == '}');
	FUZZ_CHECK(g_utf8_validate(out->str, (gssize)out->len, NULL));
}
