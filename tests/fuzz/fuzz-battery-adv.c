/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Fuzz target: Battery Level and the advertisement's manufacturer data, the values read before pairing. */

#include <string.h>

#include "fuzz-common.h"

static void
check_battery(const uint8_t *data, size_t size)
{
	uint8_t percent = 0xff;
	size_t fault = (size_t)-1;
	uint8_t buf[1];
	size_t len = 0;
	GString *out;

	if (np_battery_level_decode(data, size, &percent, &fault) != NP_OK) {
		FUZZ_CHECK(fault <= size);
		return;
	}
	FUZZ_CHECK(size == 1 && percent <= 100 && percent == data[0]);
	FUZZ_CHECK(np_battery_level_encode(percent, buf, sizeof buf, &len) == NP_OK);
	FUZZ_CHECK(len == 1 && buf[0] == data[0]);
	out = fuzz_payload_buffer();
	ng_payload_battery_level(out, percent);
	fuzz_check_payload(out);
}

static void
check_adv(const uint8_t *data, size_t size)
{
	NpAdvMfrData adv;
	size_t fault = (size_t)-1;
	uint8_t buf[NP_ADV_MFR_DATA_SIZE];
	size_t len = 0;
	GString *out;

	if (np_adv_mfr_data_decode(data, size, &adv, &fault) != NP_OK) {
		FUZZ_CHECK(fault <= size);
		return;
	}
	FUZZ_CHECK(adv.battery_percent <= 100);
	FUZZ_CHECK(np_adv_mfr_data_encode(&adv, buf, sizeof buf, &len) == NP_OK);
	FUZZ_CHECK(len == size && memcmp(buf, data, len) == 0);
	out = fuzz_payload_buffer();
	ng_payload_adv_mfr_data(out, &adv);
	fuzz_check_payload(out);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check_battery(data, size);
	check_adv(data, size);
	return 0;
}
