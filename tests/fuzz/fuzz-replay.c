/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Replays corpus files through one fuzz target in any build (gcc too): the fuzzers' findings stay tested. */

#include <glib.h>
#include <stdio.h>

#include "fuzz-common.h"

static gboolean
replay_file(const char *path, guint *count)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *contents = NULL;
	gsize len = 0;

	if (!g_file_get_contents(path, &contents, &len, &error)) {
		fprintf(stderr, "%s\n", error->message);
		return FALSE;
	}
	/* A copy of exactly len bytes, so that ASan catches any read past the input. */
	g_autofree guint8 *copy = g_memdup2(contents, len);
	LLVMFuzzerTestOneInput(copy, len);
	(*count)++;
	return TRUE;
}

static gboolean
replay_path(const char *path, guint *count)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GDir) dir = NULL;
	const char *name;

	if (!g_file_test(path, G_FILE_TEST_IS_DIR))
		return replay_file(path, count);
	dir = g_dir_open(path, 0, &error);
	if (dir == NULL) {
		fprintf(stderr, "%s\n", error->message);
		return FALSE;
	}
	while ((name = g_dir_read_name(dir)) != NULL) {
		g_autofree char *child = g_build_filename(path, name, NULL);

		if (g_file_test(child, G_FILE_TEST_IS_REGULAR) && !replay_file(child, count))
			return FALSE;
	}
	return TRUE;
}

int
main(int argc, char **argv)
{
	guint count = 0;

	if (argc < 2) {
		fprintf(stderr, "usage: %s CORPUS-DIR-OR-FILE...\n", argv[0]);
		return 2;
	}
	for (int i = 1; i < argc; i++) {
		if (!replay_path(argv[i], &count))
			return 1;
	}
	/* An empty corpus would make this test pass without testing anything. */
	if (count == 0) {
		fprintf(stderr, "no corpus files in the given paths\n");
		return 1;
	}
	printf("replayed %u inputs\n", count);
	return 0;
}
