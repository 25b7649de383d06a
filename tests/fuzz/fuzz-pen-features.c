/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Fuzz target: the Pen Features value, read once per connection. */

#include <string.h>

#include "fuzz-common.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	NpPenFeatures f;
	size_t fault = (size_t)-1;
	uint8_t buf[NP_PEN_FEATURES_SIZE];
	size_t len = 0;
	NpStatus st = np_pen_features_decode(data, size, &f, &fault);
	GString *out;

	if (st != NP_OK && st != NP_ERR_UNSUPPORTED_VERSION) {
		FUZZ_CHECK(fault <= size);
		return 0;
	}
	/* Another version is still decoded, so that the error can name it. */
	FUZZ_CHECK(size == NP_PEN_FEATURES_SIZE);
	FUZZ_CHECK((st == NP_OK) == (f.protocol_version == NP_PROTOCOL_VERSION));
	FUZZ_CHECK(np_pen_features_encode(&f, buf, sizeof buf, &len) == NP_OK);
	FUZZ_CHECK(len == size && memcmp(buf, data, len) == 0);
	out = fuzz_payload_buffer();
	ng_payload_pen_features(out, &f);
	fuzz_check_payload(out);
	return 0;
}
