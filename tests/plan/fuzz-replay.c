/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Replays a fuzz corpus (every file of the directories given) through LLVMFuzzerTestOneInput, without
 * libFuzzer. */

#include <glib.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static guint
replay_dir(const char *path)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GDir) dir = g_dir_open(path, 0, &error);
	const char *name;
	guint n = 0;

	g_assert_no_error(error);
	while ((name = g_dir_read_name(dir)) != NULL) {
		g_autofree char *file = g_build_filename(path, name, NULL);
		g_autofree char *data = NULL;
		gsize len = 0;

		if (!g_file_test(file, G_FILE_TEST_IS_REGULAR))
			continue;
		g_assert_true(g_file_get_contents(file, &data, &len, &error));
		g_print("%s (%" G_GSIZE_FORMAT " bytes)\n", name, len);
		LLVMFuzzerTestOneInput((const uint8_t *)data, len);
		n++;
	}
	return n;
}

int
main(int argc, char **argv)
{
	guint n = 0;

	if (argc < 2) {
		g_printerr("usage: %s CORPUS-DIR...\n", argv[0]);
		return 2;
	}
	for (int i = 1; i < argc; i++)
		n += replay_dir(argv[i]);
	g_print("%u inputs replayed\n", n);
	/* an empty corpus means a wrong path: fail rather than pass vacuously */
	return n > 0 ? 0 : 1;
}
