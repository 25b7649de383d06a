/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Fuzz target: a Session Event indication, decoded, re-encoded and turned into JSON. */

#include <string.h>

#include "fuzz-common.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	NpSessionEvent ev;
	size_t fault = (size_t)-1;
	uint8_t buf[NP_SESSION_EVENT_MAX_SIZE];
	size_t len = 0;
	GString *out;

	if (np_session_event_decode(data, size, &ev, &fault) != NP_OK) {
		FUZZ_CHECK(fault <= size);
		return 0;
	}
	FUZZ_CHECK(size >= NP_SESSION_EVENT_HEADER_SIZE && size <= NP_SESSION_EVENT_MAX_SIZE);
	FUZZ_CHECK(np_session_event_encode(&ev, buf, sizeof buf, &len) == NP_OK);
	FUZZ_CHECK(len == size && memcmp(buf, data, len) == 0);
	out = fuzz_payload_buffer();
	ng_payload_session_event(out, "NP-FUZZ", &ev, (gint64)ev.seq);
	fuzz_check_payload(out);
	return 0;
}
